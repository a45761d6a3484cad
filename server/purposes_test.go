package server

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/purpose"
)

// purposeNode is a test node with a movable clock and an in-memory purpose keyring.
type purposeNode struct {
	*testNode
	clock *nodetest.Clock
	mu    sync.Mutex
	keys  map[string]*age.X25519Identity
}

func newPurposeNode(t *testing.T) *purposeNode {
	t.Helper()
	n := &purposeNode{clock: nodetest.NewClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)), keys: map[string]*age.X25519Identity{}}
	n.testNode = newTestNode(t, func(cfg *Config) {
		cfg.Now = n.clock.Now
		cfg.PurposeKey = func(id string, version int) (string, error) {
			k, err := age.GenerateX25519Identity()
			if err != nil {
				return "", err
			}
			n.mu.Lock()
			defer n.mu.Unlock()
			n.keys[fmt.Sprintf("%s@%d", id, version)] = k
			return k.Recipient().String(), nil
		}
		cfg.DestroyPurposeKey = func(id string, version int) error {
			n.mu.Lock()
			defer n.mu.Unlock()
			delete(n.keys, fmt.Sprintf("%s@%d", id, version))
			return nil
		}
	})
	return n
}

func (n *purposeNode) key(id string) *age.X25519Identity {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.keys[id+"@1"]
}

// pm10Study is a university's weekly PM10 study asking old-town and riverside.
func pm10Study() api.PurposeProposal {
	return api.PurposeProposal{ID: "pm10-study", Version: 1,
		Title:       api.Text{EN: "Weekly PM10 study", FR: "Étude hebdomadaire des PM10"},
		Description: api.Text{EN: "The university studies weekly PM10 per neighbourhood.", FR: "L'université étudie les PM10 par quartier et par semaine."},
		Requester:   "University of the demo city", Readings: []string{"pm10"}, Statistics: []string{"mean"},
		Grid: purpose.GridNeighbourhoodWeek, EpsilonRelease: 0.35, EpsilonMonth: 1.75, RetentionDays: 14,
		Start: "2026-05-11", End: "2027-05-10", Scope: []string{"old-town", "riverside"},
		ApprovalsNeeded: 2, Deadline: "2026-05-10"}
}

// propose sends a signed proposal document, raw as given.
func (n *purposeNode) propose(t *testing.T, w *crypto.Wallet, id string, version int, doc []byte) (int, string) {
	t.Helper()
	s := n.signed(t, w, crypto.Statement{Type: crypto.TypePurposePropose, Purpose: id, PurposeVersion: version, Document: crypto.DocumentHash(doc)})
	return n.post(t, "/api/v1/purposes", map[string]any{"statement": s.Statement, "signature": s.Signature, "proposal": json.RawMessage(doc)})
}

func (n *purposeNode) proposeDoc(t *testing.T, w *crypto.Wallet, p api.PurposeProposal) (int, string) {
	t.Helper()
	doc, err := purpose.CanonicalProposal(p)
	require.NoError(t, err)
	return n.propose(t, w, p.ID, p.Version, doc)
}

func (n *purposeNode) choose(t *testing.T, w *crypto.Wallet, id string, approve bool) (int, string) {
	t.Helper()
	typ := crypto.TypePurposeObject
	if approve {
		typ = crypto.TypePurposeApprove
	}
	return n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: typ, Purpose: id, PurposeVersion: 1,
		Nullifier: w.Nullifier(crypto.PurposeNullifierScope(id, 1))}))
}

func (n *purposeNode) consent(t *testing.T, w *crypto.Wallet, id string) (int, string) {
	t.Helper()
	return n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: id, PurposeVersion: 1}))
}

// activated has org propose p, w approve it and the operator activate it, each step accepted.
func (n *purposeNode) activated(t *testing.T, org, w *crypto.Wallet, p api.PurposeProposal) {
	t.Helper()
	status, code := n.proposeDoc(t, org, p)
	require.Equal(t, 201, status, code)
	status, code = n.choose(t, w, p.ID, true)
	require.Equal(t, 201, status, code)
	status, code = n.admin(t, "activate", p.ID, "")
	require.Equal(t, 201, status, code)
}

// sharing has w consent to the active purpose id and upload a share copy for today.
func (n *purposeNode) sharing(t *testing.T, w *crypto.Wallet, id string) {
	t.Helper()
	status, code := n.consent(t, w, id)
	require.Equal(t, 201, status, code)
	day := n.clock.Now().UTC().Format(time.DateOnly)
	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, w, sealedEnvelope(t, day, id, n.key(id).Recipient())))
	require.Equal(t, 201, status, code)
}

func (n *purposeNode) admin(t *testing.T, action, id, reason string) (int, string) {
	t.Helper()
	return n.post(t, "/api/v1/admin/purposes/"+action+"/"+id, map[string]string{"reason": reason}, "Authorization", "Bearer "+testToken)
}

func (n *purposeNode) purpose(t *testing.T, id string) api.PublicPurpose {
	t.Helper()
	return decodeOK[api.PublicPurpose](t, n.do(t, "GET", "/api/v1/purposes/"+id, ""))
}

// TestPurposeLifecycle proposes a purpose, has two neighbourhoods decide (one meets the
// threshold, one does not), activates it where it was approved, takes consents and share
// copies, then retires it: its share copies and key are gone and consent is refused.
func TestPurposeLifecycle(t *testing.T) {
	t.Parallel()
	n := newPurposeNode(t)
	org := n.organiser(t)
	status, code := n.proposeDoc(t, org, pm10Study())
	require.Equal(t, 201, status, code)
	p := n.purpose(t, "pm10-study")
	assert.Equal(t, api.StatusProposed, p.Status)
	assert.Equal(t, org.CitizenID(), p.Proposer)
	assert.InDelta(t, 0.05, p.EpsilonPerDay, 1e-12)

	old1, old2, old3 := n.resident(t, "old-town"), n.resident(t, "old-town"), n.resident(t, "old-town")
	river1, river2 := n.resident(t, "riverside"), n.resident(t, "riverside")
	for _, c := range []struct {
		w       *crypto.Wallet
		approve bool
	}{{old1, true}, {old2, true}, {old3, false}, {river1, true}, {river2, true}} {
		status, code := n.choose(t, c.w, "pm10-study", c.approve)
		require.Equal(t, 201, status, code)
	}
	// A resident changes her mind while the proposal is open: riverside falls below the threshold.
	status, code = n.choose(t, river2, "pm10-study", false)
	require.Equal(t, 201, status, code)

	status, code = n.consent(t, old1, "pm10-study")
	assert.Equal(t, 409, status)
	assert.Equal(t, "purpose_not_active", code, "no consent before the operator activates it")

	p = n.purpose(t, "pm10-study")
	assert.Equal(t, []api.NeighbourhoodApprovals{
		{Neighbourhood: "old-town", Approve: 2, Object: 1, Met: true},
		{Neighbourhood: "riverside", Approve: 1, Object: 1},
	}, p.Approvals)

	n.clock.Set(time.Date(2026, 5, 11, 8, 0, 0, 0, time.UTC))
	status, code = n.choose(t, old3, "pm10-study", true)
	assert.Equal(t, 409, status)
	assert.Equal(t, "proposal_closed", code, "the deadline passed")

	status, code = n.admin(t, "activate", "pm10-study", "")
	require.Equal(t, 201, status, code)
	p = n.purpose(t, "pm10-study")
	assert.Equal(t, api.StatusActive, p.Status)
	require.NotNil(t, p.Purpose)
	assert.Equal(t, []string{"old-town"}, p.Purpose.Neighbourhoods)
	assert.True(t, p.Approvals[0].Active)
	assert.False(t, p.Approvals[1].Active)
	require.NotNil(t, n.key("pm10-study"))
	assert.Equal(t, n.key("pm10-study").Recipient().String(), p.Purpose.Recipient)

	// Its pages say the same in both languages, without a script.
	for lang, want := range map[string][]string{
		"en": {"Weekly PM10 study", "University of the demo city", "runs here", "not approved", "ε 0.35 per resident per release", "at most ε 0 per resident (releases: 0)"},
		"fr": {"Étude hebdomadaire des PM10", "University of the demo city", "Approuvent", "non approuvé", "ε 0.35 par habitant et par publication", "au plus ε 0 par habitant (publications : 0)"},
	} {
		resp := n.do(t, "GET", "/purposes/pm10-study?lang="+lang, "")
		page := readBody(t, resp)
		require.Equal(t, 200, resp.StatusCode, page)
		for _, w := range want {
			assert.Contains(t, page, w, lang)
		}
		assert.NotContains(t, page, "<script", lang)
		resp = n.do(t, "GET", "/purposes?lang="+lang, "")
		list := readBody(t, resp)
		require.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, list, want[0], lang)
	}
	assert.Equal(t, 404, n.do(t, "GET", "/purposes/nope", "").StatusCode)

	status, code = n.consent(t, old1, "pm10-study")
	require.Equal(t, 201, status, code)
	status, code = n.consent(t, river1, "pm10-study")
	assert.Equal(t, 403, status)
	assert.Equal(t, "outside_scope", code, "riverside did not approve: approval never enrols anyone, and no approval, no use")

	// No share copy before its start day (the 11th), which the list gives as accepts_from.
	var purposes []purposeAnswer
	require.NoError(t, json.Unmarshal([]byte(readBody(t, n.do(t, "GET", "/api/v1/purposes", ""))), &purposes))
	require.Len(t, purposes, 1)
	assert.Equal(t, "2026-05-11", purposes[0].AcceptsFrom)
	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, old1,
		sealedEnvelope(t, "2026-05-10", "pm10-study", n.key("pm10-study").Recipient())))
	assert.Equal(t, 422, status)
	assert.Equal(t, "share_day_too_old", code)
	day := n.clock.Now().UTC().Format(time.DateOnly)
	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, old1,
		sealedEnvelope(t, day, "pm10-study", n.key("pm10-study").Recipient())))
	require.Equal(t, 201, status, code)
	copies, err := n.Store.ShareCopyCount("pm10-study")
	require.NoError(t, err)
	assert.Equal(t, 1, copies)

	status, code = n.admin(t, "retire", "pm10-study", "the study found its answer")
	require.Equal(t, 200, status, code)
	p = n.purpose(t, "pm10-study")
	assert.Equal(t, api.StatusRetired, p.Status)
	assert.True(t, p.KeyDestroyed)
	require.NotNil(t, p.Decision)
	assert.Equal(t, api.PurposeDecision{By: "operator", Reason: "the study found its answer"}, *p.Decision)
	copies, err = n.Store.ShareCopyCount("pm10-study")
	require.NoError(t, err)
	assert.Zero(t, copies, "the share copies are deleted")
	assert.Nil(t, n.key("pm10-study"), "the key is destroyed")
	assert.False(t, n.State.ActiveConsent(old1.CitizenID(), "pm10-study"), "consents lapse")
	status, code = n.consent(t, old2, "pm10-study")
	assert.Equal(t, 409, status)
	assert.Equal(t, "purpose_not_active", code)
	status, code = n.admin(t, "retire", "pm10-study", "again")
	assert.Equal(t, 409, status)
	assert.Equal(t, "purpose_not_active", code)

	// Anyone recounts it from the ledger alone, and catches a forged entry.
	entries := ledgerEntries(t, n.testNode)
	count, err := purpose.Recount("pm10-study", walk(entries))
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"old-town": 2, "riverside": 1}, count.Approve)
	assert.Equal(t, map[string]int{"old-town": 1, "riverside": 1}, count.Object)
	assert.Equal(t, 6, count.Choices)
	assert.Equal(t, []string{"old-town"}, count.Active)
	assert.NoError(t, count.CheckPublished(n.purpose(t, "pm10-study")))
	for name, forge := range map[string]func([]api.Entry) []api.Entry{
		"an approval from outside the scope": func(es []api.Entry) []api.Entry {
			for i, e := range es {
				if e.Type == api.EntryPurposeApprove {
					es[i].Neighbourhood = "harbour"
					break
				}
			}
			return es
		},
		"an activation where the threshold was not met": func(es []api.Entry) []api.Entry {
			for i, e := range es {
				if e.Type == api.EntryPurposeApprove && e.Neighbourhood == "old-town" {
					return append(es[:i], es[i+1:]...)
				}
			}
			return es
		},
		"a proposal not signed by its proposer": func(es []api.Entry) []api.Entry {
			for i, e := range es {
				if e.Type == api.EntryPurposePropose {
					es[i].Body = []byte(strings.Replace(string(e.Body), "2027-05-10", "2030-05-10", 1))
					es[i].Hash = crypto.DocumentHash(es[i].Body)
				}
			}
			return es
		},
	} {
		_, err := purpose.Recount("pm10-study", walk(forge(slices.Clone(entries))))
		assert.Error(t, err, name)
	}
}

// ledgerEntries reads every entry of a node's ledger.
func ledgerEntries(t *testing.T, n *testNode) []api.Entry {
	t.Helper()
	var out []api.Entry
	require.NoError(t, n.Ledger.Scan(context.Background(), 0, n.Ledger.Size(), func(_ uint64, b []byte) error {
		e, err := api.ParseEntry(b)
		out = append(out, e)
		return err
	}))
	return out
}

// walk visits entries in order, as an auditor's walk over a node's log does.
func walk(entries []api.Entry) func(visit func(uint64, api.Entry) error) error {
	return func(visit func(uint64, api.Entry) error) error {
		for i, e := range entries {
			if err := visit(uint64(i), e); err != nil {
				return err
			}
		}
		return nil
	}
}

// TestPurposeRefusalsEachHaveTheirOwnCode sends every kind of bad proposal, choice and
// operator decision: each gets its own status and code, and the ledger does not grow.
func TestPurposeRefusalsEachHaveTheirOwnCode(t *testing.T) {
	t.Parallel()
	n := newPurposeNode(t)
	org := n.organiser(t)
	resident := n.resident(t, "old-town")
	refused := func(name string, wantStatus int, wantCode string, send func() (int, string)) {
		t.Helper()
		before := n.Ledger.Size()
		status, code := send()
		assert.Equal(t, wantStatus, status, name)
		assert.Equal(t, wantCode, code, name)
		assert.Equal(t, before, n.Ledger.Size(), "%s logs nothing", name)
	}
	with := func(edit func(*api.PurposeProposal)) func() (int, string) {
		return func() (int, string) {
			p := pm10Study()
			edit(&p)
			return n.proposeDoc(t, org, p)
		}
	}
	refused("a malformed document", 400, "malformed_json", func() (int, string) {
		s := n.signed(t, org, crypto.Statement{Type: crypto.TypePurposePropose, Purpose: "pm10-study", PurposeVersion: 1, Document: crypto.DocumentHash([]byte(`{"id":`))})
		st, err := json.Marshal(s.Statement)
		require.NoError(t, err)
		resp := n.do(t, "POST", "/api/v1/purposes", `{"statement":`+string(st)+`,"signature":"`+s.Signature+`","proposal":{"id":}`)
		var eb errorBody
		require.NoError(t, json.Unmarshal([]byte(readBody(t, resp)), &eb))
		return resp.StatusCode, eb.Error.Code
	})
	refused("an unknown field", 400, "unknown_field", func() (int, string) {
		doc, err := purpose.CanonicalProposal(pm10Study())
		require.NoError(t, err)
		return n.propose(t, org, "pm10-study", 1, append([]byte(`{"budget":9,`), doc[1:]...))
	})
	refused("an unsigned document", 401, "bad_signature", func() (int, string) {
		doc, err := purpose.CanonicalProposal(pm10Study())
		require.NoError(t, err)
		s := n.signed(t, org, crypto.Statement{Type: crypto.TypePurposePropose, Purpose: "pm10-study", PurposeVersion: 1, Document: crypto.DocumentHash(doc)})
		return n.post(t, "/api/v1/purposes", map[string]any{"statement": s.Statement, "signature": "", "proposal": json.RawMessage(doc)})
	})
	refused("a document its statement does not sign", 401, "bad_signature", func() (int, string) {
		doc, err := purpose.CanonicalProposal(pm10Study())
		require.NoError(t, err)
		s := n.signed(t, org, crypto.Statement{Type: crypto.TypePurposePropose, Purpose: "pm10-study", PurposeVersion: 1, Document: crypto.DocumentHash([]byte("{}"))})
		return n.post(t, "/api/v1/purposes", map[string]any{"statement": s.Statement, "signature": s.Signature, "proposal": json.RawMessage(doc)})
	})
	refused("a resident who is no organiser", 403, "not_organiser", func() (int, string) {
		return n.proposeDoc(t, resident, pm10Study())
	})
	refused("ε above the cap", 422, "epsilon_above_cap", with(func(p *api.PurposeProposal) { p.EpsilonRelease = 1.5 }))
	refused("an end before its start", 422, "end_before_start", with(func(p *api.PurposeProposal) { p.End = "2026-05-01" }))
	refused("an unknown neighbourhood", 422, "unknown_neighbourhood", with(func(p *api.PurposeProposal) { p.Scope = []string{"old-town", "atlantis"} }))
	refused("a missing title", 422, "invalid_field", with(func(p *api.PurposeProposal) { p.Title.FR = "" }))
	refused("a month below its releases", 422, "invalid_field", with(func(p *api.PurposeProposal) { p.EpsilonMonth = 1 }))
	refused("a daily release of PM10", 422, "invalid_field", with(func(p *api.PurposeProposal) { p.Grid = "neighbourhood×day"; p.EpsilonMonth = 30 }))
	refused("a weekly release kept less than a week", 422, "invalid_field", with(func(p *api.PurposeProposal) { p.RetentionDays = 7 }))
	refused("a second version before the first", 409, "purpose_version_skipped", with(func(p *api.PurposeProposal) { p.Version = 2 }))
	refused("a built-in id", 422, "invalid_field", with(func(p *api.PurposeProposal) { p.ID = purpose.Air }))

	status, code := n.proposeDoc(t, org, pm10Study())
	require.Equal(t, 201, status, code)
	refused("the same version twice", 409, "purpose_exists", with(func(*api.PurposeProposal) {}))

	status, code = n.choose(t, resident, "pm10-study", true)
	require.Equal(t, 201, status, code)
	refused("a second approval from one resident", 409, "already_approved", func() (int, string) {
		return n.choose(t, resident, "pm10-study", true)
	})
	outsider := n.resident(t, "harbour")
	refused("an approval from outside the scope", 403, "outside_scope", func() (int, string) {
		return n.choose(t, outsider, "pm10-study", true)
	})
	other := n.resident(t, "old-town")
	refused("an approval under another resident's nullifier", 409, "nullifier_taken", func() (int, string) {
		return n.post(t, "/api/v1/statements", n.signed(t, other, crypto.Statement{Type: crypto.TypePurposeApprove,
			Purpose: "pm10-study", PurposeVersion: 1, Nullifier: resident.Nullifier(crypto.PurposeNullifierScope("pm10-study", 1))}))
	})
	refused("an approval of an unknown purpose", 422, "unknown_purpose", func() (int, string) {
		return n.choose(t, resident, "bikes", true)
	})
	refused("consent to a purpose that is not active", 409, "purpose_not_active", func() (int, string) {
		return n.consent(t, resident, "pm10-study")
	})
	refused("activation below the threshold", 409, "threshold_not_met", func() (int, string) {
		return n.admin(t, "activate", "pm10-study", "")
	})
	refused("a refusal without a reason", 422, "reason_required", func() (int, string) {
		return n.admin(t, "refuse", "pm10-study", " ")
	})
	refused("retiring a purpose that is not active", 409, "purpose_not_active", func() (int, string) {
		return n.admin(t, "retire", "pm10-study", "no longer needed")
	})
	refused("activating an unknown purpose", 404, "not_found", func() (int, string) {
		return n.admin(t, "activate", "bikes", "")
	})

	status, code = n.admin(t, "refuse", "pm10-study", "the node publishes no PM10 this year")
	require.Equal(t, 201, status, code)
	assert.Equal(t, api.StatusRefused, n.purpose(t, "pm10-study").Status)
	refused("activating a refused purpose", 409, "purpose_not_proposed", func() (int, string) {
		return n.admin(t, "activate", "pm10-study", "")
	})
}

// TestOneBudgetAcrossPurposes: a resident's ε per day over every purpose she consents to stays
// within the node's cap; the consent that would pass it is refused and logs nothing.
func TestOneBudgetAcrossPurposes(t *testing.T) {
	t.Parallel()
	n := newPurposeNode(t)
	w, _ := airResident(t, n.testNode) // air: ε = 1 per day
	org := n.organiser(t)
	daily := pm10Study()
	daily.ID, daily.Grid, daily.Readings, daily.EpsilonRelease, daily.EpsilonMonth = "pm25-daily", "neighbourhood×day", []string{"pm2_5"}, 0.6, 18
	for _, p := range []api.PurposeProposal{pm10Study(), daily} {
		p.ApprovalsNeeded = 1
		n.activated(t, org, w, p)
	}
	status, code := n.consent(t, w, "pm10-study") // 1 + 0.05
	require.Equal(t, 201, status, code)
	before := n.Ledger.Size()
	status, code = n.consent(t, w, "pm25-daily") // 1 + 0.05 + 0.6 > 1.5
	assert.Equal(t, 409, status)
	assert.Equal(t, "budget_exceeded", code)
	assert.Equal(t, before, n.Ledger.Size())
	status, code = n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: crypto.TypeConsentRevoke, Purpose: purpose.Air, PurposeVersion: 1}))
	require.Equal(t, 201, status, code)
	status, code = n.consent(t, w, "pm25-daily") // 0.05 + 0.6
	assert.Equal(t, 201, status, code)
}

// TestTheAirPurposeOfAnExistingNodeKeepsItsConsents: a node whose ledger holds only what
// nodes logged before purposes could be proposed (the air purpose's pinned purpose.define,
// registrations, consents) lists its air purpose as active at ε 1 per day, keeps every consent
// active, takes share copies for it, and counts it in the resident's budget.
func TestTheAirPurposeOfAnExistingNodeKeepsItsConsents(t *testing.T) {
	t.Parallel()
	n := newPurposeNode(t)
	w, air := airResident(t, n.testNode)
	var purposes []purposeAnswer
	require.NoError(t, json.Unmarshal([]byte(readBody(t, n.do(t, "GET", "/api/v1/purposes", ""))), &purposes))
	require.Len(t, purposes, 1)
	p := purposes[0]
	assert.Equal(t, purpose.Air, p.ID)
	assert.Equal(t, api.StatusActive, p.Status)
	assert.InDelta(t, 1, p.EpsilonPerDay, 1e-12)
	assert.Equal(t, air.(*age.X25519Recipient).String(), p.Recipient)
	assert.Empty(t, p.Proposal, "the logged purpose is the built-in one, its bytes unchanged")
	assert.True(t, n.State.ActiveConsent(w.CitizenID(), purpose.Air))
	day := n.clock.Now().UTC().Format(time.DateOnly)
	status, code := n.post(t, "/api/v1/contributions", n.signedContribution(t, w, sealedEnvelope(t, day, purpose.Air, air)))
	require.Equal(t, 201, status, code)
	status, code = n.consent(t, w, purpose.Air)
	assert.Equal(t, 409, status)
	assert.Equal(t, "already_granted", code)
	assert.Equal(t, api.PublicPurpose{ID: purpose.Air, Version: 1, Status: api.StatusActive, EpsilonPerDay: 1,
		Purpose: &p.Purpose.Purpose}, n.purpose(t, purpose.Air))
}

// TestPurposesEnd: share copies go once their purpose's retention is over; the proposer
// retires her own purpose (no one else may), and a purpose past its end date expires at the
// node's next tick — each time its share copies and key go and its consents lapse.
func TestPurposesEnd(t *testing.T) {
	t.Parallel()
	n := newPurposeNode(t)
	org := n.organiser(t)
	w := n.resident(t, "old-town")
	short := pm10Study()
	short.ID, short.ApprovalsNeeded, short.Start, short.End = "short-study", 1, "2026-05-04", "2026-05-20"
	long := pm10Study()
	long.ApprovalsNeeded, long.Start = 1, "2026-05-04"
	for _, p := range []api.PurposeProposal{short, long} {
		n.activated(t, org, w, p)
		n.sharing(t, w, p.ID)
	}
	// Share copies go once their purpose's retention (14 days) is over, released or not.
	r := purpose.Retirer{Ledger: n.Ledger, State: n.State, Store: n.Store, DestroyKey: func(id string, v int) error {
		n.mu.Lock()
		defer n.mu.Unlock()
		delete(n.keys, fmt.Sprintf("%s@%d", id, v))
		return nil
	}}
	pruned, err := r.PruneDue(context.Background(), time.Date(2026, 5, 18, 23, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Zero(t, pruned, "the 4th's copies are kept through the 18th")
	pruned, err = r.PruneDue(context.Background(), time.Date(2026, 5, 19, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, 2, pruned, "the 4th's copies of both purposes")
	for _, id := range []string{"pm10-study", "short-study"} {
		copies, err := n.Store.ShareCopyCount(id)
		require.NoError(t, err)
		assert.Zero(t, copies, id)
	}
	retire := func(who *crypto.Wallet, id string) (int, string) {
		return n.post(t, "/api/v1/statements", n.signed(t, who, crypto.Statement{Type: crypto.TypePurposeRetire, Purpose: id, PurposeVersion: 1}))
	}
	status, code := retire(w, "pm10-study")
	assert.Equal(t, 403, status)
	assert.Equal(t, "not_proposer", code)
	status, code = retire(org, "pm10-study")
	require.Equal(t, 200, status, code)
	p := n.purpose(t, "pm10-study")
	assert.Equal(t, api.StatusRetired, p.Status)
	assert.Equal(t, &api.PurposeDecision{By: purpose.ByProposer, Reason: "retired by its proposer"}, p.Decision)
	assert.Nil(t, n.key("pm10-study"))

	retired, err := r.RetireDue(context.Background(), time.Date(2026, 5, 20, 23, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Zero(t, retired, "not before its end date is over")
	assert.Equal(t, api.StatusActive, n.purpose(t, "short-study").Status)
	retired, err = r.RetireDue(context.Background(), time.Date(2026, 5, 21, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Equal(t, 1, retired)
	p = n.purpose(t, "short-study")
	assert.Equal(t, api.StatusExpired, p.Status)
	assert.True(t, p.KeyDestroyed)
	assert.Nil(t, n.key("short-study"))
	copies, err := n.Store.ShareCopyCount("short-study")
	require.NoError(t, err)
	assert.Zero(t, copies)
	assert.False(t, n.State.ActiveConsent(w.CitizenID(), "short-study"))
	retired, err = r.RetireDue(context.Background(), time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, err)
	assert.Zero(t, retired, "once is enough")
}

// TestANewVersionNeedsNewApprovalAndFreshConsent: version 2 of an active purpose is proposed
// and approved anew; until it is activated, version 1 runs and its consents hold; its
// activation retires version 1 (share copies and key gone), and residents consent again.
func TestANewVersionNeedsNewApprovalAndFreshConsent(t *testing.T) {
	t.Parallel()
	n := newPurposeNode(t)
	org := n.organiser(t)
	w := n.resident(t, "old-town")
	v1 := pm10Study()
	v1.ApprovalsNeeded, v1.Start = 1, "2026-05-04"
	v2 := v1
	v2.Version, v2.EpsilonRelease, v2.EpsilonMonth = 2, 0.5, 2.5
	n.activated(t, org, w, v1)
	n.sharing(t, w, v1.ID)

	status, code := n.proposeDoc(t, org, v2)
	require.Equal(t, 201, status, code)
	assert.True(t, n.State.ActiveConsent(w.CitizenID(), v1.ID), "version 1 runs until version 2 is activated")
	status, code = n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: crypto.TypePurposeApprove,
		Purpose: v2.ID, PurposeVersion: 2, Nullifier: w.Nullifier(crypto.PurposeNullifierScope(v2.ID, 2))}))
	require.Equal(t, 201, status, code)
	status, code = n.admin(t, "activate", v2.ID, "")
	require.Equal(t, 201, status, code)

	assert.False(t, n.State.ActiveConsent(w.CitizenID(), v1.ID), "the consent to version 1 lapsed")
	old, ok := n.State.ProposalVersion(v1.ID, 1)
	require.True(t, ok)
	assert.True(t, old.Destroyed)
	assert.Equal(t, &api.PurposeDecision{By: purpose.ByOperator, Reason: "replaced by version 2"}, old.Retired)
	copies, err := n.Store.ShareCopyCount(v1.ID)
	require.NoError(t, err)
	assert.Zero(t, copies, "version 1's share copies are gone with its key")
	n.mu.Lock()
	_, kept := n.keys[v1.ID+"@1"]
	n.mu.Unlock()
	assert.False(t, kept)
	status, code = n.consent(t, w, v1.ID)
	assert.Equal(t, 409, status)
	assert.Equal(t, "purpose_version_changed", code, "a statement for the old version")
	status, code = n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: v2.ID, PurposeVersion: 2}))
	require.Equal(t, 201, status, code)
	p := n.purpose(t, v2.ID)
	assert.Equal(t, 2, p.Version)
	assert.Equal(t, api.StatusActive, p.Status)
	count, err := purpose.Recount(v2.ID, walk(ledgerEntries(t, n.testNode)))
	require.NoError(t, err)
	assert.Equal(t, 2, count.Proposal.Version)
	assert.Equal(t, map[string]int{"old-town": 1}, count.Approve)
	assert.NoError(t, count.CheckPublished(p))
}
