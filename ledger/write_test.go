package ledger

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// batches records every commit of a log, and holds the sequencer inside the first one until
// release is called, so that a test can queue requests that will all be in the next batch.
type batches struct {
	mu      sync.Mutex
	commits []batchStat
	held    chan struct{} // closed once the first commit waits
	hold    chan struct{} // the first commit waits until it is closed
}

// batchStat is one commit attempt as OnCommit saw it.
type batchStat struct {
	appends, writes int
	err             error
}

func newBatches() *batches {
	return &batches{held: make(chan struct{}), hold: make(chan struct{})}
}

func (b *batches) onCommit(appends, writes int, _ time.Duration, err error) {
	b.mu.Lock()
	b.commits = append(b.commits, batchStat{appends, writes, err})
	first := len(b.commits) == 1
	b.mu.Unlock()
	if first {
		close(b.held)
		<-b.hold
	}
}

func (b *batches) release() { close(b.hold) }

func (b *batches) stats() []batchStat {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]batchStat(nil), b.commits...)
}

// heldLog opens a log whose sequencer is held inside its first commit (an append of entry(0)).
func heldLog(t *testing.T, db *badger.DB, k keys, opts Options) (*Log, *batches) {
	t.Helper()
	b := newBatches()
	opts.OnCommit = b.onCommit
	l, err := Open(db, k.signer, k.verifier, opts)
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	go func() {
		_, err := l.Append(context.Background(), entry(0))
		assert.NoError(t, err)
	}()
	<-b.held
	return l, b
}

// queue runs f on its own goroutine and returns once f's request is queued: requests queued
// one after another are batched in that order.
func queue(l *Log, wg *sync.WaitGroup, f func()) {
	n := len(l.reqs)
	wg.Go(f)
	for len(l.reqs) == n {
		runtime.Gosched()
	}
}

func has(t *testing.T, db *badger.DB, key string) bool {
	t.Helper()
	err := db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(key))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false
	}
	require.NoError(t, err)
	return true
}

func put(key string) Put { return Put{Key: []byte(key), Value: []byte("v")} }

func TestWritesAndAppendsShareOneCommit(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	l, b := heldLog(t, db, newKeys(t), Options{})
	var wg sync.WaitGroup
	queue(l, &wg, func() { assert.NoError(t, l.Write(context.Background(), Write{Puts: []Put{put("p/a")}})) })
	queue(l, &wg, func() {
		_, err := l.Append(context.Background(), entry(1), put("p/b"))
		assert.NoError(t, err)
	})
	queue(l, &wg, func() { assert.NoError(t, l.Write(context.Background(), Write{Puts: []Put{put("p/c")}})) })
	b.release()
	wg.Wait()

	assert.Equal(t, []batchStat{{1, 0, nil}, {1, 2, nil}}, b.stats(), "one transaction for the append and both writes")
	for _, k := range []string{"p/a", "p/b", "p/c"} {
		assert.True(t, has(t, db, k), k)
	}
	assert.Equal(t, uint64(2), l.Size())
}

func TestWriteAloneGrowsNoTreeAndSignsNoCheckpoint(t *testing.T) {
	t.Parallel()
	k, db := newKeys(t), tempDB(t)
	applied := 0
	l, err := Open(db, k.signer, k.verifier, Options{Apply: func(uint64, [][]byte) { applied++ }})
	require.NoError(t, err)
	_, err = l.Append(context.Background(), entry(0))
	require.NoError(t, err)
	cp, size := l.Checkpoint()

	require.NoError(t, l.Write(context.Background(), Write{Puts: []Put{put("p/a")}}))
	require.NoError(t, l.Write(context.Background(), Write{Deletes: [][]byte{[]byte("p/a")}}))
	require.NoError(t, l.Close())

	after, afterSize := l.Checkpoint()
	assert.Equal(t, cp, after)
	assert.Equal(t, size, afterSize)
	stored, storedSize, err := StoredCheckpoint(db)
	require.NoError(t, err)
	assert.Equal(t, cp, stored, "no new checkpoint on disk")
	assert.Equal(t, uint64(1), storedSize)
	assert.Equal(t, 1, applied, "the read model sees entries only")
	assert.False(t, has(t, db, "p/a"), "deleted")
}

// Requests of one batch see the writes of those queued before them: a nonce used earlier in
// the batch is a replay, a day closed earlier in the batch refuses later copies, and a refused
// write writes nothing.
func TestPreconditionsSeeEarlierRequestsOfTheSameBatch(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	l, b := heldLog(t, db, newKeys(t), Options{})
	errReplay, errClosed := errors.New("replay"), errors.New("closed")
	contribution := func(nonce, copy string) Write {
		return Write{
			Require: []Absent{{Key: []byte("n/" + nonce), Err: errReplay}, {Key: []byte("c/day"), Err: errClosed}},
			Puts:    []Put{put("n/" + nonce), put("s/" + copy)},
		}
	}
	errs := make([]error, 4)
	var wg sync.WaitGroup
	queue(l, &wg, func() { errs[0] = l.Write(context.Background(), contribution("1", "first")) })
	queue(l, &wg, func() { errs[1] = l.Write(context.Background(), contribution("1", "replayed")) })
	queue(l, &wg, func() { errs[2] = l.Write(context.Background(), Write{Puts: []Put{put("c/day")}}) })
	queue(l, &wg, func() { errs[3] = l.Write(context.Background(), contribution("2", "late")) })
	b.release()
	wg.Wait()

	assert.Equal(t, []batchStat{{1, 0, nil}, {0, 4, nil}}, b.stats())
	assert.NoError(t, errs[0])
	assert.ErrorIs(t, errs[1], errReplay)
	assert.NoError(t, errs[2])
	assert.ErrorIs(t, errs[3], errClosed)
	assert.True(t, has(t, db, "s/first"))
	assert.False(t, has(t, db, "s/replayed"))
	assert.False(t, has(t, db, "s/late"))
	assert.False(t, has(t, db, "n/2"), "a refused write uses no nonce")
}

// A batch too big for one Badger transaction is committed in halves, in queue order, and a
// request too big on its own fails alone.
func TestBatchTooBigIsCommittedInHalves(t *testing.T) {
	t.Parallel()
	// Badger refuses a transaction over 15 % of a memtable: about 150 KiB here.
	db, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil).WithSyncWrites(true).
		WithMemTableSize(1 << 20).WithValueThreshold(1 << 10))
	require.NoError(t, err)
	defer db.Close()
	k := newKeys(t)
	l, b := heldLog(t, db, k, Options{Logger: slog.New(slog.DiscardHandler)})
	// records returns n private records of 500 bytes (kept in the LSM tree, so counted whole).
	records := func(tag string, n int) []Put {
		out := make([]Put, n)
		for i := range out {
			out[i] = Put{Key: fmt.Appendf(nil, "p/%s/%d", tag, i), Value: make([]byte, 500)}
		}
		return out
	}
	errs := make([]error, 6)
	var wg sync.WaitGroup
	for i := range 6 {
		queue(l, &wg, func() {
			if i == 3 {
				errs[i] = l.Write(context.Background(), Write{Puts: records("huge", 400)})
				return
			}
			_, errs[i] = l.Append(context.Background(), entry(i+1), records(fmt.Sprint(i), 60)...)
		})
	}
	b.release()
	wg.Wait()

	for i, err := range errs {
		if i == 3 {
			assert.ErrorIs(t, err, badger.ErrTxnTooBig)
			continue
		}
		assert.NoError(t, err, "request %d", i)
	}
	want := [][]byte{entry(0), entry(1), entry(2), entry(3), entry(5), entry(6)}
	require.Equal(t, uint64(len(want)), l.Size())
	for i, e := range want {
		got, err := l.Entry(uint64(i))
		require.NoError(t, err)
		assert.Equal(t, e, got, "entries keep their queue order")
	}
	for _, i := range []int{0, 1, 2, 4, 5} {
		assert.True(t, has(t, db, fmt.Sprintf("p/%d/59", i)), "the records of request %d", i)
	}
	assert.False(t, has(t, db, "p/huge/0"))
	assert.Equal(t, []batchStat{{1, 0, nil}, {3, 0, nil}, {0, 1, badger.ErrTxnTooBig}, {2, 0, nil}}, b.stats(),
		"halves, then halves of the half still too big; the failed attempts are not reported")
	require.NoError(t, l.Close())
	// The stored tree matches its last signed checkpoint: the log opens again.
	l, err = Open(db, k.signer, k.verifier, Options{})
	require.NoError(t, err)
	require.NoError(t, l.Close())
}

func TestWriteRefusesKeysInTheLogSpaceAndSilentPreconditions(t *testing.T) {
	t.Parallel()
	l, db, _ := newLog(t)
	assert.Error(t, l.Write(context.Background(), Write{Puts: []Put{put("l/size")}}))
	assert.Error(t, l.Write(context.Background(), Write{Deletes: [][]byte{[]byte("l/cp")}}))
	assert.Error(t, l.Write(context.Background(), Write{Require: []Absent{{Key: []byte("p/a")}}, Puts: []Put{put("p/a")}}),
		"a precondition without an error would refuse a write silently")
	assert.False(t, has(t, db, "p/a"))
	require.NoError(t, l.Close())
	assert.ErrorIs(t, l.Write(context.Background(), Write{Puts: []Put{put("p/a")}}), ErrClosed)
}

func TestAppendAllKeepsOrderAndCommitsPrivateRecordsWithEachEntry(t *testing.T) {
	t.Parallel()
	db := tempDB(t)
	k := newKeys(t)
	l, err := Open(db, k.signer, k.verifier, Options{})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	require.NoError(t, l.Write(context.Background(), Write{Puts: []Put{put("p/pending-1"), put("p/pending-2")}}))
	idx, err := l.AppendAll(context.Background(), []Logged{
		{Entry: entry(7), Write: Write{Puts: []Put{put("p/done-1")}, Deletes: [][]byte{[]byte("p/pending-1")}}},
		{Entry: entry(3), Write: Write{Puts: []Put{put("p/done-2")}, Deletes: [][]byte{[]byte("p/pending-2")}}},
	})
	require.NoError(t, err)
	assert.Equal(t, []uint64{0, 1}, idx)
	for i, want := range [][]byte{entry(7), entry(3)} {
		got, err := l.Entry(uint64(i))
		require.NoError(t, err)
		assert.Equal(t, want, got)
	}
	assert.True(t, has(t, db, "p/done-1"))
	assert.True(t, has(t, db, "p/done-2"))
	assert.False(t, has(t, db, "p/pending-1"))
	assert.False(t, has(t, db, "p/pending-2"))
	_, err = l.AppendAll(context.Background(), []Logged{{Entry: entry(1), Write: Write{Require: []Absent{{Key: []byte("p/x"), Err: errors.New("x")}}}}})
	assert.Error(t, err, "an append has no precondition")
}

// A batch is committed to Badger before the read model applies it; while it is applied, Settle
// waits, and once Append returns it does not.
func TestSettleWaitsForTheReadModel(t *testing.T) {
	t.Parallel()
	k, db := newKeys(t), tempDB(t)
	var l *Log
	heldDuringApply := make(chan bool, 1)
	l, err := Open(db, k.signer, k.verifier, Options{Apply: func(uint64, [][]byte) {
		// Badger already holds the batch's write; a reader that tried to settle now must wait.
		free := l.settling.TryRLock()
		if free {
			l.settling.RUnlock()
		}
		heldDuringApply <- !free && has(t, db, "p/a")
	}})
	require.NoError(t, err)
	_, err = l.AppendAll(context.Background(), []Logged{{Entry: entry(0), Write: Write{Puts: []Put{put("p/a")}}}})
	require.NoError(t, err)
	assert.True(t, <-heldDuringApply, "Settle waits while a committed batch is applied")
	l.Settle() // returns: nothing is being applied
	require.NoError(t, l.Close())
}
