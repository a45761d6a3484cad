package release

import (
	"math"
	"sync"
)

// Accounting: every figure the air purpose publishes is a Gaussian mechanism, and a Gaussian
// mechanism with noise σ on a query of L2 sensitivity Δ₂ is ρ-zero-concentrated differentially
// private (zCDP) with ρ = Δ₂²/(2σ²) (Bun and Steinke 2016, Proposition 1.6). zCDP composes by
// adding ρ, also adaptively (their Lemma 2.3), so a resident's loss over any set of releases is
// the sum of the ρ of the figures they were in. A ρ is turned into an (ε, δ) statement with the
// conversion of Canonne, Kamath and Steinke 2020 ("The Discrete Gaussian for Differential
// Privacy", Proposition 12/Corollary 13), which is tighter than the usual ρ + 2√(ρ ln(1/δ)).

// Delta is the δ of every (ε, δ) statement the engine makes.
const Delta = 1e-6

// EpsilonOf returns the ε for which a ρ-zCDP mechanism is (ε, δ)-differentially private:
//
//	ε = inf over α > 1 of  αρ + (ln(1/δ) + (α−1)·ln(1−1/α) − ln α) / (α−1)
//
// and never more than the simpler ρ + 2√(ρ·ln(1/δ)).
func EpsilonOf(rho, delta float64) float64 {
	if rho <= 0 {
		return 0
	}
	simple := rho + 2*math.Sqrt(rho*math.Log(1/delta))
	f := func(logA float64) float64 {
		a := 1 + math.Exp(logA) // α − 1 = e^logA, so α > 1 everywhere
		return a*rho + (math.Log(1/delta)+(a-1)*math.Log(1-1/a)-math.Log(a))/(a-1)
	}
	// The bound is convex in α; a coarse scan of ln(α−1) brackets its minimum, and a golden
	// section search narrows the bracket.
	const lo, hi, steps = -12.0, 12.0, 480
	best, bestX := math.Inf(1), lo
	for i := 0; i <= steps; i++ {
		x := lo + (hi-lo)*float64(i)/steps
		if v := f(x); v < best {
			best, bestX = v, x
		}
	}
	a, b := bestX-(hi-lo)/steps, bestX+(hi-lo)/steps
	phi := (math.Sqrt(5) - 1) / 2
	for range 100 {
		c, d := b-phi*(b-a), a+phi*(b-a)
		if f(c) < f(d) {
			b = d
		} else {
			a = c
		}
	}
	return math.Min(simple, math.Min(best, f((a+b)/2)))
}

var rhoFor sync.Map // [2]float64{ε, δ} → ρ

// RhoFor returns the largest ρ whose (ε, δ) statement (EpsilonOf) is at most eps.
func RhoFor(eps, delta float64) float64 {
	if eps <= 0 {
		return 0
	}
	if rho, ok := rhoFor.Load([2]float64{eps, delta}); ok {
		return rho.(float64)
	}
	rho := searchRho(eps, delta)
	rhoFor.Store([2]float64{eps, delta}, rho)
	return rho
}

func searchRho(eps, delta float64) float64 {
	lo, hi := 0.0, eps
	for range 200 {
		mid := (lo + hi) / 2
		if EpsilonOf(mid, delta) > eps {
			hi = mid
		} else {
			lo = mid
		}
	}
	return lo
}

// Guarantee is what the air purpose promises each resident, in zCDP and in (ε, δ): per day
// (the rate at which a week's budget is spent), per ISO week, and over any 30 days.
type Guarantee struct {
	Delta float64 `json:"delta"`
	// RhoDay is the zCDP budget of one day: the daily releases' ρ plus a seventh of the weekly
	// release's. EpsilonDay is its (ε, δ) statement.
	RhoDay     float64 `json:"rho_day"`
	EpsilonDay float64 `json:"epsilon_day"`
	// RhoWeek and EpsilonWeek cover one ISO week: seven daily releases and the weekly one.
	RhoWeek     float64 `json:"rho_week"`
	EpsilonWeek float64 `json:"epsilon_week"`
	// Rho30Days and Epsilon30Days cover any 30 consecutive days: 30 daily releases and the
	// at most 5 weekly releases published in them.
	Rho30Days     float64 `json:"rho_30_days"`
	Epsilon30Days float64 `json:"epsilon_30_days"`
	// RhoOneDay and EpsilonOneDay are the most one calendar day's publications can cost a
	// resident: the day's release and, on the day it comes out, the weekly one.
	RhoOneDay     float64 `json:"rho_one_day"`
	EpsilonOneDay float64 `json:"epsilon_one_day"`
}

// weeklyReleasesIn is the most weekly releases published in n consecutive days.
func weeklyReleasesIn(days int) int { return (days + 6) / 7 }

// Compose returns the guarantee of a plan: ρ per daily and per weekly release.
func Compose(daily, weekly float64) Guarantee {
	g := Guarantee{Delta: Delta,
		RhoDay:    daily + weekly/7,
		RhoWeek:   7*daily + weekly,
		Rho30Days: 30*daily + float64(weeklyReleasesIn(30))*weekly,
		RhoOneDay: daily + weekly,
	}
	g.EpsilonDay = EpsilonOf(g.RhoDay, Delta)
	g.EpsilonWeek = EpsilonOf(g.RhoWeek, Delta)
	g.Epsilon30Days = EpsilonOf(g.Rho30Days, Delta)
	g.EpsilonOneDay = EpsilonOf(g.RhoOneDay, Delta)
	return g
}
