package petition

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
)

// signResult signs r as the CLI does and returns the indented file.
func signResult(t *testing.T, w *crypto.Wallet, r Result) []byte {
	t.Helper()
	body, err := json.Marshal(r)
	require.NoError(t, err)
	s, err := w.SignStatement(crypto.Statement{Type: crypto.TypePetitionResult, Petition: r.Petition,
		Document: crypto.DocumentHash(body), IssuedAt: "2026-10-12T12:00:00Z", Nonce: crypto.NewNonce()})
	require.NoError(t, err)
	b, err := json.MarshalIndent(SignedResult{Result: body, Statement: s.Statement, Signature: s.Signature}, "", "  ")
	require.NoError(t, err)
	return b
}

func TestResult(t *testing.T) {
	t.Parallel()
	f := newLedgerFixture(t)
	c, err := Recount("trees", entries(f.history()...))
	require.NoError(t, err)
	issued := time.Date(2026, 10, 12, 12, 0, 0, 0, time.UTC)
	r := NewResult(c, "ledger-key", "checkpoint", issued)
	assert.Equal(t, Result{Petition: "trees", Title: "Trees", Organiser: f.organiser.CitizenID(), SigningKey: c.SigningKey,
		Opens: opens, Closes: c.Petition.Closes, Threshold: 10, Online: 2, Withdrawn: 2, Paper: 8, Total: 10,
		ThresholdReached: true, LedgerKey: "ledger-key", Checkpoint: "checkpoint", IssuedAt: issued}, r)
	b, err := json.Marshal(r)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), `{"petition":"trees","title":"Trees","organiser":"`), "the field order of result files stays")

	file := signResult(t, f.organiser, r)
	opened, err := OpenResult(file)
	require.NoError(t, err, "the indented file verifies: the signature covers the compact bytes")
	assert.Equal(t, r, opened)
	assert.NoError(t, opened.Check(c))

	for _, tc := range []struct {
		name string
		file []byte
		want string
	}{
		{"not JSON", []byte("total: 10"), "petition: not a result document"},
		{"a result that is not an object", []byte(`{"result":[1],"statement":{},"signature":""}`), "petition: not a result document"},
		{"a changed total", []byte(strings.Replace(string(file), `"total": 10,`, `"total": 100,`, 1)), "the statement does not name this result"},
		{"signed by another wallet", signResult(t, f.other, r), "the statement does not name this result"},
		{"no key", signResult(t, f.organiser, Result{Petition: "trees", Organiser: f.organiser.CitizenID()}), "the organiser's key"},
		{"a changed signature", []byte(strings.Replace(string(file), `"signature": "`, `"signature": "AA`, 1)), "the organiser's signature"},
	} {
		_, err := OpenResult(tc.file)
		assert.ErrorContains(t, err, tc.want, tc.name)
	}

	claims := r
	claims.Online, claims.Total = 3, 11
	assert.ErrorContains(t, claims.Check(c), "the ledger up to the checkpoint holds 2 online + 8 paper signatures by organiser "+c.Organiser+"; the result says 3 + 8 = 11")
	other := r
	other.Organiser = f.other.CitizenID()
	assert.Error(t, other.Check(c), "another organiser")
	withdrawn := r
	withdrawn.Withdrawn = 0
	assert.Error(t, withdrawn.Check(c), "another count of withdrawals")
}
