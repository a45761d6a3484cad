package release

import (
	"fmt"
	"math"
	"sync"

	"github.com/google/differential-privacy/go/v3/noise"
)

// calibration is what the noise library is handed so that its Gaussian mechanism draws noise
// of a chosen σ: a resident reaches l0 partitions of a query, moving each by at most lInf,
// and (eps, delta) is the pair for which the library's σ is the one wanted. The library's
// (ε, δ) is only a means to pick σ; the engine accounts the mechanism by its ρ.
type calibration struct {
	l0         int64
	lInf       float64
	eps, delta float64
	sigma      float64 // the library's σ for these parameters
}

// calibrationDelta is the δ of the pairs handed to the library: any value gives the same
// σ for a suitable ε.
const calibrationDelta = 1e-9

var calibrations sync.Map // calibrationKey → calibration

type calibrationKey struct {
	l0        int64
	lInf, rho float64
}

// rhoOf is the zCDP ρ of a Gaussian mechanism with noise σ on a query of L2 sensitivity
// lInf·√l0.
func rhoOf(l0 int64, lInf, sigma float64) float64 {
	return lInf * lInf * float64(l0) / (2 * sigma * sigma)
}

// calibrate returns the parameters under which the library's Gaussian mechanism costs each
// resident at most rho: σ ≥ Δ₂/√(2ρ) with Δ₂ = lInf·√l0. It searches the largest ε whose σ
// (the library's own noise.SigmaForGaussian, which is what it then draws with) is still at
// least that, and checks it.
func calibrate(l0 int64, lInf, rho float64) (calibration, error) {
	key := calibrationKey{l0, lInf, rho}
	if c, ok := calibrations.Load(key); ok {
		return c.(calibration), nil
	}
	if !(rho > 0) || !(lInf > 0) || l0 < 1 {
		return calibration{}, fmt.Errorf("release: calibrate: ρ %v, sensitivity %v over %d partitions", rho, lInf, l0)
	}
	want := lInf * math.Sqrt(float64(l0)) / math.Sqrt(2*rho)
	sigma := func(eps float64) float64 { return noise.SigmaForGaussian(l0, lInf, eps, calibrationDelta) }
	lo, hi := math.Exp2(-40), 1.0
	for sigma(hi) >= want {
		lo, hi = hi, 2*hi
	}
	for range 80 {
		mid := (lo + hi) / 2
		if sigma(mid) >= want {
			lo = mid
		} else {
			hi = mid
		}
	}
	c := calibration{l0: l0, lInf: lInf, eps: lo, delta: calibrationDelta, sigma: sigma(lo)}
	if got := rhoOf(l0, lInf, c.sigma); got > rho {
		return calibration{}, fmt.Errorf("release: calibrate: σ %v costs ρ %v, above %v", c.sigma, got, rho)
	}
	calibrations.Store(key, c)
	return c, nil
}

// mechanism draws the engine's noise: the library's Gaussian in production, a noise-free or
// seeded one in tests.
type mechanism struct{ nz noise.Noise }

// add returns x with noise of calibration c.
func (m mechanism) add(x float64, c calibration) (float64, error) {
	v, err := m.nz.AddNoiseFloat64(x, c.l0, c.lInf, c.eps, c.delta)
	if err != nil {
		return 0, fmt.Errorf("release: noise: %w", err)
	}
	return v, nil
}

// halfWidth returns the half-width of the 95 % interval of noise of calibration c: 1.96σ for
// the Gaussian, 0 for a noise-free mechanism.
func (m mechanism) halfWidth(c calibration) (float64, error) {
	ci, err := m.nz.ComputeConfidenceIntervalFloat64(0, c.l0, c.lInf, c.eps, c.delta, 0.05)
	if err != nil {
		return 0, fmt.Errorf("release: noise interval: %w", err)
	}
	return (ci.UpperBound - ci.LowerBound) / 2, nil
}
