package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestParseFlagsAnywhere: flags before, between and after the positional arguments, and "--"
// ending the flags.
func TestParseFlagsAnywhere(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		args []string
		pos  []string
	}{
		{[]string{"--count", "3", "ID"}, []string{"ID"}},
		{[]string{"ID", "--count", "3"}, []string{"ID"}},
		{[]string{"A", "--count=3", "B", "--note", "x"}, []string{"A", "B"}},
		{[]string{"--count", "3", "--", "--note", "B"}, []string{"--note", "B"}},
		{[]string{"A", "--count", "3", "--", "-x"}, []string{"A", "-x"}},
	} {
		fs := newFlagSet("petition paper")
		count := fs.Int("count", 0, "")
		fs.String("note", "", "")
		pos, err := parseFlags(fs, c.args)
		require.NoError(t, err, c.args)
		assert.Equal(t, c.pos, pos, c.args)
		assert.Equal(t, 3, *count, c.args)
	}

	fs := newFlagSet("consent grant")
	_, err := parseArgs(fs, []string{"--bogus"}, 0, 0, "")
	var ue *usageError
	require.ErrorAs(t, err, &ue, "an unknown flag is a usage error")
	assert.Contains(t, err.Error(), "commons consent grant -h")
	_, err = parseArgs(newFlagSet("status"), []string{"extra"}, 0, 0, "")
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), `unexpected argument "extra"`)
	_, err = parseArgs(newFlagSet("petition sign"), nil, 1, 1, "one petition id")
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "name one petition id")
}

// TestHoistGlobals: global flags before the command move after it; others are refused there.
func TestHoistGlobals(t *testing.T) {
	t.Parallel()
	out, err := hoistGlobals(strings.Fields("--server http://x --json admin invite --count 2"))
	require.NoError(t, err)
	assert.Equal(t, strings.Fields("admin invite --count 2 --json=true --server=http://x"), out)
	out, err = hoistGlobals(strings.Fields("wallet show"))
	require.NoError(t, err)
	assert.Equal(t, strings.Fields("wallet show"), out)
	_, err = hoistGlobals(strings.Fields("--count 2 admin invite"))
	var ue *usageError
	require.ErrorAs(t, err, &ue)
	assert.Contains(t, err.Error(), "--server, --wallet, --passphrase-file or --json")
	_, err = hoistGlobals([]string{"--help"})
	assert.ErrorIs(t, err, flag.ErrHelp)
}

// TestSuggestions: a near miss gets the closest word; a far one or a tie gets none.
func TestSuggestions(t *testing.T) {
	t.Parallel()
	names := []string{"contribute", "consent", "petition", "export", "status", "serve", "register"}
	assert.Equal(t, "contribute", closest("contibute", names))
	assert.Equal(t, "consent", closest("consnet", names), "an exchange of two letters is one edit")
	assert.Equal(t, "petition", closest("petitions", names))
	assert.Equal(t, "", closest("xyz", names))
	assert.Equal(t, "", closest("grant", []string{"grunt", "grand"}), "a tie suggests nothing")
	assert.Equal(t, 3, editDistance("kitten", "sitting"))
}

// TestPlural: "1 signature", "2 signatures", irregular plurals.
func TestPlural(t *testing.T) {
	t.Parallel()
	assert.Equal(t, "1 signature", plural(1, "signature"))
	assert.Equal(t, "0 signatures", plural(0, "signature"))
	assert.Equal(t, "2 vault copies", plural(2, "vault copy", "vault copies"))
	assert.Equal(t, "1 vault copy", plural(1, "vault copy", "vault copies"))
}

// TestHelpNamesEveryEnvironmentVariable: `commons help` names every environment variable the
// CLI's code reads.
func TestHelpNamesEveryEnvironmentVariable(t *testing.T) {
	t.Parallel()
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	re := regexp.MustCompile(`(?:Getenv|LookupEnv|envOr)\("([A-Z_]+)"|"(COMMONS_[A-Z_]+)"`)
	var names []string
	for _, f := range files {
		if strings.HasSuffix(f, "_test.go") {
			continue
		}
		b, err := os.ReadFile(f)
		require.NoError(t, err)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			names = append(names, m[1]+m[2])
		}
	}
	slices.Sort(names)
	names = slices.Compact(names)
	require.Subset(t, names, []string{"COMMONS_SERVER", "COMMONS_WALLET", "COMMONS_ADMIN_TOKEN", "XDG_CONFIG_HOME"}, "the scan finds them")
	for _, name := range names {
		assert.Contains(t, usage, name, "commons help names $%s", name)
	}
}

// TestCommandLineBinary runs the binary's command line without a server: a typo exits 2
// with a suggestion and no help dump; -h on every command and verb exits 0 with that
// command's help on stdout; `commons help` names COMMONS_SERVER.
func TestCommandLineBinary(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	bin, err := binary()
	require.NoError(t, err)
	run := func(args ...string) (stdout, stderr string, code int) {
		cmd := exec.CommandContext(testContext(t), bin, args...)
		var o, e bytes.Buffer
		cmd.Stdout, cmd.Stderr = &o, &e
		err := cmd.Run()
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			code = ee.ExitCode()
		} else {
			require.NoError(t, err)
		}
		return o.String(), e.String(), code
	}

	stdout, stderr, code := run("contibute")
	assert.Equal(t, exitUsage, code)
	assert.Equal(t, "commons: unknown command \"contibute\": did you mean contribute? (commons help lists the commands)\n", stderr)
	assert.Empty(t, stdout)
	_, stderr, code = run("consent", "grnat", "--purpose", "x")
	assert.Equal(t, exitUsage, code)
	assert.Contains(t, stderr, "did you mean grant?")
	_, stderr, code = run("--server", "http://127.0.0.1:1", "status", "--bogus")
	assert.Equal(t, exitUsage, code, stderr)
	assert.Contains(t, stderr, "flag provided but not defined: -bogus")

	stdout, _, code = run("help")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "COMMONS_SERVER")
	for _, cmd := range [][]string{
		{"serve"}, {"backup"}, {"restore"}, {"wallet", "init"}, {"wallet", "show"}, {"neighbourhoods"},
		{"register"}, {"consent", "grant"}, {"consent", "revoke"}, {"consent", "list"}, {"contribute"},
		{"gateway"}, {"export"}, {"status"}, {"petition", "list"}, {"petition", "sign"}, {"petition", "withdraw"},
		{"petition", "verify"}, {"petition", "create"}, {"petition", "paper"}, {"petition", "result"},
		{"admin", "invite"}, {"admin", "release"}, {"admin", "organiser", "grant"}, {"admin", "organiser", "revoke"},
		{"admin", "petition"}, {"ledger", "verify"},
	} {
		for _, h := range []string{"-h", "--help"} {
			stdout, stderr, code := run(append(slices.Clone(cmd), h)...)
			assert.Equal(t, 0, code, "%v %s: %s", cmd, h, stderr)
			assert.Contains(t, stdout, "Usage: commons "+strings.Join(cmd, " "), "%v %s", cmd, h)
		}
		name := strings.Join(cmd, " ")
		if name != "serve" {
			assert.NotEmpty(t, helpText[name], "%s has a help text", name)
		}
		stdout, _, code := run(append([]string{"help"}, cmd...)...)
		assert.Equal(t, 0, code, "help %v", cmd)
		assert.Contains(t, stdout, "Usage: commons "+name)
	}
	stdout, _, code = run("petition", "-h")
	assert.Equal(t, 0, code)
	assert.Contains(t, stdout, "commons petition sign ID")
}

// TestNeighbourhoodByName: `commons neighbourhoods` lists ids and names; register takes a
// name or a loosely written id, and an unknown one is refused with the choices, before
// anything is sent (the invite still works afterwards).
func TestNeighbourhoodByName(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t)
	out, err := n.cli("", "neighbourhoods", "--json")
	require.NoError(t, err)
	var hoods []neighbourhoodView
	require.NoError(t, json.Unmarshal([]byte(out), &hoods), out)
	assert.Contains(t, hoods, neighbourhoodView{ID: "old-town", Name: "Ciutat Vella"})
	out, err = n.cli("", "neighbourhoods")
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^hilltop +El Turó$`, out)

	codes := n.invites(2)
	home := t.TempDir()
	for i, hood := range []string{"OLDTOWN", "el turo"} {
		wallet := filepath.Join(home, hood, "wallet")
		_, err = n.cli(wallet, "wallet", "init")
		require.NoError(t, err)
		_, err = n.cli(wallet, "register", "--invite", codes[i], "--neighbourhood", "Nowhere")
		require.Error(t, err)
		assert.Contains(t, err.Error(), `no neighbourhood is called "Nowhere": give one of these ids or names: new-town (L'Eixample), old-town (Ciutat Vella)`)
		out, err = n.cli(wallet, "register", "--invite", codes[i], "--neighbourhood", hood)
		require.NoError(t, err, "the refused name used nothing up")
		assert.Contains(t, out, map[int]string{0: "in Ciutat Vella (old-town)", 1: "in El Turó (hilltop)"}[i])
	}
}

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
