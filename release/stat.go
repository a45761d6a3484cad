package release

import (
	"math"
)

// figure is one noisy mean before the rules decide what of it is shown.
type figure struct {
	n      int        // the noisy count: rounded, never negative, never above the population
	mean   float64    // centre + noisy sum / n, within the clamp
	hw     float64    // half-width of its 95 % interval (+Inf when n is 0)
	centre float64    // the public centre of the clamp
	clamp  [2]float64 // the clamp of each resident's value
}

// centreStep is the step centres are rounded to, so that published clamps are short numbers.
const centreStep = 0.1

// reference is what the previous week's release says of one statistic: the city mean, and
// each cell's ratio to it, for the cells where both are published means.
type reference struct {
	city    float64
	hasCity bool
	ratio   map[string]float64
}

// estimator computes noisy means under one plan, with one mechanism.
type estimator struct {
	m          mechanism
	plan       Plan
	population int // the public number of registered residents: no count exceeds it
}

// count post-processes a noisy count: rounded, at least 0, at most the population.
func (e estimator) count(noisy float64) int {
	n := math.Max(0, math.Round(noisy))
	if e.population > 0 {
		n = math.Min(n, float64(e.population))
	}
	return int(n)
}

// stat releases one statistic over a grid: vals[i] are the values of the residents of cell
// ids[i] (each resident in one cell, with one value already within the policy range, or in
// up to s.l0 cells for the hours). It returns the city-wide figure (when s has a city stage)
// and every cell's; centre is the city-wide centre of a spec without a city stage.
func (e estimator) stat(s statSpec, policy [2]float64, ids []string, vals [][]float64, ref reference, centre float64) (figure, []figure, error) {
	calCount, err := calibrate(s.l0, 1, e.plan.rho(s.count))
	if err != nil {
		return figure{}, nil, err
	}
	hwCount, err := e.m.halfWidth(calCount)
	if err != nil {
		return figure{}, nil, err
	}
	counts := make([]float64, len(vals))
	total := 0.0
	for i, vs := range vals {
		if counts[i], err = e.m.add(float64(len(vs)), calCount); err != nil {
			return figure{}, nil, err
		}
		total += counts[i]
	}
	var city figure
	if s.city > 0 {
		mid, half := (policy[0]+policy[1])/2, (policy[1]-policy[0])/2
		c := mid
		if ref.hasCity {
			c, half = round(clamp(ref.city, policy), centreStep), s.cityWidth
		}
		cl := [2]float64{round(math.Max(policy[0], c-half), centreStep), round(math.Min(policy[1], c+half), centreStep)}
		cal, err := calibrate(1, half, e.plan.rho(s.city))
		if err != nil {
			return figure{}, nil, err
		}
		sum := 0.0
		for _, vs := range vals {
			for _, v := range vs {
				sum += clamp(v, cl) - c
			}
		}
		// The city count is the sum of the cells' noisy counts: post-processing, no budget.
		if city, err = e.figure(cal, sum, c, cl, e.count(total), hwCount*math.Sqrt(float64(len(vals)))); err != nil {
			return figure{}, nil, err
		}
		centre = c
		if city.n > 0 {
			centre = city.mean
		}
	}
	cells := make([]figure, len(vals))
	for i, vs := range vals {
		c, w := centre, s.width
		if s.relative {
			w = s.wide
			if r, ok := ref.ratio[ids[i]]; ok {
				c, w = centre*r, s.width
			}
		}
		c = round(clamp(c, policy), centreStep)
		cl := [2]float64{round(math.Max(policy[0], c-w), centreStep), round(math.Min(policy[1], c+w), centreStep)}
		cal, err := calibrate(s.l0, w, e.plan.rho(s.sum))
		if err != nil {
			return figure{}, nil, err
		}
		sum := 0.0
		for _, v := range vs {
			sum += clamp(v, cl) - c
		}
		if cells[i], err = e.figure(cal, sum, c, cl, e.count(counts[i]), hwCount); err != nil {
			return figure{}, nil, err
		}
	}
	return city, cells, nil
}

// z95 is the standard normal quantile of a two-sided 95 % interval.
const z95 = 1.959963984540054

// figure adds noise to a centred sum and divides by the noisy count n. The interval combines
// the noise on the sum and on the count (delta method): the count's noise moves the mean in
// proportion to its distance from the centre, which the narrow clamps keep small.
func (e estimator) figure(cal calibration, sum, centre float64, cl [2]float64, n int, hwCount float64) (figure, error) {
	noisy, err := e.m.add(sum, cal)
	if err != nil {
		return figure{}, err
	}
	hwSum, err := e.m.halfWidth(cal)
	if err != nil {
		return figure{}, err
	}
	f := figure{n: n, centre: centre, clamp: cl, mean: centre, hw: math.Inf(1)}
	if n == 0 {
		return f, nil
	}
	f.mean = clamp(centre+noisy/float64(n), cl)
	// A count that noise pushed up would make the interval look narrow: the interval divides
	// by the count less one standard deviation of its noise.
	low := float64(n) - hwCount/z95
	if low < 1 {
		return f, nil
	}
	d := (f.mean - centre) * hwCount
	f.hw = math.Sqrt(hwSum*hwSum+d*d) / low
	return f, nil
}

// shown is what the rules publish of a figure: a mean with its 95 % interval when the noisy
// count reaches k, the interval is narrow enough and, for a positive statistic, does not reach
// 0 once rounded; otherwise the AQI band when the spec has one and the interval is within its
// limit; otherwise nothing. Every input is noisy or public: the choice is post-processing.
func (s statSpec) shown(f figure, k int, step float64) (mean *float64, ci *[2]float64, band string) {
	if f.n < k {
		return nil, nil, ""
	}
	lo, hi := round(f.mean-f.hw, step), round(f.mean+f.hw, step)
	if f.hw <= s.maxHalfWidth && (!s.positive || lo > 0) {
		m := round(f.mean, step)
		return &m, &[2]float64{lo, hi}, ""
	}
	if s.band > 0 && f.hw <= s.band {
		return nil, nil, Band(f.mean)
	}
	return nil, nil, ""
}
