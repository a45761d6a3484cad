package ledger

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A replica grows only by Extend with entries that make its source's signed root, answers as
// the source's log does, refuses appends, and reopens from its own database.
func TestReplicaCopiesItsSource(t *testing.T) {
	t.Parallel()
	src, _, k := newLog(t)
	appendEntries(t, src, 300)
	dir := t.TempDir()
	db := openDB(t, dir)
	r, err := OpenReplica(db, k.verifier, Options{})
	require.NoError(t, err)
	cp, size := r.Checkpoint()
	assert.Nil(t, cp, "an empty replica has no checkpoint")
	assert.Zero(t, size)
	assert.Equal(t, k.verifier.Name(), r.Origin())

	var entries [][]byte
	require.NoError(t, src.Scan(context.Background(), 0, 300, func(_ uint64, e []byte) error {
		entries = append(entries, e)
		return nil
	}))
	signed, _ := src.Checkpoint()

	// A wrong entry, or a checkpoint that covers another count, stores nothing.
	bad := append([][]byte{}, entries...)
	bad[7] = entry(1000)
	_, err = r.Extend(bad, signed)
	require.ErrorIs(t, err, ErrProof)
	_, err = r.Extend(entries[:299], signed)
	require.ErrorIs(t, err, ErrProof)
	assert.Zero(t, r.Size())

	_, err = r.Extend(entries, signed, Put{Key: []byte("m/x"), Value: []byte("y")})
	require.NoError(t, err)
	got, _ := r.Checkpoint()
	assert.Equal(t, signed, got)
	for _, p := range []TilePath{{Entries: true, Width: TileWidth}, {Level: 0, Index: 1, Width: 44}, {Level: 1, Width: 1}} {
		want, err := src.Tile(p)
		require.NoError(t, err)
		have, err := r.Tile(p)
		require.NoError(t, err)
		assert.Equal(t, want, have, p.String())
	}
	want, err := src.ConsistencyProof(10, 300)
	require.NoError(t, err)
	have, err := r.ConsistencyProof(10, 300)
	require.NoError(t, err)
	assert.Equal(t, want, have)

	_, err = r.Append(context.Background(), entry(1))
	require.ErrorIs(t, err, ErrReplica)
	require.ErrorIs(t, r.Write(context.Background(), Write{Puts: []Put{{Key: []byte("m/y"), Value: nil}}}), ErrReplica)
	_, err = src.Extend(nil, signed)
	require.Error(t, err, "a signing log is not extended")

	// It grows again from where it stopped, after a restart.
	require.NoError(t, r.Close())
	require.NoError(t, db.Close())
	db = openDB(t, dir)
	t.Cleanup(func() { db.Close() })
	r, err = OpenReplica(db, k.verifier, Options{})
	require.NoError(t, err)
	assert.Equal(t, uint64(300), r.Size())
	appendEntries(t, src, 2)
	signed, _ = src.Checkpoint()
	_, err = r.Extend([][]byte{entry(0), entry(1)}, signed)
	require.NoError(t, err)
	assert.Equal(t, uint64(302), r.Size())
}
