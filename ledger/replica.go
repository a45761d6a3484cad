package ledger

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/note"
)

// ErrReplica is returned by Append and Write on a replica: only Extend grows it.
var ErrReplica = errors.New("ledger: a replica is read-only: it only copies its source")

// OpenReplica opens a copy of another log, kept in db, whose checkpoints are signed by the
// holder of verifier's key: a mirror. It never signs; it grows only by Extend, with entries
// its source served and a checkpoint the source signed over them. Every read (entries, tiles,
// proofs, the checkpoint) answers as the source's own log would. Like Open it refuses a stored
// tree that does not match the last stored checkpoint.
func OpenReplica(db *badger.DB, verifier note.Verifier, opts Options) (*Log, error) {
	l := &Log{
		db: db, verifier: verifier, opts: opts.withDefaults(),
		factory: &compact.RangeFactory{Hash: hasher.HashChildren},
		reqs:    make(chan *request),
		stopped: make(chan struct{}),
		cache:   newNodeCache(),
	}
	close(l.stopped) // no sequencer
	if err := l.load(); err != nil {
		return nil, fmt.Errorf("ledger: open replica: %w", err)
	}
	return l, nil
}

// Extend adds entries, which the source logged after the replica's current size, and stores
// signed, the source's checkpoint over them. It verifies the checkpoint's signature, that it
// covers exactly the current entries and the new ones, and that the tree they make has the
// checkpoint's root; otherwise nothing is stored and the error wraps ErrProof. With no entries
// it replaces the checkpoint by one of the same tree. The private records are stored with the
// new checkpoint, atomically.
func (l *Log) Extend(entries [][]byte, signed []byte, private ...Put) (*log.Checkpoint, error) {
	if l.signer != nil {
		return nil, errors.New("ledger: extend: only a replica is extended")
	}
	l.extendMu.Lock()
	defer l.extendMu.Unlock()
	cp, err := l.openCheckpoint(signed)
	if err != nil {
		return nil, fmt.Errorf("ledger: extend: %w", err)
	}
	start := l.rng.End()
	if cp.Size != start+uint64(len(entries)) {
		return nil, fmt.Errorf("%w: checkpoint of size %d does not cover %d entries after %d", ErrProof, cp.Size, len(entries), start)
	}
	for _, p := range private {
		if bytes.HasPrefix(p.Key, []byte("l/")) {
			return nil, fmt.Errorf("ledger: extend: private key %q is in the log's space", p.Key)
		}
	}
	saved := slices.Clone(l.rng.Hashes())
	var ids []compact.NodeID
	var hashes [][]byte
	visit := func(id compact.NodeID, hash []byte) { ids, hashes = append(ids, id), append(hashes, hash) }
	restore := func() { l.rng, _ = l.factory.NewRange(0, start, saved) }
	for _, e := range entries {
		if err := l.rng.Append(LeafHash(e), visit); err != nil {
			restore()
			return nil, fmt.Errorf("ledger: extend: %w", err)
		}
	}
	root, err := l.root()
	if err != nil {
		restore()
		return nil, fmt.Errorf("ledger: extend: %w", err)
	}
	if !bytes.Equal(root, cp.Hash) {
		restore()
		return nil, fmt.Errorf("%w: entries %d…%d do not hash to the checkpoint's root", ErrProof, start, cp.Size)
	}
	if err := l.storeExtension(start, entries, ids, hashes, signed, private); err != nil {
		restore()
		return nil, fmt.Errorf("ledger: extend: %w", err)
	}
	l.cache.put(ids, hashes)
	l.mu.Lock()
	l.size, l.checkpoint = cp.Size, signed
	l.mu.Unlock()
	return cp, nil
}

// storeExtension writes the entries and tree nodes (in as many transactions as they need:
// nothing reads beyond the stored size, and a position's entry and nodes are fixed by the
// checkpoint that covers it), then the size, the checkpoint and the private records in one.
func (l *Log) storeExtension(start uint64, entries [][]byte, ids []compact.NodeID, hashes [][]byte, signed []byte, private []Put) error {
	wb := l.db.NewWriteBatch()
	defer wb.Cancel()
	for i, e := range entries {
		if err := wb.Set(entryKey(start+uint64(i)), e); err != nil {
			return err
		}
	}
	for i, id := range ids {
		if err := wb.Set(nodeKey(id), hashes[i]); err != nil {
			return err
		}
	}
	if err := wb.Flush(); err != nil {
		return err
	}
	return l.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(keySize, binary.BigEndian.AppendUint64(nil, start+uint64(len(entries)))); err != nil {
			return err
		}
		if err := txn.Set(keyCP, signed); err != nil {
			return err
		}
		for _, p := range private {
			if err := txn.Set(p.Key, p.Value); err != nil {
				return err
			}
		}
		return nil
	})
}
