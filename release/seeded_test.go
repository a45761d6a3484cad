package release

import (
	"math"
	"math/rand/v2"

	"github.com/google/differential-privacy/go/v3/noise"
)

// seededLaplace is the library's Laplace mechanism with its random draws taken from a seeded
// source, so that a test of what noise does to a release gives the same answer on every run.
// Scales, thresholds and confidence intervals are the library's own.
type seededLaplace struct {
	noise.Noise
	rng *rand.Rand
}

func newSeededLaplace(seed uint64) seededLaplace {
	return seededLaplace{Noise: noise.Laplace(), rng: rand.New(rand.NewPCG(seed, seed))}
}

// draw returns a Laplace sample of scale b: the difference of two exponential samples.
func (s seededLaplace) draw(b float64) float64 { return b * (s.rng.ExpFloat64() - s.rng.ExpFloat64()) }

func (s seededLaplace) AddNoiseFloat64(x float64, l0 int64, lInf, eps, _ float64) (float64, error) {
	return x + s.draw(float64(l0)*lInf/eps), nil
}

func (s seededLaplace) AddNoiseInt64(x, l0, lInf int64, eps, _ float64) (int64, error) {
	return x + int64(math.Round(s.draw(float64(l0*lInf)/eps))), nil
}
