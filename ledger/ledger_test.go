package ledger

import (
	"context"
	"crypto/sha256"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"golang.org/x/mod/sumdb/tlog"
)

// checkAll verifies every inclusion proof at size n with two independent verifiers, and the
// root against the checkpoint.
func checkAll(t *testing.T, l *Log, k keys, entries [][]byte) *log.Checkpoint {
	t.Helper()
	signed, n := l.Checkpoint()
	cp, err := OpenCheckpoint(signed, k.verifier)
	require.NoError(t, err)
	require.Equal(t, n, cp.Size)
	require.Equal(t, uint64(len(entries)), n)
	var root tlog.Hash
	copy(root[:], cp.Hash)
	for i, e := range entries {
		got, err := l.Entry(uint64(i))
		require.NoError(t, err)
		require.Equal(t, e, got)
		p, err := l.InclusionProof(uint64(i), n)
		require.NoError(t, err)
		require.NoError(t, VerifyInclusion(cp, uint64(i), LeafHash(e), p), "merkle/proof, index %d", i)
		require.NoError(t, tlog.CheckRecord(toTlog(p), int64(n), root, int64(i), tlog.RecordHash(e)), "sumdb/tlog, index %d", i)
	}
	return cp
}

func toTlog(p [][]byte) []tlog.Hash {
	out := make([]tlog.Hash, len(p))
	for i := range p {
		copy(out[i][:], p[i])
	}
	return out
}

func TestEmptyLogHasSignedEmptyCheckpoint(t *testing.T) {
	t.Parallel()
	l, _, k := newLog(t)
	signed, n := l.Checkpoint()
	cp, err := OpenCheckpoint(signed, k.verifier)
	require.NoError(t, err)
	assert.Equal(t, uint64(0), n)
	empty := sha256.Sum256(nil)
	assert.Equal(t, empty[:], cp.Hash)
	_, err = l.Entry(0)
	assert.ErrorIs(t, err, ErrNotFound)
}

// Property: for random sequences of batches, every checkpoint is consistent with every
// earlier one, and every inclusion proof verifies with both verifiers.
func TestRandomAppendsStayConsistent(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	for seed := uint64(1); seed <= 5; seed++ {
		rng := rand.New(rand.NewPCG(seed, seed))
		l := openLog(t, openDB(t, t.TempDir()), k)
		var entries [][]byte
		var cps []*log.Checkpoint
		for round := 0; round < 12; round++ {
			n := rng.IntN(20) + 1
			var wg sync.WaitGroup
			entries = append(entries, make([][]byte, n)...)
			for j := 0; j < n; j++ {
				e := entry(rng.Int())
				wg.Go(func() {
					r, err := l.Append(context.Background(), e)
					if !assert.NoError(t, err) {
						return
					}
					_, err = VerifyReceipt(r, e, k.verifier)
					assert.NoError(t, err)
					// Record the entry at its index, to check its bytes later.
					entriesMu.Lock()
					entries[r.Index] = e
					entriesMu.Unlock()
				})
			}
			wg.Wait()
			cp := checkAll(t, l, k, entries)
			for _, old := range cps {
				p, err := l.ConsistencyProof(old.Size, cp.Size)
				require.NoError(t, err)
				require.NoError(t, VerifyConsistency(old, cp, p))
				var oh, nh tlog.Hash
				copy(oh[:], old.Hash)
				copy(nh[:], cp.Hash)
				require.NoError(t, tlog.CheckTree(toTlog(p), int64(cp.Size), nh, int64(old.Size), oh))
			}
			cps = append(cps, cp)
		}
		require.NoError(t, l.Close())
	}
}

var entriesMu sync.Mutex

func TestEverySizeUpTo100(t *testing.T) {
	t.Parallel()
	l, _, k := newLog(t)
	var entries [][]byte
	var cps []*log.Checkpoint
	for i := 0; i < 100; i++ {
		e := entry(i)
		_, err := l.Append(context.Background(), e)
		require.NoError(t, err)
		entries = append(entries, e)
		cps = append(cps, checkAll(t, l, k, entries))
	}
	for _, a := range cps {
		for _, b := range cps[a.Size-1:] {
			p, err := l.ConsistencyProof(a.Size, b.Size)
			require.NoError(t, err)
			require.NoError(t, VerifyConsistency(a, b, p), "%d→%d", a.Size, b.Size)
		}
	}
}

func TestReopenKeepsTreeAndRefusesRewrites(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	dir := t.TempDir()
	db := openDB(t, dir)
	l := openLog(t, db, k)
	var entries [][]byte
	for i := 0; i < 37; i++ {
		e := entry(i)
		_, err := l.Append(context.Background(), e, Put{Key: fmt.Appendf(nil, "p/%d", i), Value: []byte("private")})
		require.NoError(t, err)
		entries = append(entries, e)
	}
	before, _ := l.Checkpoint()
	require.NoError(t, l.Close())
	require.NoError(t, db.Close())

	db = openDB(t, dir)
	l = openLog(t, db, k)
	after, _ := l.Checkpoint()
	assert.Equal(t, before, after)
	checkAll(t, l, k, entries)
	// Private records were committed with their entries.
	require.NoError(t, db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte("p/36"))
		return err
	}))
	require.NoError(t, l.Close())

	// Rewrite one stored node behind the log's back: it must refuse to start.
	require.NoError(t, db.Update(func(txn *badger.Txn) error {
		return txn.Set(nodeKey(compactID(5, 0)), make([]byte, 32))
	}))
	_, err := Open(db, k.signer, k.verifier, Options{})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "does not match the last signed checkpoint")
	require.NoError(t, db.Close())
}

func TestRefusesForeignKeyAndPrivateKeysInLogSpace(t *testing.T) {
	t.Parallel()
	k, other := newKeys(t), newKeys(t)
	db := openDB(t, t.TempDir())
	_, err := Open(db, k.signer, other.verifier, Options{})
	require.Error(t, err)

	l := openLog(t, db, k)
	_, err = l.Append(context.Background(), entry(1), Put{Key: []byte("l/size"), Value: []byte("x")})
	require.Error(t, err)
	assert.Equal(t, uint64(0), l.Size())
	_, err = l.Append(context.Background(), make([]byte, MaxEntrySize+1))
	assert.ErrorIs(t, err, ErrTooLarge)
	require.NoError(t, l.Close())
	_, err = l.Append(context.Background(), entry(2))
	assert.ErrorIs(t, err, ErrClosed)
}

func TestApplySeesEntriesInLogOrder(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	var mu sync.Mutex
	var seen []uint64
	l, err := Open(openDB(t, t.TempDir()), k.signer, k.verifier, Options{Apply: func(first uint64, entries [][]byte) {
		mu.Lock()
		for i := range entries {
			seen = append(seen, first+uint64(i))
		}
		mu.Unlock()
	}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := 0; i < 200; i++ {
		wg.Go(func() {
			_, err := l.Append(context.Background(), entry(i))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	require.NoError(t, l.Close())
	require.Len(t, seen, 200)
	for i, idx := range seen {
		assert.Equal(t, uint64(i), idx)
	}
}

func compactID(level uint, index uint64) compact.NodeID { return compact.NewNodeID(level, index) }
