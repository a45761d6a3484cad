package purpose

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// typesSince lists the types of the ledger's entries from index from on.
func (tw *town) typesSince(from int) []string {
	tw.t.Helper()
	var out []string
	for _, e := range tw.entries()[from:] {
		out = append(out, e.Type)
	}
	return out
}

// TestRetireDeletesTheCopiesAndDestroysTheKey: retiring an active purpose logs the retirement,
// deletes every share copy of it (and no other purpose's), destroys its key and then logs the
// destruction; the public view shows the decision and the destroyed key.
func TestRetireDeletesTheCopiesAndDestroysTheKey(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	tw.core.DefinePurpose(t, AirDaily(recipient))
	p := tw.active(study())
	w := wallet(t)
	tw.share(w, "pm10-study", "2026-05-11", "2026-05-12")
	tw.share(w, Air, "2026-05-11")
	require.Equal(t, 2, tw.copies("pm10-study"))
	before := len(tw.entries())

	keys := &keyring{}
	d := api.PurposeDecision{By: ByOperator, Reason: "the university closed the study"}
	require.NoError(t, tw.retirer(keys).Retire(context.Background(), p, d))
	assert.Zero(t, tw.copies("pm10-study"))
	assert.Equal(t, 1, tw.copies(Air), "another purpose's copies stay")
	assert.Equal(t, []string{"pm10-study@1"}, keys.destroyed)
	assert.Equal(t, []string{api.EntryPurposeRetire, api.EntryPurposeDestroy}, tw.typesSince(before))
	retirement := tw.entries()[before]
	assert.Equal(t, "pm10-study", retirement.Purpose)
	assert.Equal(t, 1, retirement.PurposeVersion)
	var logged api.PurposeDecision
	require.NoError(t, json.Unmarshal(retirement.Body, &logged))
	assert.Equal(t, d, logged)

	pub := Public(tw.proposalNow("pm10-study"), nil)
	assert.Equal(t, api.StatusRetired, pub.Status)
	assert.Equal(t, &d, pub.Decision)
	assert.True(t, pub.KeyDestroyed)
}

// TestRetireLogsFirstAndFinishesAfterACrash: nothing is deleted while the ledger refuses the
// retirement; a key that could not be destroyed leaves the retirement logged without its
// destruction, and the next RetireDue finishes it without logging the retirement twice.
func TestRetireLogsFirstAndFinishesAfterACrash(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	p := tw.active(study())
	tw.share(wallet(t), "pm10-study", "2026-05-11")
	keys := &keyring{}
	d := api.PurposeDecision{By: ByProposer, Reason: "retired by its proposer"}

	refusing := tw.retirer(keys)
	refusing.Ledger = &node{fail: errors.New("sequencer closed")}
	assert.EqualError(t, refusing.Retire(context.Background(), p, d), "purpose pm10-study v1: retire: sequencer closed")
	assert.Equal(t, 1, tw.copies("pm10-study"), "nothing deleted before the retirement is logged")
	assert.Empty(t, keys.destroyed)

	before := len(tw.entries())
	keys.fail = errors.New("read-only file system")
	r := tw.retirer(keys)
	assert.EqualError(t, r.Retire(context.Background(), p, d), "purpose pm10-study v1: destroy key: read-only file system")
	assert.Equal(t, []string{api.EntryPurposeRetire}, tw.typesSince(before), "no destruction logged for a key that survives")
	p = tw.proposalNow("pm10-study")
	assert.Equal(t, &d, p.Retired)
	assert.False(t, p.Destroyed)

	keys.fail = nil
	n, err := r.RetireDue(context.Background(), tw.core.Clock.Now())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the interrupted retirement is finished, long before the end date")
	assert.Equal(t, []string{api.EntryPurposeRetire, api.EntryPurposeDestroy}, tw.typesSince(before))
	assert.Equal(t, []string{"pm10-study@1"}, keys.destroyed)
	assert.True(t, tw.proposalNow("pm10-study").Destroyed)
	n, err = r.RetireDue(context.Background(), tw.core.Clock.Now())
	require.NoError(t, err)
	assert.Zero(t, n)
}

// TestRetireDueAtTheEndDate: an active purpose runs through its end date and is retired, as
// expired, once that day is over; a longer one runs on, and a proposal never activated is left
// alone.
func TestRetireDueAtTheEndDate(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	short := study()
	short.ID, short.Start, short.End = "short-study", "2026-05-04", "2026-05-20"
	tw.active(short)
	tw.active(study())
	unapproved := study()
	unapproved.ID, unapproved.End = "unapproved-study", "2026-05-12"
	tw.log(tw.proposal(tw.org, unapproved))
	tw.share(wallet(t), "short-study", "2026-05-19", "2026-05-20")
	keys := &keyring{}
	r := tw.retirer(keys)
	due := func() int {
		n, err := r.RetireDue(context.Background(), tw.core.Clock.Now())
		require.NoError(t, err)
		return n
	}

	tw.core.Clock.Set(time.Date(2026, 5, 20, 23, 59, 59, 0, time.UTC))
	assert.Zero(t, due(), "the end date is the last day it runs")
	assert.Equal(t, 2, tw.copies("short-study"))
	tw.core.Clock.Advance(time.Second)
	assert.Equal(t, 1, due())
	p := tw.proposalNow("short-study")
	assert.Equal(t, api.StatusExpired, Status(p))
	assert.Equal(t, &api.PurposeDecision{By: ByEnd, Reason: "the purpose reached its end date, 2026-05-20"}, p.Retired)
	assert.True(t, p.Destroyed)
	assert.Zero(t, tw.copies("short-study"))
	assert.Equal(t, []string{"short-study@1"}, keys.destroyed)
	assert.Equal(t, api.StatusActive, Status(tw.proposalNow("pm10-study")))
	assert.Equal(t, api.StatusProposed, Status(tw.proposalNow("unapproved-study")))

	tw.core.Clock.Advance(30 * 24 * time.Hour)
	assert.Zero(t, due(), "retired once")
}

// TestPruneDueAfterTheRetention: a day's share copies of an active proposed purpose go once
// retention_days whole days have passed since it ended; later days and the built-in
// purpose's copies stay.
func TestPruneDueAfterTheRetention(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	tw.core.DefinePurpose(t, AirDaily(recipient))
	tw.active(study()) // retention_days: 14
	w := wallet(t)
	tw.share(w, "pm10-study", "2026-05-11", "2026-05-12", "2026-05-13")
	tw.share(w, Air, "2026-05-11")
	r := tw.retirer(&keyring{})
	prune := func(now time.Time) int {
		n, err := r.PruneDue(context.Background(), now)
		require.NoError(t, err)
		return n
	}
	days := func(id string) []string {
		d, err := tw.core.Store.Days(id)
		require.NoError(t, err)
		return d
	}

	assert.Zero(t, prune(time.Date(2026, 5, 25, 23, 59, 59, 0, time.UTC)), "the 11th is kept 14 whole days after it ends")
	assert.Equal(t, 1, prune(time.Date(2026, 5, 26, 0, 0, 0, 0, time.UTC)))
	assert.Equal(t, []string{"2026-05-12", "2026-05-13"}, days("pm10-study"))
	assert.Equal(t, 2, prune(time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)))
	assert.Empty(t, days("pm10-study"))
	assert.Equal(t, []string{"2026-05-11"}, days(Air), "the built-in purpose's copies are not a proposal's")
}

// TestPublicViews: a proposal's public view shows its document, its counts per neighbourhood
// with where the threshold was met and where it runs, and its cost; never a resident's id or
// nullifier. A new version shows nothing of the purpose version 1 defined; a refusal shows its
// decision; a built-in purpose is active everywhere.
func TestPublicViews(t *testing.T) {
	t.Parallel()
	tw := newTown(t)
	tw.core.DefinePurpose(t, AirDaily(recipient))
	residents := []*crypto.Wallet{wallet(t), wallet(t), wallet(t)}
	prop := tw.proposal(tw.org, study())
	tw.log(prop, choice(residents[0], "pm10-study", "a", true), choice(residents[1], "pm10-study", "a", true),
		choice(residents[2], "pm10-study", "b", false), tw.activation(prop, "a"))
	defined, ok := tw.core.State.Purpose("pm10-study")
	require.True(t, ok)

	pub := Public(tw.proposalNow("pm10-study"), defined)
	assert.Equal(t, api.StatusActive, pub.Status)
	assert.Equal(t, tw.org.CitizenID(), pub.Proposer, "the organiser signs in public")
	assert.Equal(t, study(), *pub.Proposal)
	assert.InDelta(t, 0.05, pub.EpsilonPerDay, 1e-12)
	assert.Equal(t, []api.NeighbourhoodApprovals{
		{Neighbourhood: "a", Approve: 2, Met: true, Active: true},
		{Neighbourhood: "b", Object: 1},
	}, pub.Approvals)
	require.NotNil(t, pub.Purpose)
	assert.Equal(t, []string{"a"}, pub.Purpose.Neighbourhoods)
	assert.Nil(t, pub.Decision)
	b, err := json.Marshal(pub)
	require.NoError(t, err)
	for _, w := range residents {
		assert.NotContains(t, string(b), w.CitizenID())
		assert.NotContains(t, string(b), w.Nullifier(crypto.PurposeNullifierScope("pm10-study", 1)))
	}

	v2 := study()
	v2.Version = 2
	tw.log(tw.proposal(tw.org, v2))
	pub = Public(tw.proposalNow("pm10-study"), defined)
	assert.Equal(t, api.StatusProposed, pub.Status)
	assert.Nil(t, pub.Purpose, "version 1's purpose is not version 2's")
	assert.Equal(t, []api.NeighbourhoodApprovals{{Neighbourhood: "a"}, {Neighbourhood: "b"}}, pub.Approvals)

	refused := study()
	refused.ID = "refused-study"
	tw.log(tw.proposal(tw.org, refused), tw.decision(api.EntryPurposeRefuse, "refused-study", ByOperator))
	pub = Public(tw.proposalNow("refused-study"), nil)
	assert.Equal(t, api.StatusRefused, pub.Status)
	assert.Equal(t, &api.PurposeDecision{By: ByOperator, Reason: "decided by operator"}, pub.Decision)

	air, ok := tw.core.State.Purpose(Air)
	require.True(t, ok)
	pub = PublicBuiltIn(air)
	assert.Equal(t, api.PublicPurpose{ID: Air, Version: 1, Status: api.StatusActive, Purpose: &air.Purpose, EpsilonPerDay: 1}, pub)
}

// TestCompact: a document is compacted before its hash is checked, so the hash a statement
// signs holds whatever spacing the request used; what is not JSON is malformed.
func TestCompact(t *testing.T) {
	t.Parallel()
	compact := []byte(`{"reason":"done"}`)
	b, ok, err := Compact(json.RawMessage("{ \"reason\" :\n \"done\" }"), crypto.DocumentHash(compact))
	require.NoError(t, err)
	assert.True(t, ok)
	assert.Equal(t, compact, b)
	_, ok, err = Compact(json.RawMessage(`{"reason":"other"}`), crypto.DocumentHash(compact))
	require.NoError(t, err)
	assert.False(t, ok, "another document")
	for _, doc := range []string{`{"reason":`, ``} {
		_, _, err = Compact(json.RawMessage(doc), crypto.DocumentHash(compact))
		assert.ErrorIs(t, err, api.ErrMalformed, doc)
	}
}

// TestARunningVersionEndsWhileANewerIsProposed: version 1 runs while version 2 is only
// proposed; version 1 still ends at its end date and its share copies still go after its
// retention, although the latest version of the proposal is version 2.
func TestARunningVersionEndsWhileANewerIsProposed(t *testing.T) {
	t.Parallel()
	for _, ends := range []bool{true, false} {
		t.Run(map[bool]string{true: "end date", false: "retention"}[ends], func(t *testing.T) {
			t.Parallel()
			tw := newTown(t)
			v1 := study()
			if ends {
				v1.End = "2026-05-20"
			}
			tw.active(v1)
			tw.share(wallet(t), v1.ID, "2026-05-11")
			v2 := v1
			v2.Version, v2.End = 2, "2027-05-10"
			tw.log(tw.proposal(tw.org, v2))
			require.Equal(t, 2, tw.proposalNow(v1.ID).Version)
			r := tw.retirer(&keyring{})
			june := time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)
			if ends {
				n, err := r.RetireDue(context.Background(), june)
				require.NoError(t, err)
				assert.Equal(t, 1, n, "version 1 reached its end date")
				running, ok := tw.core.State.ProposalVersion(v1.ID, 1)
				require.True(t, ok)
				assert.Equal(t, api.StatusExpired, Status(running))
			} else {
				n, err := r.PruneDue(context.Background(), june)
				require.NoError(t, err)
				assert.Equal(t, 1, n, "version 1's retention of 14 days is over for the 11th")
			}
			assert.Zero(t, tw.copies(v1.ID))
			assert.Equal(t, api.StatusProposed, Status(tw.proposalNow(v1.ID)), "version 2 is untouched")
		})
	}
}
