package reading

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/commons-city/commons/geo"
)

// testNow is after every sample in testdata.
var testNow = time.Date(2024, 3, 2, 0, 0, 0, 0, time.UTC)

var testOpt = Options{Now: testNow}

// testLocator maps locations with testdata/neighbourhoods.geojson, a few blocks of Stuttgart.
func testLocator(t testing.TB) Locator {
	t.Helper()
	m, err := geo.Parse(readTestdata(t, "neighbourhoods.geojson"))
	if err != nil {
		t.Fatal(err)
	}
	return m.Locate
}

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// knownReasons is every reason a RowError may carry: fixed texts only, so that no input value
// can ever reach a log through one.
func knownReasons() map[string]bool {
	known := map[string]bool{}
	for _, r := range []string{
		"row: malformed", "row: wrong number of fields",
		"reading: malformed", "reading: not an object",
		"sensor: wrong type", "recorded_at: wrong type", "cell: wrong type", "values: wrong type",
		"recorded_at: missing", "recorded_at: not a timestamp", "recorded_at: before 1970",
		"recorded_at: in the future", "recorded_at: too old", "values: none",
		"location: missing", "location: not a number", "location: out of range",
		"location: outside every neighbourhood",
	} {
		known[r] = true
	}
	for _, label := range []string{"sensor", "cell"} {
		for _, p := range []string{"missing", "too long", "invalid characters"} {
			known[label+": "+p] = true
		}
	}
	for _, q := range quantities {
		for _, p := range []string{notANumber, notFinite, outOfRange} {
			known[q.reason(p)] = true
		}
	}
	return known
}

// checkParsed verifies what every parser promises: each reading passes Validate and carries a
// known cell, each rejection a known reason and a line.
func checkParsed(t *testing.T, rs []Reading, rejected []RowError, opt Options) {
	t.Helper()
	known := knownReasons()
	for _, r := range rs {
		if err := Validate(r, opt); err != nil {
			t.Fatalf("parser returned a reading that fails Validate: %v", err)
		}
		if !strings.HasPrefix(r.Cell, "n-") {
			t.Fatalf("parser returned a reading in unknown cell %q", r.Cell)
		}
	}
	if _, err := MarshalBatch(rs); len(rs) > 0 && err != nil {
		t.Fatalf("readings do not marshal: %v", err)
	}
	for _, e := range rejected {
		if !known[e.Reason] {
			t.Fatalf("rejection with unknown reason %q", e.Reason)
		}
		if e.Line <= 0 {
			t.Fatalf("rejection without a line: %v", &e)
		}
	}
}

// checkRejected checks a parser's results: no error, what every parser promises (see
// checkParsed), and exactly the rejections in want: one "line: reason" a line, after a
// leading newline.
func checkRejected(t *testing.T, rs []Reading, rejected []RowError, err error, want string) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	checkParsed(t, rs, rejected, testOpt)
	got := make([]string, len(rejected))
	for i, e := range rejected {
		got[i] = strconv.Itoa(e.Line) + ": " + e.Reason
	}
	if g := "\n" + strings.Join(got, "\n"); g != want {
		t.Errorf("rejected =\n%s\nwant\n%s", g, want)
	}
}

// fuzzParser feeds parse the fuzzer's files, after the seeds already added: whatever it does
// not refuse as a whole keeps what every parser promises (see checkParsed).
func fuzzParser(f *testing.F, parse func(io.Reader, Locator, Options) ([]Reading, []RowError, error)) {
	loc := testLocator(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, rejected, err := parse(bytes.NewReader(data), loc, testOpt)
		if err != nil {
			return
		}
		checkParsed(t, rs, rejected, testOpt)
	})
}
