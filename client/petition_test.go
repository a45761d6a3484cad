package client

import (
	"encoding/json"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// TestSealedAnswersAllHaveOneLength seals every kind of answer: the ciphertexts, which the node
// and its backups keep without the tally key, all have the same length, and each opens to its
// answers as the release engine reads them.
func TestSealedAnswersAllHaveOneLength(t *testing.T) {
	t.Parallel()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	answers := []api.Answers{{}, {Neighbourhood: "old-town"}, {Neighbourhood: strings.Repeat("n", 64)}}
	for _, band := range api.AgeBands {
		answers = append(answers, api.Answers{AgeBand: band}, api.Answers{AgeBand: band, Neighbourhood: "old-town"},
			api.Answers{AgeBand: band, Neighbourhood: strings.Repeat("n", 64)})
	}
	size := -1
	for _, a := range answers {
		sealed, err := sealAnswers(a, id.Recipient())
		require.NoError(t, err)
		if size < 0 {
			size = len(sealed)
		}
		assert.Equal(t, size, len(sealed), "%+v", a)
		plain, err := crypto.Open(sealed, id)
		require.NoError(t, err)
		var got api.Answers
		require.NoError(t, json.Unmarshal(plain, &got))
		a.V = 1
		assert.Equal(t, a, got)
	}
}
