package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"filippo.io/age"

	"github.com/commons-city/commons/durable"
	"github.com/commons-city/commons/ledger/state"
)

// proposedKeys makes, reads and destroys the keys of the purposes residents approved, under
// DIR/keys/purposes beside the built-in ones: the server asks for a new key when the operator
// activates a purpose, the release engine reads it, and retirement destroys it.
type proposedKeys struct{ dir string }

// recipient makes the key of an activated purpose version and returns its recipient.
func (k proposedKeys) recipient(id string, version int) (string, error) {
	key, err := purposeIdentity(k.dir, id, version)
	if err != nil {
		return "", err
	}
	return key.Recipient().String(), nil
}

// identity reads the key of an active purpose version; it never makes one.
func (k proposedKeys) identity(id string, version int) (age.Identity, error) {
	path := purposeKeyPath(k.dir, id, version)
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("key of purpose %s v%d: %w (copy the node's keys/ from your backup)", id, version, err)
	}
	return purposeIdentity(k.dir, id, version)
}

// destroy deletes the key of a retired purpose version for good, and syncs its folder so the
// deletion survives a crash. A key already gone is destroyed.
func (k proposedKeys) destroy(id string, version int) error {
	path := purposeKeyPath(k.dir, id, version)
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("destroy key: %w", err)
	}
	return durable.SyncDir(filepath.Dir(path))
}

// check refuses to start a node whose ledger names an active proposed purpose without its key
// file: share copies sealed to it could no longer be opened. The running version may be older
// than a newer one still proposed.
func (k proposedKeys) check(st *state.State) error {
	for _, p := range st.ProposalVersions() {
		if !p.Activated || p.Destroyed {
			continue
		}
		if _, err := os.Stat(purposeKeyPath(k.dir, p.ID, p.Version)); errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the ledger names purpose %s v%d but %s is missing: copy the node's keys/ from your backup",
				p.ID, p.Version, purposeKeyPath(k.dir, p.ID, p.Version))
		}
	}
	return nil
}
