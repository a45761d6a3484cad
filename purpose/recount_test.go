package purpose

import (
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// TestRecountAgreesWithTheNode logs, through a real ledger and read model, the built-in
// purpose, a proposal with approvals and objections from seven residents in two
// neighbourhoods (one changes her mind), another proposal's choices, the activation where the
// threshold was met and the retirement at the end date. The recount from the ledger alone
// gives the counts and the status the node publishes, at each step; a published view that
// differs in a count or the status is refused.
func TestRecountAgreesWithTheNode(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	tw.core.DefinePurpose(t, AirDaily(recipient))
	r := []*crypto.Wallet{wallet(t), wallet(t), wallet(t), wallet(t), wallet(t), wallet(t), wallet(t)}
	other := study()
	other.ID = "other-study"
	prop := tw.proposal(tw.org, study())
	tw.log(prop, tw.proposal(tw.org, other),
		choice(r[0], "pm10-study", "a", true), choice(r[1], "pm10-study", "a", true), choice(r[2], "pm10-study", "a", false),
		choice(r[3], "pm10-study", "b", true), choice(r[4], "pm10-study", "b", false),
		choice(r[5], "pm10-study", "b", true), choice(r[6], "pm10-study", "b", false),
		choice(r[0], "other-study", "b", false), choice(r[2], "pm10-study", "a", true))

	published := func() api.PublicPurpose {
		p, ok := tw.core.State.Proposal("pm10-study")
		require.True(t, ok)
		defined, _ := tw.core.State.Purpose("pm10-study")
		return Public(p, defined)
	}
	c, err := Recount("pm10-study", walk(tw.entries()))
	require.NoError(t, err)
	assert.Equal(t, study(), c.Proposal)
	assert.Equal(t, tw.org.CitizenID(), c.Proposer)
	assert.Equal(t, 8, c.Choices, "every choice on this proposal, the change of mind included")
	assert.Equal(t, []int{3, 0, 2, 2}, []int{c.Approve["a"], c.Object["a"], c.Approve["b"], c.Object["b"]})
	assert.Equal(t, api.StatusProposed, c.Status)
	assert.Nil(t, c.Active)
	require.NoError(t, c.CheckPublished(published()))

	tw.log(tw.activation(prop, "a"))
	c, err = Recount("pm10-study", walk(tw.entries()))
	require.NoError(t, err)
	assert.Equal(t, api.StatusActive, c.Status)
	assert.Equal(t, []string{"a"}, c.Active, "b met the threshold, but its objections are as many as its approvals")
	require.NoError(t, c.CheckPublished(published()))

	tw.log(tw.decision(api.EntryPurposeRetire, "pm10-study", ByEnd))
	c, err = Recount("pm10-study", walk(tw.entries()))
	require.NoError(t, err)
	assert.Equal(t, api.StatusExpired, c.Status)
	pub := published()
	require.NoError(t, c.CheckPublished(pub))

	tampered := pub
	tampered.Approvals = slices.Clone(pub.Approvals)
	tampered.Approvals[1].Object = 0
	assert.EqualError(t, c.CheckPublished(tampered),
		"purpose: the server publishes 2 approve, 0 object in b; the ledger holds 2 and 2")
	tampered = pub
	tampered.Status = api.StatusActive
	assert.EqualError(t, c.CheckPublished(tampered), "purpose: the server says active, the ledger expired")
}

// TestRecountEndings: a refusal and an operator's retirement give the status the node
// publishes; a new version is recounted alone, the earlier version's later entries skipped.
func TestRecountEndings(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	r := []*crypto.Wallet{wallet(t), wallet(t)}
	prop := tw.proposal(tw.org, study())
	start := []api.Entry{registration(tw.org), {Type: api.EntryOrganiserGrant, Citizen: tw.org.CitizenID()}, prop,
		choice(r[0], "pm10-study", "a", true), choice(r[1], "pm10-study", "a", true)}
	then := func(es ...api.Entry) []api.Entry { return append(slices.Clone(start), es...) }

	c, err := Recount("pm10-study", walk(then(tw.decision(api.EntryPurposeRefuse, "pm10-study", ByOperator))))
	require.NoError(t, err)
	assert.Equal(t, api.StatusRefused, c.Status)
	c, err = Recount("pm10-study", walk(then(tw.activation(prop, "a"), tw.decision(api.EntryPurposeRetire, "pm10-study", ByOperator))))
	require.NoError(t, err)
	assert.Equal(t, api.StatusRetired, c.Status)

	v2 := study()
	v2.Version, v2.ApprovalsNeeded = 2, 1
	c, err = Recount("pm10-study", walk(then(tw.proposal(tw.org, v2), choice(r[0], "pm10-study", "b", false))))
	require.NoError(t, err)
	assert.Equal(t, v2, c.Proposal)
	assert.Zero(t, c.Choices, "version 1's choices do not count for version 2")
	assert.Equal(t, api.StatusProposed, c.Status)
}

// TestRecountRefusals: each entry that breaks a rule of a proposal's life is refused, named
// by its index.
func TestRecountRefusals(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	r := []*crypto.Wallet{wallet(t), wallet(t), wallet(t)}
	grant := api.Entry{Type: api.EntryOrganiserGrant, Citizen: tw.org.CitizenID()}
	prop := tw.proposal(tw.org, study())
	start := []api.Entry{registration(tw.org), grant, prop}
	then := func(es ...api.Entry) []api.Entry { return append(slices.Clone(start), es...) }
	approvedInA := func(es ...api.Entry) []api.Entry {
		return then(append([]api.Entry{choice(r[0], "pm10-study", "a", true), choice(r[1], "pm10-study", "a", true)}, es...)...)
	}
	tampered := tw.proposal(tw.org, study())
	tampered.Body = json.RawMessage(strings.Replace(string(tampered.Body), `"retention_days":14`, `"retention_days":366`, 1))
	canonical, err := CanonicalProposal(study())
	require.NoError(t, err)
	spaced := tw.signedProposal(tw.org, "pm10-study", 1, append([]byte("{ "), canonical[1:]...))
	forged := prop
	forged.Hash = strings.Repeat("0", 64)
	badNullifier := choice(r[0], "pm10-study", "a", true)
	badNullifier.Nullifier = "x"
	badRetirement := tw.decision(api.EntryPurposeRetire, "pm10-study", ByOperator)
	badRetirement.Body = json.RawMessage(`{"by":"end","reason":"decided by operator"}`)
	for _, tc := range []struct {
		name string
		es   []api.Entry
		want string
	}{
		{"a proposal by an unregistered citizen", []api.Entry{grant, prop}, "entry 1: the proposal: its signer is not registered before it"},
		{"a proposal by a citizen without the role", []api.Entry{registration(tw.org), prop}, "entry 1: the proposal was signed by a citizen without the organiser role"},
		{"a changed document", []api.Entry{registration(tw.org), grant, tampered}, "entry 2: the proposal: the body does not match its hash"},
		{"a document in another encoding", []api.Entry{registration(tw.org), grant, spaced}, "entry 2: the proposal document does not parse"},
		{"a choice before the proposal", []api.Entry{choice(r[0], "pm10-study", "a", true)}, "entry 0: purpose.approve for a version never proposed"},
		{"a nullifier no wallet derives", then(badNullifier), "entry 3: a choice under a nullifier no wallet derives"},
		{"a choice from outside the scope", then(choice(r[0], "pm10-study", "z", true)), "entry 3: a choice under a nullifier no wallet derives, or from outside the scope"},
		{"the same choice twice", then(choice(r[0], "pm10-study", "a", true), choice(r[0], "pm10-study", "a", true)), "entry 4: a choice that changes nothing"},
		{"a change of mind from elsewhere", then(choice(r[0], "pm10-study", "a", true), choice(r[0], "pm10-study", "b", false)), "entry 4: a choice that changes nothing"},
		{"an activation before the threshold", then(choice(r[0], "pm10-study", "a", true), tw.activation(prop, "a")), "entry 4: the activation names [a], the approvals met the threshold in []"},
		{"an activation where the threshold was not met", approvedInA(tw.activation(prop, "a", "b")), "entry 5: the activation names [a b], the approvals met the threshold in [a]"},
		{"an activation of another proposal", approvedInA(tw.activation(forged, "a")), "entry 5: the activation does not parse or names another proposal"},
		{"a choice after the activation", approvedInA(tw.activation(prop, "a"), choice(r[2], "pm10-study", "a", false)), "entry 6: a choice after the proposal was decided"},
		{"a refusal after the activation", approvedInA(tw.activation(prop, "a"), tw.decision(api.EntryPurposeRefuse, "pm10-study", ByOperator)), "entry 6: a refusal of a decided proposal"},
		{"a retirement of a proposal never activated", then(tw.decision(api.EntryPurposeRetire, "pm10-study", ByOperator)), "entry 3: a retirement of a purpose that is not active"},
		{"a retirement twice", approvedInA(tw.activation(prop, "a"), tw.decision(api.EntryPurposeRetire, "pm10-study", ByOperator), tw.decision(api.EntryPurposeRetire, "pm10-study", ByEnd)), "entry 7: a retirement of a purpose that is not active"},
		{"a retirement that does not match its hash", approvedInA(tw.activation(prop, "a"), badRetirement), "entry 6: the decision does not match its hash"},
		{"no proposal", []api.Entry{registration(tw.org), grant}, `no proposal "pm10-study" in the ledger`},
	} {
		_, err := Recount("pm10-study", walk(tc.es))
		assert.ErrorContains(t, err, "purpose: recount: "+tc.want, tc.name)
	}
	broken := errors.New("entry bundle truncated")
	_, err = Recount("pm10-study", func(func(uint64, api.Entry) error) error { return broken })
	assert.ErrorIs(t, err, broken, "the walk's own failure is the recount's")
}
