package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newWallet(t *testing.T) *Wallet {
	t.Helper()
	w, err := NewWallet()
	require.NoError(t, err)
	return w
}

func TestWalletRoundTripKeepsDerivedKeys(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	back, err := ParseWallet(w.Marshal())
	require.NoError(t, err)
	assert.Equal(t, w.CitizenID(), back.CitizenID())
	assert.Equal(t, w.SigningPublicKey(), back.SigningPublicKey())
	assert.Equal(t, w.Recipient().String(), back.Recipient().String())

	other := newWallet(t)
	assert.NotEqual(t, w.CitizenID(), other.CitizenID())
}

func TestWalletFileIsAPlainAgeIdentity(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	ids, err := age.ParseIdentities(bytes.NewReader(w.Marshal()))
	require.NoError(t, err)
	sealed, err := Seal([]byte("vault copy"), w.Recipient())
	require.NoError(t, err)
	plain, err := Open(sealed, ids...)
	require.NoError(t, err)
	assert.Equal(t, "vault copy", string(plain))
}

func TestSaveWalletIsPrivateAndNeverOverwrites(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "wallet")
	w := newWallet(t)
	require.NoError(t, w.Save(path))
	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	before, _ := os.ReadFile(path)
	assert.ErrorIs(t, newWallet(t).Save(path), ErrWalletExists)
	after, _ := os.ReadFile(path)
	assert.Equal(t, before, after)

	loaded, err := LoadWallet(path)
	require.NoError(t, err)
	assert.Equal(t, w.CitizenID(), loaded.CitizenID())
}

func TestParseWalletRejectsGarbageWithoutEchoingIt(t *testing.T) {
	t.Parallel()
	secret := "AGE-SECRET-KEY-1NOTAREALKEYBUTSECRETLOOKING"
	_, err := ParseWallet([]byte(secret + "\n"))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "NOTAREALKEY")

	_, err = ParseWallet([]byte("# only a comment\n"))
	assert.Error(t, err)

	w := newWallet(t)
	_, err = ParseWallet(append(w.Marshal(), newWallet(t).Marshal()...))
	assert.Error(t, err)
}

func TestSealToSeveralRecipients(t *testing.T) {
	t.Parallel()
	resident, purpose, stranger := newWallet(t), newWallet(t), newWallet(t)
	sealed, err := Seal([]byte("reading"), resident.Recipient(), purpose.Recipient())
	require.NoError(t, err)
	assert.ErrorIs(t, CheckSealed(sealed, 100), ErrNotSealed, "Commons seals to one recipient")
	for _, w := range []*Wallet{resident, purpose} {
		got, err := Open(sealed, w.Identity())
		require.NoError(t, err)
		assert.Equal(t, "reading", string(got))
	}
	_, err = Open(sealed, stranger.Identity())
	assert.Error(t, err)
	assert.ErrorIs(t, CheckSealed([]byte(`{"pm2_5": 12}`), 100), ErrNotSealed)
}

func grant(w *Wallet) SignedStatement {
	s, err := w.SignStatement(Statement{Type: TypeConsentGrant, Purpose: "air-quality/daily",
		PurposeVersion: 1, IssuedAt: "2026-11-27T10:00:00Z", Nonce: NewNonce()})
	if err != nil {
		panic(err)
	}
	return s
}

func TestStatementVerifies(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	s := grant(w)
	assert.Equal(t, w.CitizenID(), s.Statement.Citizen)
	require.NoError(t, s.Verify(w.SigningPublicKey()))
}

func TestStatementForgeriesFail(t *testing.T) {
	t.Parallel()
	w, mallory := newWallet(t), newWallet(t)
	s := grant(w)

	assert.ErrorIs(t, s.Verify(mallory.SigningPublicKey()), ErrBadSignature, "another key")

	for name, mutate := range map[string]func(*Statement){
		"purpose":   func(s *Statement) { s.Purpose = "petition/x" },
		"version":   func(s *Statement) { s.PurposeVersion = 2 },
		"type":      func(s *Statement) { s.Type = TypeConsentRevoke },
		"nonce":     func(s *Statement) { s.Nonce = "other" },
		"issued":    func(s *Statement) { s.IssuedAt = "2026-11-27T10:00:01Z" },
		"erase":     func(s *Statement) { s.Erase = true },
		"citizen":   func(s *Statement) { s.Citizen = mallory.CitizenID() },
		"petition":  func(s *Statement) { s.Petition = "p" },
		"document":  func(s *Statement) { s.Document = DocumentHash([]byte("other")) },
		"nullifier": func(s *Statement) { s.Nullifier = "00" },
	} {
		c := s
		mutate(&c.Statement)
		assert.Error(t, c.Verify(w.SigningPublicKey()), name)
	}

	// Mallory signs a statement in w's name: the id does not match her key.
	forged, err := mallory.SignStatement(s.Statement)
	require.NoError(t, err)
	forged.Statement.Citizen = w.CitizenID()
	assert.ErrorIs(t, forged.Verify(mallory.SigningPublicKey()), ErrBadSignature)
	assert.ErrorIs(t, forged.Verify(w.SigningPublicKey()), ErrBadSignature)

	bad := s
	bad.Signature = "not base64!"
	assert.ErrorIs(t, bad.Verify(w.SigningPublicKey()), ErrBadSignature)
}

func TestCanonicalEqualsSortedKeyJSON(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	s := Statement{Type: TypeRegister, Citizen: w.CitizenID(), Invite: "abc-def",
		IssuedAt: "2026-11-27T10:00:00Z", Neighbourhood: "old-town", Nonce: NewNonce(),
		Recipient: w.Recipient().String(), SigningKey: EncodeKey(w.SigningPublicKey()), Erase: true,
		Petition: "trees", Purpose: "air-quality/daily", PurposeVersion: 3,
		Document: DocumentHash([]byte("a petition")), Nullifier: w.Nullifier("trees")}
	got, err := s.Canonical()
	require.NoError(t, err)
	// Go marshals maps with sorted keys: re-encoding through a map gives the RFC 8785 order.
	var m map[string]any
	require.NoError(t, json.Unmarshal(got, &m))
	want, err := json.Marshal(m)
	require.NoError(t, err)
	assert.Equal(t, string(want), string(got))
}

func TestCanonicalRefusesAmbiguousCharacters(t *testing.T) {
	t.Parallel()
	for _, v := range []string{"a b", "a\"b", "a\\b", "é", "<script>", "a&b", string(make([]byte, 300))} {
		_, err := Statement{Type: TypeConsentGrant, Purpose: v}.Canonical()
		assert.ErrorIs(t, err, ErrBadField, "%q", v)
	}
}

func TestContributionSignatureCoversCiphertext(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	sealed, err := Seal([]byte("x"), w.Recipient())
	require.NoError(t, err)
	c, err := w.SignContribution(Contribution{IssuedAt: Now(), Nonce: NewNonce(),
		Envelopes: []Envelope{{Day: "2026-11-26", Purpose: VaultPurpose, Ciphertext: sealed}}})
	require.NoError(t, err)
	require.NoError(t, c.Verify(w.SigningPublicKey()))

	tampered := c
	tampered.Contribution.Envelopes = []Envelope{{Day: "2026-11-26", Purpose: VaultPurpose,
		Ciphertext: append(bytes.Clone(sealed), 0)}}
	assert.ErrorIs(t, tampered.Verify(w.SigningPublicKey()), ErrBadSignature)

	// A statement signature is never a valid contribution signature (domain separation).
	s := grant(w)
	asContribution := c
	asContribution.Signature = s.Signature
	assert.ErrorIs(t, asContribution.Verify(w.SigningPublicKey()), ErrBadSignature)

	id1, err := c.Contribution.ID()
	require.NoError(t, err)
	id2, err := tampered.Contribution.ID()
	require.NoError(t, err)
	assert.NotEqual(t, id1, id2)
	verified, err := c.VerifyID(w.SigningPublicKey())
	require.NoError(t, err)
	assert.Equal(t, id1, verified, "VerifyID gives the ID of what it verified")
	_, err = tampered.VerifyID(w.SigningPublicKey())
	assert.ErrorIs(t, err, ErrBadSignature)
}

func FuzzVerifyStatement(f *testing.F) {
	w, err := NewWallet()
	if err != nil {
		f.Fatal(err)
	}
	b, _ := json.Marshal(grant(w))
	f.Add(b)
	f.Add([]byte(`{"statement":{},"signature":""}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var s SignedStatement
		if json.Unmarshal(data, &s) != nil {
			return
		}
		if s.Verify(w.SigningPublicKey()) == nil {
			// Only statements the wallet really signed may verify.
			again, err := w.SignStatement(s.Statement)
			require.NoError(t, err)
			assert.Equal(t, again.Signature, s.Signature)
		}
	})
}

func TestNullifierIsStablePerPetitionAndFollowsTheSpec(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	back, err := ParseWallet(w.Marshal())
	require.NoError(t, err)
	assert.Equal(t, w.Nullifier("p-1"), back.Nullifier("p-1"), "same wallet, same nullifier")
	assert.NotEqual(t, w.Nullifier("p-1"), w.Nullifier("p-2"), "one petition's nullifier says nothing of another's")
	assert.NotEqual(t, w.Nullifier("p-1"), newWallet(t).Nullifier("p-1"))
	assert.NotContains(t, w.Nullifier("p-1"), w.CitizenID())

	// The derivation written out from its description in docs/wallet.md, for other implementations.
	seed, err := hkdf.Key(sha256.New, []byte(w.Identity().String()), []byte("commons/v1"),
		"commons/v1 petition key ed25519\np-1", 32)
	require.NoError(t, err)
	sum := sha256.Sum256(append([]byte("commons/v1 petition nullifier\n"), ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey)...))
	assert.Equal(t, hex.EncodeToString(sum[:]), w.Nullifier("p-1"))

	assert.True(t, ValidNullifier(w.Nullifier("p-1")))
	for _, bad := range []string{"", strings.ToUpper(w.Nullifier("p-1")), w.Nullifier("p-1")[:63], w.Nullifier("p-1") + "0",
		strings.Repeat("g", 64), w.CitizenID()} {
		assert.False(t, ValidNullifier(bad), bad)
	}
}
