package state_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

// TestProposalsCountTheLastChoicePerNullifier applies a proposal, choices and changes of mind,
// the activation and the retirement: the counts per neighbourhood hold each nullifier's last
// choice once, the same choice twice under one nullifier is not applied, an activation naming
// another proposal is not applied, and a retired purpose's consents lapse.
func TestProposalsCountTheLastChoicePerNullifier(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	doc := api.PurposeProposal{ID: "study", Version: 1, Scope: []string{"a", "b"}, ApprovalsNeeded: 1}
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	m.apply(api.Entry{Type: api.EntryPurposePropose, Purpose: "study", PurposeVersion: 1, Body: body, Hash: state.Hash(body), Citizen: "c-organiser"})
	choose := func(typ, nullifier, where string) {
		m.apply(api.Entry{Type: typ, Purpose: "study", PurposeVersion: 1, Nullifier: nullifier, Neighbourhood: where, Epoch: "2026-05-04"})
	}
	choose(api.EntryPurposeApprove, "n1", "a")
	choose(api.EntryPurposeApprove, "n2", "a")
	choose(api.EntryPurposeObject, "n2", "a") // a change of mind
	choose(api.EntryPurposeObject, "n3", "b")
	require.Zero(t, m.notApplied())
	choose(api.EntryPurposeObject, "n3", "b") // the same choice twice
	assert.Equal(t, 1, m.notApplied())
	p, ok := m.st.Proposal("study")
	require.True(t, ok)
	assert.Equal(t, map[string]int{"a": 1}, p.Approve)
	assert.Equal(t, map[string]int{"a": 1, "b": 1}, p.Object)
	a, ok := m.st.Approval("study", 1, "n2")
	require.True(t, ok)
	assert.Equal(t, state.Approval{Key: "study@1|n2", Neighbourhood: "a"}, *a)

	define := func(proposal string) {
		d := purposeDoc("study", 1)
		d.Proposal, d.Neighbourhoods = proposal, []string{"a"}
		m.apply(purposeEntry(t, d))
	}
	define("another hash")
	assert.Equal(t, 2, m.notApplied(), "an activation of another proposal")
	_, defined := m.st.Purpose("study")
	assert.False(t, defined)
	define(state.Hash(body))
	p, _ = m.st.Proposal("study")
	assert.True(t, p.Activated)

	r := newResident(t)
	m.apply(r.register())
	m.apply(r.consent(true, "study", 1, false, "2026-05-05T10:00:00Z"))
	assert.True(t, m.st.ActiveConsent(r.id, "study"))
	decision, err := json.Marshal(api.PurposeDecision{By: "operator", Reason: "done"})
	require.NoError(t, err)
	m.apply(api.Entry{Type: api.EntryPurposeRetire, Purpose: "study", PurposeVersion: 1, Body: decision, Hash: state.Hash(decision)})
	m.apply(api.Entry{Type: api.EntryPurposeDestroy, Purpose: "study", PurposeVersion: 1})
	require.Equal(t, 2, m.notApplied())
	p, _ = m.st.Proposal("study")
	assert.Equal(t, &api.PurposeDecision{By: "operator", Reason: "done"}, p.Retired)
	assert.True(t, p.Destroyed)
	assert.True(t, m.st.Retired("study", 1))
	assert.False(t, m.st.ActiveConsent(r.id, "study"), "the consent lapsed with the purpose")
}
