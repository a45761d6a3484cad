package release

import (
	"slices"

	"github.com/commons-city/commons/api"
)

// statSpec is how one statistic is released: its share of a resident's budget (in weights,
// see Plan), how its residents' values are clamped, and when its mean is shown.
//
// Each statistic is a mean over the cells of a grid, released in two stages. First the
// city-wide sum of every resident's value, clamped to the policy range and centred on a public
// reference (the previous week's published city mean, else the range's midpoint), and the
// noisy counts of every cell; their quotient is the city mean. Then each cell's sum of values
// clamped to a narrow window around a centre — the city mean, scaled by the cell's ratio to
// the city in the previous week's release when that ratio is published — so that one resident
// moves a cell's sum by at most the window's half-width, not the whole range. Every centre is
// public (an earlier release, or a noisy figure of this one), so the clamps cost no budget.
type statSpec struct {
	// count, city and sum weigh the statistic's noisy counts, its city-wide stage and its
	// cells' noisy sums in the plan. A spec without a city stage is centred by its caller.
	count, city, sum float64
	// width is the clamp's half-width around a cell's centre; wide is used instead when a
	// relative statistic has no ratio from the previous week. cityWidth is the city stage's
	// half-width around the previous week's city mean; without one, the stage clamps to the
	// whole policy range.
	width, wide, cityWidth float64
	// relative statistics scale the city mean by each cell's published ratio; the others
	// centre every cell on the city mean.
	relative bool
	// l0 is how many cells of the grid one resident reaches: 1 for neighbourhoods, 24 for the
	// hours of the day.
	l0 int64
	// maxHalfWidth is the widest 95 % interval (half-width) at which a mean is shown; band,
	// when not 0, the widest at which the European AQI band is shown instead.
	maxHalfWidth, band float64
	// positive statistics are never shown as a mean whose interval reaches 0.
	positive bool
}

// The statistics of the daily and the weekly release. Weights, widths and thresholds were
// chosen with the accuracy harness (accuracy_test.go; docs/privacy.md shows the calculation).
var (
	dayPM25 = statSpec{count: 1.5, city: 0.6, sum: 5, width: 15, wide: 25, cityWidth: 25, relative: true, l0: 1,
		maxHalfWidth: 5, band: 10, positive: true}
	weekPM25 = statSpec{count: 8, city: 0.5, sum: 24, width: 8, wide: 25, cityWidth: 25, relative: true, l0: 1,
		maxHalfWidth: 5, band: 10, positive: true}
	weekPM10 = statSpec{count: 1.2, city: 0.25, sum: 3, width: 20, wide: 40, cityWidth: 50, relative: true, l0: 1,
		maxHalfWidth: 10, positive: true}
	weekTemperature = statSpec{count: 1.2, city: 0.25, sum: 2, width: 5, cityWidth: 10, l0: 1, maxHalfWidth: 2}
	weekHumidity    = statSpec{count: 1.2, city: 0.25, sum: 2, width: 12, cityWidth: 20, l0: 1, maxHalfWidth: 5, positive: true}
	// weekHours is the city's hour-of-day profile of PM2.5 over the week, centred on the
	// week's city mean scaled by each hour's ratio in the previous week.
	weekHours = statSpec{count: 2, sum: 4, width: 12, wide: 25, relative: true, l0: HoursPerDay,
		maxHalfWidth: 5, band: 10, positive: true}
)

func (s statSpec) weight() float64 { return s.count + s.city + s.sum }

// Plan is how a purpose spends each resident's budget. A resident's zCDP budget per day is
// ρ_day = ρ(ε_day, Delta); a week's, 7·ρ_day, is shared among the seven daily releases and
// the weekly one in proportion to the statistics' weights. A resident's loss in a week is at
// most 7·Daily + Weekly = 7·ρ_day.
type Plan struct {
	// EpsilonDay is the policy's ε per resident per day, at δ = Delta.
	EpsilonDay float64
	// Hours says whether the weekly release carries the hour-of-day profile.
	Hours bool
	// Daily and Weekly are the ρ a resident spends in one daily and one weekly release.
	Daily, Weekly float64
	// Stats are the weekly statistics computed (weekStats' indices); nil: every one. A purpose
	// that asked for some readings spends its budget on theirs alone.
	Stats []int
	unit  float64 // ρ per unit of weight
}

// computes reports whether the weekly release computes statistic stat.
func (p Plan) computes(stat int) bool { return p.Stats == nil || slices.Contains(p.Stats, stat) }

// lead is the statistic whose noisy count gives a weekly cell its contributors and decides
// whether it is shown: PM2.5's, or the first statistic computed.
func (p Plan) lead() int {
	if p.computes(statPM25) {
		return statPM25
	}
	return p.Stats[0]
}

// NewPlan shares ρ(epsDay) among the statistics; hours adds the hour-of-day profile.
func NewPlan(epsDay float64, hours bool) Plan {
	daily := dayPM25.weight()
	weekly := weekPM25.weight() + weekPM10.weight() + weekTemperature.weight() + weekHumidity.weight()
	if hours {
		weekly += weekHours.weight()
	}
	week := 7 * RhoFor(epsDay, Delta)
	p := Plan{EpsilonDay: epsDay, Hours: hours, unit: week / (7*daily + weekly)}
	p.Daily, p.Weekly = daily*p.unit, weekly*p.unit
	return p
}

// PlanFor returns the plan of a purpose's policy: ε per day is epsilon + hour_epsilon (epsilon
// defaults to DefaultEpsilon), and a non-zero hour_epsilon asks for the hour-of-day profile.
func PlanFor(policy api.ReleasePolicy) Plan {
	eps := policy.Epsilon
	if eps == 0 {
		eps = DefaultEpsilon
	}
	return NewPlan(eps+policy.HourEpsilon, policy.HourEpsilon > 0)
}

// rho is a weight's ρ.
func (p Plan) rho(weight float64) float64 { return weight * p.unit }

// Guarantee is the plan's guarantee per day, week and 30 days.
func (p Plan) Guarantee() Guarantee { return Compose(p.Daily, p.Weekly) }
