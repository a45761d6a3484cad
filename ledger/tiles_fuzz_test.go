package ledger

import "testing"

// FuzzParseTilePath checks that every path ParseTilePath accepts is canonical: formatting the
// parsed path gives back the same string, and the parsed width is in range.
func FuzzParseTilePath(f *testing.F) {
	for _, s := range []string{"tile/0/000", "tile/0/x001/234.p/7", "tile/entries/000", "tile/entries/x001/x002/003.p/255",
		"tile/63/999", "tile/64/000", "tile/0/000.p/0", "tile/0/000.p/256", "tile/0/x000/001", "tile/../../x",
		"tile/0/..%2f..%2fetc", "tile/-1/000", "tile/01/000", "tile/0/x018/x446/x744/x073/x709/551/615"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		tp, err := ParseTilePath(p)
		if err != nil {
			return
		}
		if tp.Width < 1 || tp.Width > TileWidth {
			t.Fatalf("%q: width %d out of range", p, tp.Width)
		}
		if tp.Level > 63 {
			t.Fatalf("%q: level %d out of range", p, tp.Level)
		}
		if got := tp.String(); got != p {
			t.Fatalf("%q parsed to %+v, which formats as %q", p, tp, got)
		}
	})
}
