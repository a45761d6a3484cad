package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// walkthroughBlock is one shell block of the README's walkthrough: the fenced ```sh block
// that follows a line "<!-- walkthrough -->" or "<!-- walkthrough: WHEN -->".
type walkthroughBlock struct {
	when   string // "" (in order), "setup" (first, in every shell), or "once the petition has closed"
	script string
	line   int // of the marker in README.md
}

var walkthroughMarker = regexp.MustCompile(`^<!-- walkthrough(?:: (.+?))? -->$`)

// walkthroughBlocks reads the marked blocks of a README, exactly as printed.
func walkthroughBlocks(t *testing.T, readme string) []walkthroughBlock {
	t.Helper()
	f, err := os.Open(readme)
	require.NoError(t, err)
	defer f.Close()
	var blocks []walkthroughBlock
	var cur *walkthroughBlock
	inBlock := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inBlock && line == "```":
			blocks, cur, inBlock = append(blocks, *cur), nil, false
		case inBlock:
			cur.script += line + "\n"
		case cur != nil:
			require.Equal(t, "```sh", line, "README.md:%d: a walkthrough marker is followed by a ```sh block", cur.line)
			inBlock = true
		default:
			if m := walkthroughMarker.FindStringSubmatch(line); m != nil {
				cur = &walkthroughBlock{when: m[1], line: n}
			}
		}
	}
	require.NoError(t, sc.Err())
	require.False(t, inBlock || cur != nil, "README.md: a walkthrough block is not closed")
	return blocks
}

// TestReadmeWalkthrough replays the README's walkthrough, its commands exactly as printed, in
// a temporary directory laid out as the checkout after `make run` (bin/commons, data/ of a
// demo node on 127.0.0.1:0): only the value of the README's own `export COMMONS_SERVER=` is
// replaced, with the node's address. Any command that fails fails the test. The blocks to run
// once the petition has closed run against the same data served by a node whose clock is 31
// days ahead (the CLI signs nothing there). The walkthrough writes nothing beside bin/, data/
// and its scratch folder, all three ignored by git.
func TestReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the README's shell is bash:", err)
	}
	blocks := walkthroughBlocks(t, filepath.Join("..", "..", "README.md"))
	var setup, before, after []string
	for _, b := range blocks {
		switch b.when {
		case "setup":
			setup = append(setup, b.script)
		case "":
			before = append(before, b.script)
		case "once the petition has closed":
			after = append(after, b.script)
		default:
			t.Fatalf("README.md:%d: unknown walkthrough marker %q", b.line, b.when)
		}
	}
	require.Len(t, setup, 1, "one setup block")
	require.GreaterOrEqual(t, len(before), 3)
	require.Len(t, after, 1)
	serverLine := regexp.MustCompile(`(?m)^export COMMONS_SERVER=\S+`)
	require.Len(t, serverLine.FindAllString(setup[0], -1), 1, "the setup exports COMMONS_SERVER once")

	root := t.TempDir()
	bin, err := binary()
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(filepath.Join(root, "bin"), 0o755))
	require.NoError(t, os.Symlink(bin, filepath.Join(root, "bin", "commons")))
	data := filepath.Join(root, "data")
	home := t.TempDir()
	shell := func(url, script string) string {
		t.Helper()
		full := serverLine.ReplaceAllLiteralString(setup[0], "export COMMONS_SERVER="+url) + script
		cmd := exec.CommandContext(testContext(t), "bash", "-e", "-o", "pipefail", "-x", "-c", full)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
			"TMPDIR="+home, "COMMONS_WALLET=", "COMMONS_ADMIN_TOKEN=", "COMMONS_WALLET_PASSPHRASE=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		require.NoError(t, err, "a README command failed (the last + line); output:\n%s", out.String())
		return out.String()
	}

	n := startNode(t, data, &nodetest.Logs{}, "--demo", "--memory-limit", "0")
	out := shell(n.url, strings.Join(before, ""))
	assert.Regexp(t, `\nold-town +Ciutat Vella\n`, out, "commons neighbourhoods lists ids and names")
	for _, want := range []string{"in Ciutat Vella (old-town)", "consent to air-quality/daily granted",
		"imported 2 readings from 1 file", "signed riverside-trees", "ok  re-hashed all", "exported ", "petition sunday-library created",
		"12 paper signatures entered for sunday-library"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "{\n", "text, not JSON, without --json")

	// Thirty-one days later, on the same data: the petition has closed.
	n.stop()
	clock := &testClock{}
	clock.Set(31 * 24 * time.Hour)
	later := startNodeWithClock(t, data, &nodetest.Logs{}, clock)
	out = shell(later.url, after[0])
	assert.Contains(t, out, "ok  recount up to the checkpoint: 13 signatures (1 online, 12 paper)")
	later.stop()

	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"bin", "data", "walkthrough"}, names, "the walkthrough writes in its scratch folder only")
	assert.FileExists(t, filepath.Join(root, "walkthrough", "result.json"))
	ignore, err := os.ReadFile(filepath.Join("..", "..", ".gitignore"))
	require.NoError(t, err)
	for _, dir := range names {
		assert.True(t, slices.Contains(strings.Split(string(ignore), "\n"), fmt.Sprintf("/%s/", dir)), ".gitignore ignores /%s/", dir)
	}
}
