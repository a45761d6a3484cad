package server

import (
	"context"
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

// organiser registers a resident and has the operator grant them the organiser role.
func (n *petitionNode) organiser(t *testing.T) *crypto.Wallet {
	t.Helper()
	w := n.resident(t, "old-town")
	status, code := n.post(t, "/api/v1/admin/organisers", map[string]string{"citizen": w.CitizenID()}, "Authorization", "Bearer "+testToken)
	require.Equal(t, 201, status, code)
	return w
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

func (n *petitionNode) sign(t *testing.T, w *crypto.Wallet, petition string, withdraw bool) (int, string) {
	t.Helper()
	typ := crypto.TypePetitionSign
	if withdraw {
		typ = crypto.TypePetitionWithdraw
	}
	return n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: typ, Petition: petition, Nullifier: w.Nullifier(petition)}))
}

func (n *petitionNode) petition(t *testing.T, id string) api.PublicPetition {
	t.Helper()
	resp := n.do(t, "GET", "/api/v1/petitions/"+id, "")
	body := readBody(t, resp)
	require.Equal(t, 200, resp.StatusCode, body)
	var p api.PublicPetition
	require.NoError(t, json.Unmarshal([]byte(body), &p))
	return p
}

func treesPetition(opens time.Time) api.Petition {
	return api.Petition{ID: "trees", Title: "Trees for the old town", Text: "Plant *trees*.",
		Scope: []string{"old-town"}, Opens: opens, Closes: opens.Add(48 * time.Hour), Threshold: 10}
}

// TestPetitionRefusalsEachHaveTheirOwnCode signs, withdraws and re-signs, and sends every kind
// of refused statement: each gets its own status and code, and the count never moves.
func TestPetitionRefusalsEachHaveTheirOwnCode(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	alice, bob := n.resident(t, "old-town"), n.resident(t, "old-town")
	outsider := n.resident(t, "riverside")
	opens := n.clock.Now().Add(time.Hour)
	status, code := n.create(t, org, treesPetition(opens))
	require.Equal(t, 201, status, code)

	count := func() int { return n.petition(t, "trees").Total }
	refused := func(name string, wantStatus int, wantCode string, status int, code string) {
		t.Helper()
		before := count()
		assert.Equal(t, wantStatus, status, name)
		assert.Equal(t, wantCode, code, name)
		assert.Equal(t, before, count(), "%s leaves the count unchanged", name)
	}

	status, code = n.sign(t, alice, "trees", false)
	refused("before it opens", 409, "petition_not_open", status, code)
	n.clock.Set(opens.Add(time.Minute))

	status, code = n.sign(t, alice, "trees", false)
	require.Equal(t, 201, status, code)
	assert.Equal(t, 1, count())

	status, code = n.sign(t, alice, "trees", false)
	refused("double signing", 409, "already_signed", status, code)

	// Signing and withdrawing under a nullifier not the signer's own are refused alike.
	underNullifier := func(name string, w *crypto.Wallet, nullifier, wantCode string) {
		t.Helper()
		for _, typ := range []string{crypto.TypePetitionSign, crypto.TypePetitionWithdraw} {
			status, code := n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: typ, Petition: "trees", Nullifier: nullifier}))
			refused(typ+" "+name, 409, wantCode, status, code)
		}
	}
	underNullifier("under another nullifier", alice, alice.Nullifier("bikes"), "nullifier_mismatch")
	underNullifier("under someone else's nullifier", bob, alice.Nullifier("trees"), "nullifier_taken")

	status, code = n.sign(t, outsider, "trees", false)
	refused("outside the scope", 403, "out_of_scope", status, code)

	bad := n.signed(t, bob, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "trees", Nullifier: "not-hex"})
	status, code = n.post(t, "/api/v1/statements", bad)
	refused("a malformed nullifier", 422, "invalid_field", status, code)

	forged := n.signed(t, bob, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "trees", Nullifier: bob.Nullifier("trees")})
	forged.Statement.Nullifier = strings.Repeat("a", 64) // a changed byte after signing
	status, code = n.post(t, "/api/v1/statements", forged)
	refused("a changed statement", 401, "bad_signature", status, code)
	mallory, err := crypto.NewWallet()
	require.NoError(t, err)
	forged = n.signed(t, mallory, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "trees", Nullifier: bob.Nullifier("trees")})
	forged.Statement.Citizen = bob.CitizenID()
	status, code = n.post(t, "/api/v1/statements", forged)
	refused("signed with another key in bob's name", 401, "bad_signature", status, code)

	status, code = n.sign(t, bob, "trees", true)
	refused("withdrawing without a signature", 409, "not_signed", status, code)

	withdraw := n.signed(t, alice, crypto.Statement{Type: crypto.TypePetitionWithdraw, Petition: "trees", Nullifier: alice.Nullifier("trees")})
	status, code = n.post(t, "/api/v1/statements", withdraw)
	require.Equal(t, 201, status, code)
	assert.Equal(t, 0, count())
	status, code = n.sign(t, alice, "trees", true)
	refused("withdrawing twice", 409, "already_withdrawn", status, code)
	status, code = n.post(t, "/api/v1/statements", withdraw)
	refused("a replayed withdrawal", 409, "replayed", status, code)

	status, code = n.sign(t, alice, "trees", false)
	require.Equal(t, 201, status, "re-signing after a withdrawal while open: %s", code)
	status, code = n.post(t, "/api/v1/statements", withdraw)
	refused("a replayed withdrawal after re-signing", 409, "replayed", status, code)
	status, code = n.sign(t, bob, "trees", false)
	require.Equal(t, 201, status, code)
	assert.Equal(t, 2, count())

	status, code = n.post(t, "/api/v1/statements", n.signed(t, bob, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "nothing", Nullifier: bob.Nullifier("nothing")}))
	assert.Equal(t, 404, status)
	assert.Equal(t, "unknown_petition", code)

	n.clock.Set(opens.Add(48 * time.Hour))
	status, code = n.sign(t, n.resident(t, "old-town"), "trees", false)
	refused("after it closes", 409, "petition_closed", status, code)
	status, code = n.sign(t, bob, "trees", true)
	refused("withdrawing after it closes", 409, "petition_closed", status, code)
	p := n.petition(t, "trees")
	assert.Equal(t, "closed", p.Status)
	assert.Equal(t, 2, p.Total, "the count keeps showing after the close")
	assert.Equal(t, 1, p.Withdrawn)

	// The public entries carry the petition and the nullifier, nothing that names the signer.
	signer := map[string]bool{alice.CitizenID(): true, bob.CitizenID(): true}
	var signatures int
	require.NoError(t, n.Ledger.Scan(context.Background(), 0, n.Ledger.Size(), func(_ uint64, b []byte) error {
		e, err := api.ParseEntry(b)
		require.NoError(t, err)
		if e.Type != api.EntryPetitionSign && e.Type != api.EntryPetitionRevoke {
			return nil
		}
		signatures++
		var fields map[string]any
		require.NoError(t, json.Unmarshal(b, &fields))
		assert.Len(t, fields, 4, "type, petition, nullifier, epoch only: %s", b)
		assert.Equal(t, "2026-05-04", e.Epoch)
		assert.False(t, signer[e.Citizen])
		assert.NotContains(t, string(b), crypto.EncodeKey(alice.SigningPublicKey()))
		return nil
	}))
	assert.Equal(t, 4, signatures, "sign, withdraw, re-sign, bob's sign")

	// The read model is rebuilt from the ledger alone; the private bindings stay in Badger.
	replayed, err := state.New(slog.New(slog.NewTextHandler(io.Discard, nil)))
	require.NoError(t, err)
	require.NoError(t, replayed.Replay(context.Background(), n.Ledger))
	again, _ := replayed.Petition("trees")
	assert.Equal(t, 2, again.Signatures)
	assert.Equal(t, 1, again.Withdrawn)
	bound, err := n.Store.Signer("trees", alice.CitizenID())
	require.NoError(t, err)
	assert.Equal(t, alice.Nullifier("trees"), bound)
}

// TestConcurrentSignaturesCountOnce sends the same resident's signature many times at once,
// under their nullifier and others: exactly one is accepted.
func TestConcurrentSignaturesCountOnce(t *testing.T) {
	t.Parallel()
	n := newPetitionNode(t)
	org := n.organiser(t)
	alice := n.resident(t, "old-town")
	p := treesPetition(n.clock.Now().Add(-time.Minute))
	status, code := n.create(t, org, p)
	require.Equal(t, 201, status, code)
	var wg sync.WaitGroup
	accepted := make(chan int, 16)
	for i := range 16 {
		wg.Go(func() {
			nullifier := alice.Nullifier("trees")
			if i%2 == 1 {
				nullifier = alice.Nullifier(fmt.Sprintf("other-%d", i))
			}
			st, _ := n.post(t, "/api/v1/statements", n.signed(t, alice, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "trees", Nullifier: nullifier}))
			accepted <- st
		})
	}
	wg.Wait()
	close(accepted)
	ok := 0
	for st := range accepted {
		if st == 201 {
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
	require.Equal(t, 201, status, code)
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
		s := n.signed(t, w, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "trees",
			Nullifier: w.Nullifier("trees"), Document: crypto.DocumentHash(sealed)})
		return n.post(t, "/api/v1/statements", statementRequest{SignedStatement: s, Answers: sealed})
	}
	var quitter *crypto.Wallet
	for i := range 12 {
		w := n.resident(t, "old-town")
		status, code := signWith(w, api.Answers{V: 1, AgeBand: "30-44", Neighbourhood: "old-town"})
		require.Equal(t, 201, status, code)
		if i == 0 {
			quitter = w
		}
	}
	status, code = n.sign(t, quitter, "trees", true)
	require.Equal(t, 201, status, code)

	// Answers must be sealed, and covered by the signature.
	w := n.resident(t, "old-town")
	s := n.signed(t, w, crypto.Statement{Type: crypto.TypePetitionSign, Petition: "trees",
		Nullifier: w.Nullifier("trees"), Document: crypto.DocumentHash([]byte(`{"v":1}`))})
	status, code = n.post(t, "/api/v1/statements", statementRequest{SignedStatement: s, Answers: []byte(`{"v":1}`)})
	assert.Equal(t, 422, status)
	assert.Equal(t, "not_sealed", code)
	plain, _ := json.Marshal(api.Answers{V: 1, AgeBand: "65+"})
	sealed, err := crypto.Seal(plain, recipient)
	require.NoError(t, err)
	status, code = n.post(t, "/api/v1/statements", statementRequest{SignedStatement: n.signed(t, w, crypto.Statement{
		Type: crypto.TypePetitionSign, Petition: "trees", Nullifier: w.Nullifier("trees")}), Answers: sealed})
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
	require.Equal(t, 201, status, code)
	got := n.petition(t, "trees")
	assert.Equal(t, 31_000, got.Paper)
	assert.Equal(t, 31_001, got.Total)
	assert.Equal(t, 100, got.PaperPercent)
	assert.Equal(t, 1000, got.ProgressPercent, "capped at ten times the threshold")
}
