package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"strings"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/durable"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/petition"
)

func petitionCmd(args []string) error {
	verb, rest, err := sub("petition", args, "sync", "sign", "withdraw", "receipt", "list", "verify", "create", "paper", "result")
	if err != nil {
		return err
	}
	fs, g := clientFlags("petition " + verb)
	var f petitionFlags
	f.register(fs, verb)
	least, most := 1, 1
	switch verb {
	case "list", "create", "sync":
		least, most = 0, 0
	case "verify":
		least = 0
	}
	if verb != "verify" && verb != "result" {
		g.jsonFlag(fs)
	}
	pos, err := parseArgs(fs, rest, least, most, "one petition id")
	if err != nil {
		return err
	}
	if verb == "verify" && (len(pos) == 1) == (f.result != "") {
		return usagef("petition verify: name one petition id, or --result FILE")
	}
	if verb == "list" || verb == "verify" {
		s := g.connect(30 * time.Minute)
		defer s.close()
		switch {
		case verb == "list":
			return petitionList(s)
		case f.result != "":
			return verifyResult(s, f.result)
		default:
			return petitionVerify(s, pos[0])
		}
	}
	s, err := g.open(30 * time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	switch verb {
	case "create":
		return petitionCreate(s, f)
	case "paper":
		return petitionPaper(s, pos[0], f)
	case "result":
		return petitionResult(s, pos[0], f.out)
	case "receipt":
		return petitionReceipt(s, pos[0], f.wait)
	case "sync":
		_, _, err := petitionSync(s)
		return err
	}
	return petitionSign(s, verb, pos[0], f)
}

// petitionSign signs a petition or withdraws a signature, with the optional answers.
func petitionSign(s *session, verb, id string, f petitionFlags) error {
	var answers *api.Answers
	if f.ageBand != "" || f.neighbourhood != "" {
		answers = &api.Answers{AgeBand: f.ageBand, Neighbourhood: f.neighbourhood}
	}
	if f.neighbourhood != "" {
		grid, err := s.c.Neighbourhoods(s.ctx)
		if err != nil {
			return fmt.Errorf("petition %s: %w", verb, err)
		}
		if answers.Neighbourhood, err = neighbourhood(grid, f.neighbourhood); err != nil {
			return fmt.Errorf("petition %s: --neighbourhood: %w", verb, err)
		}
	}
	var tok client.Token
	if verb == "sign" {
		var err error
		if tok, err = petitionToken(s, id); err != nil {
			return fmt.Errorf("petition sign: %w", err)
		}
	}
	a, err := s.c.Act(s.ctx, s.w, id, verb == "withdraw", tok, answers)
	if err != nil {
		return fmt.Errorf("petition %s: %w", verb, err)
	}
	if a.Status == api.SignaturePending {
		fmt.Fprintf(os.Stderr, "accepted: your %s joins the next shuffled batch of the ledger; waiting for its receipt (up to %s)\n",
			map[string]string{"sign": "signature", "withdraw": "withdrawal"}[verb], f.wait)
	}
	return petitionReceipt(s, id, f.wait)
}

func tokensPath(wallet string) string { return wallet + ".tokens.json" }

// petitionSync asks the node for the wallet's token for every open petition, as the browser
// wallet does when it opens, and keeps them beside the wallet (WALLET.tokens.json): a later
// `petition sign` spends the kept token without a request that names the resident.
func petitionSync(s *session) (map[string]client.Token, map[string]string, error) {
	tokens, refused, _, err := s.c.SyncTokens(s.ctx, s.w)
	if err != nil {
		return nil, nil, fmt.Errorf("petition sync: %w", err)
	}
	kept, err := loadTokens(s.wallet)
	if err != nil {
		return nil, nil, err
	}
	maps.Copy(kept, tokens)
	b, err := json.MarshalIndent(kept, "", "  ")
	if err == nil {
		err = durable.WriteFile(tokensPath(s.wallet), b)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("petition sync: %w", err)
	}
	fmt.Fprintf(os.Stderr, "%s for open petitions kept in %s (%d refused: outside your neighbourhood, or not open)\n",
		plural(len(tokens), "token"), tokensPath(s.wallet), len(refused))
	return kept, refused, nil
}

// loadTokens reads the tokens kept beside the wallet (none yet: an empty map).
func loadTokens(wallet string) (map[string]client.Token, error) {
	out := map[string]client.Token{}
	b, err := os.ReadFile(tokensPath(wallet))
	if errors.Is(err, fs.ErrNotExist) {
		return out, nil
	}
	if err == nil {
		err = json.Unmarshal(b, &out)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", tokensPath(wallet), err)
	}
	return out, nil
}

// petitionToken is the wallet's token for a petition: the one kept by an earlier
// `petition sync`, or, without one, a sync now (right before the signature: see
// docs/privacy.md on network-level linkage).
func petitionToken(s *session, id string) (client.Token, error) {
	kept, err := loadTokens(s.wallet)
	if err != nil {
		return client.Token{}, err
	}
	if tok, ok := kept[id]; ok {
		return tok, nil
	}
	kept, refused, err := petitionSync(s)
	if err != nil {
		return client.Token{}, err
	}
	if tok, ok := kept[id]; ok {
		return tok, nil
	}
	if code := refused[id]; code != "" {
		return client.Token{}, fmt.Errorf("the node issued no token for this petition: %s", code)
	}
	p, err := s.c.Petition(s.ctx, id)
	if err != nil {
		return client.Token{}, err
	}
	code := map[string]string{petition.StatusUpcoming: "petition_not_open", petition.StatusClosed: "petition_closed"}[p.Status]
	return client.Token{}, fmt.Errorf("the node issued no token for this petition: %s", cmp.Or(code, "no_token_key"))
}

// petitionReceipt waits up to wait for the wallet's latest act on a petition to be in the
// ledger, then saves and shows its receipt. Still pending, it says how to ask again.
func petitionReceipt(s *session, id string, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(s.ctx, wait)
	defer cancel()
	a, err := s.c.WaitSignature(ctx, id, s.w.Nullifier(id), 2*time.Second)
	if errors.Is(err, context.DeadlineExceeded) {
		fmt.Fprintf(os.Stderr, "still pending: the node appends signatures in batches. Ask for the receipt later with: commons petition receipt %s\n", id)
		return nil
	}
	if err != nil {
		return fmt.Errorf("petition receipt: %w", err)
	}
	kind := map[string]string{api.SignatureSigned: "petition.sign", api.SignatureWithdrawn: "petition.withdraw"}[a.Status]
	if err := saveReceipt(s.wallet, savedReceipt{Kind: kind, Petition: id, Receipt: *a.Receipt}); err != nil {
		return err
	}
	done := map[string]string{api.SignatureSigned: "signed ", api.SignatureWithdrawn: "signature withdrawn from "}[a.Status] + id
	return s.showReceipt(done, *a.Receipt)
}

// petitionFlags are the flags of the petition verbs, each registered only where it applies.
type petitionFlags struct {
	id, title, textFile, scope, opens, closes, ask string
	threshold, count                               int
	note, out, result, ageBand, neighbourhood      string
	wait                                           time.Duration
}

func (f *petitionFlags) register(fs *flag.FlagSet, verb string) {
	switch verb {
	case "sign", "withdraw", "receipt":
		fs.DurationVar(&f.wait, "wait", 15*time.Minute, "how long to wait for the receipt: signatures are appended to the ledger in shuffled batches")
	}
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

func petitionList(s *session) error {
	ps, err := s.c.Petitions(s.ctx)
	if err != nil {
		return err
	}
	return s.show(ps, func(w io.Writer) {
		fmt.Fprintln(w, "ID\tTOTAL\tONLINE\tPAPER\tTHRESHOLD\tSTATUS\tCLOSES\tTITLE")
		for _, p := range ps {
			fmt.Fprintf(w, "%s\t%d\t%d\t%d\t%d\t%s\t%s\t%s\n", p.ID, p.Total, p.Signatures, p.Paper, p.Threshold, p.Status,
				p.Closes.Format(time.DateOnly), p.Title)
		}
	})
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
func petitionCreate(s *session, f petitionFlags) error {
	if f.title == "" || f.textFile == "" {
		return usagef("petition create: --title and --text-file are required")
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
		grid, err := s.c.Neighbourhoods(s.ctx)
		if err != nil {
			return fmt.Errorf("petition create: %w", err)
		}
		for _, text := range strings.Split(f.scope, ",") {
			id, err := neighbourhood(grid, strings.TrimSpace(text))
			if err != nil {
				return fmt.Errorf("petition create: --scope: %w", err)
			}
			p.Scope = append(p.Scope, id)
		}
	}
	if f.ask != "" {
		p.Ask = strings.Split(f.ask, ",")
	}
	a, err := s.c.CreatePetition(s.ctx, s.w, p)
	if err != nil {
		return fmt.Errorf("petition create: %w", err)
	}
	fmt.Fprintf(os.Stderr, "residents sign it with: commons petition sign %s\n", p.ID)
	return s.showReceipt("petition "+p.ID+" created", a.Receipt)
}

// petitionPaper enters a count of paper signatures, signed by the petition's organiser.
func petitionPaper(s *session, id string, f petitionFlags) error {
	if f.count < 1 {
		return usagef("petition paper: --count must be at least 1")
	}
	a, err := s.c.EnterPaper(s.ctx, s.w, api.Paper{Petition: id, Count: f.count, Note: f.note})
	if err != nil {
		return fmt.Errorf("petition paper: %w", err)
	}
	return s.showReceipt(plural(f.count, "paper signature")+" entered for "+id, a.Receipt)
}

// petitionVerify recounts a petition from the public ledger — every entry re-hashed up to the
// signed root, every organiser statement checked, one signature per nullifier, withdrawals
// subtracted, paper counts added — and compares the recount with what the server publishes.
func petitionVerify(s *session, id string) error {
	a, err := newAuditor(s.ctx, s.c)
	if err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	if _, err := recountPublished(s.ctx, s.c, a, id); err != nil {
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
	fmt.Printf("ok  the petition and its %s are signed by its organiser %s\n", plural(r.Batches, "paper count"), r.Organiser)
	fmt.Printf("ok  recount: %s (%d signed, %d withdrawn), one per nullifier\n", plural(r.Online, "signature"), r.Signed, r.Withdrawn)
	if r.Issued > 0 || r.Tokened > 0 {
		fmt.Printf("ok  tokens: %d signatures each spend a token that verifies under the petition's key, signed by its own key; %d tokens issued\n",
			r.Tokened, r.Issued)
	}
	fmt.Printf("ok  recount: %s, %d in total\n", plural(r.Paper, "paper signature"), r.Total())
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
func petitionResult(s *session, id, out string) error {
	if out == "" {
		return usagef("petition result: --out FILE is required")
	}
	ctx, c, w := s.ctx, s.c, s.w
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
	fmt.Printf("ok  result of %s written to %s: %s (%d online, %d paper); check it with `commons petition verify --result %s`\n",
		id, out, plural(doc.Total, "signature"), doc.Online, doc.Paper, out)
	return nil
}

// verifyResult checks a signed result document: the organiser's signature over its exact
// bytes, its checkpoint against the ledger key it names and the server's current log, and its
// counts against a recount of the ledger up to that checkpoint.
func verifyResult(s *session, path string) error {
	ctx := s.ctx
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	doc, err := petition.OpenResult(b)
	if err != nil {
		return fmt.Errorf("petition verify: FAILED: %s: %w", path, err)
	}
	fmt.Printf("ok  signed by the organiser %s\n", doc.Organiser)
	a, err := newAuditor(ctx, s.c)
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
	fmt.Printf("ok  recount up to the checkpoint: %s (%d online, %d paper) equal the result's\n", plural(doc.Total, "signature"), doc.Online, doc.Paper)
	return nil
}
