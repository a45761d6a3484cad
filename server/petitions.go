package server

import (
	"bytes"
	"crypto/rsa"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/petition"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

type organiserRequest struct {
	Citizen string `json:"citizen"`
}

// grantOrganiser gives a registered resident the organiser role; the grant is logged.
func (a *handlers) grantOrganiser(c *fiber.Ctx) error {
	var req organiserRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	return a.organiserRole(c, req.Citizen, true)
}

// revokeOrganiser takes the organiser role away; the revocation is logged. Petitions the
// organiser created stay as they are.
func (a *handlers) revokeOrganiser(c *fiber.Ctx) error {
	return a.organiserRole(c, c.Params("citizen"), false)
}

func (a *handlers) organiserRole(c *fiber.Ctx, citizen string, grant bool) error {
	if _, ok := a.State.Citizen(citizen); !ok {
		return errUnknownCitizen
	}
	release, err := a.State.Reserve("organiser|" + citizen)
	if err != nil {
		return errBusy
	}
	defer release()
	switch has := a.State.IsOrganiser(citizen); {
	case grant && has:
		return errIsOrganiser
	case !grant && !has:
		return errNoOrganiser
	}
	typ := api.EntryOrganiserGrant
	if !grant {
		typ = api.EntryOrganiserRevoke
	}
	r, err := a.appendEntry(c, api.Entry{Type: typ, Citizen: citizen})
	if err != nil {
		return err
	}
	a.Logger.Info("organiser role changed by the operator", "type", typ, "index", r.Index)
	return created(c, receiptAnswer{Receipt: r})
}

// documentRequest is an organiser's signed statement with the document it names: the
// statement's document field is the SHA-256 of the document's compact JSON.
type documentRequest struct {
	crypto.SignedStatement
	Petition json.RawMessage `json:"petition,omitempty"`
	Paper    json.RawMessage `json:"paper,omitempty"`
}

// document returns the document a statement of type typ names: a petition for
// petition.create, a paper count for petition.paper. A request that also carries the other
// kind is malformed.
func (r *documentRequest) document(typ string) (json.RawMessage, error) {
	if typ == crypto.TypePetitionPaper {
		if len(r.Petition) > 0 {
			return nil, errMalformed
		}
		return r.Paper, nil
	}
	if len(r.Paper) > 0 {
		return nil, errMalformed
	}
	return r.Petition, nil
}

// organiserDocument reads an organiser's statement of type typ with the document it names: it
// decodes and authenticates the statement, and parses the document's compact bytes, which the
// signature covers, with parse. It returns the statement, those bytes and the document.
func organiserDocument[D any](a *handlers, c *fiber.Ctx, typ string, parse func([]byte) (D, error)) (
	s crypto.SignedStatement, body []byte, doc D, err error) {
	var req documentRequest
	if err = decode(c, &req); err != nil {
		return s, nil, doc, err
	}
	s = req.SignedStatement
	raw, err := req.document(typ)
	if err != nil {
		return s, nil, doc, err
	}
	if err = a.authenticate(c, s); err != nil {
		return s, nil, doc, err
	}
	if s.Statement.Type != typ {
		return s, nil, doc, errWrongType
	}
	if !a.State.IsOrganiser(s.Statement.Citizen) {
		return s, nil, doc, errNotOrganiser
	}
	if body, err = petition.Compact(raw, s.Statement.Document); err == nil {
		doc, err = parse(body)
	}
	return s, body, doc, petitionError(err)
}

// createPetition logs an organiser's signed petition document with a new tally key.
func (a *handlers) createPetition(c *fiber.Ctx) error {
	req, body, p, err := organiserDocument(a, c, crypto.TypePetitionCreate, petition.ParseDocument)
	if err != nil {
		return err
	}
	st := req.Statement
	if err := petition.CheckDocument(p, st.Petition, a.grid.Has, a.Now()); err != nil {
		return petitionError(err)
	}
	release, err := a.reserve(st, "petition|"+p.ID)
	if err != nil {
		return err
	}
	defer release()
	if _, exists := a.State.Petition(p.ID); exists {
		return errPetitionExists
	}
	if a.TallyKey == nil {
		return errors.New("server: no tally key source configured")
	}
	recipient, err := a.TallyKey(p.ID)
	if err != nil {
		return fmt.Errorf("server: tally key: %w", err)
	}
	create, err := api.Entry{Type: api.EntryPetition, Petition: p.ID, Body: body, Hash: st.Document,
		Citizen: st.Citizen, IssuedAt: st.IssuedAt, Nonce: st.Nonce, Signature: req.Signature,
		Recipient: recipient}.Marshal()
	if err != nil {
		return err
	}
	key, err := a.tokenKeyEntry(p.ID)
	if err != nil {
		return err
	}
	key.Write.Puts = append(key.Write.Puts, store.NonceRecord(st.Citizen, st.Nonce))
	idx, err := a.Ledger.AppendAll(c.UserContext(), []ledger.Logged{{Entry: create}, key})
	if err != nil {
		return appendError(err)
	}
	r, err := a.receiptOf(idx[0])
	if err != nil {
		return err
	}
	a.Logger.Info("petition created", "petition", p.ID, "index", r.Index)
	return created(c, receiptAnswer{Receipt: r})
}

// tokenKeyEntry makes a petition's token key: its petition.key entry, with the private key
// written beside it.
func (a *handlers) tokenKeyEntry(id string) (ledger.Logged, error) {
	sk, err := a.newTokenKey()
	if err != nil {
		return ledger.Logged{}, err
	}
	return TokenKeyEntry(id, sk)
}

// TokenKeyEntry is the petition.key entry of a petition's token key sk, with sk as its private
// record: for a new petition, and for an open petition of an older node at its upgrade.
func TokenKeyEntry(id string, sk *rsa.PrivateKey) (ledger.Logged, error) {
	pub, err := crypto.EncodeTokenKey(&sk.PublicKey)
	if err != nil {
		return ledger.Logged{}, err
	}
	e, err := api.Entry{Type: api.EntryPetitionKey, Petition: id, TokenKey: pub}.Marshal()
	if err != nil {
		return ledger.Logged{}, err
	}
	return ledger.Logged{Entry: e, Write: ledger.Write{Puts: []ledger.Put{store.TokenKeyRecord(id, sk)}}}, nil
}

// enterPaper logs a count of paper signatures signed by the petition's organiser. Counts are
// accepted from the opening until petition.PaperGrace after the closing, while the petition's
// paper signatures stay within the population of its scope (paperBound).
func (a *handlers) enterPaper(c *fiber.Ctx) error {
	req, body, paper, err := organiserDocument(a, c, crypto.TypePetitionPaper, petition.ParsePaper)
	if err != nil {
		return err
	}
	st := req.Statement
	if err := petition.CheckPaper(paper, st.Petition, c.Params("id")); err != nil {
		return petitionError(err)
	}
	// One paper count at a time, from the bound check to its entry in the read model, so that
	// two counts cannot each pass the bound and together exceed it.
	a.paper.Lock()
	defer a.paper.Unlock()
	p, ok := a.State.Petition(paper.Petition)
	if !ok {
		return errNoPetition
	}
	if err := petition.CanEnterPaper(p, st.Citizen, a.Now()); err != nil {
		return petitionError(err)
	}
	if bound := a.paperBound(p.Scope); p.Paper+paper.Count > bound {
		return errPaperBound(bound)
	}
	release, err := a.reserve(st)
	if err != nil {
		return err
	}
	defer release()
	r, err := a.appendEntry(c, api.Entry{Type: api.EntryPetitionPaper, Petition: p.ID, Body: body, Hash: st.Document,
		Citizen: st.Citizen, IssuedAt: st.IssuedAt, Nonce: st.Nonce, Signature: req.Signature},
		store.NonceRecord(st.Citizen, st.Nonce))
	if err != nil {
		return err
	}
	a.Logger.Info("paper signatures entered", "petition", p.ID, "count", paper.Count, "index", r.Index)
	return created(c, receiptAnswer{Receipt: r})
}

// paperBound is the most paper signatures a petition of scope may count: the population of the
// scope's neighbourhoods, from the grid's population property, or petition.MaxPaperCount when
// a neighbourhood of the scope gives none.
func (a *handlers) paperBound(scope []string) int {
	if pop, known := a.grid.Population(scope); known {
		return pop
	}
	return petition.MaxPaperCount
}

// errPaperBound refuses a paper count that would take a petition's paper signatures past
// bound, which the message names (it is public: the grid's populations).
func errPaperBound(bound int) *apiError {
	return newErr(409, "paper_exceeds_population", fmt.Sprintf(
		"with this count the petition's paper signatures would exceed %d, the population of its scope", bound))
}

// petitionAnswer is a petition as the API publishes it; full adds its text, timeline and
// breakdown.
func (a *handlers) petitionAnswer(p *state.Petition, full bool) (api.PublicPetition, error) {
	out := petition.Public(p, a.Now())
	if !full {
		return out, nil
	}
	out.Text = p.Text
	out.Timeline = petition.Timeline(a.State.Timeline(p.ID))
	b, err := a.Store.Release(p.Purpose(), release.PetitionEpoch)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return out, err
	}
	out.Breakdown = b
	return out, nil
}

// onlyFormat accepts no query but format=json|csv (and, for one petition, breakdown-csv), so
// the petition endpoints stay on their fixed shape.
func onlyFormat(c *fiber.Ctx, extra ...string) (string, error) {
	args := c.Queries()
	for k := range args {
		if k != "format" {
			return "", errNotFound
		}
	}
	switch f := args["format"]; f {
	case "", "json":
		return "json", nil
	case "csv":
		return f, nil
	default:
		for _, e := range extra {
			if f == e {
				return f, nil
			}
		}
	}
	return "", errNotFound
}

func (a *handlers) listPetitions(c *fiber.Ctx) error {
	format, err := onlyFormat(c)
	if err != nil {
		return err
	}
	out := []api.PublicPetition{}
	for _, p := range a.State.Petitions() {
		v, err := a.petitionAnswer(p, false)
		if err != nil {
			return err
		}
		out = append(out, v)
	}
	if format == "csv" {
		rows := [][]string{{"id", "title", "status", "opens", "closes", "threshold", "online", "paper", "total", "withdrawn", "progress_percent"}}
		for _, p := range out {
			rows = append(rows, []string{p.ID, csvText(p.Title), p.Status, p.Opens.UTC().Format(time.RFC3339), p.Closes.UTC().Format(time.RFC3339),
				strconv.Itoa(p.Threshold), strconv.Itoa(p.Signatures), strconv.Itoa(p.Paper), strconv.Itoa(p.Total),
				strconv.Itoa(p.Withdrawn), strconv.Itoa(p.ProgressPercent)})
		}
		return sendCSV(c, "petitions.csv", rows)
	}
	return c.JSON(out)
}

func (a *handlers) getPetition(c *fiber.Ctx) error {
	format, err := onlyFormat(c, "breakdown-csv")
	if err != nil {
		return err
	}
	p, ok := a.State.Petition(c.Params("id"))
	if !ok {
		return errNoPetition
	}
	v, err := a.petitionAnswer(p, true)
	if err != nil {
		return err
	}
	switch format {
	case "csv":
		// The daily timeline, one row per day with any signature or withdrawal.
		rows := [][]string{{"petition", "day", "signed", "withdrawn", "online"}}
		for _, d := range v.Timeline {
			rows = append(rows, []string{p.ID, d.Day, strconv.Itoa(d.Signed), strconv.Itoa(d.Withdrawn), strconv.Itoa(d.Online)})
		}
		return sendCSV(c, p.ID+".csv", rows)
	case "breakdown-csv":
		// The released breakdown, one row per question and answer; 404 until it is released.
		if len(v.Breakdown) == 0 {
			return errNotFound
		}
		d, err := release.ParseBreakdown(v.Breakdown)
		if err != nil {
			return err
		}
		rows := [][]string{{"petition", "question", "answer", "suppressed", "signers", "k", "noise"}}
		for _, q := range d.Questions {
			for _, g := range q.Groups {
				n := ""
				if !g.Suppressed {
					n = strconv.Itoa(g.Signers)
				}
				rows = append(rows, []string{p.ID, q.Question, g.Answer, strconv.FormatBool(g.Suppressed), n, strconv.Itoa(d.K), d.Noise})
			}
		}
		return sendCSV(c, p.ID+"-breakdown.csv", rows)
	}
	return c.JSON(v)
}

// csvText keeps free text from being read as a formula by a spreadsheet.
func csvText(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

func sendCSV(c *fiber.Ctx, filename string, rows [][]string) error {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	if err := w.WriteAll(rows); err != nil {
		return fmt.Errorf("server: csv: %w", err)
	}
	c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+filename+`"`)
	return c.Send(b.Bytes())
}
