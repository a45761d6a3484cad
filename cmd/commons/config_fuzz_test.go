package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzConfigFile feeds arbitrary config files to `commons serve --config`: the parser and
// every option's value parser must refuse or accept without panicking, and an accepted file
// gives every option a source that is the default or a line of the file.
func FuzzConfigFile(f *testing.F) {
	for _, s := range []string{
		"data = /var/lib/commons\naddr = 127.0.0.1:8080\n",
		"# comment\n\nrelease-every = 3m # trailing\nrate-limit = 20\nlog-level = debug\n",
		"body-limit = 1e400\n", "rate-limit = NaN\n", "release-every = -1s\n", "addr = [::1]:99999\n",
		"trusted-proxies = 10.0.0.0/8, ::1\nproxy-header = X-Real-IP\n", "config = other\n", "= x\n",
		"data\n", "demo = true\ndemo = false\n", "data = \xff\xfe\n", "max-connections = 0\n",
	} {
		f.Add(s)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, text string) {
		file, err := os.CreateTemp(dir, "conf")
		if err != nil {
			t.Fatal(err)
		}
		defer os.Remove(file.Name())
		if _, err := file.WriteString(text); err != nil {
			t.Fatal(err)
		}
		file.Close()
		noEnv := func(string) (string, bool) { return "", false }
		_, sources, _, err := loadServeConfig([]string{"--config", file.Name()}, noEnv, io.Discard)
		if err != nil {
			return
		}
		for name, src := range sources {
			if src != "default" && !strings.HasPrefix(src, filepath.Clean(file.Name())+":") && src != "flag --config" {
				t.Fatalf("option %s has source %q", name, src)
			}
		}
	})
}
