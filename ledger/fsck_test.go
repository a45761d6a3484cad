package ledger

import (
	"context"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/merkle/compact"
)

func TestFsckPassesOnAnIntactLog(t *testing.T) {
	t.Parallel()
	l, _, _ := newLog(t)
	require.NoError(t, l.Fsck(context.Background()), "an empty log")
	appendEntries(t, l, 300)
	require.NoError(t, l.Fsck(context.Background()))
}

// Tampering with the stored bytes — an entry or a tree node — is caught by Fsck, and a proof
// built on a tampered node no longer verifies.
func TestTamperingIsCaught(t *testing.T) {
	t.Parallel()
	set := func(db *badger.DB, k, v []byte) {
		require.NoError(t, db.Update(func(txn *badger.Txn) error { return txn.Set(k, v) }))
	}
	flip := func(db *badger.DB, k []byte) {
		var v []byte
		require.NoError(t, db.View(func(txn *badger.Txn) error {
			var err error
			v, err = readValue(txn, k)
			return err
		}))
		v[len(v)/2] ^= 1
		set(db, k, v)
	}
	for name, tamper := range map[string]func(*badger.DB){
		"entry byte":    func(db *badger.DB) { flip(db, entryKey(3)) },
		"leaf node":     func(db *badger.DB) { flip(db, nodeKey(compact.NewNodeID(0, 2))) },
		"interior node": func(db *badger.DB) { flip(db, nodeKey(compact.NewNodeID(2, 1))) },
		"missing entry": func(db *badger.DB) {
			require.NoError(t, db.Update(func(txn *badger.Txn) error { return txn.Delete(entryKey(7)) }))
		},
		"entry replaced": func(db *badger.DB) { set(db, entryKey(0), entry(999)) },
	} {
		t.Run(name, func(t *testing.T) {
			k := newKeys(t)
			db := openDB(t, t.TempDir())
			defer db.Close()
			l := openLog(t, db, k)
			appendEntries(t, l, 37)
			before, err := l.InclusionProof(3, 37)
			require.NoError(t, err)
			require.NoError(t, l.Close())
			tamper(db)
			// The border of the tree is intact, so the log opens; Fsck reads everything.
			l = openLog(t, db, k)
			defer l.Close()
			assert.ErrorIs(t, l.Fsck(context.Background()), ErrCorrupt)
			if name == "leaf node" {
				signed, _ := l.Checkpoint()
				cp, err := OpenCheckpoint(signed, k.verifier)
				require.NoError(t, err)
				after, err := l.InclusionProof(3, 37)
				require.NoError(t, err)
				assert.NotEqual(t, before, after)
				assert.Error(t, VerifyInclusion(cp, 3, LeafHash(entry(3)), after), "a verifier catches the bad proof")
			}
		})
	}
}

func TestReceiptsAreCheckedBeforeTheyAreGiven(t *testing.T) {
	t.Parallel()
	l, db, _ := newLog(t)
	appendEntries(t, l, 4)
	// While the log runs, the disk corrupts the stored node the next receipt's proof needs,
	// and the cache no longer holds it: the proof reads it from disk, and the log must refuse
	// to hand out a receipt that does not verify.
	require.NoError(t, db.Update(func(txn *badger.Txn) error {
		return txn.Set(nodeKey(compact.NewNodeID(2, 0)), make([]byte, 32))
	}))
	l.cache = newNodeCache()
	_, err := l.Append(context.Background(), entry(4))
	assert.ErrorIs(t, err, ErrCorrupt)
}
