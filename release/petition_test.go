package release

import (
	"math"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

// The threshold attack on a petition breakdown: nine accounts answer "65+", a victim does or
// does not. Whether the group is published depends on the noisy count only, so it moves by at
// most e^ε (ε = 1 for a petition with one question), never from 0 to 1.
func TestPetitionBreakdownThresholdsTheNoisyCountOnly(t *testing.T) {
	t.Parallel()
	p := &state.Petition{Petition: api.Petition{ID: "p", Ask: []string{api.AskAgeBand}}, Signatures: 100}
	published := func(victim bool, seed uint64) float64 {
		nz := newSeededLaplace(seed)
		answers := make([]api.Answers, 9, 10)
		for i := range answers {
			answers[i] = api.Answers{V: 1, AgeBand: "65+"}
		}
		if victim {
			answers = append(answers, api.Answers{V: 1, AgeBand: "65+"})
		}
		shown := 0
		for range 10000 {
			d, err := breakdown(p, answers, nil, MinK, nz)
			require.NoError(t, err)
			g := d.Questions[0].Groups[3]
			require.Equal(t, "65+", g.Answer)
			if !g.Suppressed {
				shown++
				assert.GreaterOrEqual(t, g.Signers, MinK)
				assert.LessOrEqual(t, g.Signers, 100, "never above the petition's public total")
			}
		}
		return float64(shown) / 10000
	}
	in, out := published(true, 41), published(false, 42)
	t.Logf("group published: victim in %.3f, out %.3f", in, out)
	assert.Greater(t, out, 0.2, "nine answers: the noisy count reaches k often")
	slack := 4 * math.Sqrt(0.25/10000)
	assert.LessOrEqual(t, in-slack, math.E*(out+slack))
	assert.LessOrEqual(t, (1-in)-slack, math.E*((1-out)+slack))
}
