package reading

import (
	"bytes"
	"testing"
)

// FuzzParseJSON checks the JSON readings parser: no panic, and every reading it returns
// passes Validate; whatever UnmarshalBatch accepts has the current batch version.
func FuzzParseJSON(f *testing.F) {
	for _, s := range []string{
		`[{"sensor":"s","recorded_at":"2026-01-02T03:04:05Z","cell":"old-town","pm2_5":12.5}]`,
		`{"v":1,"readings":[{"sensor":"s","recorded_at":"2026-01-02T03:04:05Z","cell":"old-town","pm10":1e400}]}`,
		`{"v":1,"readings":[]}`, `[{"pm2_5":NaN}]`, `[{"pm2_5":Infinity}]`, "[\"\xff\"]", `[[[[[[`, `{"readings":{}}`, "\ufeff[]",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, _, err := ParseJSON(bytes.NewReader(data), Options{})
		if err != nil && len(rs) > 0 {
			t.Fatalf("an error with %d readings", len(rs))
		}
		for _, r := range rs {
			if err := Validate(r, Options{}); err != nil {
				t.Fatalf("returned reading %+v does not validate: %v", r, err)
			}
		}
		if b, err := UnmarshalBatch(data); err == nil && b.Version != BatchVersion {
			t.Fatalf("batch version %d accepted", b.Version)
		}
	})
}
