package reading

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// The archive sample under a name that does not give its format away.
	disguised := filepath.Join(dir, "export.txt")
	if err := os.WriteFile(disguised, append([]byte("\ufeff"), readTestdata(t, "archive_dht22.csv")...), 0o600); err != nil {
		t.Fatal(err)
	}
	upper := filepath.Join(dir, "READINGS.JSON")
	if err := os.WriteFile(upper, append([]byte("\ufeff"), readTestdata(t, "readings.json")...), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path, sensor string
		n            int
	}{
		{filepath.Join("testdata", "readings.csv"), "balcony", 6},
		{filepath.Join("testdata", "archive_sds011.csv"), "SDS011-12345", 5},
		{filepath.Join("testdata", "batch.json"), "SDS011-12345", 1},
		{disguised, "DHT22-8421", 3},
		{upper, "balcony", 2},
	}
	loc := testLocator(t)
	for _, tt := range tests {
		t.Run(filepath.Base(tt.path), func(t *testing.T) {
			rs, rejected, err := ParseFile(tt.path, loc, testOpt)
			if err != nil || len(rejected) != 0 || len(rs) != tt.n || rs[0].Sensor != tt.sensor {
				t.Fatalf("ParseFile = %d readings, %v, %v", len(rs), rejected, err)
			}
			checkParsed(t, rs, rejected, testOpt)
		})
	}
}

func TestParseFileErrors(t *testing.T) {
	t.Parallel()
	loc := testLocator(t)
	if _, _, err := ParseFile(filepath.Join(t.TempDir(), "missing.csv"), loc, testOpt); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: err = %v", err)
	}
	path := filepath.Join(t.TempDir(), "notes.csv")
	if err := os.WriteFile(path, []byte("shopping list\nmilk\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, _, err := ParseFile(path, loc, testOpt)
	if want := "reading: " + path + ": csv: header: unknown column 1"; err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %v, want %q", err, want)
	}
}
