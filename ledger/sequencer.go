package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/commons-city/commons/api"

	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"
)

// Put is a private record written in the same transaction as a ledger entry: something the
// server must keep about the entry (for example a resident's neighbourhood) that does not
// belong in the public log. Its key must not start with "l/".
type Put struct {
	Key, Value []byte
}

type request struct {
	entry   []byte
	private []Put
	bytes   int
	done    chan result
}

type result struct {
	index, size uint64
	checkpoint  []byte
	root        []byte
	err         error
}

// Append adds entry to the log and returns once it is durable, with its receipt. The private
// records are committed atomically with it. Once queued, an append is never abandoned: Append
// waits for the commit even if ctx ends, so that a caller never mistakes a durable entry for a
// lost one.
func (l *Log) Append(ctx context.Context, entry []byte, private ...Put) (api.Receipt, error) {
	if len(entry) > MaxEntrySize {
		return api.Receipt{}, ErrTooLarge
	}
	r := &request{entry: entry, private: private, bytes: len(entry), done: make(chan result, 1)}
	for _, p := range private {
		if bytes.HasPrefix(p.Key, []byte("l/")) {
			return api.Receipt{}, fmt.Errorf("ledger: append: private key %q is in the log's space", p.Key)
		}
		r.bytes += len(p.Key) + len(p.Value)
	}
	if err := l.enqueue(ctx, r); err != nil {
		return api.Receipt{}, err
	}
	res := <-r.done
	if res.err != nil {
		return api.Receipt{}, fmt.Errorf("ledger: append: %w", res.err)
	}
	path, fromDisk, err := l.inclusionProof(res.index, res.size)
	if err != nil {
		return api.Receipt{}, fmt.Errorf("ledger: append: %w", err)
	}
	// A receipt that does not verify would be a broken promise: when its proof read nodes from
	// disk, which could have been corrupted behind the log's back, check it before giving it.
	// Nodes from the cache were computed by this process's sequencer.
	leaf := LeafHash(entry)
	if !fromDisk {
		return api.Receipt{Index: res.index, LeafHash: leaf, Checkpoint: string(res.checkpoint), Proof: path}, nil
	}
	if err := proof.VerifyInclusion(hasher, res.index, res.size, leaf, path, res.root); err != nil {
		l.opts.Logger.Error("ledger: receipt does not verify: stored nodes are corrupt", "index", res.index, "err", err)
		return api.Receipt{}, fmt.Errorf("ledger: append: %w", ErrCorrupt)
	}
	return api.Receipt{Index: res.index, LeafHash: leaf, Checkpoint: string(res.checkpoint), Proof: path}, nil
}

func (l *Log) enqueue(ctx context.Context, r *request) error {
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.reqs <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ledger: append: %w", ctx.Err())
	}
}

// Close stops accepting appends, commits every append already queued, and waits for the
// sequencer to finish. It does not close the Badger database.
func (l *Log) Close() error {
	l.closeMu.Lock()
	if !l.closed {
		l.closed = true
		close(l.reqs)
	}
	l.closeMu.Unlock()
	<-l.stopped
	return nil
}

// sequence is the one goroutine that grows the tree: it commits queued appends in batches.
func (l *Log) sequence() {
	defer close(l.stopped)
	for first := range l.reqs {
		batch, n := []*request{first}, first.bytes
	drain:
		for len(batch) < l.opts.MaxBatch && n < l.opts.MaxBatchBytes {
			select {
			case r, ok := <-l.reqs:
				if !ok {
					break drain
				}
				batch, n = append(batch, r), n+r.bytes
			default:
				break drain
			}
		}
		l.commit(batch)
	}
}

// commit writes one batch in one transaction and acknowledges its waiters.
func (l *Log) commit(batch []*request) {
	start := l.rng.End()
	saved := slices.Clone(l.rng.Hashes())
	began := time.Now()
	cp, root, ids, hashes, err := l.write(batch)
	took := time.Since(began)
	if l.opts.OnCommit != nil {
		defer l.opts.OnCommit(len(batch), took, err)
	}
	if err != nil {
		// Nothing was committed: put the tree back as it was and fail the whole batch.
		l.rng, _ = l.factory.NewRange(0, start, saved)
		l.opts.Logger.Error("ledger: batch commit failed", "entries", len(batch), "err", err)
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	size := l.rng.End()
	l.cache.put(ids, hashes)
	if l.opts.Apply != nil {
		entries := make([][]byte, len(batch))
		for i, r := range batch {
			entries[i] = r.entry
		}
		l.opts.Apply(start, entries)
	}
	l.mu.Lock()
	l.size, l.checkpoint = size, cp
	l.mu.Unlock()
	for i, r := range batch {
		r.done <- result{index: start + uint64(i), size: size, checkpoint: cp, root: root}
	}
}

// write commits one batch and returns the new checkpoint and the tree nodes it stored.
func (l *Log) write(batch []*request) (cp, root []byte, ids []compact.NodeID, hashes [][]byte, err error) {
	txn := l.db.NewTransaction(true)
	defer txn.Discard()
	var setErr error
	set := func(k, v []byte) {
		if setErr == nil {
			setErr = txn.Set(k, v)
		}
	}
	visit := func(id compact.NodeID, hash []byte) {
		set(nodeKey(id), hash)
		ids, hashes = append(ids, id), append(hashes, hash)
	}
	for _, r := range batch {
		set(entryKey(l.rng.End()), r.entry)
		if err := l.rng.Append(LeafHash(r.entry), visit); err != nil {
			return nil, nil, nil, nil, err
		}
		for _, p := range r.private {
			set(p.Key, p.Value)
		}
	}
	if root, err = l.root(); err != nil {
		return nil, nil, nil, nil, err
	}
	size := l.rng.End()
	if cp, err = l.sign(size, root); err != nil {
		return nil, nil, nil, nil, err
	}
	set(keySize, binary.BigEndian.AppendUint64(nil, size))
	set(keyCP, cp)
	if setErr != nil {
		return nil, nil, nil, nil, setErr
	}
	if err := txn.Commit(); err != nil {
		return nil, nil, nil, nil, fmt.Errorf("commit: %w", err)
	}
	return cp, root, ids, hashes, nil
}
