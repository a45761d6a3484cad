package server

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/petition"
	"github.com/commons-city/commons/release"
)

// tallyIdentities are the petition tally identities the test nodes create.
var tallyIdentities sync.Map

func testTallyKey(petition string) (string, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return "", err
	}
	actual, _ := tallyIdentities.LoadOrStore(petition, id)
	return actual.(*age.X25519Identity).Recipient().String(), nil
}

// testTokenKey is the one RSA token key every petition of the test nodes uses: generating
// one per petition would dominate the tests' time, and a token names its petition anyway.
var testTokenKey = sync.OnceValues(crypto.NewTokenKey)

func testTokenKeys() (*rsa.PrivateKey, error) { return testTokenKey() }

// petitionNode is a test node with a movable clock, an organiser and residents.
type petitionNode struct {
	*testNode
	clock *nodetest.Clock
}

func newPetitionNode(t *testing.T) *petitionNode {
	c := nodetest.NewClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	n := newTestNode(t, func(cfg *Config) { cfg.Now = c.Now })
	return &petitionNode{testNode: n, clock: c}
}

// document is an organiser's signed document request.
func (n *petitionNode) document(t *testing.T, w *crypto.Wallet, typ, field, petition string, doc any) map[string]any {
	t.Helper()
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	s := n.signed(t, w, crypto.Statement{Type: typ, Petition: petition, Document: crypto.DocumentHash(body)})
	return map[string]any{"statement": s.Statement, "signature": s.Signature, field: json.RawMessage(body)}
}

func (n *petitionNode) create(t *testing.T, w *crypto.Wallet, p api.Petition) (int, string) {
	t.Helper()
	return n.post(t, "/api/v1/petitions", n.document(t, w, crypto.TypePetitionCreate, "petition", p.ID, p))
}

// tokens asks for w's tokens for petitions, as a wallet does, and returns them finalised with
// the node's refusals.
func (n *petitionNode) tokens(t *testing.T, w *crypto.Wallet, petitions ...string) (map[string]client.Token, map[string]string) {
	t.Helper()
	reqs := map[string]*crypto.TokenRequest{}
	blinded, encoded := map[string][]byte{}, map[string]string{}
	for _, id := range petitions {
		p, ok := n.State.Petition(id)
		require.True(t, ok, id)
		pk, err := crypto.DecodeTokenKey(p.TokenKey)
		require.NoError(t, err)
		r, err := w.BlindToken(id, pk)
		require.NoError(t, err)
		reqs[id], blinded[id], encoded[id] = r, r.Blinded, base64.StdEncoding.EncodeToString(r.Blinded)
	}
	s := n.signed(t, w, crypto.Statement{Type: crypto.TypePetitionTokens, Document: crypto.TokenRequestDocument(encoded)})
	ans := decodeOK[api.TokensAnswer](t, n.do(t, "POST", "/api/v1/petitions/tokens", mustJSON(t, tokensRequest{SignedStatement: s, Blinded: blinded})))
	out := map[string]client.Token{}
	for id, sig := range ans.Tokens {
		tok, err := reqs[id].Finalize(sig)
		require.NoError(t, err)
		out[id] = client.Token{Petition: id, Randomizer: reqs[id].Randomizer, Signature: tok}
	}
	return out, ans.Refused
}

// actRequest is w's act on a petition under its key for the petition, spending tok when it
// signs, with sealed answers if any.
func actRequest(t *testing.T, w *crypto.Wallet, petition string, withdraw bool, tok client.Token, answers []byte) api.SignatureRequest {
	t.Helper()
	k, err := w.PetitionKey(petition)
	require.NoError(t, err)
	r := api.SignatureRequest{Type: crypto.TypePetitionWithdraw, Petition: petition}
	if !withdraw {
		r.Type, r.Randomizer, r.Token, r.Answers = crypto.TypePetitionSign, tok.Randomizer, tok.Signature, answers
		if len(answers) > 0 {
			r.Document = crypto.DocumentHash(answers)
		}
	}
	act, sig, err := crypto.SignAct(k, crypto.PetitionAct{Document: r.Document, Petition: petition, Type: r.Type})
	require.NoError(t, err)
	r.Key, r.Signature = act.Key, sig
	return r
}

// act posts a petition act to the petition named in its path.
func (n *petitionNode) act(t *testing.T, path string, r api.SignatureRequest) (int, string) {
	t.Helper()
	return n.post(t, "/api/v1/petitions/"+path+"/signatures", r)
}

// sign signs (fetching w's token first) or withdraws, as a wallet does.
func (n *petitionNode) sign(t *testing.T, w *crypto.Wallet, petition string, withdraw bool) (int, string) {
	t.Helper()
	var tok client.Token
	if !withdraw {
		if _, ok := n.State.Petition(petition); !ok {
			return n.act(t, petition, actRequest(t, w, petition, false, client.Token{Randomizer: make([]byte, crypto.RandomizerSize), Signature: []byte{1}}, nil))
		}
		toks, refused := n.tokens(t, w, petition)
		if code, ok := refused[petition]; ok {
			return 0, code
		}
		tok = toks[petition]
	}
	return n.act(t, petition, actRequest(t, w, petition, withdraw, tok, nil))
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return string(b)
}

func (n *petitionNode) petition(t *testing.T, id string) api.PublicPetition {
	t.Helper()
	return decodeOK[api.PublicPetition](t, n.do(t, "GET", "/api/v1/petitions/"+id, ""))
}

func treesPetition(opens time.Time) api.Petition {
	return api.Petition{ID: "trees", Title: "Trees for the old town", Text: "Plant *trees*.",
		Scope: []string{"old-town"}, Opens: opens, Closes: opens.Add(48 * time.Hour), Threshold: 10}
}

// TestPetitionRefusalsEachHaveTheirOwnCode signs and withdraws, and sends every kind of
// refused act: each gets its own status and code, and the count never moves.
func TestPetitionRefusalsEachHaveTheirOwnCode(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	alice, bob := n.resident(t, "old-town"), n.resident(t, "old-town")
	outsider := n.resident(t, "riverside")
	opens := n.clock.Now().Add(time.Hour)
	status, code := n.create(t, org, treesPetition(opens))
	require.Equal(t, 201, status, code)
	bikes := treesPetition(opens)
	bikes.ID, bikes.Scope = "bikes", nil
	status, code = n.create(t, org, bikes)
	require.Equal(t, 201, status, code)

	count := func() int { return n.petition(t, "trees").Total }
	refused := func(name string, wantStatus int, wantCode string, status int, code string) {
		t.Helper()
		before := count()
		assert.Equal(t, wantStatus, status, name)
		assert.Equal(t, wantCode, code, name)
		assert.Equal(t, before, count(), "%s leaves the count unchanged", name)
	}

	_, why := n.tokens(t, alice, "trees")
	assert.Equal(t, map[string]string{"trees": "petition_not_open"}, why, "no token before it opens")
	n.clock.Set(opens.Add(time.Minute))

	toks, why := n.tokens(t, alice, "trees", "bikes")
	require.Empty(t, why)
	again, _ := n.tokens(t, alice, "trees")
	assert.Equal(t, toks["trees"], again["trees"], "the same wallet is issued the same token again")
	status, code = n.act(t, "trees", actRequest(t, alice, "trees", false, toks["trees"], nil))
	require.Equal(t, 202, status, code)
	assert.Equal(t, 1, count())

	status, code = n.act(t, "trees", actRequest(t, alice, "trees", false, toks["trees"], nil))
	refused("spending the token twice", 409, "already_signed", status, code)
	status, code = n.act(t, "trees", actRequest(t, alice, "trees", false, toks["bikes"], nil))
	refused("another petition's token", 403, "invalid_token", status, code)
	status, code = n.act(t, "bikes", actRequest(t, alice, "trees", false, toks["trees"], nil))
	assert.Equal(t, 422, status, "an act sent to another petition's path")
	assert.Equal(t, "invalid_field", code)
	forgedTok := toks["trees"]
	forgedTok.Signature = append([]byte{}, forgedTok.Signature...)
	forgedTok.Signature[7] ^= 1
	status, code = n.act(t, "trees", actRequest(t, bob, "trees", false, forgedTok, nil))
	refused("a forged token", 403, "invalid_token", status, code)
	status, code = n.act(t, "trees", actRequest(t, bob, "trees", false, toks["trees"], nil))
	refused("alice's token under bob's key", 403, "invalid_token", status, code)

	// Another wallet's blinding for the same resident is refused: one token per resident.
	other, err := crypto.NewWallet()
	require.NoError(t, err)
	p, _ := n.State.Petition("trees")
	pk, err := crypto.DecodeTokenKey(p.TokenKey)
	require.NoError(t, err)
	r, err := other.BlindToken("trees", pk)
	require.NoError(t, err)
	doc := crypto.TokenRequestDocument(map[string]string{"trees": base64.StdEncoding.EncodeToString(r.Blinded)})
	resp := n.do(t, "POST", "/api/v1/petitions/tokens", mustJSON(t, tokensRequest{
		SignedStatement: n.signed(t, alice, crypto.Statement{Type: crypto.TypePetitionTokens, Document: doc}),
		Blinded:         map[string][]byte{"trees": r.Blinded}}))
	assert.Contains(t, readBody(t, resp), `"refused":{"trees":"already_issued"}`)

	_, why = n.tokens(t, outsider, "trees", "bikes")
	assert.Equal(t, map[string]string{"trees": "out_of_scope"}, why, "scope is enforced at issuance")

	// Withdrawal: only the key that signed proves it.
	withdraw := actRequest(t, alice, "trees", true, client.Token{}, nil)
	stolen := withdraw
	stolen.Key = actRequest(t, bob, "trees", true, client.Token{}, nil).Key
	status, code = n.act(t, "trees", stolen)
	refused("a withdrawal with another key than the signature's", 401, "bad_signature", status, code)
	status, code = n.act(t, "trees", actRequest(t, bob, "trees", true, client.Token{}, nil))
	refused("withdrawing without a signature", 409, "not_signed", status, code)
	status, code = n.act(t, "trees", withdraw)
	require.Equal(t, 202, status, code)
	assert.Equal(t, 0, count())
	status, code = n.act(t, "trees", withdraw)
	refused("withdrawing twice", 409, "already_withdrawn", status, code)
	status, code = n.act(t, "trees", actRequest(t, alice, "trees", false, toks["trees"], nil))
	refused("signing again after a withdrawal: the token is spent", 409, "already_signed", status, code)

	status, code = n.sign(t, bob, "trees", false)
	require.Equal(t, 202, status, code)
	assert.Equal(t, 1, count())
	status, code = n.sign(t, bob, "nothing", false)
	assert.Equal(t, 404, status)
	assert.Equal(t, "unknown_petition", code)

	// Petition statements of the citizen are no longer accepted.
	status, code = n.post(t, "/api/v1/statements", n.signed(t, bob, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "trees"}))
	assert.Equal(t, 422, status)
	assert.Equal(t, "petition_act", code)

	n.clock.Set(opens.Add(48 * time.Hour))
	status, code = n.act(t, "trees", actRequest(t, n.resident(t, "old-town"), "trees", false, toks["trees"], nil))
	refused("after it closes", 409, "petition_closed", status, code)
	status, code = n.sign(t, bob, "trees", true)
	refused("withdrawing after it closes", 409, "petition_closed", status, code)
	pub := n.petition(t, "trees")
	assert.Equal(t, "closed", pub.Status)
	assert.Equal(t, 1, pub.Total, "the count keeps showing after the close")
	assert.Equal(t, 1, pub.Withdrawn)

	// The public entries carry the petition, the nullifier, the petition key, the token and the
	// key's signature: nothing that names the signer.
	signer := map[string]bool{alice.CitizenID(): true, bob.CitizenID(): true}
	var signatures int
	require.NoError(t, n.Ledger.Scan(context.Background(), 0, n.Ledger.Size(), func(_ uint64, b []byte) error {
		e, err := api.ParseEntry(b)
		require.NoError(t, err)
		if e.Type != api.EntryPetitionSign && e.Type != api.EntryPetitionRevoke {
			return nil
		}
		signatures++
		assert.Empty(t, e.Citizen)
		assert.Equal(t, "2026-05-04", e.Epoch)
		assert.False(t, signer[e.Citizen])
		for _, w := range []*crypto.Wallet{alice, bob} {
			assert.NotContains(t, string(b), crypto.EncodeKey(w.SigningPublicKey()))
			assert.NotContains(t, string(b), w.CitizenID())
		}
		return nil
	}))
	assert.Equal(t, 3, signatures, "alice's sign and withdrawal, bob's sign")

	// The read model is rebuilt from the ledger alone.
	replayed, err := state.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.NoError(t, replayed.Replay(context.Background(), n.Ledger))
	rebuilt, _ := replayed.Petition("trees")
	assert.Equal(t, 1, rebuilt.Signatures)
	assert.Equal(t, 1, rebuilt.Withdrawn)
	assert.Equal(t, 2, rebuilt.Issued, "alice and bob; the outsider was refused")
}

// TestConcurrentSignaturesCountOnce spends the same token many times at once, under its key
// and others: exactly one is accepted.
func TestConcurrentSignaturesCountOnce(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	alice := n.resident(t, "old-town")
	p := treesPetition(n.clock.Now().Add(-time.Minute))
	status, code := n.create(t, org, p)
	require.Equal(t, 201, status, code)
	toks, _ := n.tokens(t, alice, "trees")
	var wg sync.WaitGroup
	accepted := make(chan int, 16)
	for i := range 16 {
		wg.Go(func() {
			w := alice
			if i%2 == 1 {
				other, err := crypto.NewWallet()
				assert.NoError(t, err)
				w = other
			}
			st, _ := n.act(t, "trees", actRequest(t, w, "trees", false, toks["trees"], nil))
			accepted <- st
		})
	}
	wg.Wait()
	close(accepted)
	ok := 0
	for st := range accepted {
		if st == 202 {
			ok++
		}
	}
	assert.Equal(t, 1, ok)
	assert.Equal(t, 1, n.petition(t, "trees").Total)
}

// TestOrganisersCreatePetitionsAndEnterPaper covers the organiser role: granted and revoked
// by the operator, required to create a petition, and only the petition's organiser enters
// its paper signatures, which are shown apart from the online ones.
func TestOrganisersCreatePetitionsAndEnterPaper(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	ann := n.resident(t, "old-town")
	p := treesPetition(n.clock.Now().Add(-time.Minute))
	p.Ask = []string{api.AskAgeBand}

	status, code := n.create(t, ann, p)
	assert.Equal(t, 403, status)
	assert.Equal(t, "not_organiser", code)

	status, code = n.post(t, "/api/v1/admin/organisers", map[string]string{"citizen": ann.CitizenID()})
	assert.Equal(t, 401, status, "granting needs the admin token")
	assert.Equal(t, "unauthorized", code)
	status, code = n.post(t, "/api/v1/admin/organisers", map[string]string{"citizen": "c-nobody"}, "Authorization", "Bearer "+testToken)
	assert.Equal(t, 404, status)
	assert.Equal(t, "unknown_citizen", code)
	status, code = n.post(t, "/api/v1/admin/organisers", map[string]string{"citizen": ann.CitizenID()}, "Authorization", "Bearer "+testToken)
	require.Equal(t, 201, status, code)
	status, code = n.post(t, "/api/v1/admin/organisers", map[string]string{"citizen": ann.CitizenID()}, "Authorization", "Bearer "+testToken)
	assert.Equal(t, 409, status)
	assert.Equal(t, "already_organiser", code)
	assert.Contains(t, n.Logs.String(), "organiser role changed by the operator")

	// The signature covers the document: a changed document is refused.
	req := n.document(t, ann, crypto.TypePetitionCreate, "petition", p.ID, p)
	changed := p
	changed.Threshold = 1
	req["petition"], _ = json.Marshal(changed)
	status, code = n.post(t, "/api/v1/petitions", req)
	assert.Equal(t, 401, status)
	assert.Equal(t, "bad_signature", code)
	bad := p
	bad.Ask = []string{"income"}
	status, code = n.create(t, ann, bad)
	assert.Equal(t, 422, status)
	assert.Equal(t, "invalid_field", code)
	forever := p
	forever.Closes = p.Opens.AddDate(2, 0, 0)
	status, code = n.create(t, ann, forever)
	assert.Equal(t, 422, status, "a petition that never closes")
	assert.Equal(t, "invalid_field", code)
	huge := p
	huge.Threshold = 1 << 40
	status, code = n.create(t, ann, huge)
	assert.Equal(t, 422, status, "a threshold no city reaches")
	assert.Equal(t, "invalid_field", code)

	status, code = n.create(t, ann, p)
	require.Equal(t, 201, status, code)
	status, code = n.create(t, ann, p)
	assert.Equal(t, 409, status)
	assert.Equal(t, "petition_exists", code)
	_, ok := tallyIdentities.Load("trees")
	assert.True(t, ok, "the petition got its own tally key")

	got := n.petition(t, "trees")
	assert.Equal(t, ann.CitizenID(), got.Organiser)
	assert.Equal(t, []string{api.AskAgeBand}, got.Ask)
	assert.True(t, strings.HasPrefix(got.Recipient, "age1"), got.Recipient)

	// Paper signatures: only this petition's organiser, positive counts, shown apart.
	paper := func(w *crypto.Wallet, count int) (int, string) {
		return n.post(t, "/api/v1/petitions/trees/paper", n.document(t, w, crypto.TypePetitionPaper, "paper", "trees",
			api.Paper{Petition: "trees", Count: count, Note: "market stall, Saturday"}))
	}
	status, code = paper(ann, 25)
	require.Equal(t, 201, status, code)
	status, code = paper(ann, 0)
	assert.Equal(t, 422, status)
	assert.Equal(t, "invalid_field", code)
	ben := n.organiser(t)
	status, code = paper(ben, 5)
	assert.Equal(t, 403, status)
	assert.Equal(t, "not_your_petition", code)
	status, code = n.sign(t, n.resident(t, "old-town"), "trees", false)
	require.Equal(t, 202, status, code)
	got = n.petition(t, "trees")
	assert.Equal(t, 1, got.Signatures)
	assert.Equal(t, 25, got.Paper)
	assert.Equal(t, 26, got.Total)
	assert.Equal(t, 260, got.ProgressPercent)
	assert.True(t, got.ThresholdReached)
	require.Len(t, got.Timeline, 1)
	assert.Equal(t, api.TimelineDay{Day: "2026-05-04", Signed: 1, Online: 1}, got.Timeline[0])

	// Paper counts close petition.PaperGrace after the petition.
	n.clock.Set(p.Closes.Add(petition.PaperGrace + time.Minute))
	status, code = paper(ann, 3)
	assert.Equal(t, 409, status)
	assert.Equal(t, "petition_closed", code)

	// A revoked organiser creates nothing more.
	n.clock.Set(p.Opens)
	resp := n.do(t, "DELETE", "/api/v1/admin/organisers/"+ann.CitizenID(), "", "Authorization", "Bearer "+testToken)
	require.Equal(t, 201, resp.StatusCode, readBody(t, resp))
	resp = n.do(t, "DELETE", "/api/v1/admin/organisers/"+ann.CitizenID(), "", "Authorization", "Bearer "+testToken)
	assert.Equal(t, 409, resp.StatusCode)
	other := p
	other.ID = "more-trees"
	status, code = n.create(t, ann, other)
	assert.Equal(t, 403, status)
	assert.Equal(t, "not_organiser", code)

	// The CSV variants: every petition, and one petition's daily timeline.
	resp = n.do(t, "GET", "/api/v1/petitions?format=csv", "")
	body := readBody(t, resp)
	assert.Equal(t, "text/csv; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, body, "id,title,status,opens,closes,threshold,online,paper,total,withdrawn,progress_percent\n")
	assert.Contains(t, body, "trees,Trees for the old town,open,")
	resp = n.do(t, "GET", "/api/v1/petitions/trees?format=csv", "")
	assert.Equal(t, "petition,day,signed,withdrawn,online\ntrees,2026-05-04,1,0,1\n", readBody(t, resp))
	assert.Equal(t, 404, n.do(t, "GET", "/api/v1/petitions/trees?neighbourhood=old-town", "").StatusCode, "off the fixed shape")
	assert.Equal(t, 404, n.do(t, "GET", "/api/v1/petitions/trees?format=breakdown-csv", "").StatusCode, "no breakdown before it is released")
	assert.Equal(t, 404, n.do(t, "GET", "/api/v1/petitions?format=breakdown-csv", "").StatusCode)
}

// TestPetitionAnswersAreSealedAndReleasedOnce signs with answers sealed to the tally key;
// withdrawn answers are not tallied, and the breakdown is released once, after the close,
// under the k rule.
func TestPetitionAnswersAreSealedAndReleasedOnce(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	p := treesPetition(n.clock.Now().Add(-time.Minute))
	p.Scope = nil
	p.Ask = []string{api.AskAgeBand, api.AskNeighbourhood}
	status, code := n.create(t, org, p)
	require.Equal(t, 201, status, code)
	recipient, err := age.ParseX25519Recipient(n.petition(t, "trees").Recipient)
	require.NoError(t, err)

	signWith := func(w *crypto.Wallet, a api.Answers) (int, string) {
		plain, err := json.Marshal(a)
		require.NoError(t, err)
		sealed, err := crypto.Seal(plain, recipient)
		require.NoError(t, err)
		toks, _ := n.tokens(t, w, "trees")
		return n.act(t, "trees", actRequest(t, w, "trees", false, toks["trees"], sealed))
	}
	var quitter *crypto.Wallet
	for i := range 12 {
		w := n.resident(t, "old-town")
		status, code := signWith(w, api.Answers{V: 1, AgeBand: "30-44", Neighbourhood: "old-town"})
		require.Equal(t, 202, status, code)
		if i == 0 {
			quitter = w
		}
	}
	status, code = n.sign(t, quitter, "trees", true)
	require.Equal(t, 202, status, code)

	// Answers must be sealed, and covered by the signature.
	w := n.resident(t, "old-town")
	toks, _ := n.tokens(t, w, "trees")
	status, code = n.act(t, "trees", actRequest(t, w, "trees", false, toks["trees"], []byte(`{"v":1}`)))
	assert.Equal(t, 422, status)
	assert.Equal(t, "not_sealed", code)
	plain, _ := json.Marshal(api.Answers{V: 1, AgeBand: "65+"})
	sealed, err := crypto.Seal(plain, recipient)
	require.NoError(t, err)
	uncovered := actRequest(t, w, "trees", false, toks["trees"], nil)
	uncovered.Answers = sealed
	status, code = n.act(t, "trees", uncovered)
	assert.Equal(t, 401, status, "answers the signature does not cover")
	assert.Equal(t, "bad_signature", code)

	engine := n.releaseEngine(t, "trees")
	published, err := engine.RunDue(context.Background())
	require.NoError(t, err)
	assert.Zero(t, published, "nothing is released while the petition is open")

	n.clock.Set(p.Closes)
	published, err = engine.RunDue(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, published)
	published, err = engine.RunDue(context.Background())
	require.NoError(t, err)
	assert.Zero(t, published, "released once")

	got := n.petition(t, "trees")
	require.NotEmpty(t, got.Breakdown)
	d, err := release.ParseBreakdown(got.Breakdown)
	require.NoError(t, err)
	require.Len(t, d.Questions, 2)
	byAnswer := map[string]release.Group{}
	for _, q := range d.Questions {
		for _, g := range q.Groups {
			byAnswer[q.Question+"="+g.Answer] = g
		}
	}
	assert.Equal(t, release.Group{Answer: "30-44", Signers: 11}, byAnswer["age_band=30-44"], "11 active signers answered; the withdrawn one is not tallied")
	assert.Equal(t, release.Group{Answer: "16-29", Suppressed: true}, byAnswer["age_band=16-29"])
	assert.Equal(t, release.Group{Answer: "old-town", Signers: 11}, byAnswer["neighbourhood=old-town"])
	assert.True(t, byAnswer["neighbourhood=riverside"].Suppressed)
	assert.Equal(t, 10, d.K)

	resp := n.do(t, "GET", "/api/v1/petitions/trees?format=breakdown-csv", "")
	csv := readBody(t, resp)
	require.Equal(t, 200, resp.StatusCode, csv)
	assert.True(t, strings.HasPrefix(csv, "petition,question,answer,suppressed,signers,k,noise\ntrees,age_band,16-29,true,,10,none\ntrees,age_band,30-44,false,11,10,none\n"), csv)
	assert.Contains(t, csv, "trees,neighbourhood,old-town,false,11,10,none\n")
}

// releaseEngine is a release engine on the node's clock and the default grid, with exact
// counts, that can read the tally identities of the readable petitions only.
func (n *petitionNode) releaseEngine(t *testing.T, readable ...string) *release.Engine {
	t.Helper()
	ids := map[string]age.Identity{}
	for _, p := range readable {
		id, ok := tallyIdentities.Load(p)
		require.True(t, ok, "no tally key was made for %s", p)
		ids[p] = id.(*age.X25519Identity)
	}
	return release.New(release.Config{Store: n.Store, Ledger: n.Ledger, State: n.State, Cells: gridIDs(t),
		Now: n.clock.Now, Noise: exactCount{}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		PetitionIdentity: func(p string) (age.Identity, error) {
			if id, ok := ids[p]; ok {
				return id, nil
			}
			return nil, fmt.Errorf("tally key of petition %s: file does not exist", p)
		}})
}

func gridIDs(t *testing.T) []string {
	grid, err := geo.Parse(geo.Default())
	require.NoError(t, err)
	return grid.IDs()
}

// exactCount is a noise-free mechanism, so the test can check the arithmetic and the k rule.
type exactCount struct{}

func (exactCount) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error) { return x, nil }
func (exactCount) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) {
	return x, nil
}
func (exactCount) Threshold(int64, float64, float64, float64, float64) (float64, error) {
	return 0, nil
}
func (exactCount) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: float64(x), UpperBound: float64(x)}, nil
}
func (exactCount) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: x, UpperBound: x}, nil
}
func (exactCount) String() string { return "none" }

// TestOnePetitionsMissingTallyKeyDelaysNoOtherBreakdown closes two petitions that ask
// questions, one of whose tally identity cannot be read: the other's breakdown is released
// all the same, and the run reports the one it could not release.
func TestOnePetitionsMissingTallyKeyDelaysNoOtherBreakdown(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	for _, id := range []string{"trees", "benches"} {
		p := treesPetition(n.clock.Now().Add(-time.Minute))
		p.ID, p.Ask = id, []string{api.AskAgeBand}
		status, code := n.create(t, org, p)
		require.Equal(t, 201, status, code)
	}
	engine := n.releaseEngine(t, "trees")
	n.clock.Set(treesPetition(n.clock.Now()).Closes)
	published, err := engine.RunDue(context.Background())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "benches")
	assert.Equal(t, 1, published)
	_, err = n.Store.Release("petition/trees", release.PetitionEpoch)
	assert.NoError(t, err, "the readable petition's breakdown is released")
}

// TestPaperSignaturesBoundedByPopulation checks that a petition's paper signatures, in total,
// never pass the population of its scope (old-town: 31,000 in the default grid): counts up to
// it are entered, one past it is refused paper_exceeds_population and logs nothing, and the
// API shows the paper share and a progress capped at ten times the threshold.
func TestPaperSignaturesBoundedByPopulation(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	ann := n.organiser(t)
	p := treesPetition(n.clock.Now().Add(-time.Hour)) // old-town, a threshold of 10
	status, code := n.create(t, ann, p)
	require.Equal(t, 201, status, code)
	paper := func(count int) (int, string) {
		return n.post(t, "/api/v1/petitions/trees/paper", n.document(t, ann, crypto.TypePetitionPaper, "paper", "trees",
			api.Paper{Petition: "trees", Count: count}))
	}
	status, code = paper(30_000)
	require.Equal(t, 201, status, code)
	size := n.Ledger.Size()
	status, code = paper(1_001)
	assert.Equal(t, 409, status)
	assert.Equal(t, "paper_exceeds_population", code)
	assert.Equal(t, size, n.Ledger.Size(), "a refused count logs nothing")
	status, code = paper(1_000)
	require.Equal(t, 201, status, code, "up to the population exactly")
	status, code = paper(1)
	assert.Equal(t, 409, status)
	assert.Equal(t, "paper_exceeds_population", code)

	status, code = n.sign(t, n.resident(t, "old-town"), "trees", false)
	require.Equal(t, 202, status, code)
	got := n.petition(t, "trees")
	assert.Equal(t, 31_000, got.Paper)
	assert.Equal(t, 31_001, got.Total)
	assert.Equal(t, 100, got.PaperPercent)
	assert.Equal(t, 1000, got.ProgressPercent, "capped at ten times the threshold")
}
