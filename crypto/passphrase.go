package crypto

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/commons-city/commons/durable"
)

// ErrPassphraseRequired is returned when a passphrase-protected wallet is loaded without one.
var ErrPassphraseRequired = errors.New("crypto: this wallet is protected by a passphrase")

// ErrWrongPassphrase is returned when a protected wallet does not open with the passphrase.
var ErrWrongPassphrase = errors.New("crypto: the passphrase does not open this wallet")

// scryptWorkFactor is the log2 of age's scrypt work factor for a protected wallet: age's own
// default (about a second and 256 MiB to open). Tests lower it.
var scryptWorkFactor = 18

// IsProtected reports whether wallet file content is an age-encrypted file (armored or
// binary): a wallet protected by a passphrase.
func IsProtected(b []byte) bool {
	b = bytes.TrimLeft(b, " \t\r\n")
	return bytes.HasPrefix(b, []byte(armor.Header)) || bytes.HasPrefix(b, []byte("age-encryption.org/v1"))
}

// MarshalProtected returns the wallet file encrypted to a passphrase with age's scrypt
// recipient, ASCII-armored: `age -d` with the passphrase gives back the plain wallet file.
func (w *Wallet) MarshalProtected(passphrase string) ([]byte, error) {
	if passphrase == "" {
		return nil, errors.New("crypto: protect wallet: empty passphrase")
	}
	r, err := age.NewScryptRecipient(passphrase)
	if err != nil {
		return nil, fmt.Errorf("crypto: protect wallet: %w", err)
	}
	r.SetWorkFactor(scryptWorkFactor)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	ew, err := age.Encrypt(aw, r)
	if err != nil {
		return nil, fmt.Errorf("crypto: protect wallet: %w", err)
	}
	if _, err := ew.Write(w.Marshal()); err != nil {
		return nil, fmt.Errorf("crypto: protect wallet: %w", err)
	}
	if err := ew.Close(); err != nil {
		return nil, fmt.Errorf("crypto: protect wallet: %w", err)
	}
	if err := aw.Close(); err != nil {
		return nil, fmt.Errorf("crypto: protect wallet: %w", err)
	}
	return out.Bytes(), nil
}

// SaveProtected writes the wallet encrypted to a passphrase (see MarshalProtected), with the
// same care as Save: mode 0600, parent directories 0700, never over an existing file.
func (w *Wallet) SaveProtected(path, passphrase string) error {
	b, err := w.MarshalProtected(passphrase)
	if err != nil {
		return err
	}
	return writeNew(path, b)
}

// writeNew creates path with mode 0600 and writes b, synced; it refuses an existing file.
func writeNew(path string, b []byte) error {
	err := durable.CreateNew(path, b)
	if errors.Is(err, fs.ErrExist) {
		return ErrWalletExists
	}
	if err != nil {
		return fmt.Errorf("crypto: save wallet: %w", err)
	}
	return nil
}

// ParseProtectedWallet decrypts a passphrase-protected wallet file and parses the identity
// inside. A plain wallet file is parsed as is. Errors never quote the passphrase or the key.
func ParseProtectedWallet(b []byte, passphrase string) (*Wallet, error) {
	if !IsProtected(b) {
		return ParseWallet(b)
	}
	if passphrase == "" {
		return nil, ErrPassphraseRequired
	}
	id, err := age.NewScryptIdentity(passphrase)
	if err != nil {
		return nil, fmt.Errorf("crypto: open wallet: %w", err)
	}
	var src io.Reader = bytes.NewReader(b)
	if bytes.HasPrefix(bytes.TrimLeft(b, " \t\r\n"), []byte(armor.Header)) {
		src = armor.NewReader(bytes.NewReader(bytes.TrimLeft(b, " \t\r\n")))
	}
	r, err := age.Decrypt(src, id)
	if err != nil {
		var noMatch *age.NoIdentityMatchError
		if errors.As(err, &noMatch) {
			return nil, ErrWrongPassphrase
		}
		return nil, fmt.Errorf("crypto: open wallet: %w", err)
	}
	plain, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("crypto: open wallet: %w", err)
	}
	return ParseWallet(plain)
}

// LoadWalletWithPassphrase reads a wallet file, decrypting it with the passphrase if it is
// protected. A plain wallet file loads as with LoadWallet, whatever the passphrase.
func LoadWalletWithPassphrase(path, passphrase string) (*Wallet, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("crypto: load wallet: %w", err)
	}
	return ParseProtectedWallet(b, passphrase)
}
