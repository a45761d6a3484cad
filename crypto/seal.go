package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"

	"filippo.io/age"
)

// Seal encrypts plaintext to every recipient with age (binary format, no armor).
func Seal(plaintext []byte, recipients ...age.Recipient) ([]byte, error) {
	var b bytes.Buffer
	w, err := age.Encrypt(&b, recipients...)
	if err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	if _, err := w.Write(plaintext); err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("crypto: seal: %w", err)
	}
	return b.Bytes(), nil
}

// Open decrypts an age ciphertext with any of the identities.
func Open(ciphertext []byte, identities ...age.Identity) ([]byte, error) {
	r, err := age.Decrypt(bytes.NewReader(ciphertext), identities...)
	if err != nil {
		return nil, fmt.Errorf("crypto: open: %w", err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("crypto: open: %w", err)
	}
	return b, nil
}

// Errors of CheckSealed. Each wraps ErrNotSealed.
var (
	// ErrNotSealed is returned for bytes that are not an age ciphertext of the expected shape.
	ErrNotSealed = errors.New("crypto: not a sealed envelope")
	errHeader    = fmt.Errorf("%w: no valid age header", ErrNotSealed)
	errStanzas   = fmt.Errorf("%w: not sealed to exactly one X25519 recipient", ErrNotSealed)
	errPayload   = fmt.Errorf("%w: the payload is not a whole age stream", ErrNotSealed)
	errTooLarge  = fmt.Errorf("%w: the payload is larger than its contents may be", ErrNotSealed)
)

// The age format's constants (age-encryption.org/v1): the X25519 stanza's ephemeral share
// and wrapped file key, the payload's nonce, and the STREAM chunks that follow it, each a
// plaintext chunk of up to 64 KiB and its 16-byte Poly1305 tag.
const (
	x25519Share = 32
	wrappedKey  = 16 + 16
	nonceSize   = 16
	tagSize     = 16
	chunkSize   = 64 << 10
)

// recorder is an age identity that unwraps nothing: it records the stanzas age parsed and
// stops the decryption there.
type recorder struct{ stanzas []*age.Stanza }

var errRecorded = errors.New("crypto: stanzas recorded")

func (r *recorder) Unwrap(stanzas []*age.Stanza) ([]byte, error) {
	r.stanzas = stanzas
	return nil, errRecorded
}

// CheckSealed checks, without a key, that b is an age ciphertext as Commons seals them (Seal
// to one recipient): an age header in its one canonical encoding, parsed by age itself,
// holding exactly one X25519 recipient stanza (one 32-byte ephemeral share, a 32-byte wrapped
// file key), then a payload that is a nonce and a whole STREAM of at least one and at most
// maxPlaintext plaintext bytes. The server uses it to refuse plaintext, other recipients'
// formats and oversized payloads where a sealed envelope belongs; whether the recipient is
// the expected key, only that key's holder can tell. The error wraps ErrNotSealed.
func CheckSealed(b []byte, maxPlaintext int) error {
	hdr, err := age.ExtractHeader(bytes.NewReader(b))
	if err != nil || !bytes.HasPrefix(b, hdr) {
		return errHeader
	}
	var rec recorder
	if _, err := age.DecryptHeader(hdr, &rec); !errors.Is(err, errRecorded) {
		return errHeader
	}
	if len(rec.stanzas) != 1 {
		return errStanzas
	}
	st := rec.stanzas[0]
	if st.Type != "X25519" || len(st.Args) != 1 || len(st.Body) != wrappedKey {
		return errStanzas
	}
	if share, err := base64.RawStdEncoding.Strict().DecodeString(st.Args[0]); err != nil || len(share) != x25519Share {
		return errStanzas
	}
	plain, ok := streamPlaintext(len(b) - len(hdr))
	if !ok {
		return errPayload
	}
	if plain > maxPlaintext {
		return errTooLarge
	}
	return nil
}

// streamPlaintext returns the plaintext size of an age payload of n bytes: a nonce, then
// chunks of chunkSize plaintext bytes and a tag each, the last one holding at least one byte
// (Commons never seals an empty plaintext). ok is false for any other n.
func streamPlaintext(n int) (int, bool) {
	n -= nonceSize
	if n < tagSize+1 {
		return 0, false
	}
	full, last := n/(chunkSize+tagSize), n%(chunkSize+tagSize)
	switch {
	case last == 0:
		return full * chunkSize, true
	case last <= tagSize:
		return 0, false
	}
	return full*chunkSize + last - tagSize, true
}
