package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"crypto/rsa"

	"filippo.io/age"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/activitypub"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/durable"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/purpose"
)

// nodeKeys are the secrets of a node, each in its own file under DIR/keys (mode 0600).
type nodeKeys struct {
	signer      note.Signer
	verifier    note.Verifier
	verifierKey string
	adminToken  string
}

// readOrCreate returns the trimmed contents of path, creating it with make() on first start.
func readOrCreate(path string, make func() ([]byte, error)) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		if b, err = make(); err != nil {
			return nil, err
		}
		if err := durable.CreateNew(path, b); err != nil {
			return nil, fmt.Errorf("create %s: %w", path, err)
		}
	} else if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	return bytes.TrimSpace(b), nil
}

func randomHex(n int) func() ([]byte, error) {
	return func() ([]byte, error) {
		b := make([]byte, n)
		rand.Read(b)
		return []byte(hex.EncodeToString(b) + "\n"), nil
	}
}

func loadNodeKeys(dir, origin string) (*nodeKeys, error) {
	var pub string
	skey, err := readOrCreate(filepath.Join(dir, "keys", "ledger.key"), func() ([]byte, error) {
		s, v, err := ledger.GenerateKey(origin)
		pub = v
		return []byte(s + "\n"), err
	})
	if err != nil {
		return nil, err
	}
	signer, err := note.NewSigner(string(skey))
	if err != nil {
		return nil, fmt.Errorf("keys/ledger.key: %w", err)
	}
	vkey, err := readOrCreate(filepath.Join(dir, "keys", "ledger.pub"), func() ([]byte, error) {
		if pub == "" {
			return nil, errors.New("keys/ledger.pub is missing but keys/ledger.key exists: restore it from your backup")
		}
		return []byte(pub + "\n"), nil
	})
	if err != nil {
		return nil, err
	}
	verifier, err := note.NewVerifier(string(vkey))
	if err != nil {
		return nil, fmt.Errorf("keys/ledger.pub: %w", err)
	}
	token, err := readOrCreate(filepath.Join(dir, "admin.token"), randomHex(24))
	if err != nil {
		return nil, err
	}
	return &nodeKeys{signer: signer, verifier: verifier, verifierKey: string(vkey), adminToken: string(token)}, nil
}

// fediverseKey loads (or creates on first start) the node's one ActivityPub key,
// DIR/keys/activitypub.pem, which signs the deliveries of every actor of the node.
func fediverseKey(dir string) (*rsa.PrivateKey, error) {
	path := filepath.Join(dir, "keys", "activitypub.pem")
	b, err := readOrCreate(path, activitypub.GenerateKey)
	if err != nil {
		return nil, err
	}
	k, err := activitypub.ParseKey(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return k, nil
}

// requireKeys refuses a data directory that holds a database but lacks the keys made with it,
// as after a restore that forgot DIR/keys: creating new ones would fork the ledger's
// checkpoints. admin.token alone may be recreated.
func requireKeys(dir string) error {
	var missing []string
	for _, name := range []string{"ledger.key", "ledger.pub"} {
		if _, err := os.Stat(filepath.Join(dir, "keys", name)); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, "keys/"+name)
		} else if err != nil {
			return fmt.Errorf("keys: %w", err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s holds a database but not its keys (%s missing): copy the node's keys/ directory "+
			"from your backup into %s — backups of the database never contain keys", dir, strings.Join(missing, ", "), dir)
	}
	return nil
}

// purposeKeyPath is the file of one purpose version's identity.
func purposeKeyPath(dir, purpose string, version int) string {
	return filepath.Join(dir, "keys", "purposes", fmt.Sprintf("%s.v%d.age", strings.ReplaceAll(purpose, "/", "_"), version))
}

// purposeIdentity loads (or creates on first start) the age identity of one purpose version.
// It lives in its own file and only the release engine receives it. A petition's tally key is
// the purpose "petition/<id>", version 1.
func purposeIdentity(dir, purpose string, version int) (*age.X25519Identity, error) {
	path := purposeKeyPath(dir, purpose, version)
	b, err := readOrCreate(path, func() ([]byte, error) {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			return nil, err
		}
		return fmt.Appendf(nil, "# purpose %s version %d\n# public key: %s\n%s\n", purpose, version, id.Recipient(), id), nil
	})
	if err != nil {
		return nil, err
	}
	w, err := crypto.ParseWallet(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return w.Identity(), nil
}

// builtInPurposes logs every built-in purpose on the node's first start, with the recipient
// of the key made for it, and returns their identities, which only the release engine
// receives. A purpose the ledger already names keeps its key: if the key file is gone, the node
// refuses to start rather than make another that could not open the share copies.
func builtInPurposes(ctx context.Context, dir string, lg purpose.Ledger, st purpose.Logged) (map[string]age.Identity, error) {
	ids := map[string]age.Identity{}
	for _, d := range purpose.BuiltIn() {
		path := purposeKeyPath(dir, d.ID, d.Version)
		if _, logged := st.Purpose(d.ID); logged {
			if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
				return nil, fmt.Errorf("refusing to start: the ledger names purpose %s but %s is missing: copy the node's keys/ from your backup", d.ID, path)
			}
		}
		id, err := purposeIdentity(dir, d.ID, d.Version)
		if err != nil {
			return nil, err
		}
		if err := purpose.Ensure(ctx, lg, st, d.Define(id.Recipient().String())); err != nil {
			return nil, err
		}
		ids[d.ID] = id
	}
	return ids, nil
}

// tallyKeys makes and reads petitions' tally keys under DIR/keys/purposes: the server asks
// for a new petition's recipient, the release engine for its identity.
type tallyKeys struct{ dir string }

func (k tallyKeys) recipient(petition string) (string, error) {
	id, err := purposeIdentity(k.dir, "petition/"+petition, 1)
	if err != nil {
		return "", err
	}
	return id.Recipient().String(), nil
}

func (k tallyKeys) identity(petition string) (age.Identity, error) {
	path := purposeKeyPath(k.dir, "petition/"+petition, 1)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("tally key of petition %s: %w (copy the node's keys/ from your backup)", petition, err)
	}
	return purposeIdentity(k.dir, "petition/"+petition, 1)
}
