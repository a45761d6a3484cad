package api

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func FuzzParseEntry(f *testing.F) {
	f.Add([]byte(`{"type":"consent.grant","citizen":"c-x","purpose":"air-quality/daily","purpose_version":1}`))
	f.Add([]byte(`{"type":"petition.sign","petition":"p","nullifier":"00"}`))
	f.Add([]byte(`{"body":{"a":1},"type":"purpose.define"}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := ParseEntry(b)
		if err != nil {
			return
		}
		again, err := e.Marshal()
		require.NoError(t, err)
		e2, err := ParseEntry(again)
		require.NoError(t, err)
		assert.Equal(t, e.Type, e2.Type)
	})
}

func TestEntryRoundTrip(t *testing.T) {
	t.Parallel()
	e := Entry{Type: EntryConsentGrant, Citizen: "c-abc", Purpose: "air-quality/daily", PurposeVersion: 1,
		IssuedAt: "2026-11-27T10:00:00Z", Nonce: "n", Signature: "sig"}
	b, err := e.Marshal()
	require.NoError(t, err)
	back, err := ParseEntry(b)
	require.NoError(t, err)
	assert.Equal(t, e, back)
	_, err = ParseEntry([]byte(`{"type":"x","unknown":1}`))
	assert.Error(t, err)
	_, err = ParseEntry([]byte(`{"citizen":"c"}`))
	assert.Error(t, err)
}
