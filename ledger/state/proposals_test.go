package state_test

import (
	"encoding/json"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

// proposalEntry is the purpose.propose entry of version of proposal id, asking a and b.
func proposalEntry(t *testing.T, id string, version int) api.Entry {
	t.Helper()
	body, err := json.Marshal(api.PurposeProposal{ID: id, Version: version, Scope: []string{"a", "b"}, ApprovalsNeeded: 1})
	require.NoError(t, err)
	return api.Entry{Type: api.EntryPurposePropose, Purpose: id, PurposeVersion: version, Body: body, Hash: state.Hash(body), Citizen: "c-organiser"}
}

// choiceEntry is an approval or objection (typ) of version of proposal id under nullifier,
// from neighbourhood where.
func choiceEntry(typ, id string, version int, nullifier, where string) api.Entry {
	return api.Entry{Type: typ, Purpose: id, PurposeVersion: version, Nullifier: nullifier, Neighbourhood: where, Epoch: "2026-05-04"}
}

// decisionEntry is the operator's refusal or retirement (typ) of version of proposal id.
func decisionEntry(t *testing.T, typ, id string, version int) api.Entry {
	t.Helper()
	body, err := json.Marshal(api.PurposeDecision{By: "operator", Reason: "done"})
	require.NoError(t, err)
	return api.Entry{Type: typ, Purpose: id, PurposeVersion: version, Body: body, Hash: state.Hash(body)}
}

// TestProposalsCountTheLastChoicePerNullifier applies a proposal, choices and changes of mind,
// the activation and the retirement: the counts per neighbourhood hold each nullifier's last
// choice once, the same choice twice under one nullifier is not applied, an activation naming
// another proposal is not applied, and a retired purpose's consents lapse.
func TestProposalsCountTheLastChoicePerNullifier(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	proposal := proposalEntry(t, "study", 1)
	body := proposal.Body
	m.apply(proposal)
	choose := func(typ, nullifier, where string) { m.apply(choiceEntry(typ, "study", 1, nullifier, where)) }
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
	m.apply(decisionEntry(t, api.EntryPurposeRetire, "study", 1))
	m.apply(api.Entry{Type: api.EntryPurposeDestroy, Purpose: "study", PurposeVersion: 1})
	require.Equal(t, 2, m.notApplied())
	p, _ = m.st.Proposal("study")
	assert.Equal(t, &api.PurposeDecision{By: "operator", Reason: "done"}, p.Retired)
	assert.True(t, p.Destroyed)
	assert.True(t, m.st.Retired("study", 1))
	assert.False(t, m.st.ActiveConsent(r.id, "study"), "the consent lapsed with the purpose")
}

// TestProposalsListTheLatestVersionOfEach: Proposals lists each proposal once, in its latest
// version, sorted by id, while every version keeps its own counts; a change of mind from an
// objection to an approval moves the count; a refusal is shown and is no retirement.
func TestProposalsListTheLatestVersionOfEach(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	m.apply(proposalEntry(t, "study", 1))
	m.apply(proposalEntry(t, "other", 1))
	m.apply(choiceEntry(api.EntryPurposeObject, "study", 1, "n1", "b"))
	m.apply(choiceEntry(api.EntryPurposeApprove, "study", 1, "n1", "b"))
	m.apply(proposalEntry(t, "study", 2))
	m.apply(decisionEntry(t, api.EntryPurposeRefuse, "other", 1))
	require.Zero(t, m.notApplied(), m.logs.String())

	keysOf := func(ps []*state.Proposal) []string {
		var keys []string
		for _, p := range ps {
			keys = append(keys, p.Key)
		}
		return keys
	}
	assert.Equal(t, []string{"other@1", "study@2"}, keysOf(m.st.Proposals()))
	assert.Equal(t, []string{"other@1", "study@1", "study@2"}, keysOf(m.st.ProposalVersions()),
		"every version, by id then version")
	v1, ok := m.st.ProposalVersion("study", 1)
	require.True(t, ok)
	assert.Equal(t, map[string]int{"b": 1}, v1.Approve)
	assert.Equal(t, map[string]int{"b": 0}, v1.Object)
	v2, _ := m.st.Proposal("study")
	assert.Empty(t, v2.Approve, "a new version starts from no approval")
	other, _ := m.st.Proposal("other")
	assert.Equal(t, &api.PurposeDecision{By: "operator", Reason: "done"}, other.Refused)
	assert.Nil(t, other.Retired)
	assert.False(t, m.st.Retired("other", 1), "a refused proposal was never a running purpose")
}

// TestInapplicableProposalEntriesAreSkipped: proposal entries that do not parse, name another
// purpose, or act on a proposal version never logged are logged as not applied and change
// nothing; the model goes on applying what follows.
func TestInapplicableProposalEntriesAreSkipped(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	m.apply(proposalEntry(t, "study", 1))
	badBody := proposalEntry(t, "study", 2)
	badBody.Body = json.RawMessage(`{"id":"study","version":"two"}`)
	elsewhere := proposalEntry(t, "study", 2)
	elsewhere.Purpose = "other"
	activation := purposeDoc("study", 2)
	activation.Proposal = state.Hash([]byte("a proposal never logged"))
	badDecision := decisionEntry(t, api.EntryPurposeRetire, "study", 1)
	badDecision.Body = json.RawMessage(`{"by":1}`)
	for name, e := range map[string]api.Entry{
		"a proposal that does not parse":      badBody,
		"a proposal naming another purpose":   elsewhere,
		"a choice on an unknown proposal":     choiceEntry(api.EntryPurposeApprove, "nothing", 1, "n1", "a"),
		"a choice on an unknown version":      choiceEntry(api.EntryPurposeApprove, "study", 2, "n1", "a"),
		"a choice without its neighbourhood":  choiceEntry(api.EntryPurposeObject, "study", 1, "n1", ""),
		"an activation of an unknown version": purposeEntry(t, activation),
		"a refusal of an unknown proposal":    decisionEntry(t, api.EntryPurposeRefuse, "nothing", 1),
		"a retirement that does not parse":    badDecision,
		"a destruction of an unknown version": {Type: api.EntryPurposeDestroy, Purpose: "study", PurposeVersion: 3},
	} {
		before := m.notApplied()
		m.apply(e)
		assert.Equal(t, before+1, m.notApplied(), name)
	}
	p, ok := m.st.Proposal("study")
	require.True(t, ok)
	assert.Equal(t, 1, p.Version)
	assert.Empty(t, p.Approve)
	assert.Empty(t, p.Object)
	assert.Nil(t, p.Retired)
	assert.False(t, p.Activated)
	_, defined := m.st.Purpose("study")
	assert.False(t, defined, "the purpose of an activation not applied is not defined either")
	assert.Len(t, m.st.Proposals(), 1)

	m.apply(choiceEntry(api.EntryPurposeApprove, "study", 1, "n1", "a"))
	p, _ = m.st.Proposal("study")
	assert.Equal(t, map[string]int{"a": 1}, p.Approve)
}
