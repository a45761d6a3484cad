package release_test

import (
	"encoding/json"
	"testing"

	"github.com/commons-city/commons/release"
)

// FuzzParseAirDay checks the stored-release decoder: no panic, and an accepted document
// re-encodes to one that parses to the same JSON.
func FuzzParseAirDay(f *testing.F) {
	for _, s := range []string{`{}`, `{"cells":[{"neighbourhood":"old-town","suppressed":true}]}`, `{"epsilon":1e400}`,
		`{"epsilon":NaN}`, "{\"noise\":\"\xff\"}", `[`, `null`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := release.ParseAirDay(b)
		if err != nil {
			return
		}
		once, err := json.Marshal(d)
		if err != nil {
			t.Fatalf("an accepted release does not re-encode: %v", err)
		}
		d2, err := release.ParseAirDay(once)
		if err != nil {
			t.Fatalf("the re-encoded release is refused: %v", err)
		}
		twice, _ := json.Marshal(d2)
		if string(once) != string(twice) {
			t.Fatalf("not stable:\n%s\n%s", once, twice)
		}
	})
}
