package petition

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
)

// refusal is the error a table row expects: a sentinel, an *InvalidError's field, or nil.
type refusal struct {
	err   error
	field string
}

func (r refusal) check(t *testing.T, err error, name string) {
	t.Helper()
	switch {
	case r.field != "":
		var inv *InvalidError
		if assert.ErrorAs(t, err, &inv, name) {
			assert.Equal(t, r.field, inv.Field, name)
		}
	case r.err != nil:
		assert.ErrorIs(t, err, r.err, name)
	default:
		assert.NoError(t, err, name)
	}
}

func field(f string) refusal { return refusal{field: f} }
func is(err error) refusal   { return refusal{err: err} }

var ok refusal

func TestValidIDAndSlug(t *testing.T) {
	t.Parallel()
	for id, want := range map[string]bool{"river-bike-lane": true, "a": true, "": false, "Trees": false,
		"trees/../x": false, strings.Repeat("a", 65): false, strings.Repeat("a", 64): true, "école": false} {
		assert.Equal(t, want, ValidID(id), id)
	}
	for title, want := range map[string]string{
		"Trees for the Old Town!":      "trees-for-the-old-town",
		"  --Bike lane, 2027--  ":      "bike-lane-2027",
		"Écoles ouvertes":              "coles-ouvertes",
		"???":                          "",
		strings.Repeat("ab ", 40):      strings.TrimRight(strings.Repeat("ab-", 22)[:64], "-"),
		strings.Repeat("a", 63) + " b": strings.Repeat("a", 63),
	} {
		got := Slug(title)
		assert.Equal(t, want, got, title)
		assert.True(t, got == "" || ValidID(got), "a slug is a valid id: %q", got)
	}
}

func TestCompactAndParse(t *testing.T) {
	t.Parallel()
	doc := json.RawMessage(`{ "petition": "trees", "count": 3 }`)
	compact := []byte(`{"petition":"trees","count":3}`)
	body, err := Compact(doc, crypto.DocumentHash(compact))
	require.NoError(t, err)
	assert.Equal(t, compact, body)
	_, err = Compact(doc, crypto.DocumentHash([]byte(doc)))
	assert.ErrorIs(t, err, ErrDocumentHash, "the organiser signs the compact bytes")
	_, err = Compact(json.RawMessage(`{`), "")
	assert.ErrorIs(t, err, ErrMalformed)
	_, err = Compact(nil, "")
	assert.ErrorIs(t, err, ErrMalformed)

	paper, err := ParsePaper(body)
	require.NoError(t, err)
	assert.Equal(t, api.Paper{Petition: "trees", Count: 3}, paper)
	for _, b := range []string{`{"petition":"trees","count":3,"extra":1}`, `{"petition":"trees"} {}`, `[]`} {
		_, err = ParsePaper([]byte(b))
		assert.ErrorIs(t, err, ErrMalformed, b)
		_, err = ParseDocument([]byte(b))
		assert.ErrorIs(t, err, ErrMalformed, b)
	}
	p, err := ParseDocument([]byte(`{"id":"trees","title":"T","text":"","scope":null,"opens":"2026-10-01T12:00:00Z","closes":"2026-10-11T12:00:00Z","threshold":8}`))
	require.NoError(t, err)
	assert.Equal(t, 8, p.Threshold)
}

func TestCheckDocument(t *testing.T) {
	t.Parallel()
	now := opens.Add(-time.Hour)
	valid := func() api.Petition {
		return api.Petition{ID: "trees", Title: "Trees", Text: "Plant trees.", Scope: []string{"old-town", "harbour"},
			Opens: opens, Closes: opens.AddDate(0, 0, 30), Threshold: 100, Ask: []string{api.AskAgeBand, api.AskNeighbourhood}}
	}
	grid := map[string]bool{"old-town": true, "harbour": true}
	for _, tc := range []struct {
		name  string
		edit  func(p *api.Petition)
		named string
		want  refusal
	}{
		{"valid", func(*api.Petition) {}, "trees", ok},
		{"the whole city", func(p *api.Petition) { p.Scope = nil }, "trees", ok},
		{"no questions", func(p *api.Petition) { p.Ask = nil }, "trees", ok},
		{"opened already, closes later", func(p *api.Petition) { p.Opens = now.AddDate(0, 0, -3) }, "trees", ok},
		{"a year and a day", func(p *api.Petition) { p.Closes = p.Opens.Add(MaxSigningWindow) }, "trees", ok},
		{"ten million", func(p *api.Petition) { p.Threshold = MaxThreshold }, "trees", ok},
		{"another petition than the statement's", func(*api.Petition) {}, "bikes", field("petition")},
		{"bad id", func(p *api.Petition) { p.ID = "Trees" }, "Trees", field("id")},
		{"no title", func(p *api.Petition) { p.Title = "" }, "trees", field("title")},
		{"long title", func(p *api.Petition) { p.Title = strings.Repeat("t", MaxTitle+1) }, "trees", field("title")},
		{"long text", func(p *api.Petition) { p.Text = strings.Repeat("t", MaxText+1) }, "trees", field("text")},
		{"unknown neighbourhood", func(p *api.Petition) { p.Scope = []string{"atlantis"} }, "trees", is(ErrUnknownNeighbourhood)},
		{"a neighbourhood twice", func(p *api.Petition) { p.Scope = []string{"harbour", "harbour"} }, "trees", field("scope")},
		{"no opening", func(p *api.Petition) { p.Opens = time.Time{} }, "trees", field("closes")},
		{"closes at its opening", func(p *api.Petition) { p.Closes = p.Opens }, "trees", field("closes")},
		{"more than 366 days", func(p *api.Petition) { p.Closes = p.Opens.Add(MaxSigningWindow + time.Second) }, "trees", field("closes")},
		{"closed already", func(p *api.Petition) { p.Opens, p.Closes = now.AddDate(0, 0, -3), now }, "trees", field("closes")},
		{"no threshold", func(p *api.Petition) { p.Threshold = 0 }, "trees", field("threshold")},
		{"threshold too high", func(p *api.Petition) { p.Threshold = MaxThreshold + 1 }, "trees", field("threshold")},
		{"unknown question", func(p *api.Petition) { p.Ask = []string{"income"} }, "trees", field("ask")},
		{"a question twice", func(p *api.Petition) { p.Ask = []string{api.AskAgeBand, api.AskAgeBand} }, "trees", field("ask")},
	} {
		p := valid()
		tc.edit(&p)
		tc.want.check(t, CheckDocument(p, tc.named, func(id string) bool { return grid[id] }, now), tc.name)
	}
}

func TestPaperRules(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name        string
		paper       api.Paper
		named, path string
		want        refusal
	}{
		{"valid", api.Paper{Petition: "trees", Count: 40, Note: "market stall"}, "trees", "trees", ok},
		{"the most", api.Paper{Petition: "trees", Count: MaxPaperCount, Note: strings.Repeat("n", MaxNote)}, "trees", "trees", ok},
		{"statement names another", api.Paper{Petition: "trees", Count: 1}, "bikes", "trees", field("petition")},
		{"path names another", api.Paper{Petition: "trees", Count: 1}, "trees", "bikes", field("petition")},
		{"nothing", api.Paper{Petition: "trees"}, "trees", "trees", field("count")},
		{"negative", api.Paper{Petition: "trees", Count: -3}, "trees", "trees", field("count")},
		{"too many", api.Paper{Petition: "trees", Count: MaxPaperCount + 1}, "trees", "trees", field("count")},
		{"long note", api.Paper{Petition: "trees", Count: 1, Note: strings.Repeat("n", MaxNote+1)}, "trees", "trees", field("note")},
	} {
		tc.want.check(t, CheckPaper(tc.paper, tc.named, tc.path), tc.name)
	}

	p := &state.Petition{Petition: api.Petition{ID: "trees", Opens: opens, Closes: opens.AddDate(0, 0, 10)}, Organiser: "c-org"}
	for _, tc := range []struct {
		name    string
		citizen string
		at      time.Time
		want    refusal
	}{
		{"before it opens", "c-org", opens.Add(-time.Second), is(ErrNotYetOpen)},
		{"at the opening", "c-org", opens, ok},
		{"after the close, within the grace", "c-org", p.Closes.Add(PaperGrace), ok},
		{"after the grace", "c-org", p.Closes.Add(PaperGrace + time.Second), is(ErrClosed)},
		{"another organiser", "c-other", opens.Add(time.Hour), is(ErrNotYours)},
		{"another organiser, closed", "c-other", p.Closes.AddDate(1, 0, 0), is(ErrNotYours)},
	} {
		tc.want.check(t, CanEnterPaper(p, tc.citizen, tc.at), tc.name)
	}
}

func TestCheckAct(t *testing.T) {
	t.Parallel()
	tally, err := crypto.NewWallet()
	require.NoError(t, err)
	sealed, err := crypto.Seal([]byte(`{"v":1,"age_band":"30-44"}`), tally.Identity().Recipient())
	require.NoError(t, err)
	asks := &api.Petition{ID: "trees", Opens: opens, Closes: opens.AddDate(0, 0, 10), Ask: []string{api.AskAgeBand}}
	silent := &api.Petition{ID: "trees", Opens: opens, Closes: opens.AddDate(0, 0, 10)}
	token := []byte("a token")
	randomizer := make([]byte, crypto.RandomizerSize)
	sign := api.SignatureRequest{Type: crypto.TypePetitionSign, Petition: "trees", Token: token, Randomizer: randomizer}
	withAnswers := sign
	withAnswers.Document, withAnswers.Answers = crypto.DocumentHash(sealed), sealed
	withdraw := api.SignatureRequest{Type: crypto.TypePetitionWithdraw, Petition: "trees"}
	with := func(r api.SignatureRequest, f func(*api.SignatureRequest)) api.SignatureRequest { f(&r); return r }
	open := opens.Add(time.Hour)
	for _, tc := range []struct {
		name string
		p    *api.Petition
		r    api.SignatureRequest
		at   time.Time
		want refusal
	}{
		{"a plain signature", silent, sign, open, ok},
		{"a withdrawal", silent, withdraw, open, ok},
		{"signature with answers", asks, withAnswers, open, ok},
		{"a petition that asks, answered with nothing", asks, sign, open, ok},
		{"another petition's act", silent, with(sign, func(r *api.SignatureRequest) { r.Petition = "bikes" }), open, field("petition")},
		{"before it opens", silent, sign, opens.Add(-time.Second), is(ErrNotYetOpen)},
		{"at the close", silent, sign, silent.Closes, is(ErrClosed)},
		{"withdrawing after the close", silent, withdraw, silent.Closes.Add(time.Hour), is(ErrClosed)},
		{"another type", silent, with(sign, func(r *api.SignatureRequest) { r.Type = crypto.TypeConsentGrant }), open, field("type")},
		{"a signature without a token", silent, with(sign, func(r *api.SignatureRequest) { r.Token = nil }), open, field("token")},
		{"a short randomizer", silent, with(sign, func(r *api.SignatureRequest) { r.Randomizer = randomizer[1:] }), open, field("token")},
		{"a withdrawal with a token", silent, with(withdraw, func(r *api.SignatureRequest) { r.Token = token }), open, field("token")},
		{"a withdrawal with answers", asks, with(withdraw, func(r *api.SignatureRequest) { r.Answers, r.Document = sealed, withAnswers.Document }), open, field("token")},
		{"a document without answers", asks, with(withAnswers, func(r *api.SignatureRequest) { r.Answers = nil }), open, field("document")},
		{"answers to a petition that asks none", silent, withAnswers, open, field("answers")},
		{"answers too long", asks, with(withAnswers, func(r *api.SignatureRequest) { r.Answers = append(sealed, make([]byte, MaxAnswers)...) }), open, field("answers")},
		{"answers in the clear", asks, with(sign, func(r *api.SignatureRequest) {
			r.Answers, r.Document = []byte(`{"v":1}`), crypto.DocumentHash([]byte(`{"v":1}`))
		}), open, is(ErrNotSealed)},
		{"answers the signature does not cover", asks, with(sign, func(r *api.SignatureRequest) { r.Answers = sealed }), open, is(ErrDocumentHash)},
	} {
		tc.want.check(t, CheckAct(tc.p, tc.r, tc.at), tc.name)
	}
}

func TestSlot(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		slot Slot
		sign bool
		want refusal
	}{
		{"first signature", Slot{}, true, ok},
		{"withdrawing", Slot{Seen: true, Logged: true, Active: true}, false, ok},
		{"signing twice", Slot{Seen: true, Logged: true, Active: true}, true, is(ErrAlreadySigned)},
		{"signing twice before the first is logged", Slot{Seen: true}, true, is(ErrAlreadySigned)},
		{"signing again after a withdrawal: the token is spent", Slot{Seen: true, Logged: true}, true, is(ErrAlreadySigned)},
		{"withdrawing without a signature", Slot{}, false, is(ErrNotSigned)},
		{"withdrawing before the signature is logged", Slot{Seen: true}, false, is(ErrPending)},
		{"withdrawing twice", Slot{Seen: true, Logged: true}, false, is(ErrWithdrawn)},
	} {
		tc.want.check(t, tc.slot.Check(tc.sign), tc.name)
	}
}

func TestInScope(t *testing.T) {
	t.Parallel()
	city := &api.Petition{}
	two := &api.Petition{Scope: []string{"old-town", "harbour"}}
	assert.True(t, InScope(city, "island"), "a petition with no scope is the whole city's")
	assert.True(t, InScope(city, ""))
	assert.True(t, InScope(two, "harbour"))
	assert.False(t, InScope(two, "island"))
	assert.False(t, InScope(two, ""), "a resident without a neighbourhood is in no scope")
}
