package main

import (
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/purpose"
)

func consentCmd(args []string) error {
	verb, rest, err := sub("consent", args, "grant", "revoke", "list")
	if err != nil {
		return err
	}
	fs, g := clientFlags("consent " + verb)
	g.jsonFlag(fs)
	var purpose *string
	var erase *bool
	if verb != "list" {
		purpose = fs.String("purpose", "", "purpose `id`, e.g. air-quality/daily (commons consent list shows them)")
	}
	if verb == "revoke" {
		erase = fs.Bool("erase", false, "also delete your vault copies on the server")
	}
	if _, err := parseArgs(fs, rest, 0, 0, ""); err != nil {
		return err
	}
	if verb != "list" && *purpose == "" {
		return usagef("consent %s: --purpose is required (commons consent list shows them)", verb)
	}
	s, err := g.open(time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	if verb == "list" {
		return consentList(s)
	}
	p, err := s.c.Purpose(s.ctx, *purpose)
	if err != nil {
		return err
	}
	var a client.Answer
	kind, done := crypto.TypeConsentGrant, "consent to "+p.ID+" granted"
	if verb == "grant" && !g.json {
		fmt.Printf("%s (version %d, %s): %s\n  what it receives: %s\n  costs ε %.3g per day of your privacy budget (the node's cap over all purposes: %g)\n",
			p.ID, p.Version, statusOf(p), p.Title, p.Data, p.EpsilonPerDay, dailyCap)
	}
	if verb == "grant" {
		a, err = s.c.Grant(s.ctx, s.w, p)
	} else {
		kind, done = crypto.TypeConsentRevoke, "consent to "+p.ID+" withdrawn"
		a, err = s.c.Revoke(s.ctx, s.w, p, *erase)
	}
	if err != nil {
		return fmt.Errorf("consent %s: %w", verb, err)
	}
	if err := saveReceipt(g.wallet, savedReceipt{Kind: kind, Purpose: p.ID, Receipt: a.Receipt}); err != nil {
		return err
	}
	return g.showReceipt(done, a.Receipt)
}

type consentView struct {
	Purpose     string `json:"purpose"`
	Version     int    `json:"version"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Data        string `json:"data"`
	K           int    `json:"k"`
	Consent     string `json:"your_consent"`
	// Status and EpsilonPerDay: whether the purpose takes consents, and what it costs.
	Status        string  `json:"status"`
	EpsilonPerDay float64 `json:"epsilon_per_day"`
}

type receiptCheck struct {
	Kind     string `json:"kind"`
	Purpose  string `json:"purpose,omitempty"`
	Petition string `json:"petition,omitempty"`
	Index    uint64 `json:"index"`
	Checked  string `json:"checked"`
}

// consentList prints every purpose in plain words with the resident's choice, and re-checks
// each saved receipt against the server's latest signed checkpoint.
func consentList(s *session) error {
	ctx, c, g := s.ctx, s.c, s.global
	ps, err := c.Purposes(ctx)
	if err != nil {
		return err
	}
	au, err := newAuditor(ctx, c)
	if err != nil {
		return err
	}
	active, err := activePurposes(g.wallet, au.latest.Origin)
	if err != nil {
		return err
	}
	var views []consentView
	for _, p := range ps {
		v := consentView{Purpose: p.ID, Version: p.Version, Title: p.Title, Description: p.Description,
			Data: p.Data, K: p.Release.K, Consent: "none", Status: statusOf(p), EpsilonPerDay: p.EpsilonPerDay}
		if on, seen := active[p.ID]; seen {
			v.Consent = map[bool]string{true: "granted", false: "withdrawn"}[on]
		}
		views = append(views, v)
	}
	rs, err := loadReceipts(g.wallet)
	if err != nil {
		return err
	}
	var checks []receiptCheck
	var failed error
	for _, r := range rs {
		if r.Log != au.latest.Origin {
			continue
		}
		chk := receiptCheck{Kind: r.Kind, Purpose: r.Purpose, Petition: r.Petition, Index: r.Receipt.Index}
		if size, err := au.checkReceipt(ctx, r.Receipt); err != nil {
			chk.Checked = "FAILED: " + err.Error()
			failed = errors.Join(failed, fmt.Errorf("receipt %d: %w", r.Receipt.Index, err))
		} else {
			chk.Checked = fmt.Sprintf("included in the signed checkpoint of size %d, which the latest (size %d) extends", size, au.latest.Size)
		}
		checks = append(checks, chk)
	}
	err = g.show(map[string]any{"purposes": views, "receipts": checks}, func(w io.Writer) {
		for _, v := range views {
			fmt.Fprintf(w, "%s (version %d): %s\n", v.Purpose, v.Version, v.Title)
			fmt.Fprintf(w, "  %s\n", v.Description)
			fmt.Fprintf(w, "  what it receives: %s\n", v.Data)
			fmt.Fprintf(w, "  status: %s; costs ε %.3g per day of your privacy budget (the node's cap over all purposes: %g)\n",
				v.Status, v.EpsilonPerDay, purpose.DailyCap)
			fmt.Fprintf(w, "  your consent: %s\n\n", v.Consent)
		}
		fmt.Fprintf(w, "%s saved beside your wallet, checked against the latest checkpoint (size %d):\n", plural(len(checks), "receipt"), au.latest.Size)
		for _, chk := range checks {
			fmt.Fprintf(w, "  entry %d\t%s %s%s\t%s\n", chk.Index, chk.Kind, chk.Purpose, chk.Petition, chk.Checked)
		}
	})
	return errors.Join(err, failed)
}
