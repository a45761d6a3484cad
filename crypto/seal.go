package crypto

import (
	"bytes"
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

// sealedPrefix is the first line of every binary age file.
var sealedPrefix = []byte("age-encryption.org/v1\n")

// LooksSealed reports whether b starts like an age ciphertext. The server uses it to refuse
// plaintext posted where a sealed envelope belongs; it cannot check more without a key.
func LooksSealed(b []byte) bool { return bytes.HasPrefix(b, sealedPrefix) }
