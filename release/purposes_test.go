package release_test

import (
	"context"
	"encoding/json"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/release"
)

// TestProposedWeeklyPurposeReleasesOnlyWhereApproved runs a weekly PM10 purpose that the
// residents of n-north approved and those of n-east did not: its release is weekly only, shows
// n-north alone, counts only consenting residents, publishes PM10 and nothing else, and stops
// once the purpose is retired.
func TestProposedWeeklyPurposeReleasesOnlyWhereApproved(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	key, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	const id = "pm10-study"
	prop := api.PurposeProposal{ID: id, Version: 1, Readings: []string{"pm10"}, Grid: release.GridNeighbourhoodWeek,
		EpsilonRelease: 0.35, Scope: []string{"n-north", "n-east"}, ApprovalsNeeded: 1, Start: gridDay, End: "2026-03-10", Deadline: gridDay}
	body, err := json.Marshal(prop)
	require.NoError(t, err)
	e.append(api.Entry{Type: api.EntryPurposePropose, Purpose: id, PurposeVersion: 1, Body: body, Hash: state.Hash(body), Citizen: "organiser"})
	e.definePurpose(api.Purpose{ID: id, Version: 1, Recipient: key.Recipient().String(),
		Release: api.ReleasePolicy{Grid: release.GridNeighbourhoodWeek, K: k, ClampPM25: [2]float64{0, 100}, ClampPM10: [2]float64{0, 200},
			GraceHours: grace, Epsilon: 0.35},
		Proposal: state.Hash(body), Neighbourhoods: []string{"n-north"}})
	engine := release.New(release.Config{Store: e.store, Ledger: e.log, State: e.st, Cells: cells, Now: e.clock.Now,
		Logger: loggerTo(e.logs), Noise: exact{},
		PurposeIdentity: func(p string, v int) (age.Identity, error) {
			require.Equal(t, id, p)
			return key, nil
		}})

	contribute := func(day, cell string, consent bool, pm10 float64) {
		w := e.register(false)
		if consent {
			e.append(api.Entry{Type: api.EntryConsentGrant, Citizen: w.CitizenID(), Purpose: id, PurposeVersion: 1,
				IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
		}
		rs := readings(t, day, cell, 12)
		rs[0].Values.PM10 = reading.F(pm10)
		plain, err := reading.MarshalBatch(rs)
		require.NoError(t, err)
		ct, err := crypto.Seal(plain, key.Recipient())
		require.NoError(t, err)
		c := crypto.Contribution{Citizen: w.CitizenID(), Nonce: crypto.NewNonce(), IssuedAt: crypto.Now(),
			Envelopes: []crypto.Envelope{{Day: day, Purpose: id, Ciphertext: ct}}}
		cid, err := c.ID()
		require.NoError(t, err)
		require.NoError(t, e.store.PutContribution(context.Background(), c, cid))
	}
	for range 12 {
		contribute(gridDay, "n-north", true, 30)
		contribute(gridDay, "n-east", true, 80) // no consent can be granted there through the API; the engine leaves them out anyway
	}
	for range 3 {
		contribute(gridDay, "n-north", false, 190) // no consent: not in the release
	}
	week, err := release.ISOWeek(gridDay)
	require.NoError(t, err)
	closes, err := release.WeekCloses(week, grace)
	require.NoError(t, err)
	e.clock.Set(closes)
	n, err := engine.RunDue(context.Background())
	require.NoError(t, err)
	assert.Equal(t, 1, n, "the study's week, and no daily release of it")
	days, err := e.store.Epochs(id)
	require.NoError(t, err)
	assert.Empty(t, days, "a weekly purpose has no daily release")

	w := stored(e, release.WeekPurpose(id), week, release.ParseAirWeek)
	require.Len(t, w.Cells, 1, "only the approving neighbourhood is shown")
	north := w.Cells[0]
	assert.Equal(t, "n-north", north.Neighbourhood)
	assert.Equal(t, 12, north.Contributors, "the consenting residents of n-north, no one else")
	require.NotNil(t, north.PM10)
	assert.InDelta(t, 30, *north.PM10, 0.1)
	assert.Nil(t, north.PM25, "PM2.5 was not asked for")
	assert.Nil(t, north.Temperature)
	assert.Empty(t, w.Hours)
	assert.Equal(t, 12, w.City.Contributors)

	decision, err := json.Marshal(api.PurposeDecision{By: "operator", Reason: "done"})
	require.NoError(t, err)
	e.append(api.Entry{Type: api.EntryPurposeRetire, Purpose: id, PurposeVersion: 1, Body: decision, Hash: state.Hash(decision)})
	e.clock.Set(closes.AddDate(0, 0, 7))
	contribute(nextDay(t, gridDay, 7), "n-north", true, 30)
	_, err = engine.RunDue(context.Background())
	require.NoError(t, err)
	weeks, err := e.store.Epochs(release.WeekPurpose(id))
	require.NoError(t, err)
	assert.Equal(t, []string{week}, weeks, "a retired purpose is never released again")
}
