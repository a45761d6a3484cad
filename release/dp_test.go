package release

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// noNoise adds nothing: the control arms of the attack tests.
type noNoise struct{}

func (noNoise) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error)             { return x, nil }
func (noNoise) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) { return x, nil }
func (noNoise) Threshold(int64, float64, float64, float64, float64) (float64, error) { return 0, nil }
func (noNoise) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: float64(x), UpperBound: float64(x)}, nil
}
func (noNoise) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: x, UpperBound: x}, nil
}
func (noNoise) String() string { return "none" }

// params are the built-in purpose's: ε = 1 per day with the hour-of-day profile, one cell.
func params(n noise.Noise) Params {
	return Params{K: 10, Clamp: Clamps{PM25: [2]float64{0, 100}, PM10: [2]float64{0, 200},
		Temperature: temperatureRange, Humidity: humidityRange}, Cells: []string{"c"}, Purpose: "p",
		Version: 1, Epoch: "2026-10-01", Resolution: 0.1, Plan: NewPlan(1, true), Noise: n, Population: 100000}
}

func residents(rng *rand.Rand, n int, lo, hi float64) []contribution {
	cs := make([]contribution, n)
	for i := range cs {
		cs[i] = contribution{cell: "c", pm25: lo + rng.Float64()*(hi-lo), hasPM25: true}
	}
	return cs
}

// outcome is what the public sees of the cell "c": suppressed, a band, a mean, or nothing.
func outcome(d AirDay) string {
	c := d.Cells[0]
	switch {
	case c.Suppressed:
		return "suppressed"
	case c.PM25 != nil:
		return "mean"
	case c.PM25Band != "":
		return "band " + c.PM25Band
	}
	return "not enough data"
}

// threshold runs the attack of the issue: the attacker holds nine accounts in a cell, whose
// values they know, and watches whether the day's release publishes the cell, a band or a
// mean, with a victim in it or not. It returns the share of trials of each outcome.
func threshold(t *testing.T, nz noise.Noise, victimIn bool, trials int) map[string]float64 {
	p := params(nz)
	seen := map[string]float64{}
	attacker := make([]contribution, 9)
	for i := range attacker {
		attacker[i] = contribution{cell: "c", pm25: 12 + float64(i), hasPM25: true}
	}
	in := attacker
	if victimIn {
		in = append(append([]contribution{}, attacker...), contribution{cell: "c", pm25: 35, hasPM25: true})
	}
	for range trials {
		d, err := aggregateDay(p, in)
		require.NoError(t, err)
		seen[outcome(d)]++
	}
	for o := range seen {
		seen[o] /= float64(trials)
	}
	return seen
}

// The threshold attack as a test: whatever the attacker looks at, the probability of each
// outcome with the victim in stays within e^ε times the probability without, plus δ, and the
// other way round (10,000 trials per arm, fixed seeds; 4 binomial standard errors of slack).
// ε is the day's guarantee.
func TestThresholdAttackStaysWithinTheGuarantee(t *testing.T) {
	t.Parallel()
	const trials = 10000
	in := threshold(t, newSeededGaussian(31), true, trials)
	out := threshold(t, newSeededGaussian(32), false, trials)
	eps := params(nil).Plan.Guarantee().EpsilonDay
	slack := func(p float64) float64 { return 4 * math.Sqrt(math.Max(p*(1-p), 1.0/trials)/trials) }
	for o := range mergeKeys(in, out) {
		t.Logf("%-16s victim in %.4f, out %.4f", o, in[o], out[o])
		assert.LessOrEqual(t, in[o]-slack(in[o]), math.Exp(eps)*(out[o]+slack(out[o]))+Delta, "%s", o)
		assert.LessOrEqual(t, out[o]-slack(out[o]), math.Exp(eps)*(in[o]+slack(in[o]))+Delta, "%s", o)
	}
	assert.Greater(t, in["suppressed"], 0.2, "ten contributors: the noisy count falls below k often")
	assert.Less(t, in["suppressed"], 0.8)
}

// Control arm: without noise the same harness sees the victim every time (δ ≈ 1), as the
// raw-count threshold of format 1 let nine accounts see them (δ ≈ 0.5).
func TestThresholdAttackSucceedsWithoutNoise_ControlArm(t *testing.T) {
	t.Parallel()
	in := threshold(t, noNoise{}, true, 10)
	out := threshold(t, noNoise{}, false, 10)
	assert.Equal(t, 1.0, out["suppressed"])
	assert.Zero(t, in["suppressed"])
}

func mergeKeys(a, b map[string]float64) map[string]bool {
	m := map[string]bool{}
	for k := range a {
		m[k] = true
	}
	for k := range b {
		m[k] = true
	}
	return m
}

// attack runs the differencing attack of PRIVACY.md trials times: a victim joins between two
// releases; the attacker knows every other resident's value and so the exact counts, and
// estimates the victim's value from the two published means. draw returns the others, the
// victim and the victim's true value; publish returns the attacked mean of a release (nil
// when only a band is shown: the attacker learns no mean to difference). It returns the share
// of trials in which the estimate lands within ±5 µg/m³.
func attack(t *testing.T, trials int, draw func() ([]contribution, contribution, float64), publish func([]contribution) (*float64, error)) float64 {
	hits := 0
	for trial := 0; trial < trials; trial++ {
		others, victim, truth := draw()
		b, err := publish(others)
		require.NoError(t, err)
		a, err := publish(append(others, victim))
		require.NoError(t, err)
		if a == nil || b == nil {
			continue
		}
		estimate := float64(len(others)+1)*(*a) - float64(len(others))*(*b)
		if math.Abs(estimate-truth) <= 5 {
			hits++
		}
	}
	return float64(hits) / float64(trials)
}

// differencing attacks a neighbourhood's daily mean: a victim joins a cell of 150.
func differencing(t *testing.T, n noise.Noise, resolution float64, trials int) float64 {
	p := params(n)
	p.Resolution = resolution
	rng := rand.New(rand.NewPCG(7, 7))
	return attack(t, trials, func() ([]contribution, contribution, float64) {
		others := residents(rng, 150, 5, 40)
		victim := contribution{cell: "c", pm25: 5 + rng.Float64()*35, hasPM25: true}
		return others, victim, victim.pm25
	}, func(cs []contribution) (*float64, error) {
		d, err := aggregateDay(p, cs)
		if err != nil {
			return nil, err
		}
		return d.Cells[0].PM25, nil
	})
}

func TestDifferencingAttackFailsWithNoise(t *testing.T) {
	t.Parallel()
	rate := differencing(t, newSeededGaussian(2), 0.1, 300)
	t.Logf("attack success with Gaussian noise: %.1f %%", 100*rate)
	assert.LessOrEqual(t, rate, 0.10, "PRIVACY.md: success within ±5 µg/m³ must stay ≤ 10 %% of trials")
}

// The control arm proves the harness works: with exact (unrounded) means the same attack
// succeeds every time.
func TestDifferencingAttackSucceedsWithoutNoise_ControlArm(t *testing.T) {
	t.Parallel()
	rate := differencing(t, noNoise{}, 1e-9, 100)
	assert.GreaterOrEqual(t, rate, 0.9, "without noise the attacker must recover the victim (rounding aside)")
}

// hourResidents returns n residents with a PM2.5 value in every hour of the day.
func hourResidents(rng *rand.Rand, n int) []contribution {
	cs := make([]contribution, n)
	for i := range cs {
		cs[i].cell, cs[i].pm25, cs[i].hasPM25 = "c", 5+rng.Float64()*35, true
		for h := range HoursPerDay {
			cs[i].hourPM25[h], cs[i].hasHour[h] = 5+rng.Float64()*35, true
		}
	}
	return cs
}

// The differencing attack on the hour-of-day profile: a victim joins the city between two
// weekly releases; the attacker estimates the victim's 08:00 value.
func differencingHours(t *testing.T, n noise.Noise, resolution float64, trials int) float64 {
	p := params(n)
	p.Resolution, p.Epoch = resolution, "2026-W40"
	rng := rand.New(rand.NewPCG(11, 11))
	return attack(t, trials, func() ([]contribution, contribution, float64) {
		others := hourResidents(rng, 1000)
		victim := hourResidents(rng, 1)[0]
		return others, victim, victim.hourPM25[8]
	}, func(cs []contribution) (*float64, error) {
		w, err := aggregateWeek(p, cs)
		if err != nil {
			return nil, err
		}
		return w.Hours[8].PM25, nil
	})
}

func TestHourlyDifferencingAttackFailsWithNoise(t *testing.T) {
	t.Parallel()
	rate := differencingHours(t, newSeededGaussian(101), 0.1, 60)
	t.Logf("hour-of-day attack success with Gaussian noise: %.1f %%", 100*rate)
	assert.LessOrEqual(t, rate, 0.10, "PRIVACY.md: success within ±5 µg/m³ must stay ≤ 10 %% of trials")
}

// Control arms: exact means let the same attack recover the victim's hour; rounding to 0.1
// alone does not stop it either.
func TestHourlyDifferencingAttackSucceedsWithoutNoise_ControlArm(t *testing.T) {
	t.Parallel()
	assert.GreaterOrEqual(t, differencingHours(t, noNoise{}, 1e-9, 20), 0.9, "without noise the attacker must recover the victim")
	assert.Greater(t, differencingHours(t, noNoise{}, 0.1, 20), 0.10, "rounding alone does not stop the attack")
}

// A large cell publishes its mean, and the 95 % interval covers the true mean about 95 % of
// the time (the interval accounts for the noise on the sum and on the count). The previous
// week's release centres the clamps, as it does from a purpose's second week on, in a city of
// 750 contributors.
func TestIntervalsCoverTheTruth(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	p := params(newSeededGaussian(5))
	p.Cells = []string{"c", "rest"}
	p.Previous = &AirWeek{City: Cell{Reference: map[string]float64{"pm2_5": 19}}, Cells: []Cell{{Neighbourhood: "c", Ratio: map[string]float64{"pm2_5": 1}}}}
	rest := residents(rng, 600, 8, 30)
	for i := range rest {
		rest[i].cell = "rest"
	}
	published, covered := 0, 0
	for i := 0; i < 400; i++ {
		cs := residents(rng, 150, 8, 30)
		truth := 0.0
		for _, c := range cs {
			truth += c.pm25
		}
		truth /= float64(len(cs))
		d, err := aggregateDay(p, append(cs, rest...))
		require.NoError(t, err)
		c := d.Cells[0]
		require.False(t, c.Suppressed)
		if c.PM25 == nil {
			continue
		}
		published++
		if c.PM25CI[0]-0.05 <= truth && truth <= c.PM25CI[1]+0.05 {
			covered++
		}
	}
	assert.Equal(t, 400, published, "150 residents: always a mean")
	rate := float64(covered) / float64(published)
	t.Logf("coverage of the 95 %% interval: %.1f %%", 100*rate)
	assert.InDelta(t, 0.95, rate, 0.03)
}

// Counts are post-processed: never negative, never above the public population, whole; a
// cell's suppression and its mean depend on noisy figures only, so an empty cell is sometimes
// "published" — with no mean, since its interval is far too wide.
func TestCountsArePostProcessed(t *testing.T) {
	t.Parallel()
	p := params(newSeededGaussian(9))
	p.Population = 12
	p.Cells = []string{"empty", "c"}
	rng := rand.New(rand.NewPCG(9, 9))
	emptyShown := 0
	for range 2000 {
		d, err := aggregateDay(p, residents(rng, 12, 5, 40))
		require.NoError(t, err)
		for _, c := range append(d.Cells, *d.City) {
			assert.GreaterOrEqual(t, c.Contributors, 0)
			assert.LessOrEqual(t, c.Contributors, 12, "never above the registered population")
		}
		if e := d.Cells[0]; !e.Suppressed {
			emptyShown++
			assert.Nil(t, e.PM25, "an empty cell never shows a mean")
		}
	}
	// σ of the daily count is about 13: an empty cell's noisy count reaches 10 about a
	// quarter of the time, and shows "not enough data".
	assert.Less(t, emptyShown, 700)
}

// Never a mean of 0.0 or below where the truth is clearly above zero: a clean small cell shows
// its band or nothing, and a mean only with an interval above 0.
func TestNoZeroMeanForACleanCell(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 13))
	nz := newSeededGaussian(13)
	for _, n := range []int{10, 20, 40, 80, 150} {
		for range 200 {
			d, err := aggregateDay(params(nz), residents(rng, n, 2, 6))
			require.NoError(t, err)
			c := d.Cells[0]
			if c.PM25 != nil {
				assert.Greater(t, *c.PM25, 0.0, "n %d", n)
				assert.Greater(t, c.PM25CI[0], 0.0, "n %d: the interval of a shown mean does not reach 0", n)
			}
		}
	}
}

func TestBands(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "good", 10: "good", 10.1: "fair", 20: "fair", 25: "moderate",
		25.1: "poor", 50: "poor", 75: "very poor", 75.1: "extremely poor", 800: "extremely poor"} {
		assert.Equal(t, want, Band(v), "%v", v)
	}
}

// The weekly release: cells below k on their noisy count carry nothing; the hour-of-day
// profile is published with the plan's hours.
func TestWeeklyReleaseCarriesEveryStatistic(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(17, 17))
	p := params(noNoise{})
	p.Epoch, p.Cells = "2026-W40", []string{"c", "small"}
	cs := hourResidents(rng, 60)
	for i := range cs {
		cs[i].pm10, cs[i].hasPM10 = 20+rng.Float64()*10, true
		cs[i].temp, cs[i].hasTemp = 14+rng.Float64()*2, true
		cs[i].humid, cs[i].hasHumid = 60+rng.Float64()*20, i%2 == 0
	}
	for i := range 9 {
		cs = append(cs, contribution{cell: "small", pm25: 10 + float64(i), hasPM25: true})
	}
	w, err := aggregateWeek(p, cs)
	require.NoError(t, err)
	assert.Equal(t, "2026-09-28", w.From)
	assert.Equal(t, "2026-10-04", w.To)
	c := w.Cells[0]
	require.False(t, c.Suppressed)
	assert.Equal(t, 60, c.Contributors)
	for name, v := range map[string]*float64{"pm2.5": c.PM25, "pm10": c.PM10, "temperature": c.Temperature, "humidity": c.Humidity} {
		assert.NotNil(t, v, name)
	}
	assert.Equal(t, Cell{Neighbourhood: "small", Suppressed: true}, w.Cells[1])
	require.Len(t, w.Hours, HoursPerDay)
	for _, h := range w.Hours {
		assert.Equal(t, 60, h.Contributors, "hour %d", h.Hour)
		assert.NotNil(t, h.PM25)
	}
	p.Plan = NewPlan(1, false)
	w, err = aggregateWeek(p, cs)
	require.NoError(t, err)
	assert.Empty(t, w.Hours, "no hour_epsilon, no profile")
}

// The previous week's published figures centre the clamps: a cell twice as polluted as the
// city is clamped around twice the city mean, with the narrow window.
func TestPreviousWeekCentresTheClamps(t *testing.T) {
	t.Parallel()
	p := params(noNoise{})
	p.Cells = []string{"clean", "hot"}
	var cs []contribution
	for i := range 100 {
		cs = append(cs, contribution{cell: "clean", pm25: 10 + float64(i%5), hasPM25: true},
			contribution{cell: "hot", pm25: 40 + float64(i%5), hasPM25: true})
	}
	cold, err := aggregateDay(p, cs)
	require.NoError(t, err)
	assert.Equal(t, [2]float64{2, 52}, *cold.Cells[1].ClampPM25, "no reference: the city mean 27 ± the wide window")
	p.Previous = &AirWeek{City: Cell{Reference: map[string]float64{"pm2_5": 20}}, Cells: []Cell{
		{Neighbourhood: "clean", Ratio: map[string]float64{"pm2_5": 0.6}}, {Neighbourhood: "hot", Ratio: map[string]float64{"pm2_5": 2}}}}
	warm, err := aggregateDay(p, cs)
	require.NoError(t, err)
	assert.Equal(t, [2]float64{39, 69}, *warm.Cells[1].ClampPM25, "27 × 40/20 ± 15")
	assert.Equal(t, [2]float64{1.2, 31.2}, *warm.Cells[0].ClampPM25, "27 × 12/20 ± 15")
	for _, d := range []AirDay{cold, warm} {
		assert.InDelta(t, 42, *d.Cells[1].PM25, 0.05, fmt.Sprint(d.Cells[1].ClampPM25))
	}
}
