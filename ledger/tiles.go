package ledger

import (
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
)

// TileHeight is the height of C2SP tlog-tiles: a tile holds up to 256 hashes of one tree level.
const TileHeight = 8

// TileWidth is the number of hashes (or entries) in a full tile.
const TileWidth = 1 << TileHeight

// TilePath is a parsed C2SP tlog-tiles path below the log prefix: "tile/<L>/<N>[.p/<W>]" or
// "tile/entries/<N>[.p/<W>]". Width is TileWidth for a full tile.
type TilePath struct {
	Entries bool
	Level   uint64
	Index   uint64
	Width   int
}

// ErrBadTilePath is returned for a path that is not a C2SP tile path.
var ErrBadTilePath = errors.New("ledger: not a tile path")

// ParseTilePath parses a C2SP tlog-tiles path such as "tile/0/x001/234.p/7" or
// "tile/entries/000".
func ParseTilePath(p string) (TilePath, error) {
	rest, ok := strings.CutPrefix(p, "tile/")
	if !ok {
		return TilePath{}, ErrBadTilePath
	}
	var t TilePath
	first, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return TilePath{}, ErrBadTilePath
	}
	if first == "entries" {
		t.Entries = true
	} else {
		l, err := strconv.ParseUint(first, 10, 6)
		if err != nil || strconv.FormatUint(l, 10) != first {
			return TilePath{}, ErrBadTilePath
		}
		t.Level = l
	}
	t.Width = TileWidth
	if n, w, partial := strings.Cut(rest, ".p/"); partial {
		width, err := strconv.Atoi(w)
		if err != nil || width < 1 || width >= TileWidth || strconv.Itoa(width) != w {
			return TilePath{}, ErrBadTilePath
		}
		rest, t.Width = n, width
	}
	groups := strings.Split(rest, "/")
	for i, g := range groups {
		last := i == len(groups)-1
		if !last {
			g, ok = strings.CutPrefix(g, "x")
			if !ok {
				return TilePath{}, ErrBadTilePath
			}
		}
		if len(g) != 3 || strings.Trim(g, "0123456789") != "" {
			return TilePath{}, ErrBadTilePath
		}
		d, _ := strconv.ParseUint(g, 10, 64)
		if t.Index > (1<<64-1-d)/1000 {
			return TilePath{}, ErrBadTilePath
		}
		t.Index = t.Index*1000 + d
	}
	if len(groups) > 1 && groups[0] == "x000" {
		return TilePath{}, ErrBadTilePath // not the canonical encoding of the index
	}
	return t, nil
}

// String formats the path as C2SP tlog-tiles does.
func (t TilePath) String() string {
	var b strings.Builder
	b.WriteString("tile/")
	if t.Entries {
		b.WriteString("entries")
	} else {
		b.WriteString(strconv.FormatUint(t.Level, 10))
	}
	n := fmt.Sprintf("%03d", t.Index)
	for len(n)%3 != 0 {
		n = "0" + n
	}
	for i := 0; i < len(n); i += 3 {
		b.WriteString("/")
		if i+3 < len(n) {
			b.WriteString("x")
		}
		b.WriteString(n[i : i+3])
	}
	if t.Width < TileWidth {
		fmt.Fprintf(&b, ".p/%d", t.Width)
	}
	return b.String()
}

// available is how many hashes (or entries) of the tile's row exist in the current tree.
func (l *Log) available(t TilePath) uint64 {
	size := l.Size()
	if t.Entries {
		return size
	}
	if t.Level*TileHeight >= 64 {
		return 0
	}
	return size >> (t.Level * TileHeight)
}

// Tile returns the bytes of a hash tile or an entry bundle. A tile is served once the tree
// holds all of its width; stored nodes and entries never change, so neither do tiles.
func (l *Log) Tile(t TilePath) ([]byte, error) {
	first := t.Index * TileWidth
	if t.Index > (1<<64-1)/TileWidth || first+uint64(t.Width) > l.available(t) {
		return nil, ErrNotFound
	}
	var out []byte
	err := l.db.View(func(txn *badger.Txn) error {
		for i := first; i < first+uint64(t.Width); i++ {
			if t.Entries {
				e, err := readValue(txn, entryKey(i))
				if err != nil {
					return err
				}
				out = binary.BigEndian.AppendUint16(out, uint16(len(e)))
				out = append(out, e...)
				continue
			}
			h, err := readValue(txn, nodeKey(compact.NewNodeID(uint(t.Level*TileHeight), i)))
			if err != nil {
				return err
			}
			out = append(out, h...)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: tile %s: %w", t, err)
	}
	return out, nil
}

// ParseEntryBundle splits a C2SP entry bundle (each entry prefixed by its uint16 big-endian
// length) into its entries, refusing one that is truncated or has trailing bytes.
func ParseEntryBundle(bundle []byte) ([][]byte, error) {
	var entries [][]byte
	for len(bundle) > 0 {
		if len(bundle) < 2 || len(bundle) < 2+int(binary.BigEndian.Uint16(bundle)) {
			return nil, fmt.Errorf("%w: entry bundle is truncated", ErrProof)
		}
		n := int(binary.BigEndian.Uint16(bundle))
		entries = append(entries, bundle[2:2+n])
		bundle = bundle[2+n:]
	}
	return entries, nil
}
