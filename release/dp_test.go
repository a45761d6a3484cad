package release

import (
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

func params(n noise.Noise) Params {
	return Params{K: 10, Clamp: Clamps{PM25: [2]float64{0, 100}, PM10: [2]float64{0, 200},
		Temperature: temperatureRange, Humidity: humidityRange}, Cells: []string{"c"}, Purpose: "p",
		Version: 1, Epoch: "2026-10-01", Resolution: 0.1, Epsilon: 1, Noise: n}
}

func residents(rng *rand.Rand, n int, lo, hi float64) []contribution {
	cs := make([]contribution, n)
	for i := range cs {
		cs[i] = contribution{cell: "c", pm25: lo + rng.Float64()*(hi-lo), hasPM25: true}
	}
	return cs
}

// differencing runs the attack of PRIVACY.md: a victim joins a cell between two releases;
// the attacker knows every other resident's value and so the exact counts, and estimates the
// victim's value from the two published means. It returns the share of trials in which the
// estimate lands within ±5 µg/m³.
func differencing(t *testing.T, n noise.Noise, resolution float64, trials int) float64 {
	p := params(n)
	p.Resolution = resolution
	rng := rand.New(rand.NewPCG(7, 7))
	hits := 0
	for trial := 0; trial < trials; trial++ {
		others := residents(rng, 150, 5, 40)
		victim := contribution{cell: "c", pm25: 5 + rng.Float64()*35, hasPM25: true}
		before, err := aggregate(p, others)
		require.NoError(t, err)
		after, err := aggregate(p, append(others, victim))
		require.NoError(t, err)
		b, a := before.Cells[0].PM25, after.Cells[0].PM25
		if a == nil || b == nil {
			continue // only a band was published: the attacker learns no mean to difference
		}
		estimate := float64(len(others)+1)*(*a) - float64(len(others))*(*b)
		if math.Abs(estimate-victim.pm25) <= 5 {
			hits++
		}
	}
	return float64(hits) / float64(trials)
}

func TestDifferencingAttackFailsWithNoise(t *testing.T) {
	t.Parallel()
	rate := differencing(t, newSeededLaplace(2), 0.1, 300)
	t.Logf("attack success with Laplace noise: %.1f %%", 100*rate)
	assert.LessOrEqual(t, rate, 0.10, "PRIVACY.md: success within ±5 µg/m³ must stay ≤ 10 %% of trials")
}

// The control arms prove the harness works: with exact (unrounded) means — which is also "k
// alone", since the cell is far above k — the same attack succeeds every time.
func TestDifferencingAttackSucceedsWithoutNoise_ControlArm(t *testing.T) {
	t.Parallel()
	rate := differencing(t, noNoise{}, 1e-9, 100)
	assert.GreaterOrEqual(t, rate, 0.9, "without noise the attacker must recover the victim (rounding aside)")
}

func TestNoisyCountAlsoGuardsK(t *testing.T) {
	t.Parallel()
	nz3, nz4 := newSeededLaplace(3), newSeededLaplace(4)
	rng := rand.New(rand.NewPCG(1, 2))
	suppressedAtK := 0
	for i := 0; i < 300; i++ {
		d, err := aggregate(params(nz3), residents(rng, 10, 5, 40))
		require.NoError(t, err)
		if d.Cells[0].Suppressed {
			suppressedAtK++
			assert.Zero(t, d.Cells[0].Contributors, "a suppressed cell carries no count")
		}
		d, err = aggregate(params(nz4), residents(rng, 9, 5, 40))
		require.NoError(t, err)
		require.True(t, d.Cells[0].Suppressed, "below k on the raw count: always suppressed")
	}
	// With ε_count = 0.2 the noisy count of 10 residents falls below 10 about half the time.
	assert.Greater(t, suppressedAtK, 60)
	assert.Less(t, suppressedAtK, 240)
}

// A large cell publishes a mean most of the time, and its 95 % interval covers the true mean
// about 95 % of the time; a small cell publishes a band instead.
func TestMeansAreAccurateEnoughOrReplacedByBands(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	nz5, nz6 := newSeededLaplace(5), newSeededLaplace(6)
	published, covered := 0, 0
	for i := 0; i < 200; i++ {
		cs := residents(rng, 400, 10, 30)
		var sum float64
		for _, c := range cs {
			sum += c.pm25
		}
		truth := sum / float64(len(cs))
		d, err := aggregate(params(nz5), cs)
		require.NoError(t, err)
		c := d.Cells[0]
		require.False(t, c.Suppressed)
		if c.PM25 != nil {
			published++
			require.NotNil(t, c.PM25CI)
			assert.Empty(t, c.PM25Band)
			if c.PM25CI[0]-0.05 <= truth && truth <= c.PM25CI[1]+0.05 {
				covered++
			}
		} else {
			assert.NotEmpty(t, c.PM25Band, "an inaccurate mean is replaced by its band")
		}
	}
	assert.Greater(t, published, 160, "400 residents: the mean is accurate enough most of the time")
	assert.GreaterOrEqual(t, float64(covered)/float64(published), 0.9, "the 95 %% interval covers the truth")

	small := 0
	for i := 0; i < 100; i++ {
		d, err := aggregate(params(nz6), residents(rng, 12, 10, 30))
		require.NoError(t, err)
		if c := d.Cells[0]; !c.Suppressed && c.PM25 == nil && c.PM25Band != "" {
			small++
		}
	}
	assert.Greater(t, small, 30, "12 residents: mostly a band, not a mean")
}

func TestBands(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{0: "good", 10: "good", 10.1: "fair", 20: "fair", 25: "moderate",
		25.1: "poor", 50: "poor", 75: "very poor", 75.1: "extremely poor", 800: "extremely poor"} {
		assert.Equal(t, want, Band(v), "%v", v)
	}
}
