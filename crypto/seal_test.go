package crypto

import (
	"bytes"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCheckSealed checks the structure CheckSealed accepts: what Seal makes for one X25519
// recipient, whatever the plaintext's length across STREAM chunks, and nothing else — not
// bytes that only start like age, not several recipients or another recipient type, not a
// payload cut short, not armor, not a payload larger than its bound.
func TestCheckSealed(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	seal := func(n int, rs ...age.Recipient) []byte {
		t.Helper()
		b, err := Seal(bytes.Repeat([]byte("r"), n), rs...)
		require.NoError(t, err)
		return b
	}
	for _, n := range []int{1, 27, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 5} {
		b := seal(n, w.Recipient())
		assert.NoError(t, CheckSealed(b, n), "%d bytes", n)
		assert.ErrorIs(t, CheckSealed(b, n-1), ErrNotSealed, "%d bytes over a bound of %d", n, n-1)
	}

	one := seal(27, w.Recipient())
	hdr, err := age.ExtractHeader(bytes.NewReader(one))
	require.NoError(t, err)
	scrypt, err := age.NewScryptRecipient("passphrase")
	require.NoError(t, err)
	scrypt.SetWorkFactor(10)
	hybrid, err := age.GenerateHybridIdentity()
	require.NoError(t, err)
	var armored bytes.Buffer
	aw := armor.NewWriter(&armored)
	_, err = aw.Write(one)
	require.NoError(t, err)
	require.NoError(t, aw.Close())
	for name, b := range map[string][]byte{
		"the first line and anything":   []byte("age-encryption.org/v1\n{\"pm2_5\":12}"),
		"the first line only":           []byte("age-encryption.org/v1\n"),
		"plaintext":                     []byte(`{"v":1,"readings":[]}`),
		"empty":                         nil,
		"two recipients":                seal(27, w.Recipient(), newWallet(t).Recipient()),
		"a passphrase":                  seal(27, scrypt),
		"a post-quantum recipient":      seal(27, hybrid.Recipient()),
		"the header alone":              hdr,
		"a nonce and no chunk":          one[:len(hdr)+nonceSize],
		"a chunk of only part of a tag": one[:len(hdr)+nonceSize+tagSize],
		"armor":                         armored.Bytes(),
		"a header with its MAC cut":     append(append([]byte{}, hdr[:len(hdr)-10]...), one[len(hdr):]...),
	} {
		assert.ErrorIs(t, CheckSealed(b, 1<<20), ErrNotSealed, name)
	}
}

// TestStreamPlaintext checks the payload sizes of whole age streams and the sizes between.
func TestStreamPlaintext(t *testing.T) {
	t.Parallel()
	full := chunkSize + tagSize
	for n, want := range map[int]int{
		nonceSize + tagSize + 1:            1,
		nonceSize + full:                   chunkSize,
		nonceSize + full + tagSize + 1:     chunkSize + 1,
		nonceSize + 2*full:                 2 * chunkSize,
		nonceSize + 2*full + tagSize + 100: 2*chunkSize + 100,
	} {
		got, ok := streamPlaintext(n)
		assert.True(t, ok, n)
		assert.Equal(t, want, got, n)
	}
	for _, n := range []int{-1, 0, nonceSize, nonceSize + tagSize, nonceSize + full + 1, nonceSize + full + tagSize} {
		_, ok := streamPlaintext(n)
		assert.False(t, ok, n)
	}
}

// FuzzCheckSealed checks CheckSealed on any bytes: no panic, and what it accepts starts with
// age's header line and is no larger than its bound allows.
func FuzzCheckSealed(f *testing.F) {
	w, err := NewWallet()
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range []string{"r", `{"v":1,"readings":[]}`} {
		b, err := Seal([]byte(p), w.Recipient())
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	two, err := Seal([]byte("r"), w.Recipient(), w.Recipient())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(two)
	f.Add([]byte("age-encryption.org/v1\n-> X25519 AAAA\n\n--- AAAA\nxx"))
	const bound = 1000
	f.Fuzz(func(t *testing.T, b []byte) {
		if CheckSealed(b, bound) != nil {
			return
		}
		if !bytes.HasPrefix(b, []byte("age-encryption.org/v1\n")) {
			t.Fatal("accepted bytes that do not start like age")
		}
		hdr, err := age.ExtractHeader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("accepted bytes whose header age refuses: %v", err)
		}
		if payload := len(b) - len(hdr); payload > nonceSize+bound+tagSize {
			t.Fatalf("accepted a payload of %d bytes for at most %d plaintext bytes", payload, bound)
		}
	})
}
