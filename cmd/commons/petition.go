package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/petition"
)

func petitionCmd(args []string) error {
	verb, rest, err := sub("petition", args, "sign", "withdraw", "list", "verify", "create", "paper", "result")
	if err != nil {
		return err
	}
	fs, g := clientFlags("petition " + verb)
	var f petitionFlags
	f.register(fs, verb)
	pos, err := parseInterspersed(fs, rest)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	switch verb {
	case "list":
		return petitionList(ctx, g)
	case "create":
		return petitionCreate(ctx, g, f)
	case "verify":
		if f.result != "" && len(pos) == 0 {
			return verifyResult(ctx, g, f.result)
		}
	}
	if len(pos) != 1 || f.result != "" {
		return fmt.Errorf("petition %s: name one petition id", verb)
	}
	id := pos[0]
	switch verb {
	case "verify":
		return petitionVerify(ctx, g, id)
	case "paper":
		return petitionPaper(ctx, g, id, f)
	case "result":
		return petitionResult(ctx, g, id, f.out)
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	var answers *api.Answers
	if f.ageBand != "" || f.neighbourhood != "" {
		answers = &api.Answers{AgeBand: f.ageBand, Neighbourhood: f.neighbourhood}
	}
	a, err := c.SignPetition(ctx, w, id, verb == "withdraw", answers)
	if err != nil {
		return fmt.Errorf("petition %s: %w", verb, err)
	}
	if err := saveReceipt(g.wallet, savedReceipt{Kind: "petition." + verb, Petition: id, Receipt: a.Receipt}); err != nil {
		return err
	}
	return printJSON(a.Receipt)
}

// petitionFlags are the flags of the petition verbs, each registered only where it applies.
type petitionFlags struct {
	id, title, textFile, scope, opens, closes, ask string
	threshold, count                               int
	note, out, result, ageBand, neighbourhood      string
}

func (f *petitionFlags) register(fs *flag.FlagSet, verb string) {
	switch verb {
	case "sign":
		fs.StringVar(&f.ageBand, "age-band", "", "your answer to the petition's age question: "+strings.Join(api.AgeBands, ", ")+" (sealed to the petition's tally key)")
		fs.StringVar(&f.neighbourhood, "neighbourhood", "", "your answer to the petition's neighbourhood question (sealed to the petition's tally key)")
	case "create":
		fs.StringVar(&f.id, "id", "", "the petition's `id`: lower-case letters, digits, dashes (default: from the title)")
		fs.StringVar(&f.title, "title", "", "its title")
		fs.StringVar(&f.textFile, "text-file", "", "`file` holding its text, in Markdown (paragraphs, *emphasis*, links, lists)")
		fs.StringVar(&f.scope, "scope", "city", "comma-separated neighbourhood ids whose residents may sign, or city")
		fs.StringVar(&f.opens, "opens", "", "when signing opens: RFC 3339 or YYYY-MM-DD, UTC (default: now)")
		fs.StringVar(&f.closes, "closes", "", "when signing closes: RFC 3339 or YYYY-MM-DD, UTC (default: in 30 days)")
		fs.IntVar(&f.threshold, "threshold", 100, "the number of signatures it aims for")
		fs.StringVar(&f.ask, "ask", "", "optional questions for signers, comma-separated: age_band, neighbourhood")
	case "paper":
		fs.IntVar(&f.count, "count", 0, "how many paper signatures to add")
		fs.StringVar(&f.note, "note", "", "where and when they were collected (public)")
	case "result":
		fs.StringVar(&f.out, "out", "", "`file` to write the signed result document to")
	case "verify":
		fs.StringVar(&f.result, "result", "", "check a signed result `file` instead of a petition id")
	}
}

// parseInterspersed parses flags that may come before or after positional arguments.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func petitionList(ctx context.Context, g *global) error {
	ps, err := clientFor(g).Petitions(ctx)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tTOTAL\tONLINE\tPAPER\tTHRESHOLD\tSTATUS\tCLOSES\tTITLE")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", p.ID, p.Total, p.Signatures, p.Paper, p.Threshold, p.Status,
			p.Closes.Format(time.DateOnly), p.Title)
	}
	return tw.Flush()
}

// parseWhen reads RFC 3339 or a UTC day; empty is def.
func parseWhen(s string, def time.Time) (time.Time, error) {
	if s == "" {
		return def.UTC().Truncate(time.Second), nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// petitionCreate signs a petition document with the organiser's wallet and logs it.
func petitionCreate(ctx context.Context, g *global, f petitionFlags) error {
	if f.title == "" || f.textFile == "" {
		return errors.New("petition create: --title and --text-file are required")
	}
	text, err := os.ReadFile(f.textFile)
	if err != nil {
		return fmt.Errorf("petition create: %w", err)
	}
	p := api.Petition{ID: f.id, Title: f.title, Text: string(text), Threshold: f.threshold}
	if p.ID == "" {
		p.ID = petition.Slug(f.title)
	}
	if p.Opens, err = parseWhen(f.opens, time.Now()); err != nil {
		return fmt.Errorf("petition create: --opens: %w", err)
	}
	if p.Closes, err = parseWhen(f.closes, time.Now().AddDate(0, 0, 30)); err != nil {
		return fmt.Errorf("petition create: --closes: %w", err)
	}
	if f.scope != "" && f.scope != "city" {
		p.Scope = strings.Split(f.scope, ",")
	}
	if f.ask != "" {
		p.Ask = strings.Split(f.ask, ",")
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	a, err := c.CreatePetition(ctx, w, p)
	if err != nil {
		return fmt.Errorf("petition create: %w", err)
	}
	fmt.Fprintf(os.Stderr, "petition %s created; residents sign it with: commons petition sign %s\n", p.ID, p.ID)
	return printJSON(a.Receipt)
}

// petitionPaper enters a count of paper signatures, signed by the petition's organiser.
func petitionPaper(ctx context.Context, g *global, id string, f petitionFlags) error {
	if f.count < 1 {
		return errors.New("petition paper: --count must be at least 1")
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	a, err := c.EnterPaper(ctx, w, api.Paper{Petition: id, Count: f.count, Note: f.note})
	if err != nil {
		return fmt.Errorf("petition paper: %w", err)
	}
	return printJSON(a.Receipt)
}

// petitionVerify recounts a petition from the public ledger — every entry re-hashed up to the
// signed root, every organiser statement checked, one signature per nullifier, withdrawals
// subtracted, paper counts added — and compares the recount with what the server publishes.
func petitionVerify(ctx context.Context, g *global, id string) error {
	c := clientFor(g)
	a, err := newAuditor(ctx, c)
	if err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	if _, err := recountPublished(ctx, c, a, id); err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	return nil
}

// recountPublished recounts a petition under the auditor's checkpoint, prints each check, and
// compares the recount with the counts the server publishes.
func recountPublished(ctx context.Context, c *client.Client, a *auditor, id string) (petition.Count, error) {
	fmt.Printf("ok  checkpoint signature verifies (origin %s, size %d)\n", a.latest.Origin, a.latest.Size)
	r, err := petition.Recount(id, a.entries(ctx))
	if err != nil {
		return r, fmt.Errorf("FAILED: %w", err)
	}
	fmt.Printf("ok  re-hashed all %d entries: the root matches the checkpoint\n", a.latest.Size)
	fmt.Printf("ok  the petition and its %d paper counts are signed by its organiser %s\n", r.Batches, r.Organiser)
	fmt.Printf("ok  recount: %d signatures (%d signed, %d withdrawn), one per nullifier\n", r.Online, r.Signed, r.Withdrawn)
	fmt.Printf("ok  recount: %d paper signatures, %d in total\n", r.Paper, r.Total())
	p, err := c.Petition(ctx, id)
	if err != nil {
		return r, err
	}
	if err := r.CheckPublished(p); err != nil {
		return r, fmt.Errorf("FAILED: %w", err)
	}
	fmt.Printf("ok  the published total (%d) equals the recount\n", p.Total)
	return r, nil
}

// petitionResult recounts a closed petition and writes its result document, signed by the
// organiser's wallet.
func petitionResult(ctx context.Context, g *global, id, out string) error {
	if out == "" {
		return errors.New("petition result: --out FILE is required")
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	p, err := c.Petition(ctx, id)
	if err != nil {
		return fmt.Errorf("petition result: %w", err)
	}
	if p.Organiser != w.CitizenID() {
		return errors.New("petition result: only the petition's organiser signs its result: this wallet is not theirs")
	}
	if p.Status != petition.StatusClosed {
		return fmt.Errorf("petition result: the petition is %s until %s: its result is final only once it closes", p.Status, p.Closes.Format(time.RFC3339))
	}
	a, err := newAuditor(ctx, c)
	if err != nil {
		return fmt.Errorf("petition result: %w", err)
	}
	r, err := recountPublished(ctx, c, a, id)
	if err != nil {
		return fmt.Errorf("petition result: %w", err)
	}
	doc := petition.NewResult(r, a.key, string(a.latestRaw), time.Now().UTC().Truncate(time.Second))
	signed, body, err := client.SignDocument(w, crypto.TypePetitionResult, id, doc)
	if err != nil {
		return fmt.Errorf("petition result: %w", err)
	}
	b, err := json.MarshalIndent(petition.SignedResult{Result: body, Statement: signed.Statement, Signature: signed.Signature}, "", "  ")
	if err != nil {
		return fmt.Errorf("petition result: %w", err)
	}
	if err := os.WriteFile(out, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("petition result: %w", err)
	}
	fmt.Printf("ok  result of %s written to %s: %d signatures (%d online, %d paper); check it with `commons petition verify --result %s`\n",
		id, out, doc.Total, doc.Online, doc.Paper, out)
	return nil
}

// verifyResult checks a signed result document: the organiser's signature over its exact
// bytes, its checkpoint against the ledger key it names and the server's current log, and its
// counts against a recount of the ledger up to that checkpoint.
func verifyResult(ctx context.Context, g *global, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	doc, err := petition.OpenResult(b)
	if err != nil {
		return fmt.Errorf("petition verify: FAILED: %s: %w", path, err)
	}
	fmt.Printf("ok  signed by the organiser %s\n", doc.Organiser)
	a, err := newAuditor(ctx, clientFor(g))
	if err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	if a.key != doc.LedgerKey {
		return errors.New("petition verify: FAILED: the result names another ledger than this server's")
	}
	cp, err := ledger.OpenCheckpoint([]byte(doc.Checkpoint), a.verifier)
	if err != nil {
		return fmt.Errorf("petition verify: FAILED: the result's checkpoint: %w", err)
	}
	if err := a.consistent(ctx, cp); err != nil {
		return fmt.Errorf("petition verify: FAILED: the server's log does not extend the result's checkpoint: %w", err)
	}
	fmt.Printf("ok  the result's checkpoint (size %d) is signed by the ledger and the server's log extends it\n", cp.Size)
	a.latest, a.latestRaw = cp, []byte(doc.Checkpoint)
	r, err := petition.Recount(doc.Petition, a.entries(ctx))
	if err == nil {
		err = doc.Check(r)
	}
	if err != nil {
		return fmt.Errorf("petition verify: FAILED: %w", err)
	}
	fmt.Printf("ok  recount up to the checkpoint: %d signatures (%d online, %d paper) equal the result's\n", doc.Total, doc.Online, doc.Paper)
	return nil
}
