package main

import (
	"bytes"
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

// recount is a petition as recomputed from the public ledger alone.
type recount struct {
	Petition   api.Petition
	Organiser  string
	SigningKey string // the organiser's, from their registration entry
	Signed     int
	Withdrawn  int
	Online     int
	Paper      int
	Batches    int
}

// recountPetition re-hashes every entry up to the auditor's checkpoint and recounts one
// petition: its document and every paper count signed by its organiser (an organiser when it
// was created), one active signature per nullifier, withdrawals only of active signatures.
func recountPetition(ctx context.Context, a *auditor, id string) (recount, error) {
	keys := map[string]string{}
	organisers := map[string]bool{}
	var r recount
	created := false
	active := map[string]bool{}
	err := a.recompute(ctx, func(i uint64, e api.Entry) error {
		switch e.Type {
		case api.EntryRegister:
			keys[e.Citizen] = e.SigningKey
			return nil
		case api.EntryOrganiserGrant, api.EntryOrganiserRevoke:
			organisers[e.Citizen] = e.Type == api.EntryOrganiserGrant
			return nil
		}
		if e.Petition != id {
			return nil
		}
		switch e.Type {
		case api.EntryPetition:
			if err := verifyOrganiserEntry(e, keys[e.Citizen], crypto.TypePetitionCreate); err != nil {
				return fmt.Errorf("entry %d: the petition document: %w", i, err)
			}
			if !organisers[e.Citizen] {
				return fmt.Errorf("entry %d: the petition was created by a citizen without the organiser role", i)
			}
			if err := json.Unmarshal(e.Body, &r.Petition); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			r.Organiser, r.SigningKey, created = e.Citizen, keys[e.Citizen], true
		case api.EntryPetitionPaper:
			if err := verifyOrganiserEntry(e, keys[e.Citizen], crypto.TypePetitionPaper); err != nil {
				return fmt.Errorf("entry %d: a paper count: %w", i, err)
			}
			var p api.Paper
			if err := json.Unmarshal(e.Body, &p); err != nil || p.Petition != id || p.Count < 1 || e.Citizen != r.Organiser {
				return fmt.Errorf("entry %d: a paper count not signed by the petition's organiser", i)
			}
			r.Paper += p.Count
			r.Batches++
		case api.EntryPetitionSign:
			if !created {
				return fmt.Errorf("entry %d: a signature before the petition was created", i)
			}
			if !crypto.ValidNullifier(e.Nullifier) {
				return fmt.Errorf("entry %d signs under a nullifier no wallet derives", i)
			}
			if active[e.Nullifier] {
				return fmt.Errorf("entry %d signs again under an active nullifier", i)
			}
			active[e.Nullifier] = true
			r.Signed++
		case api.EntryPetitionRevoke:
			if !active[e.Nullifier] {
				return fmt.Errorf("entry %d withdraws a signature that is not there", i)
			}
			active[e.Nullifier] = false
			r.Withdrawn++
		}
		return nil
	})
	if err != nil {
		return r, err
	}
	if !created {
		return r, fmt.Errorf("no petition %q in the ledger", id)
	}
	r.Online = r.Signed - r.Withdrawn
	return r, nil
}

// verifyOrganiserEntry checks an organiser's logged statement: its document hash and its
// signature with the organiser's registered key.
func verifyOrganiserEntry(e api.Entry, signingKey, typ string) error {
	pub, err := crypto.DecodeKey(signingKey)
	if err != nil {
		return errors.New("its signer is not registered before it")
	}
	if crypto.DocumentHash(e.Body) != e.Hash {
		return errors.New("the body does not match its hash")
	}
	s := crypto.SignedStatement{Statement: crypto.Statement{Citizen: e.Citizen, Document: e.Hash, IssuedAt: e.IssuedAt,
		Nonce: e.Nonce, Petition: e.Petition, Type: typ}, Signature: e.Signature}
	return s.Verify(pub)
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
func recountPublished(ctx context.Context, c *client.Client, a *auditor, id string) (recount, error) {
	fmt.Printf("ok  checkpoint signature verifies (origin %s, size %d)\n", a.latest.Origin, a.latest.Size)
	r, err := recountPetition(ctx, a, id)
	if err != nil {
		return r, fmt.Errorf("FAILED: %w", err)
	}
	fmt.Printf("ok  re-hashed all %d entries: the root matches the checkpoint\n", a.latest.Size)
	fmt.Printf("ok  the petition and its %d paper counts are signed by its organiser %s\n", r.Batches, r.Organiser)
	fmt.Printf("ok  recount: %d signatures (%d signed, %d withdrawn), one per nullifier\n", r.Online, r.Signed, r.Withdrawn)
	fmt.Printf("ok  recount: %d paper signatures, %d in total\n", r.Paper, r.Online+r.Paper)
	p, err := c.Petition(ctx, id)
	if err != nil {
		return r, err
	}
	if p.Signatures != r.Online || p.Paper != r.Paper || p.Total != r.Online+r.Paper {
		return r, fmt.Errorf("FAILED: the server publishes %d online + %d paper = %d, the ledger holds %d + %d = %d",
			p.Signatures, p.Paper, p.Total, r.Online, r.Paper, r.Online+r.Paper)
	}
	fmt.Printf("ok  the published total (%d) equals the recount\n", p.Total)
	return r, nil
}

// petitionResultDoc is a petition's final result as its organiser signs it. The checkpoint is
// the ledger's signed checkpoint the counts were recomputed under.
type petitionResultDoc struct {
	Petition         string    `json:"petition"`
	Title            string    `json:"title"`
	Organiser        string    `json:"organiser"`
	SigningKey       string    `json:"signing_key"`
	Scope            []string  `json:"scope"`
	Opens            time.Time `json:"opens"`
	Closes           time.Time `json:"closes"`
	Threshold        int       `json:"threshold"`
	Online           int       `json:"online"`
	Withdrawn        int       `json:"withdrawn"`
	Paper            int       `json:"paper"`
	Total            int       `json:"total"`
	ThresholdReached bool      `json:"threshold_reached"`
	LedgerKey        string    `json:"ledger_key"`
	Checkpoint       string    `json:"checkpoint"`
	IssuedAt         time.Time `json:"issued_at"`
}

// resultFile is the signed result document: the result's exact bytes, and the organiser's
// petition.result statement whose document field is their hash.
type resultFile struct {
	Result    json.RawMessage  `json:"result"`
	Statement crypto.Statement `json:"statement"`
	Signature string           `json:"signature"`
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
	doc := petitionResultDoc{Petition: id, Title: r.Petition.Title, Organiser: r.Organiser, SigningKey: r.SigningKey,
		Scope: r.Petition.Scope, Opens: r.Petition.Opens, Closes: r.Petition.Closes, Threshold: r.Petition.Threshold,
		Online: r.Online, Withdrawn: r.Withdrawn, Paper: r.Paper, Total: r.Online + r.Paper,
		ThresholdReached: r.Online+r.Paper >= r.Petition.Threshold, LedgerKey: a.key, Checkpoint: string(a.latestRaw),
		IssuedAt: time.Now().UTC().Truncate(time.Second)}
	signed, body, err := client.SignDocument(w, crypto.TypePetitionResult, id, doc)
	if err != nil {
		return fmt.Errorf("petition result: %w", err)
	}
	b, err := json.MarshalIndent(resultFile{Result: body, Statement: signed.Statement, Signature: signed.Signature}, "", "  ")
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
	var f resultFile
	if err := json.Unmarshal(b, &f); err != nil {
		return fmt.Errorf("petition verify: %s is not a result document: %w", path, err)
	}
	// The file is indented for people; the organiser signed the result's compact bytes.
	var compact bytes.Buffer
	if err := json.Compact(&compact, f.Result); err != nil {
		return fmt.Errorf("petition verify: %s is not a result document: %w", path, err)
	}
	f.Result = compact.Bytes()
	var doc petitionResultDoc
	if err := json.Unmarshal(f.Result, &doc); err != nil {
		return fmt.Errorf("petition verify: %s is not a result document: %w", path, err)
	}
	pub, err := crypto.DecodeKey(doc.SigningKey)
	if err != nil {
		return fmt.Errorf("petition verify: FAILED: %w", err)
	}
	st := f.Statement
	if st.Type != crypto.TypePetitionResult || st.Petition != doc.Petition || st.Citizen != doc.Organiser ||
		st.Document != crypto.DocumentHash(f.Result) {
		return errors.New("petition verify: FAILED: the statement does not name this result")
	}
	if err := (crypto.SignedStatement{Statement: st, Signature: f.Signature}).Verify(pub); err != nil {
		return fmt.Errorf("petition verify: FAILED: the organiser's signature: %w", err)
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
	r, err := recountPetition(ctx, a, doc.Petition)
	if err != nil {
		return fmt.Errorf("petition verify: FAILED: %w", err)
	}
	if r.Organiser != doc.Organiser || r.Online != doc.Online || r.Withdrawn != doc.Withdrawn || r.Paper != doc.Paper ||
		doc.Total != r.Online+r.Paper {
		return fmt.Errorf("petition verify: FAILED: the ledger up to the checkpoint holds %d online + %d paper signatures by organiser %s; the result says %d + %d = %d by %s",
			r.Online, r.Paper, r.Organiser, doc.Online, doc.Paper, doc.Total, doc.Organiser)
	}
	fmt.Printf("ok  recount up to the checkpoint: %d signatures (%d online, %d paper) equal the result's\n", doc.Total, doc.Online, doc.Paper)
	return nil
}
