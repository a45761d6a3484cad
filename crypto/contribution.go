package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
)

// VaultPurpose names the envelope a resident seals to themselves.
const VaultPurpose = "vault"

// Envelope is one sealed copy of one day's readings: to the resident's own vault or to one
// purpose. Fields in lexicographic JSON key order.
type Envelope struct {
	Ciphertext []byte `json:"ciphertext"`
	Day        string `json:"day"`
	Purpose    string `json:"purpose"`
}

// Contribution is a signed upload of sealed envelopes. Fields in lexicographic key order.
type Contribution struct {
	Citizen   string     `json:"citizen"`
	Envelopes []Envelope `json:"envelopes"`
	IssuedAt  string     `json:"issued_at"`
	Nonce     string     `json:"nonce"`
}

// SignedContribution is a contribution with the resident's signature (standard base64).
type SignedContribution struct {
	Contribution Contribution `json:"contribution"`
	Signature    string       `json:"signature"`
}

// Canonical returns the contribution's canonical bytes, after checking every field.
func (c Contribution) Canonical() ([]byte, error) {
	for _, f := range []struct{ name, v string }{
		{"citizen", c.Citizen}, {"issued_at", c.IssuedAt}, {"nonce", c.Nonce},
	} {
		if err := checkField(f.name, f.v); err != nil {
			return nil, err
		}
	}
	for _, e := range c.Envelopes {
		if err := checkField("day", e.Day); err != nil {
			return nil, err
		}
		if err := checkField("purpose", e.Purpose); err != nil {
			return nil, err
		}
	}
	return canonical(c)
}

// ID is a stable identifier of the contribution: the first 16 bytes of SHA-256 over its
// canonical bytes, in hex.
func (c Contribution) ID() (string, error) {
	msg, err := c.Canonical()
	if err != nil {
		return "", err
	}
	return idOf(msg), nil
}

func idOf(canonical []byte) string {
	sum := sha256.Sum256(canonical)
	return hex.EncodeToString(sum[:16])
}

// SignContribution fills in the citizen id and signs c with the wallet's key.
func (w *Wallet) SignContribution(c Contribution) (SignedContribution, error) {
	c.Citizen = w.CitizenID()
	msg, err := c.Canonical()
	if err != nil {
		return SignedContribution{}, fmt.Errorf("crypto: sign contribution: %w", err)
	}
	return SignedContribution{Contribution: c, Signature: base64.StdEncoding.EncodeToString(w.sign(domainContribution, msg))}, nil
}

// Verify checks the signature against pub and that pub is the key of the contribution's citizen.
func (s SignedContribution) Verify(pub ed25519.PublicKey) error {
	_, err := s.VerifyID(pub)
	return err
}

// VerifyID is Verify that also returns the contribution's ID, encoding it canonically once
// for both (the server does this for every upload).
func (s SignedContribution) VerifyID(pub ed25519.PublicKey) (string, error) {
	if CitizenID(pub) != s.Contribution.Citizen {
		return "", ErrBadSignature
	}
	msg, err := s.Contribution.Canonical()
	if err != nil {
		return "", err
	}
	if err := verify(pub, domainContribution, msg, s.Signature); err != nil {
		return "", err
	}
	return idOf(msg), nil
}
