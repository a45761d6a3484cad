package crypto

import "testing"

// FuzzParseWallet checks the wallet file parser: no panic, and an accepted file round-trips
// through Marshal to the same identity.
func FuzzParseWallet(f *testing.F) {
	w, err := NewWallet()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(w.Marshal())
	f.Add([]byte("# created\n\n" + string(w.Marshal())))
	f.Add([]byte("AGE-SECRET-KEY-1\n"))
	f.Add([]byte("\xff\xfe"))
	f.Fuzz(func(t *testing.T, b []byte) {
		got, err := ParseWallet(b)
		if err != nil {
			return
		}
		again, err := ParseWallet(got.Marshal())
		if err != nil {
			t.Fatalf("a parsed wallet does not re-parse: %v", err)
		}
		if again.CitizenID() != got.CitizenID() {
			t.Fatal("the citizen id changed across Marshal")
		}
	})
}
