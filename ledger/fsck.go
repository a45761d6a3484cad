package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
)

// ErrCorrupt is returned when stored entries or tree nodes do not hash to what the log
// signed.
var ErrCorrupt = errors.New("ledger: stored log is corrupt")

// Fsck re-hashes every stored entry, rebuilds the whole tree from them, compares every
// stored tree node with the rebuilt one, and the root with the last signed checkpoint. It
// reads the whole log: run it offline or at start (`commons serve --fsck`), not per request.
func (l *Log) Fsck(ctx context.Context) error {
	signed, size := l.Checkpoint()
	cp, err := l.openCheckpoint(signed)
	if err != nil {
		return err
	}
	rng := l.factory.NewEmptyRange(0)
	var bad error
	err = l.db.View(func(txn *badger.Txn) error {
		check := func(id compact.NodeID, hash []byte) {
			if bad != nil {
				return
			}
			stored, err := readValue(txn, nodeKey(id))
			if err != nil || !bytes.Equal(stored, hash) {
				bad = fmt.Errorf("%w: tree node %d/%d differs from the entries", ErrCorrupt, id.Level, id.Index)
			}
		}
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keyEntry})
		defer it.Close()
		want := uint64(0)
		for it.Rewind(); it.Valid() && want < size && bad == nil; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			if i := binary.BigEndian.Uint64(it.Item().Key()[len(keyEntry):]); i != want {
				return fmt.Errorf("%w: entry %d is missing", ErrCorrupt, want)
			}
			e, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := rng.Append(LeafHash(e), check); err != nil {
				return err
			}
			want++
		}
		if want != size && bad == nil {
			return fmt.Errorf("%w: entry %d is missing", ErrCorrupt, want)
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("ledger: fsck: %w", err)
	}
	if bad != nil {
		return fmt.Errorf("ledger: fsck: %w", bad)
	}
	root, err := rng.GetRootHash(nil)
	if err != nil {
		return fmt.Errorf("ledger: fsck: %w", err)
	}
	if root == nil {
		root = hasher.EmptyRoot()
	}
	if !bytes.Equal(root, cp.Hash) {
		return fmt.Errorf("ledger: fsck: %w: the entries' root differs from the signed checkpoint", ErrCorrupt)
	}
	return nil
}
