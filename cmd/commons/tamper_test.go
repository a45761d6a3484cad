package main

import (
	enc "encoding/binary"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// TestTamperedLedgerIsCaught rewrites one byte of a stored ledger entry behind the server's
// back. An auditor's `ledger verify --all` against the running server fails, and
// `serve --fsck` refuses to start.
func TestTamperedLedgerIsCaught(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	state := filepath.Join(t.TempDir(), "audit.json")
	out, err := n.cli("", "ledger", "verify", "--all", "--state", state)
	require.NoError(t, err, out)
	n.stop()

	// Entry 0 is the purpose definition; flip one byte of its stored bytes.
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(data, "badger")).WithLogger(nil))
	require.NoError(t, err)
	key := enc.BigEndian.AppendUint64([]byte("l/e/"), 0)
	require.NoError(t, db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 0x20
		return txn.Set(key, v)
	}))
	require.NoError(t, db.Close())

	n = startNode(t, data, &nodetest.Logs{})
	out, err = n.cli("", "ledger", "verify", "--all", "--state", state)
	require.Error(t, err, "the auditor must notice: %s", out)
	assert.Contains(t, err.Error(), "FAILED")
	n.stop()

	bin, err := binary()
	require.NoError(t, err)
	cmd := exec.Command(bin, "serve", "--data", data, "--addr", "127.0.0.1:0", "--fsck")
	msg, err := cmd.CombinedOutput()
	require.Error(t, err, "serve --fsck must refuse a tampered ledger")
	assert.Contains(t, string(msg), "corrupt")
}
