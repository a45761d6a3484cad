package crypto

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/cloudflare/circl/blindsign/blindrsa"
)

// Petition tokens: a registered resident's wallet obtains, for each open petition of its
// scope, an RSA blind signature (RFC 9474, RSABSSA-SHA384-PSS-Randomized) over a message
// naming the petition and a public key the wallet derives for that petition alone. The node
// signs blind, so the token it later sees spent cannot be linked to the resident it issued it
// to; the nullifier is the hash of the per-petition key, so one key signs once and no one
// without the wallet can sign or withdraw under it.

// Derivation labels of the petition keys (see wallet.go: a label is never reused).
const (
	labelPetitionKey   = "commons/v1 petition key ed25519\n"
	labelTokenBlinding = "commons/v1 petition token blinding\n"
	domainNullifier    = "commons/v1 petition nullifier\n"
	domainToken        = "commons/v1 petition token\n"
	domainPetitionAct  = "commons/v1 petition act\n"
)

// TokenKeyBits is the size of a petition's RSA token key.
const TokenKeyBits = 2048

// TokenVariant is the RFC 9474 variant of petition tokens.
const TokenVariant = blindrsa.SHA384PSSRandomized

// RandomizerSize is the length of the random prefix RSABSSA-…-Randomized prepends to the
// token message (RFC 9474 §4.1).
const RandomizerSize = 32

// ErrBadToken is returned for a token that does not verify with the petition's key.
var ErrBadToken = errors.New("token does not verify")

// PetitionKey is the Ed25519 key the wallet derives for one petition: HKDF-SHA-256 of the
// identity with the label "commons/v1 petition key ed25519\n" followed by the petition id.
// It is the same on every device holding the wallet and unrelated to the citizen's key.
func (w *Wallet) PetitionKey(petition string) (ed25519.PrivateKey, error) {
	seed, err := derive(w.identity, labelPetitionKey+petition, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return ed25519.NewKeyFromSeed(seed), nil
}

// Nullifier is the resident's public pseudonym on one petition: PetitionNullifier of the
// wallet's petition key. Only the wallet can derive it, or prove it is its own.
func (w *Wallet) Nullifier(petition string) string {
	k, err := w.PetitionKey(petition)
	if err != nil {
		return ""
	}
	return PetitionNullifier(k.Public().(ed25519.PublicKey))
}

// PetitionNullifier is the nullifier of a petition key: the lower-case hex SHA-256 of
// "commons/v1 petition nullifier\n" followed by the key's 32 bytes.
func PetitionNullifier(pub ed25519.PublicKey) string {
	h := sha256.New()
	h.Write([]byte(domainNullifier))
	h.Write(pub)
	return hex.EncodeToString(h.Sum(nil))
}

// TokenMessage is the message a petition token signs: "commons/v1 petition token\n", the
// petition id, "\n", and the standard base64 of the petition key.
func TokenMessage(petition string, pub ed25519.PublicKey) []byte {
	return []byte(domainToken + petition + "\n" + EncodeKey(pub))
}

// NewTokenKey generates a petition's RSA token key.
func NewTokenKey() (*rsa.PrivateKey, error) {
	k, err := rsa.GenerateKey(rand.Reader, TokenKeyBits)
	if err != nil {
		return nil, fmt.Errorf("crypto: token key: %w", err)
	}
	return k, nil
}

// EncodeTokenKey is the published form of a token key: the standard base64 of its DER
// SubjectPublicKeyInfo.
func EncodeTokenKey(pub *rsa.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", fmt.Errorf("crypto: token key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(der), nil
}

// DecodeTokenKey reads a token key published by EncodeTokenKey.
func DecodeTokenKey(s string) (*rsa.PublicKey, error) {
	der, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, errors.New("crypto: token key: not base64")
	}
	k, err := x509.ParsePKIXPublicKey(der)
	if err != nil {
		return nil, errors.New("crypto: token key: not a DER SubjectPublicKeyInfo")
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok || rk.N.BitLen() != TokenKeyBits {
		return nil, fmt.Errorf("crypto: token key: not an RSA-%d key", TokenKeyBits)
	}
	return rk, nil
}

// BlindSign signs a blinded token message with a petition's token key.
func BlindSign(sk *rsa.PrivateKey, blinded []byte) ([]byte, error) {
	s, err := blindrsa.NewSigner(sk).BlindSign(blinded)
	if err != nil {
		return nil, fmt.Errorf("crypto: blind sign: %w", err)
	}
	return s, nil
}

// TokenVerifier verifies the tokens of one petition.
type TokenVerifier struct{ v blindrsa.Verifier }

// NewTokenVerifier returns the verifier of a token key.
func NewTokenVerifier(pub *rsa.PublicKey) (TokenVerifier, error) {
	v, err := blindrsa.NewVerifier(TokenVariant, pub)
	if err != nil {
		return TokenVerifier{}, fmt.Errorf("crypto: token verifier: %w", err)
	}
	return TokenVerifier{v}, nil
}

// Verify checks a finalised token: sig over the randomizer followed by the token message of
// the petition and key.
func (t TokenVerifier) Verify(petition string, pub ed25519.PublicKey, randomizer, sig []byte) error {
	if len(randomizer) != RandomizerSize {
		return ErrBadToken
	}
	msg := append(append([]byte{}, randomizer...), TokenMessage(petition, pub)...)
	if t.v.Verify(msg, sig) != nil {
		return ErrBadToken
	}
	return nil
}

// TokenRequest is a wallet's blinding of one petition's token: what it sends (Blinded) and
// what it keeps to finalise the node's answer.
type TokenRequest struct {
	Petition   string
	Key        ed25519.PrivateKey
	Randomizer []byte
	Blinded    []byte
	client     blindrsa.Client
	state      blindrsa.State
}

// BlindToken prepares and blinds the wallet's token message for a petition under its token
// key. Its randomness (the 32-byte prefix, the 48-byte PSS salt, then 256-byte draws for the
// blinding factor r, as RFC 9474 reads them) comes from BlindingStream, keyed by the wallet for
// that petition and key, so every device holding the wallet — the CLI or the browser — sends
// the same blinded message (the node answers a repeated one again, and refuses any other);
// the node, which never sees the stream, cannot unblind it.
func (w *Wallet) BlindToken(petition string, tokenKey *rsa.PublicKey) (*TokenRequest, error) {
	k, err := w.PetitionKey(petition)
	if err != nil {
		return nil, err
	}
	spki, err := EncodeTokenKey(tokenKey)
	if err != nil {
		return nil, err
	}
	seed, err := derive(w.identity, labelTokenBlinding+petition+"\n"+spki, 32)
	if err != nil {
		return nil, err
	}
	stream := &BlindingStream{seed: seed}
	c, err := blindrsa.NewClient(TokenVariant, tokenKey)
	if err != nil {
		return nil, fmt.Errorf("crypto: blind token: %w", err)
	}
	prepared, err := c.Prepare(stream, TokenMessage(petition, k.Public().(ed25519.PublicKey)))
	if err != nil {
		return nil, fmt.Errorf("crypto: blind token: %w", err)
	}
	blinded, st, err := c.Blind(stream, prepared)
	if err != nil {
		return nil, fmt.Errorf("crypto: blind token: %w", err)
	}
	return &TokenRequest{Petition: petition, Key: k, Randomizer: prepared[:RandomizerSize], Blinded: blinded,
		client: c, state: st}, nil
}

// BlindingStream is the deterministic randomness of BlindToken: the concatenation of
// SHA-256(seed ‖ uint32 big-endian counter) for counter 0, 1, 2…, where seed is HKDF-SHA-256
// of the identity with the label "commons/v1 petition token blinding\n", the petition id,
// "\n" and the token key (standard base64 SPKI).
type BlindingStream struct {
	seed    []byte
	counter uint32
	buf     []byte
}

// Read fills p from the stream; it never fails.
func (s *BlindingStream) Read(p []byte) (int, error) {
	for n := 0; n < len(p); {
		if len(s.buf) == 0 {
			h := sha256.New()
			h.Write(s.seed)
			h.Write(binary.BigEndian.AppendUint32(nil, s.counter))
			s.buf, s.counter = h.Sum(nil), s.counter+1
		}
		c := copy(p[n:], s.buf)
		s.buf, n = s.buf[c:], n+c
	}
	return len(p), nil
}

// Finalize unblinds the node's blind signature into the token, checking it verifies.
func (r *TokenRequest) Finalize(blindSig []byte) ([]byte, error) {
	sig, err := r.client.Finalize(r.state, blindSig)
	if err != nil {
		return nil, fmt.Errorf("crypto: finalize token: %w", ErrBadToken)
	}
	return sig, nil
}

// TokenRequestDocument is the document field of a resident's petition.tokens statement: the
// DocumentHash of one line "<petition> <blinded message, standard base64>\n" per petition, in
// petition order, so the resident's signature covers every blinded message it asks for.
func TokenRequestDocument(blinded map[string]string) string {
	ids := make([]string, 0, len(blinded))
	for id := range blinded {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var b strings.Builder
	for _, id := range ids {
		b.WriteString(id + " " + blinded[id] + "\n")
	}
	return DocumentHash([]byte(b.String()))
}

// PetitionAct is what a petition key signs: a signature (with the hash of its sealed answers
// as Document, or none) or its withdrawal. It names no citizen. Fields are in lexicographic
// JSON key order, the canonical form.
type PetitionAct struct {
	Document string `json:"document,omitempty"`
	Key      string `json:"key"`
	Petition string `json:"petition"`
	Type     string `json:"type"`
}

// Canonical returns the act's canonical bytes, after checking every field.
func (a PetitionAct) Canonical() ([]byte, error) {
	return canonical(a, []field{{"document", a.Document}, {"key", a.Key}, {"petition", a.Petition}, {"type", a.Type}})
}

// SignAct signs an act with a petition key, setting its Key field; the signature is standard
// base64 over "commons/v1 petition act\n" followed by the canonical bytes.
func SignAct(k ed25519.PrivateKey, a PetitionAct) (PetitionAct, string, error) {
	a.Key = EncodeKey(k.Public().(ed25519.PublicKey))
	msg, err := a.Canonical()
	if err != nil {
		return a, "", fmt.Errorf("crypto: sign act: %w", err)
	}
	return a, base64.StdEncoding.EncodeToString(ed25519.Sign(k, signingInput(domainPetitionAct, msg))), nil
}

// VerifyAct checks an act's signature with the key it names, and returns that key.
func VerifyAct(a PetitionAct, sig string) (ed25519.PublicKey, error) {
	pub, err := DecodeKey(a.Key)
	if err != nil {
		return nil, ErrBadSignature
	}
	msg, err := a.Canonical()
	if err != nil {
		return nil, err
	}
	return pub, verify(pub, domainPetitionAct, msg, sig)
}
