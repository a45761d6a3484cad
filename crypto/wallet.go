package crypto

import (
	"bufio"
	"bytes"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"filippo.io/age"
)

// hkdfSalt separates Commons' derived keys from any other use of the same age identity.
const hkdfSalt = "commons/v1"

// Derivation labels. A label is never reused for a different key.
const (
	labelSigning = "commons/v1 statement signing ed25519"
)

// ErrWalletExists is returned when creating a wallet would overwrite an existing file.
var ErrWalletExists = errors.New("crypto: wallet file already exists")

// Wallet is a resident's keys: one age X25519 identity and the keys derived from it.
type Wallet struct {
	identity *age.X25519Identity
	signing  ed25519.PrivateKey
}

// NewWallet creates a wallet from a fresh random age identity.
func NewWallet() (*Wallet, error) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return nil, fmt.Errorf("crypto: generate identity: %w", err)
	}
	return walletFrom(id)
}

func walletFrom(id *age.X25519Identity) (*Wallet, error) {
	seed, err := derive(id, labelSigning, ed25519.SeedSize)
	if err != nil {
		return nil, err
	}
	return &Wallet{identity: id, signing: ed25519.NewKeyFromSeed(seed)}, nil
}

// derive returns n bytes of HKDF-SHA-256 output keyed by the identity's canonical encoding.
func derive(id *age.X25519Identity, label string, n int) ([]byte, error) {
	k, err := hkdf.Key(sha256.New, []byte(id.String()), []byte(hkdfSalt), label, n)
	if err != nil {
		return nil, fmt.Errorf("crypto: derive %q: %w", label, err)
	}
	return k, nil
}

// ParseWallet reads a wallet from an age identity file: comment lines starting with '#' and
// blank lines are skipped, and exactly one X25519 identity must remain.
func ParseWallet(b []byte) (*Wallet, error) {
	var found *age.X25519Identity
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if found != nil {
			return nil, errors.New("crypto: parse wallet: more than one identity")
		}
		id, err := age.ParseX25519Identity(line)
		if err != nil {
			// The parse error from age would quote part of the secret key: keep it out.
			return nil, errors.New("crypto: parse wallet: not an age X25519 identity")
		}
		found = id
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("crypto: parse wallet: %w", err)
	}
	if found == nil {
		return nil, errors.New("crypto: parse wallet: no identity found")
	}
	return walletFrom(found)
}

// LoadWallet reads a plain wallet file. A passphrase-protected one gives
// ErrPassphraseRequired: load it with LoadWalletWithPassphrase.
func LoadWallet(path string) (*Wallet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: load wallet: %w", err)
	}
	if IsProtected(b) {
		return nil, ErrPassphraseRequired
	}
	return ParseWallet(b)
}

// Marshal returns the wallet as an age identity file, with comments that name its public parts.
func (w *Wallet) Marshal() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "# Commons wallet — a standard age identity. Keep it secret, keep a backup.\n")
	fmt.Fprintf(&b, "# created: %s\n", time.Now().UTC().Format(time.RFC3339))
	fmt.Fprintf(&b, "# citizen: %s\n", w.CitizenID())
	fmt.Fprintf(&b, "# public key: %s\n", w.identity.Recipient())
	fmt.Fprintf(&b, "%s\n", w.identity)
	return b.Bytes()
}

// Save writes the wallet to path with mode 0600, creating parent directories with mode 0700.
// It refuses to overwrite an existing file.
func (w *Wallet) Save(path string) error { return writeNew(path, w.Marshal()) }

// Identity is the wallet's age identity: it opens the resident's vault copies.
func (w *Wallet) Identity() *age.X25519Identity { return w.identity }

// Recipient is the wallet's age recipient: vault copies are sealed to it.
func (w *Wallet) Recipient() *age.X25519Recipient { return w.identity.Recipient() }

// SigningPublicKey is the Ed25519 key that verifies the resident's statements.
func (w *Wallet) SigningPublicKey() ed25519.PublicKey {
	return w.signing.Public().(ed25519.PublicKey)
}

// CitizenID is the resident's pseudonymous id, derived from the signing public key.
func (w *Wallet) CitizenID() string { return CitizenID(w.SigningPublicKey()) }

// ValidNullifier reports whether n has the shape PetitionNullifier returns: 64 lower-case hex digits.
// The server checks it before logging a signature, and verifiers before recounting one.
func ValidNullifier(n string) bool {
	if len(n) != 2*sha256.Size {
		return false
	}
	for i := 0; i < len(n); i++ {
		if !(n[i] >= '0' && n[i] <= '9' || n[i] >= 'a' && n[i] <= 'f') {
			return false
		}
	}
	return true
}

// sign signs domain-separated bytes with the wallet's derived Ed25519 key.
func (w *Wallet) sign(domain string, msg []byte) []byte {
	return ed25519.Sign(w.signing, signingInput(domain, msg))
}

var idEncoding = base32.StdEncoding.WithPadding(base32.NoPadding)

// CitizenID returns the pseudonymous id of the holder of an Ed25519 public key:
// "c-" followed by the lower-case base32 of the first 15 bytes of SHA-256(key).
func CitizenID(pub ed25519.PublicKey) string {
	sum := sha256.Sum256(pub)
	return "c-" + strings.ToLower(idEncoding.EncodeToString(sum[:15]))
}

// EncodeKey encodes an Ed25519 public key for statements (standard base64).
func EncodeKey(pub ed25519.PublicKey) string { return base64.StdEncoding.EncodeToString(pub) }

// DecodeKey decodes an Ed25519 public key encoded by EncodeKey.
func DecodeKey(s string) (ed25519.PublicKey, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil || len(b) != ed25519.PublicKeySize {
		return nil, errors.New("crypto: decode key: not a base64 Ed25519 public key")
	}
	return ed25519.PublicKey(b), nil
}
