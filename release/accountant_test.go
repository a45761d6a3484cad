package release

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The conversion from ρ-zCDP to (ε, δ): never worse than ρ + 2√(ρ ln(1/δ)), and its inverse
// finds the budget of ε = 1 at δ = 10⁻⁶ (about 0.0244, against 0.0175 with the simple bound).
func TestZCDPConversion(t *testing.T) {
	t.Parallel()
	for _, rho := range []float64{0.001, 0.0175, 0.1, 0.5, 2} {
		simple := rho + 2*math.Sqrt(rho*math.Log(1/Delta))
		got := EpsilonOf(rho, Delta)
		assert.LessOrEqual(t, got, simple, "ρ %v", rho)
		assert.Greater(t, got, rho, "ρ %v", rho)
	}
	assert.Zero(t, EpsilonOf(0, Delta))
	rho := RhoFor(1, Delta)
	assert.InDelta(t, 0.02436, rho, 0.0001)
	assert.InDelta(t, 1, EpsilonOf(rho, Delta), 1e-9)
	assert.Greater(t, rho, simpleRhoFor(1, Delta), "the tighter conversion leaves more budget than the simple bound")
	// Monotone: more ρ, more ε.
	prev := 0.0
	for rho := 0.001; rho < 1; rho *= 1.3 {
		e := EpsilonOf(rho, Delta)
		assert.Greater(t, e, prev)
		prev = e
	}
}

// simpleRhoFor inverts ε = ρ + 2√(ρ ln(1/δ)).
func simpleRhoFor(eps, delta float64) float64 {
	l := math.Log(1 / delta)
	x := -math.Sqrt(l) + math.Sqrt(l+eps)
	return x * x
}

// A plan spends exactly the day's budget: seven daily releases and the weekly one add up to
// seven days' ρ, whose ε is the policy's; and the guarantee composes over weeks and months.
func TestPlanSpendsTheDaysBudget(t *testing.T) {
	t.Parallel()
	for _, hours := range []bool{false, true} {
		p := NewPlan(1, hours)
		g := p.Guarantee()
		assert.InDelta(t, RhoFor(1, Delta), g.RhoDay, 1e-12)
		assert.InDelta(t, 1, g.EpsilonDay, 1e-6)
		assert.InDelta(t, 7*g.RhoDay, g.RhoWeek, 1e-12)
		assert.InDelta(t, 30*p.Daily+5*p.Weekly, g.Rho30Days, 1e-12)
		assert.Greater(t, g.Epsilon30Days, g.EpsilonWeek)
		assert.Less(t, g.Epsilon30Days, 30.0, "zCDP composes far below 30 × ε")
		assert.Greater(t, g.EpsilonOneDay, g.EpsilonDay, "the day a weekly release comes out costs more than the average day")
	}
	with, without := NewPlan(1, true), NewPlan(1, false)
	assert.Less(t, with.rho(weekPM25.sum), without.rho(weekPM25.sum), "the hour profile takes a share")
}

// The library's Gaussian is calibrated to cost at most the ρ asked for, and not much less.
func TestCalibrationCostsTheRhoAskedFor(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		l0        int64
		lInf, rho float64
	}{{1, 1, 0.003}, {1, 15, 0.0095}, {1, 50, 0.0007}, {24, 12, 0.004}, {24, 1, 0.002}} {
		cal, err := calibrate(c.l0, c.lInf, c.rho)
		require.NoError(t, err)
		got := rhoOf(c.l0, c.lInf, cal.sigma)
		assert.LessOrEqual(t, got, c.rho, "%+v", c)
		assert.InEpsilon(t, c.rho, got, 0.003, "%+v", c)
		hw, err := mechanism{newSeededGaussian(1)}.halfWidth(cal)
		require.NoError(t, err)
		assert.InEpsilon(t, 1.959964*cal.sigma, hw, 1e-3)
	}
	_, err := calibrate(1, 1, 0)
	assert.Error(t, err)
}
