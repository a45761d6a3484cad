// Package durable writes files that a crash (kill -9, power loss) leaves whole or absent,
// never half-written: every write goes to a synced temporary file in the same directory, is
// renamed into place, and the directory is synced so that the rename itself survives.
package durable

import (
	"fmt"
	"os"
	"path/filepath"
)

// TempSuffix ends the name of every temporary file this package writes, so that a folder's
// owner can recognise (and remove) one a crash left behind.
const TempSuffix = ".tmp"

// WriteFile replaces path with data (mode 0600): after a crash path holds either its old
// content or all of data.
func WriteFile(path string, data []byte) error {
	return Write(path, func(f *os.File) error {
		_, err := f.Write(data)
		return err
	})
}

// Write is WriteFile for content that fill writes, for files too large to hold in memory.
// When fill fails, path is left as it was.
func Write(path string, fill func(*os.File) error) (err error) {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*"+TempSuffix)
	if err != nil {
		return fmt.Errorf("durable: write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("durable: write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("durable: sync %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("durable: close %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("durable: rename %s: %w", path, err)
	}
	return SyncDir(dir)
}

// CreateNew creates path with data (mode 0600, its directory 0700 if missing) and refuses a
// path that exists, with an error that matches fs.ErrExist.
func CreateNew(path string, data []byte) error {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("durable: create %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("durable: create %s: %w", path, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("durable: create %s: %w", path, err)
	}
	return SyncDir(dir)
}

// SyncDir makes a directory's entries (creations, renames, deletions) durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("durable: sync %s: %w", dir, err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("durable: sync %s: %w", dir, err)
	}
	return nil
}
