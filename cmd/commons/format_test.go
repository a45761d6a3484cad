package main

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// backupOf writes a backup of a database whose ledger holds entries, as `commons backup`
// streams it.
func backupOf(t *testing.T, entries ...string) string {
	t.Helper()
	c := nodetest.New(t, nodetest.Options{Origin: "test.commons.local/format", Synced: true})
	for _, e := range entries {
		_, err := c.Ledger.Append(context.Background(), []byte(e))
		require.NoError(t, err)
	}
	file := filepath.Join(t.TempDir(), "backup")
	f, err := os.Create(file)
	require.NoError(t, err)
	_, err = c.DB.Backup(f, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return file
}

// TestRestoreRefusesAFormat1Backup restores backups into new data directories: a backup whose
// ledger holds format-1 petitions (made by the operator, signatures under node-keyed
// nullifiers) is refused like a format-1 directory, rather than written out as format 2 and
// served with those petitions skipped; a format-2 backup is restored.
func TestRestoreRefusesAFormat1Backup(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	old := backupOf(t,
		`{"body":{"id":"trees"},"hash":"ab","petition":"trees","type":"petition.create"}`,
		`{"nullifier":"00","petition":"trees","type":"petition.sign"}`)
	dir := filepath.Join(t.TempDir(), "data")
	_, err := restore(old, dir, logger)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data format 1")
	assert.NoFileExists(t, filepath.Join(dir, "FORMAT"))
	assert.NoDirExists(t, filepath.Join(dir, "badger"))

	current := backupOf(t,
		`{"body":{"id":"trees"},"citizen":"c-1","hash":"ab","petition":"trees","recipient":"age1x","type":"petition.create"}`,
		`{"epoch":"2026-05-04","nullifier":"00","petition":"trees","type":"petition.sign"}`)
	dir = filepath.Join(t.TempDir(), "data")
	_, err = restore(current, dir, logger)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 2\n", string(b))
}
