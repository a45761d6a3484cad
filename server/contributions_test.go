package server

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/purpose"
	"github.com/commons-city/commons/reading"
)

// airResident defines the built-in air purpose on n and registers an old-town resident who
// consents to it; it returns the resident's wallet and the purpose's recipient.
func airResident(t *testing.T, n *testNode) (*crypto.Wallet, age.Recipient) {
	t.Helper()
	key, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	require.NoError(t, purpose.Ensure(context.Background(), n.Ledger, n.State, purpose.AirDaily(key.Recipient().String())))
	w := n.resident(t, "old-town")
	status, code := n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: crypto.TypeConsentGrant,
		Purpose: purpose.Air, PurposeVersion: 1}))
	require.Equal(t, 201, status, code)
	return w, key.Recipient()
}

// signedContribution signs envelopes as w's resident at the node's clock.
func (n *testNode) signedContribution(t *testing.T, w *crypto.Wallet, envs ...crypto.Envelope) crypto.SignedContribution {
	t.Helper()
	signed, err := w.SignContribution(crypto.Contribution{IssuedAt: n.now().UTC().Format(time.RFC3339),
		Nonce: crypto.NewNonce(), Envelopes: envs})
	require.NoError(t, err)
	return signed
}

// sealedEnvelope seals a small day of readings for day and purpose to r.
func sealedEnvelope(t *testing.T, day, purpose string, r age.Recipient) crypto.Envelope {
	t.Helper()
	c, err := crypto.Seal([]byte(`{"version":1,"readings":[]}`), r)
	require.NoError(t, err)
	return crypto.Envelope{Day: day, Purpose: purpose, Ciphertext: c}
}

// TestShareCopiesWithinTheLookBack checks the look-back of share copies at the node's clock:
// the purpose list names its first day, a share copy for it is stored, one for the day before
// is refused whole with share_day_too_old and stores nothing, and a vault copy of any past day
// is stored.
func TestShareCopiesWithinTheLookBack(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	n := newTestNode(t, func(c *Config) { c.ShareDays = 3; c.Now = func() time.Time { return now } })
	w, air := airResident(t, n)

	var purposes []purposeAnswer
	require.NoError(t, json.Unmarshal([]byte(readBody(t, n.do(t, "GET", "/api/v1/purposes", ""))), &purposes))
	require.Len(t, purposes, 1)
	assert.Equal(t, "2026-11-17", purposes[0].AcceptsFrom)

	size := n.Ledger.Size()
	status, code := n.post(t, "/api/v1/contributions", n.signedContribution(t, w,
		sealedEnvelope(t, "2026-11-16", crypto.VaultPurpose, w.Recipient()), sealedEnvelope(t, "2026-11-16", purpose.Air, air)))
	assert.Equal(t, 422, status)
	assert.Equal(t, "share_day_too_old", code)
	days, err := n.Store.Days(purpose.Air)
	require.NoError(t, err)
	assert.Empty(t, days, "nothing of a refused contribution is stored")
	copies := 0
	require.NoError(t, n.Store.VaultCopies(w.CitizenID(), func(string, []byte) error { copies++; return nil }))
	assert.Zero(t, copies)

	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, w, sealedEnvelope(t, "2026-11-17", purpose.Air, air)))
	assert.Equal(t, 201, status, code)
	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, w, sealedEnvelope(t, "1900-01-01", crypto.VaultPurpose, w.Recipient())))
	assert.Equal(t, 201, status, code)
	days, err = n.Store.Days(purpose.Air)
	require.NoError(t, err)
	assert.Equal(t, []string{"2026-11-17"}, days)
	assert.Equal(t, size, n.Ledger.Size(), "contributions log no entry")
}

// sealedOfSize seals n bytes for day and purpose to r.
func sealedOfSize(t *testing.T, n int, day, purpose string, r age.Recipient) crypto.Envelope {
	t.Helper()
	c, err := crypto.Seal(make([]byte, n), r)
	require.NoError(t, err)
	return crypto.Envelope{Day: day, Purpose: purpose, Ciphertext: c}
}

// TestEnvelopeQuota checks the per-resident quota of stored envelopes: vault and share copies
// count, an upload that would pass it is refused whole with quota_exceeded and stores
// nothing, another resident has their own, and erasing the vault frees it.
func TestEnvelopeQuota(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	n := newTestNode(t, func(c *Config) { c.EnvelopeQuota = 64 << 10; c.Now = func() time.Time { return now } })
	w, air := airResident(t, n)
	bob := n.resident(t, "old-town")

	status, code := n.post(t, "/api/v1/contributions", n.signedContribution(t, w,
		sealedOfSize(t, 30<<10, "2026-11-19", crypto.VaultPurpose, w.Recipient()), sealedOfSize(t, 20<<10, "2026-11-19", purpose.Air, air)))
	require.Equal(t, 201, status, code)
	stored, err := n.Store.Usage(w.CitizenID(), []string{purpose.Air})
	require.NoError(t, err)
	assert.InDelta(t, 50<<10, stored, 1<<10, "both copies count")

	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, w,
		sealedOfSize(t, 5<<10, "2026-11-20", crypto.VaultPurpose, w.Recipient()), sealedOfSize(t, 10<<10, "2026-11-20", purpose.Air, air)))
	assert.Equal(t, 403, status)
	assert.Equal(t, "quota_exceeded", code)
	after, err := n.Store.Usage(w.CitizenID(), []string{purpose.Air})
	require.NoError(t, err)
	assert.Equal(t, stored, after, "nothing of a refused upload is stored")
	days, err := n.Store.Days(purpose.Air)
	require.NoError(t, err)
	assert.Equal(t, []string{"2026-11-19"}, days)

	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, bob, sealedOfSize(t, 40<<10, "2026-11-20", crypto.VaultPurpose, bob.Recipient())))
	assert.Equal(t, 201, status, "bob has his own quota: %s", code)

	status, code = n.post(t, "/api/v1/statements", n.signed(t, w, crypto.Statement{Type: crypto.TypeConsentRevoke,
		Purpose: purpose.Air, PurposeVersion: 1, Erase: true}))
	require.Equal(t, 201, status, code)
	status, code = n.post(t, "/api/v1/contributions", n.signedContribution(t, w, sealedOfSize(t, 40<<10, "2026-11-20", crypto.VaultPurpose, w.Recipient())))
	assert.Equal(t, 201, status, "erasing the vault and the unreleased share copies frees the quota: %s", code)
}

// TestEnvelopesMustBeSealedToOneRecipient checks the structure the server asks of an
// envelope: bytes that only start like age, several recipients and a payload larger than a
// day of readings are refused not_sealed, and nothing is stored.
func TestEnvelopesMustBeSealedToOneRecipient(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
	n := newTestNode(t, func(c *Config) { c.BodyLimit = 16 << 20; c.Now = func() time.Time { return now } })
	w, air := airResident(t, n)
	two, err := crypto.Seal([]byte(`{"v":1,"readings":[]}`), w.Recipient(), air)
	require.NoError(t, err)
	huge, err := crypto.Seal(make([]byte, reading.MaxBatchBytes+1), w.Recipient())
	require.NoError(t, err)
	for name, ct := range map[string][]byte{
		"only the first line":         []byte("age-encryption.org/v1\nanything at all"),
		"two recipients":              two,
		"more than a day of readings": huge,
	} {
		status, code := n.post(t, "/api/v1/contributions", n.signedContribution(t, w, crypto.Envelope{Day: "2026-11-20", Purpose: crypto.VaultPurpose, Ciphertext: ct}))
		assert.Equal(t, 422, status, name)
		assert.Equal(t, "not_sealed", code, name)
	}
	used, err := n.Store.Usage(w.CitizenID(), []string{purpose.Air})
	require.NoError(t, err)
	assert.Zero(t, used)
}
