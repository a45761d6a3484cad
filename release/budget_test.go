package release_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/release"
)

// A resident's ρ is tracked per ISO week: with a weekly cap that fits two days' releases and
// not three, the third day of the same week is released without the residents who have spent
// their budget, and what they spent is recorded with each release.
func TestWeeklyBudgetLeavesOutResidentsWhoSpentIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	daily := release.NewPlan(1, false).Daily
	capped := e.purpose
	capped.Version, capped.Release.Epsilon = 2, 1
	capped.Release.WeekEpsilon = release.EpsilonOf(2.5*daily, release.Delta)
	e.purpose = capped
	e.definePurpose(capped)
	days := []string{gridDay, nextDay(t, gridDay, 1), nextDay(t, gridDay, 2)} // Mon to Wed, one ISO week
	var ws []*crypto.Wallet
	for i := 0; i < k+2; i++ {
		w := e.register(true)
		ws = append(ws, w)
		for _, d := range days {
			e.contribute(w, d, readings(t, d, "n-north", 20))
		}
	}
	e.closeDay(days[2])
	require.Equal(t, 3, e.runDue())

	for _, d := range days[:2] {
		c := cellOf(t, e.released(d), "n-north")
		assert.False(t, c.Suppressed, "%s: every resident still had budget", d)
		assert.Equal(t, k+2, c.Contributors)
	}
	assert.True(t, cellOf(t, e.released(days[2]), "n-north").Suppressed, "the third day finds every budget spent")
	assert.Contains(t, e.logs.String(), `"over_budget":12`)
	for _, w := range ws {
		spent, err := e.store.Spent(w.CitizenID(), "rho/2025-W11")
		require.NoError(t, err)
		assert.InDelta(t, 2*daily, spent, 1e-12)
	}
}

// A policy may not spend more than MaxEpsilon of a resident's privacy per day.
func TestPurposeAboveMaximumEpsilonIsNotReleased(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	greedy := e.purpose
	greedy.Version, greedy.Release.Epsilon = 2, release.MaxEpsilon*2
	e.purpose = greedy
	e.definePurpose(greedy)
	e.residents(k, gridDay, "n-north", 20)
	e.closeDay(gridDay)
	assert.Equal(t, 0, e.runDue())
	assert.Contains(t, e.logs.String(), "above the maximum")
}
