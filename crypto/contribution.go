package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
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
	fields := []field{{"citizen", c.Citizen}, {"issued_at", c.IssuedAt}, {"nonce", c.Nonce}}
	for _, e := range c.Envelopes {
		fields = append(fields, field{"day", e.Day}, field{"purpose", e.Purpose})
	}
	return canonical(c, fields)
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
	sig, err := w.signMessage(domainContribution, c)
	if err != nil {
		return SignedContribution{}, fmt.Errorf("crypto: sign contribution: %w", err)
	}
	return SignedContribution{Contribution: c, Signature: sig}, nil
}

// Verify checks the signature against pub and that pub is the key of the contribution's citizen.
func (s SignedContribution) Verify(pub ed25519.PublicKey) error {
	_, err := s.VerifyID(pub)
	return err
}

// VerifyID is Verify that also returns the contribution's ID, encoding it canonically once
// for both (the server does this for every upload).
func (s SignedContribution) VerifyID(pub ed25519.PublicKey) (string, error) {
	msg, err := verifyMessage(pub, domainContribution, s.Contribution.Citizen, s.Contribution, s.Signature)
	if err != nil {
		return "", err
	}
	return idOf(msg), nil
}
