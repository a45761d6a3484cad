package release_test

import (
	"flag"
	"os"
	"testing"
)

// TestMain keeps the differential-privacy library's glog warnings (it warns about the tests'
// noise-free mechanism, which it does not recognise) in a temporary directory that is removed
// afterwards, instead of files left in the system's temporary directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "release-test-glog")
	if err != nil {
		panic(err)
	}
	if err := flag.Set("log_dir", dir); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
