package crypto

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Domains separate what a signature is for.
const (
	domainStatement    = "commons/v1 statement\n"
	domainContribution = "commons/v1 contribution\n"
)

// Sentinel errors of signature and format checks. Their messages are safe to show to clients.
var (
	ErrBadSignature = errors.New("signature does not verify")
	ErrBadField     = errors.New("field has characters outside the canonical set")
)

// maxField bounds every string field of a signed message.
const maxField = 256

func signingInput(domain string, msg []byte) []byte {
	in := make([]byte, 0, len(domain)+len(msg))
	return append(append(in, domain...), msg...)
}

// field is a string field of a signed message: its JSON key and its value.
type field struct{ name, v string }

// canonical checks every string field of v (see checkField) and marshals v as canonical JSON
// (see the package comment). v must be a struct whose fields are declared in lexicographic
// JSON key order.
func canonical(v any, fields []field) ([]byte, error) {
	for _, f := range fields {
		if err := checkField(f.name, f.v); err != nil {
			return nil, err
		}
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("crypto: canonical: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// checkField accepts printable ASCII without characters that JSON encoders escape
// differently, so Go's encoding of the field equals RFC 8785's.
func checkField(name, s string) error {
	if len(s) > maxField {
		return fmt.Errorf("%s: %w", name, ErrBadField)
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x21 || c > 0x7e || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return fmt.Errorf("%s: %w", name, ErrBadField)
		}
	}
	return nil
}

// NewNonce returns a fresh random nonce for a statement or contribution.
func NewNonce() string {
	var b [16]byte
	rand.Read(b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// Now formats the current time as statements carry it.
func Now() string { return time.Now().UTC().Format(time.RFC3339) }

// message is what a resident signs, a statement or a contribution, in its canonical bytes.
type message interface {
	Canonical() ([]byte, error)
}

// signMessage signs m's canonical bytes for domain, returning the signature in standard base64.
func (w *Wallet) signMessage(domain string, m message) (string, error) {
	msg, err := m.Canonical()
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(w.sign(domain, msg)), nil
}

// verifyMessage checks that pub is the key of citizen and that sig is its signature of m's
// canonical bytes for domain, and returns those bytes.
func verifyMessage(pub ed25519.PublicKey, domain, citizen string, m message, sig string) ([]byte, error) {
	if CitizenID(pub) != citizen {
		return nil, ErrBadSignature
	}
	msg, err := m.Canonical()
	if err != nil {
		return nil, err
	}
	return msg, verify(pub, domain, msg, sig)
}

func verify(pub ed25519.PublicKey, domain string, msg []byte, sig string) error {
	s, err := base64.StdEncoding.DecodeString(sig)
	if err != nil || len(s) != ed25519.SignatureSize {
		return ErrBadSignature
	}
	if !ed25519.Verify(pub, signingInput(domain, msg), s) {
		return ErrBadSignature
	}
	return nil
}
