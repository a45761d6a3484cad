package crypto

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// Statement types.
const (
	TypeRegister      = "citizen.register"
	TypeConsentGrant  = "consent.grant"
	TypeConsentRevoke = "consent.revoke"
	// TypePetitionSign and TypePetitionWithdraw are the types of petition acts (PetitionAct),
	// signed by a per-petition key, never by the resident's own.
	TypePetitionSign     = "petition.sign"
	TypePetitionWithdraw = "petition.withdraw"
	// TypePetitionCreate is an organiser's petition; Document is the hash of its document.
	TypePetitionCreate = "petition.create"
	// TypePetitionPaper is an organiser's count of paper signatures; Document is the hash of
	// the count's document.
	TypePetitionPaper = "petition.paper"
	// TypePetitionResult signs a petition's final result document. It is not logged: the
	// organiser hands it over, and anyone checks it against the ledger.
	TypePetitionResult = "petition.result"
	// TypePurposePropose is an organiser's purpose proposal; Document is the hash of its
	// document, Purpose and PurposeVersion name it.
	TypePurposePropose = "purpose.propose"
	// TypePurposeApprove and TypePurposeObject are a resident's choice on a proposal, under
	// their nullifier on it (Wallet.Nullifier of PurposeNullifierScope).
	TypePurposeApprove = "purpose.approve"
	TypePurposeObject  = "purpose.object"
	// TypePurposeRetire is the proposer retiring their active purpose.
	TypePurposeRetire = "purpose.retire"
	// TypePetitionTokens asks for the resident's blind petition tokens; Document is
	// TokenRequestDocument of the blinded messages. It is not logged.
	TypePetitionTokens = "petition.tokens"
	// TypeVaultExport asks for the resident's own vault copies. It is not logged.
	TypeVaultExport = "vault.export"
)

// Statement is what a resident signs: a registration, a consent or its withdrawal, a petition
// signature or its withdrawal, an organiser's petition document. Fields are declared in
// lexicographic JSON key order: that order is the canonical form.
//
// Document binds a statement to a body that cannot be a canonical field (free text, a
// ciphertext): it is the lower-case hex SHA-256 of that body's exact bytes (see DocumentHash).
type Statement struct {
	Citizen        string `json:"citizen"`
	Document       string `json:"document,omitempty"`
	Erase          bool   `json:"erase,omitempty"`
	Invite         string `json:"invite,omitempty"`
	IssuedAt       string `json:"issued_at"`
	Neighbourhood  string `json:"neighbourhood,omitempty"`
	Nonce          string `json:"nonce"`
	Nullifier      string `json:"nullifier,omitempty"`
	Petition       string `json:"petition,omitempty"`
	Purpose        string `json:"purpose,omitempty"`
	PurposeVersion int    `json:"purpose_version,omitempty"`
	Recipient      string `json:"recipient,omitempty"`
	SigningKey     string `json:"signing_key,omitempty"`
	Type           string `json:"type"`
}

// SignedStatement is a statement with the resident's Ed25519 signature (standard base64).
type SignedStatement struct {
	Statement Statement `json:"statement"`
	Signature string    `json:"signature"`
}

// Canonical returns the statement's canonical bytes, after checking every field.
func (s Statement) Canonical() ([]byte, error) {
	return canonical(s, []field{
		{"citizen", s.Citizen}, {"document", s.Document}, {"invite", s.Invite}, {"issued_at", s.IssuedAt},
		{"neighbourhood", s.Neighbourhood}, {"nonce", s.Nonce}, {"nullifier", s.Nullifier}, {"petition", s.Petition},
		{"purpose", s.Purpose}, {"recipient", s.Recipient}, {"signing_key", s.SigningKey},
		{"type", s.Type},
	})
}

// SignStatement fills in the citizen id and signs s with the wallet's key.
func (w *Wallet) SignStatement(s Statement) (SignedStatement, error) {
	s.Citizen = w.CitizenID()
	sig, err := w.signMessage(domainStatement, s)
	if err != nil {
		return SignedStatement{}, fmt.Errorf("crypto: sign statement: %w", err)
	}
	return SignedStatement{Statement: s, Signature: sig}, nil
}

// Verify checks the signature against pub and that pub is the key of the statement's citizen.
func (s SignedStatement) Verify(pub ed25519.PublicKey) error {
	_, err := verifyMessage(pub, domainStatement, s.Statement.Citizen, s.Statement, s.Signature)
	return err
}

// DocumentHash is the value of a statement's Document field for a body: the lower-case hex
// SHA-256 of its exact bytes.
func DocumentHash(body []byte) string {
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}

// PurposeNullifierScope is what a resident's nullifier on a purpose proposal version is
// derived from (Wallet.Nullifier): it differs from every petition's, as petition ids hold no
// colon, and from every other proposal's and version's.
func PurposeNullifierScope(purpose string, version int) string {
	return fmt.Sprintf("purpose:%s@%d", purpose, version)
}
