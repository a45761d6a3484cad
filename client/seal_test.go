package client

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/reading"
)

func TestSealMakesOneVaultAndOneShareCopyPerDay(t *testing.T) {
	t.Parallel()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	purposeKey, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	air := Purpose{Purpose: api.Purpose{ID: "air-quality/daily", Recipient: purposeKey.Recipient().String()}}

	day1 := time.Date(2026, 10, 1, 23, 30, 0, 0, time.UTC)
	day2 := day1.Add(time.Hour) // 00:30 the next UTC day
	rs := []reading.Reading{
		{Sensor: "s", RecordedAt: day2, Cell: "old-town", Values: reading.Values{PM2_5: reading.F(2)}},
		{Sensor: "s", RecordedAt: day1, Cell: "old-town", Values: reading.Values{PM2_5: reading.F(1)}},
	}
	envs, err := Seal(w, rs, []Purpose{air})
	require.NoError(t, err)
	require.Len(t, envs, 4)
	want := []struct{ day, purpose string }{
		{"2026-10-01", crypto.VaultPurpose}, {"2026-10-01", air.ID},
		{"2026-10-02", crypto.VaultPurpose}, {"2026-10-02", air.ID},
	}
	for i, e := range envs {
		assert.Equal(t, want[i].day, e.Day)
		assert.Equal(t, want[i].purpose, e.Purpose)
		// The vault copy opens only with the wallet, the share copy only with the purpose key.
		id := age.Identity(w.Identity())
		other := age.Identity(purposeKey)
		if e.Purpose != crypto.VaultPurpose {
			id, other = other, id
		}
		plain, err := crypto.Open(e.Ciphertext, id)
		require.NoError(t, err)
		_, err = crypto.Open(e.Ciphertext, other)
		assert.Error(t, err)
		b, err := reading.UnmarshalBatch(plain)
		require.NoError(t, err)
		require.Len(t, b.Readings, 1)
		assert.Equal(t, e.Day, reading.Day(b.Readings[0].RecordedAt))
	}
}

func TestSealRefusesABadRecipient(t *testing.T) {
	t.Parallel()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	_, err = Seal(w, []reading.Reading{{Sensor: "s", RecordedAt: time.Now(), Cell: "c"}},
		[]Purpose{{Purpose: api.Purpose{ID: "x", Recipient: "not-a-recipient"}}})
	assert.Error(t, err)
}

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

// TestSealKeepsDaysBeforeAcceptsFromInTheVault checks that a day older than the server's
// look-back for share copies is sealed to the vault only, and that skip is still asked.
func TestSealKeepsDaysBeforeAcceptsFromInTheVault(t *testing.T) {
	t.Parallel()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	purposeKey, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	air := Purpose{Purpose: api.Purpose{ID: "air-quality/daily", Recipient: purposeKey.Recipient().String()}, AcceptsFrom: "2026-10-02"}
	rs := []reading.Reading{
		{Sensor: "s", RecordedAt: time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC), Cell: "old-town", Values: reading.Values{PM2_5: reading.F(1)}},
		{Sensor: "s", RecordedAt: time.Date(2026, 10, 2, 12, 0, 0, 0, time.UTC), Cell: "old-town", Values: reading.Values{PM2_5: reading.F(2)}},
	}
	var asked []string
	envs, err := seal(w, rs, []Purpose{air}, func(purpose, day string) bool {
		asked = append(asked, day)
		return false
	})
	require.NoError(t, err)
	var got []string
	for _, e := range envs {
		got = append(got, e.Day+" "+e.Purpose)
	}
	assert.Equal(t, []string{"2026-10-01 vault", "2026-10-02 vault", "2026-10-02 air-quality/daily"}, got)
	assert.Equal(t, []string{"2026-10-01", "2026-10-02"}, asked)
}
