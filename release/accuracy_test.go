package release

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func cellOf(n int, pm25 float64) []contribution {
	in := make([]contribution, n)
	for i := range in {
		in[i] = contribution{citizen: fmt.Sprint("c-", i), cell: "x", pm25: pm25, hasPM25: true}
	}
	return in
}

// TestMeanOrBandDependsOnTheCountNotTheLevel checks the rule that decides between a mean and
// a band: the median error, judged from the public noisy count against a fixed reference
// level. It must not depend on the values themselves — neither a clean neighbourhood (a low
// mean makes any relative error large) nor noise that pushes a mean up may change it.
func TestMeanOrBandDependsOnTheCountNotTheLevel(t *testing.T) {
	t.Parallel()
	p := Params{K: 10, Clamp: Clamps{PM25: [2]float64{0, 100}}, Resolution: 0.1, Epsilon: 0.8, Noise: newSeededLaplace(24)}
	for trial := 0; trial < 20; trial++ {
		clean, err := aggregateCell(p, "x", cellOf(1500, 2))
		require.NoError(t, err)
		require.False(t, clean.Suppressed)
		assert.NotNil(t, clean.PM25, "1,500 residents at 2 µg/m³ give a precise mean, though it is low")

		for _, level := range []float64{2, 40, 95} {
			small, err := aggregateCell(p, "x", cellOf(30, level))
			require.NoError(t, err)
			if small.Suppressed {
				continue // the noisy count fell below k
			}
			assert.Nil(t, small.PM25, "30 residents at %v µg/m³ are too few for a mean, whatever the noise", level)
			assert.NotEmpty(t, small.PM25Band)
		}
	}
}
