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

// seededGaussian is the library's Gaussian mechanism with its draws taken from a seeded
// source: the σ of each draw is the library's own (noise.SigmaForGaussian of the parameters
// the engine hands it), and so are its confidence intervals, so a test of what noise does to
// a release measures the production mechanism, the same on every run.
type seededGaussian struct {
	noise.Noise
	rng    *rand.Rand
	sigmas map[[4]float64]float64 // the library's σ by parameters, computed once
}

func newSeededGaussian(seed uint64) seededGaussian {
	return seededGaussian{Noise: noise.Gaussian(), rng: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		sigmas: map[[4]float64]float64{}}
}

func (s seededGaussian) sigma(l0 int64, lInf, eps, delta float64) float64 {
	k := [4]float64{float64(l0), lInf, eps, delta}
	v, ok := s.sigmas[k]
	if !ok {
		v = noise.SigmaForGaussian(l0, lInf, eps, delta)
		s.sigmas[k] = v
	}
	return v
}

func (s seededGaussian) AddNoiseFloat64(x float64, l0 int64, lInf, eps, delta float64) (float64, error) {
	return x + s.rng.NormFloat64()*s.sigma(l0, lInf, eps, delta), nil
}

func (s seededGaussian) AddNoiseInt64(x, l0, lInf int64, eps, delta float64) (int64, error) {
	return x + int64(math.Round(s.rng.NormFloat64()*s.sigma(l0, float64(lInf), eps, delta))), nil
}
