package crypto

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// cheapScrypt lowers the scrypt work factor for the test: the format is the same.
func cheapScrypt(t *testing.T) {
	old := scryptWorkFactor
	scryptWorkFactor = 10
	t.Cleanup(func() { scryptWorkFactor = old })
}

func TestPassphraseWalletRoundTrip(t *testing.T) {
	cheapScrypt(t)
	w := newWallet(t)
	path := filepath.Join(t.TempDir(), "sub", "wallet")
	require.NoError(t, w.SaveProtected(path, "correct horse battery staple"))

	info, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(b), "-----BEGIN AGE ENCRYPTED FILE-----"), "armored age file")
	assert.NotContains(t, string(b), "AGE-SECRET-KEY-", "the identity is not readable without the passphrase")
	assert.NotContains(t, string(b), w.CitizenID())
	assert.True(t, IsProtected(b))
	assert.False(t, IsProtected(w.Marshal()))

	got, err := LoadWalletWithPassphrase(path, "correct horse battery staple")
	require.NoError(t, err)
	assert.Equal(t, w.CitizenID(), got.CitizenID(), "the same citizen as the plain wallet")
	assert.Equal(t, w.Identity().String(), got.Identity().String())
	assert.Equal(t, w.SigningPublicKey(), got.SigningPublicKey())

	// Plain LoadWallet refuses it with a clear error rather than a parse failure.
	_, err = LoadWallet(path)
	assert.ErrorIs(t, err, ErrPassphraseRequired)
	_, err = LoadWalletWithPassphrase(path, "")
	assert.ErrorIs(t, err, ErrPassphraseRequired)

	// Refuses to overwrite, like Save.
	assert.ErrorIs(t, w.SaveProtected(path, "x"), ErrWalletExists)
	assert.ErrorIs(t, w.Save(path), ErrWalletExists)
	// An empty passphrase protects nothing.
	assert.Error(t, w.SaveProtected(filepath.Join(t.TempDir(), "w"), ""))
}

func TestPassphraseWrongFailsWithoutLeaking(t *testing.T) {
	cheapScrypt(t)
	w := newWallet(t)
	path := filepath.Join(t.TempDir(), "wallet")
	require.NoError(t, w.SaveProtected(path, "the right one"))
	_, err := LoadWalletWithPassphrase(path, "the wrong one")
	require.ErrorIs(t, err, ErrWrongPassphrase)
	for _, secret := range []string{"the wrong one", "the right one", w.Identity().String(), "AGE-SECRET-KEY"} {
		assert.NotContains(t, err.Error(), secret)
	}
	// A damaged file fails too, without quoting anything secret.
	b, _ := os.ReadFile(path)
	damaged := bytes.Replace(b, []byte("\n"), []byte("\nX"), 3)
	_, err = ParseProtectedWallet(damaged, "the right one")
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "the right one")
}

func TestPassphrasePlainWalletStillLoads(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	path := filepath.Join(t.TempDir(), "wallet")
	require.NoError(t, w.Save(path))
	for _, pass := range []string{"", "set but unused"} {
		got, err := LoadWalletWithPassphrase(path, pass)
		require.NoError(t, err)
		assert.Equal(t, w.CitizenID(), got.CitizenID())
	}
	got, err := LoadWallet(path)
	require.NoError(t, err)
	assert.Equal(t, w.CitizenID(), got.CitizenID())
}

// TestPassphraseWalletOpensWithAgeLibrary decrypts the protected file with nothing but age's
// own API (armor reader, scrypt identity): the plain wallet file comes back, and it is the
// same identity file the age command reads.
func TestPassphraseWalletOpensWithAgeLibrary(t *testing.T) {
	cheapScrypt(t)
	w := newWallet(t)
	b, err := w.MarshalProtected("pass phrase")
	require.NoError(t, err)
	id, err := age.NewScryptIdentity("pass phrase")
	require.NoError(t, err)
	r, err := age.Decrypt(armor.NewReader(bytes.NewReader(b)), id)
	require.NoError(t, err)
	plain, err := io.ReadAll(r)
	require.NoError(t, err)
	assert.Contains(t, string(plain), w.Identity().String())
	ids, err := age.ParseIdentities(bytes.NewReader(plain))
	require.NoError(t, err, "a standard age identity file")
	require.Len(t, ids, 1)

	// The binary (unarmored) age format is recognised too.
	rcp, err := age.NewScryptRecipient("pass phrase")
	require.NoError(t, err)
	rcp.SetWorkFactor(10)
	var bin bytes.Buffer
	ew, err := age.Encrypt(&bin, rcp)
	require.NoError(t, err)
	_, err = ew.Write(w.Marshal())
	require.NoError(t, err)
	require.NoError(t, ew.Close())
	assert.True(t, IsProtected(bin.Bytes()))
	got, err := ParseProtectedWallet(bin.Bytes(), "pass phrase")
	require.NoError(t, err)
	assert.Equal(t, w.CitizenID(), got.CitizenID())
}
