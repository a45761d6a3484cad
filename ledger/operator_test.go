package ledger

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOperatorCommitHook checks that OnCommit sees every committed entry exactly once, in
// batches no larger than MaxBatch, with a positive duration and no error.
func TestOperatorCommitHook(t *testing.T) {
	t.Parallel()
	k, db := newKeys(t), tempDB(t)
	var mu sync.Mutex
	var entries, batches int
	var slowest time.Duration
	l, err := Open(db, k.signer, k.verifier, Options{MaxBatch: 8, OnCommit: func(n, writes int, took time.Duration, err error) {
		mu.Lock()
		defer mu.Unlock()
		assert.NoError(t, err)
		assert.Zero(t, writes)
		assert.LessOrEqual(t, n, 8)
		entries += n
		batches++
		slowest = max(slowest, took)
	}})
	require.NoError(t, err)
	var wg sync.WaitGroup
	for i := range 100 {
		wg.Go(func() {
			_, err := l.Append(context.Background(), entry(i))
			assert.NoError(t, err)
		})
	}
	wg.Wait()
	require.NoError(t, l.Close())
	mu.Lock()
	defer mu.Unlock()
	assert.Equal(t, 100, entries)
	assert.GreaterOrEqual(t, batches, 100/8)
	assert.Positive(t, slowest)
}

// TestOperatorStoredCheckpoint checks that the stored checkpoint can be read without keys and
// is the one the log serves.
func TestOperatorStoredCheckpoint(t *testing.T) {
	t.Parallel()
	k, db := newKeys(t), tempDB(t)
	cp, size, err := StoredCheckpoint(db)
	require.NoError(t, err)
	assert.Nil(t, cp)
	assert.Zero(t, size)

	l := openLog(t, db, k)
	appendEntries(t, l, 5)
	want, wantSize := l.Checkpoint()
	require.NoError(t, l.Close())
	cp, size, err = StoredCheckpoint(db)
	require.NoError(t, err)
	assert.Equal(t, want, cp)
	assert.Equal(t, wantSize, size)
	assert.Equal(t, uint64(5), size)
}
