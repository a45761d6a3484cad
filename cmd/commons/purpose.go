package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/purpose"
)

// purposeCmd is `commons purpose`: a purpose proposed by an organiser, decided by the
// residents of each neighbourhood it asks, shown to anyone.
func purposeCmd(args []string) error {
	verb, rest, err := sub("purpose", args, "propose", "list", "show", "verify", "approve", "object", "retire")
	if err != nil {
		return err
	}
	fs, g := clientFlags("purpose " + verb)
	g.jsonFlag(fs)
	var file *string
	least, most, what := 1, 1, "one purpose id"
	switch verb {
	case "propose":
		file = fs.String("file", "", "the proposal, a JSON `file` (docs/api.md shows its fields)")
		least, most, what = 0, 0, ""
	case "list":
		least, most, what = 0, 0, ""
	}
	pos, err := parseArgs(fs, rest, least, most, what)
	if err != nil {
		return err
	}
	if verb == "propose" && *file == "" {
		return usagef("purpose propose: --file is required")
	}
	switch verb {
	case "list", "show", "verify":
		s := g.connect(30 * time.Minute)
		defer s.close()
		switch verb {
		case "list":
			return purposeList(s)
		case "verify":
			return purposeVerify(s, pos[0])
		}
		return purposeShow(s, pos[0])
	}
	s, err := g.open(time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	switch verb {
	case "propose":
		return purposePropose(s, *file)
	case "retire":
		p, err := s.c.PurposeStatus(s.ctx, pos[0])
		if err != nil {
			return fmt.Errorf("purpose retire: %w", err)
		}
		now, err := s.c.RetireOwnPurpose(s.ctx, s.w, p.ID, p.Version)
		if err != nil {
			return fmt.Errorf("purpose retire: %w", err)
		}
		return g.show(now, func(w io.Writer) { showPurpose(w, now) })
	}
	p, err := s.c.PurposeStatus(s.ctx, pos[0])
	if err != nil {
		return fmt.Errorf("purpose %s: %w", verb, err)
	}
	a, err := s.c.ChoosePurpose(s.ctx, s.w, p.ID, p.Version, verb == "approve")
	if err != nil {
		return fmt.Errorf("purpose %s: %w", verb, err)
	}
	done := map[string]string{"approve": "your approval of ", "object": "your objection to "}[verb]
	return g.showReceipt(done+p.ID+" counted", a.Receipt)
}

// purposePropose reads a proposal file, checks it as the node will, and sends it signed.
func purposePropose(s *session, file string) error {
	b, err := os.ReadFile(file)
	if err != nil {
		return fmt.Errorf("purpose propose: %w", err)
	}
	var p api.PurposeProposal
	if err := api.DecodeStrict(b, &p); err != nil {
		return fmt.Errorf("purpose propose: %s: %w", file, err)
	}
	a, err := s.c.ProposePurpose(s.ctx, s.w, p)
	if err != nil {
		return fmt.Errorf("purpose propose: %w", err)
	}
	return s.showReceipt("purpose "+p.ID+" proposed", a.Receipt)
}

// purposeList prints every purpose with its status and cost.
func purposeList(s *session) error {
	ps, err := s.c.Purposes(s.ctx)
	if err != nil {
		return fmt.Errorf("purpose list: %w", err)
	}
	return s.show(ps, func(w io.Writer) {
		for _, p := range ps {
			fmt.Fprintf(w, "%s\tversion %d\t%s\tε %.3g per day\t%s\n", p.ID, p.Version, statusOf(p), p.EpsilonPerDay, p.Title)
		}
	})
}

func statusOf(p client.Purpose) string {
	if p.Status == "" {
		return api.StatusActive
	}
	return p.Status
}

// purposeShow prints one purpose in plain words.
func purposeShow(s *session, id string) error {
	p, err := s.c.PurposeStatus(s.ctx, id)
	if err != nil {
		return fmt.Errorf("purpose show: %w", err)
	}
	return s.show(p, func(w io.Writer) { showPurpose(w, p) })
}

func showPurpose(w io.Writer, p api.PublicPurpose) {
	fmt.Fprintf(w, "%s (version %d): %s\n", p.ID, p.Version, p.Status)
	if pr := p.Proposal; pr != nil {
		fmt.Fprintf(w, "%s\n  %s\n", pr.Title.EN, pr.Description.EN)
		fmt.Fprintf(w, "asked by: %s\n", pr.Requester)
		fmt.Fprintf(w, "uses: %s; publishes their %s on the %s grid\n", strings.Join(pr.Readings, ", "), strings.Join(pr.Statistics, ", "), pr.Grid)
		fmt.Fprintf(w, "privacy: ε %g per resident per release, %g per month (%.3g per day of the node's cap of %g)\n",
			pr.EpsilonRelease, pr.EpsilonMonth, p.EpsilonPerDay, purpose.DailyCap)
		fmt.Fprintf(w, "share copies kept %s; runs %s to %s\n", plural(pr.RetentionDays, "day"), pr.Start, pr.End)
		fmt.Fprintf(w, "needs %s per neighbourhood by %s:\n", plural(pr.ApprovalsNeeded, "approval"), pr.Deadline)
		for _, a := range p.Approvals {
			state := "not met"
			switch {
			case a.Active:
				state = "runs here"
			case a.Met:
				state = "met"
			}
			fmt.Fprintf(w, "  %s\t%d approve\t%d object\t%s\n", a.Neighbourhood, a.Approve, a.Object, state)
		}
	} else if d := p.Purpose; d != nil {
		fmt.Fprintf(w, "%s\n  %s\n", d.Title, d.Description)
		fmt.Fprintf(w, "privacy: ε %.3g per resident per day\n", p.EpsilonPerDay)
	}
	if d := p.Decision; d != nil {
		fmt.Fprintf(w, "decided by the %s: %s\n", d.By, d.Reason)
	}
	if p.KeyDestroyed {
		fmt.Fprintln(w, "its share copies are deleted and its key destroyed (logged)")
	}
}

// purposeVerify recounts a proposal's approvals and objections from the ledger under the
// server's signed checkpoint, and compares them with what the server publishes.
func purposeVerify(s *session, id string) error {
	a, err := newAuditor(s.ctx, s.c)
	if err != nil {
		return fmt.Errorf("purpose verify: %w", err)
	}
	fmt.Printf("ok  checkpoint signature verifies (origin %s, size %d)\n", a.latest.Origin, a.latest.Size)
	r, err := purpose.Recount(id, a.entries(s.ctx))
	if err != nil {
		return fmt.Errorf("purpose verify: FAILED: %w", err)
	}
	fmt.Printf("ok  re-hashed all %d entries: the root matches the checkpoint\n", a.latest.Size)
	fmt.Printf("ok  the proposal (version %d) is signed by its proposer %s, an organiser\n", r.Proposal.Version, r.Proposer)
	fmt.Printf("ok  recount: %s, the last under each nullifier counted, all from its scope\n", plural(r.Choices, "choice"))
	for _, n := range r.Proposal.Scope {
		fmt.Printf("      %s: %d approve, %d object\n", n, r.Approve[n], r.Object[n])
	}
	fmt.Printf("ok  status from the ledger: %s\n", r.Status)
	p, err := s.c.PurposeStatus(s.ctx, id)
	if err != nil {
		return fmt.Errorf("purpose verify: %w", err)
	}
	if err := r.CheckPublished(p); err != nil {
		return fmt.Errorf("purpose verify: FAILED: %w", err)
	}
	fmt.Println("ok  the published approvals and status equal the recount")
	return nil
}

// adminPurpose is `commons admin purpose activate|refuse|retire ID [--reason R]`.
func adminPurpose(args []string) error {
	action, rest, err := sub("admin purpose", args, "activate", "refuse", "retire")
	if err != nil {
		return err
	}
	fs, g := clientFlags("admin purpose " + action)
	g.jsonFlag(fs)
	g.adminFlag(fs)
	reason := fs.String("reason", "", "why, in plain words: logged and shown on the purpose's page (refuse and retire)")
	pos, err := parseArgs(fs, rest, 1, 1, "one purpose id")
	if err != nil {
		return err
	}
	if action != "activate" && strings.TrimSpace(*reason) == "" {
		return usagef("admin purpose %s: --reason is required", action)
	}
	token, err := g.adminToken()
	if err != nil {
		return fmt.Errorf("admin purpose %s: %w", action, err)
	}
	s := g.connect(10 * time.Minute)
	defer s.close()
	if _, err := s.c.DecidePurpose(s.ctx, token, action, pos[0], *reason); err != nil {
		return fmt.Errorf("admin purpose %s: %w", action, err)
	}
	return purposeAfter(s.ctx, s, pos[0])
}

// purposeAfter shows a purpose as it is after a decision.
func purposeAfter(ctx context.Context, s *session, id string) error {
	p, err := s.c.PurposeStatus(ctx, id)
	if err != nil {
		return err
	}
	return s.show(p, func(w io.Writer) { showPurpose(w, p) })
}

// dailyCap is the node's cap on a resident's ε per day over every purpose she consents to.
const dailyCap = purpose.DailyCap
