package ledger

import (
	"context"
	"encoding/binary"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/tlog"
)

// c2sp turns a sumdb tile path ("tile/8/L/…") into the C2SP one ("tile/L/…"), which differs
// only by the height element.
func c2sp(t tlog.Tile) string { return strings.Replace(t.Path(), "tile/8/", "tile/", 1) }

func TestTilePathsMatchSumdb(t *testing.T) {
	t.Parallel()
	for _, tile := range []tlog.Tile{
		{H: 8, L: 0, N: 0, W: 256}, {H: 8, L: 1, N: 5, W: 17}, {H: 8, L: 2, N: 1234067, W: 256},
		{H: 8, L: 0, N: 999, W: 1}, {H: 8, L: 0, N: 1000, W: 255}, {H: 8, L: -1, N: 3, W: 256},
	} {
		want := c2sp(tile)
		if tile.L == -1 {
			want = strings.Replace(tile.Path(), "tile/8/data/", "tile/entries/", 1)
		}
		p, err := ParseTilePath(want)
		require.NoError(t, err, want)
		assert.Equal(t, want, p.String())
		assert.Equal(t, uint64(tile.N), p.Index)
		assert.Equal(t, tile.W, p.Width)
		assert.Equal(t, tile.L == -1, p.Entries)
	}
	for _, bad := range []string{"tile/0/1", "tile/0/x001", "tile/0/001.p/0", "tile/0/001.p/256",
		"tile/64/000", "tile/0/x000/001", "tile/00/001", "tile/0/001.p/07", "tile/entries", "checkpoint",
		"tile/0/x999/x999/x999/x999/x999/x999/x999/000"} {
		_, err := ParseTilePath(bad)
		assert.ErrorIs(t, err, ErrBadTilePath, bad)
	}
}

// tileReader fetches our tiles for sumdb/tlog, which then checks every hash it reads against
// the tree root: an independent implementation verifying our tiles.
type tileReader struct{ l *Log }

func (r tileReader) Height() int { return TileHeight }

func (r tileReader) ReadTiles(tiles []tlog.Tile) ([][]byte, error) {
	out := make([][]byte, len(tiles))
	for i, t := range tiles {
		p, err := ParseTilePath(c2sp(t))
		if err != nil {
			return nil, err
		}
		if out[i], err = r.l.Tile(p); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func (tileReader) SaveTiles([]tlog.Tile, [][]byte) {}

func TestTilesProveEveryEntryWithSumdb(t *testing.T) {
	t.Parallel()
	l, _, k := newLog(t)
	var entries [][]byte
	for i := 0; i < 700; i++ {
		entries = append(entries, entry(i))
	}
	for _, e := range entries {
		_, err := l.Append(context.Background(), e)
		require.NoError(t, err)
	}
	signed, n := l.Checkpoint()
	cp, err := OpenCheckpoint(signed, k.verifier)
	require.NoError(t, err)
	var tree tlog.Tree
	tree.N = int64(n)
	copy(tree.Hash[:], cp.Hash)
	hr := tlog.TileHashReader(tree, tileReader{l})
	for _, i := range []int64{0, 1, 255, 256, 511, 600, 699} {
		p, err := tlog.ProveRecord(tree.N, i, hr)
		require.NoError(t, err, "index %d", i)
		require.NoError(t, tlog.CheckRecord(p, tree.N, tree.Hash, i, tlog.RecordHash(entries[i])))
	}

	// Entry bundles carry every entry, uint16 length-prefixed.
	bundle, err := l.Tile(TilePath{Entries: true, Index: 2, Width: 700 - 512})
	require.NoError(t, err)
	for i := 512; i < 700; i++ {
		require.GreaterOrEqual(t, len(bundle), 2)
		n := int(binary.BigEndian.Uint16(bundle))
		assert.Equal(t, entries[i], bundle[2:2+n])
		bundle = bundle[2+n:]
	}
	assert.Empty(t, bundle)

	// Tiles beyond the tree are not served.
	_, err = l.Tile(TilePath{Index: 2, Width: TileWidth})
	assert.ErrorIs(t, err, ErrNotFound, "the third level-0 tile is not full yet")
	_, err = l.Tile(TilePath{Level: 1, Index: 0, Width: 3})
	assert.ErrorIs(t, err, ErrNotFound, "700 entries make only 2 level-1 hashes")
}
