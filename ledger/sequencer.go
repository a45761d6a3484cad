package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/commons-city/commons/api"
)

// Put is a private record: something the node must keep that does not belong in the public
// log (for example a resident's neighbourhood), written atomically with a ledger entry (Append)
// or on its own (Write). Its key must not start with "l/".
type Put struct {
	Key, Value []byte
}

// Absent is a precondition of a Write: the write is refused with Err if Key is present, whether
// committed before or put by an earlier request of the same batch (a batch's transaction reads
// its own writes).
type Absent struct {
	Key []byte
	Err error
}

// Write is a durable write of private records that logs no entry: the sequencer commits it in
// the same transaction as the appends and writes queued with it.
type Write struct {
	// Require is checked in order before anything of the write is done: the first key present
	// refuses the whole write with its Err.
	Require []Absent
	// Puts are the records set.
	Puts []Put
	// Deletes are the keys deleted. None may start with "l/".
	Deletes [][]byte
}

// request is one append (logged) or write waiting for the sequencer, and then its outcome.
type request struct {
	logged  bool // an append: entry is added to the log
	entry   []byte
	require []Absent
	puts    []Put
	deletes [][]byte
	bytes   int
	done    chan result
}

// newRequest checks that no private key is in the log's space and that every precondition has
// an error to refuse with, and counts the request's bytes.
func newRequest(logged bool, entry []byte, w Write) (*request, error) {
	r := &request{logged: logged, entry: entry, require: w.Require, puts: w.Puts, deletes: w.Deletes,
		bytes: len(entry), done: make(chan result, 1)}
	for _, a := range w.Require {
		if a.Err == nil {
			return nil, fmt.Errorf("precondition on %q has no error", a.Key)
		}
	}
	for _, p := range w.Puts {
		if bytes.HasPrefix(p.Key, []byte("l/")) {
			return nil, fmt.Errorf("private key %q is in the log's space", p.Key)
		}
		r.bytes += len(p.Key) + len(p.Value)
	}
	for _, k := range w.Deletes {
		if bytes.HasPrefix(k, []byte("l/")) {
			return nil, fmt.Errorf("private key %q is in the log's space", k)
		}
		r.bytes += len(k)
	}
	return r, nil
}

type result struct {
	index, size uint64
	checkpoint  []byte
	root        []byte
	refused     error // the Err of a write's first unmet precondition
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
	r, err := newRequest(true, entry, Write{Puts: private})
	if err != nil {
		return api.Receipt{}, fmt.Errorf("ledger: append: %w", err)
	}
	if err := l.enqueue(ctx, r, "append"); err != nil {
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

// Logged is one entry of AppendAll with the private records written and deleted atomically
// with it (its Write's Require is not allowed: an append is never refused).
type Logged struct {
	Entry []byte
	Write Write
}

// AppendAll queues entries in their order, one after the other, and returns once every one is
// durable, with their indexes. Entries of other callers may fall between them, never an entry
// of theirs out of order. Each entry's private records are committed atomically with it. Like
// Append, it waits for every queued entry even if ctx ends.
func (l *Log) AppendAll(ctx context.Context, entries []Logged) ([]uint64, error) {
	reqs := make([]*request, 0, len(entries))
	for _, e := range entries {
		if len(e.Entry) > MaxEntrySize {
			return nil, ErrTooLarge
		}
		if len(e.Write.Require) > 0 {
			return nil, errors.New("ledger: append all: an append has no precondition")
		}
		r, err := newRequest(true, e.Entry, e.Write)
		if err != nil {
			return nil, fmt.Errorf("ledger: append all: %w", err)
		}
		reqs = append(reqs, r)
	}
	var queued []*request
	var err error
	for _, r := range reqs {
		if err = l.enqueue(ctx, r, "append all"); err != nil {
			break
		}
		queued = append(queued, r)
	}
	out := make([]uint64, 0, len(queued))
	for _, r := range queued {
		res := <-r.done
		if res.err != nil && err == nil {
			err = fmt.Errorf("ledger: append all: %w", res.err)
		}
		out = append(out, res.index)
	}
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Write commits w in the sequencer's next batch, with the appends and writes queued beside it,
// and returns once it is durable. If a precondition is unmet it returns that precondition's Err
// and nothing of w is written. A batch of writes alone grows no tree and signs no checkpoint.
// Once queued, a write is never abandoned: Write waits for the commit even if ctx ends.
func (l *Log) Write(ctx context.Context, w Write) error {
	r, err := newRequest(false, nil, w)
	if err != nil {
		return fmt.Errorf("ledger: write: %w", err)
	}
	if err := l.enqueue(ctx, r, "write"); err != nil {
		return err
	}
	res := <-r.done
	if res.err != nil {
		return fmt.Errorf("ledger: write: %w", res.err)
	}
	return res.refused
}

func (l *Log) enqueue(ctx context.Context, r *request, op string) error {
	if l.signer == nil {
		return ErrReplica
	}
	l.closeMu.RLock()
	defer l.closeMu.RUnlock()
	if l.closed {
		return ErrClosed
	}
	select {
	case l.reqs <- r:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("ledger: %s: %w", op, ctx.Err())
	}
}

// Close stops accepting appends and writes, commits every one already queued, and waits for
// the sequencer to finish. It does not close the Badger database.
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

// sequence is the one goroutine that writes to the database: it grows the tree and commits
// queued appends and writes in batches.
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
		l.settling.Lock()
		l.commit(batch)
		l.settling.Unlock()
	}
}

// Settle waits until the read model has caught up with Badger: until every batch committed so
// far has been applied (Options.Apply). A batch is committed before it is applied, so a reader
// that checks a record in Badger and then the read model can find neither (a pending petition
// act that has just landed); after Settle the read model holds what Badger held.
func (l *Log) Settle() {
	l.settling.RLock()
	defer l.settling.RUnlock()
}

// commit writes one batch in one transaction and answers its waiters. A batch too big for one
// Badger transaction is committed in two halves, in order; a single request too big fails.
func (l *Log) commit(batch []*request) {
	start := l.rng.End()
	saved := slices.Clone(l.rng.Hashes())
	began := time.Now()
	out, err := l.write(batch)
	took := time.Since(began)
	if err != nil {
		// Nothing was committed: put the tree back as it was.
		l.rng, _ = l.factory.NewRange(0, start, saved)
		if errors.Is(err, badger.ErrTxnTooBig) && len(batch) > 1 {
			l.commit(batch[:len(batch)/2])
			l.commit(batch[len(batch)/2:])
			return
		}
	}
	if l.opts.OnCommit != nil {
		appends := 0
		for _, r := range batch {
			if r.logged {
				appends++
			}
		}
		defer l.opts.OnCommit(appends, len(batch)-appends, took, err)
	}
	if err != nil {
		l.opts.Logger.Error("ledger: batch commit failed", "requests", len(batch), "err", err)
		for _, r := range batch {
			r.done <- result{err: err}
		}
		return
	}
	size := l.rng.End()
	if out.entries > 0 {
		l.cache.put(out.ids, out.hashes)
		if l.opts.Apply != nil {
			entries := make([][]byte, 0, out.entries)
			for _, r := range batch {
				if r.logged {
					entries = append(entries, r.entry)
				}
			}
			l.opts.Apply(start, entries)
		}
		l.mu.Lock()
		l.size, l.checkpoint = size, out.checkpoint
		l.mu.Unlock()
	}
	index := start
	for i, r := range batch {
		if !r.logged {
			r.done <- result{refused: out.refused[i]}
			continue
		}
		r.done <- result{index: index, size: size, checkpoint: out.checkpoint, root: out.root}
		index++
	}
}

// written is what one committed batch changed.
type written struct {
	entries          int     // appends in the batch
	refused          []error // per request: the Err of an unmet precondition, or nil
	checkpoint, root []byte  // the new signed checkpoint and root, if entries > 0
	ids              []compact.NodeID
	hashes           [][]byte // the tree nodes stored
}

// write commits one batch, in order: each write's preconditions are checked against what the
// transaction holds (earlier batches and earlier requests of this one), then its records are
// written, and each append's entry is added to the tree. A batch with appends ends with the
// new size and a new signed checkpoint.
func (l *Log) write(batch []*request) (out written, err error) {
	txn := l.db.NewTransaction(true)
	defer txn.Discard()
	var setErr error
	set := func(k, v []byte) {
		if setErr == nil {
			setErr = txn.Set(k, v)
		}
	}
	del := func(k []byte) {
		if setErr == nil {
			setErr = txn.Delete(k)
		}
	}
	visit := func(id compact.NodeID, hash []byte) {
		set(nodeKey(id), hash)
		out.ids, out.hashes = append(out.ids, id), append(out.hashes, hash)
	}
	out.refused = make([]error, len(batch))
	for i, r := range batch {
		if out.refused[i], err = unmet(txn, r.require); err != nil {
			return written{}, err
		} else if out.refused[i] != nil {
			continue
		}
		if r.logged {
			set(entryKey(l.rng.End()), r.entry)
			if err := l.rng.Append(LeafHash(r.entry), visit); err != nil {
				return written{}, err
			}
			out.entries++
		}
		for _, p := range r.puts {
			set(p.Key, p.Value)
		}
		for _, k := range r.deletes {
			del(k)
		}
	}
	if out.entries > 0 {
		if out.root, err = l.root(); err != nil {
			return written{}, err
		}
		size := l.rng.End()
		if out.checkpoint, err = l.sign(size, out.root); err != nil {
			return written{}, err
		}
		set(keySize, binary.BigEndian.AppendUint64(nil, size))
		set(keyCP, out.checkpoint)
	}
	if setErr != nil {
		return written{}, setErr
	}
	if err := txn.Commit(); err != nil {
		return written{}, fmt.Errorf("commit: %w", err)
	}
	return out, nil
}

// unmet returns the Err of the first precondition whose key txn holds, or nil.
func unmet(txn *badger.Txn, require []Absent) (refused, err error) {
	for _, a := range require {
		_, err := txn.Get(a.Key)
		if err == nil {
			return a.Err, nil
		}
		if !errors.Is(err, badger.ErrKeyNotFound) {
			return nil, fmt.Errorf("check %q: %w", a.Key, err)
		}
	}
	return nil, nil
}
