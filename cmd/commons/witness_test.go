package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// litewitness is a running torchwood litewitness, the reference tlog-witness, with its key in
// its own ssh-agent as it requires.
type litewitness struct {
	url, vkey string
	ctl, db   string
}

var witnessVkeyRegex = regexp.MustCompile(`vkey=(\S+)`)

// witnessTools builds litewitness and witnessctl at the versions go.mod pins (its tool
// directives), once per test run, as binary builds commons.
var witnessTools = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "commons-witness-tools")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("go", "build", "-o", dir, "filippo.io/torchwood/cmd/litewitness", "filippo.io/torchwood/cmd/witnessctl").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build litewitness: %v\n%s", err, out)
	}
	return dir, nil
})

// sshTools finds openssh's agent tools, which litewitness takes its key from. Without them the
// test is skipped, except on CI, which installs openssh-client.
func sshTools(t *testing.T) {
	t.Helper()
	for _, name := range []string{"ssh-agent", "ssh-add", "ssh-keygen"} {
		if _, err := exec.LookPath(name); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is needed, and CI=true: install openssh-client", name)
			}
			t.Skipf("skipping the witness test: no %s (apt-get install openssh-client)", name)
		}
	}
}

// startLitewitness starts litewitness on loopback with a fresh Ed25519 key held by a
// dedicated ssh-agent, and returns its URL and verifier key.
func startLitewitness(t *testing.T, ctx context.Context) *litewitness {
	t.Helper()
	tools, err := witnessTools()
	require.NoError(t, err)
	dir := t.TempDir()
	key, sock := filepath.Join(dir, "witness.key"), filepath.Join(dir, "agent.sock")
	run := func(env []string, name string, args ...string) string {
		t.Helper()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		require.NoError(t, err, "%s %v: %s", name, args, out)
		return string(out)
	}
	run(nil, "ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "commons-test-witness", "-f", key)
	fingerprint := strings.Fields(run(nil, "ssh-keygen", "-l", "-E", "sha256", "-f", key+".pub"))[1]

	agent := exec.CommandContext(ctx, "ssh-agent", "-D", "-a", sock)
	require.NoError(t, agent.Start())
	t.Cleanup(func() { agent.Process.Kill(); agent.Wait() })
	require.True(t, eventually(ctx, func() bool { _, err := os.Stat(sock); return err == nil }), "ssh-agent's socket")
	run([]string{"SSH_AUTH_SOCK=" + sock}, "ssh-add", "-q", key)

	// litewitness logs the address it was given, not the port it got: pick a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	db := filepath.Join(dir, "litewitness.db")
	lw := exec.CommandContext(ctx, filepath.Join(tools, "litewitness"), "-name", "witness.test/commons", "-db", db,
		"-ssh-agent", sock, "-key", fingerprint, "-listen", addr)
	stderr, err := lw.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, lw.Start())
	t.Cleanup(func() { lw.Process.Kill(); lw.Wait() })
	w := &litewitness{url: "http://" + addr, ctl: filepath.Join(tools, "witnessctl"), db: db}
	lines := bufio.NewScanner(stderr)
	for w.vkey == "" && lines.Scan() {
		if m := witnessVkeyRegex.FindStringSubmatch(lines.Text()); m != nil {
			w.vkey = m[1]
		}
	}
	require.NotEmpty(t, w.vkey, "litewitness logged its verifier key")
	require.True(t, eventually(ctx, func() bool {
		c, err := net.Dial("tcp", addr)
		if err == nil {
			c.Close()
		}
		return err == nil
	}), "litewitness listens on %s", addr)
	go io.Copy(io.Discard, stderr)
	return w
}

// trust has the witness follow the log origin signed by vkey.
func (w *litewitness) trust(t *testing.T, ctx context.Context, origin, vkey string) {
	t.Helper()
	for _, args := range [][]string{{"add-log", "-db", w.db, "-origin", origin}, {"add-key", "-db", w.db, "-origin", origin, "-key", vkey}} {
		out, err := exec.CommandContext(ctx, w.ctl, args...).CombinedOutput()
		require.NoError(t, err, "witnessctl %v: %s", args, out)
	}
}

// TestWitnessCosignsAndCatchesARewrittenHistory runs a real litewitness on loopback: node A
// has its checkpoints cosigned as its ledger grows, and `ledger verify --witness` accepts A.
// Node B holds A's keys but another history (a node that rewrote its log): the witness
// refuses B's checkpoint, and `ledger verify --witness` refuses B.
func TestWitnessCosignsAndCatchesARewrittenHistory(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	sshTools(t)
	ctx := testContext(t)
	w := startLitewitness(t, ctx)
	witnessFlag := []string{"--witnesses", w.url + "=" + w.vkey, "--witness-every", "100ms"}

	dataA := t.TempDir()
	a := startNode(t, dataA, &nodetest.Logs{}, witnessFlag...)
	keyA := strings.TrimSpace(string(httpGet(t, a.url+"/api/v1/ledger/key")))
	origin, _, _ := strings.Cut(keyA, "+")
	w.trust(t, ctx, origin, keyA)
	token := filepath.Join(dataA, "admin.token")
	_, err := a.cli("", "admin", "invite", "--count", "3", "--admin-token-file", token)
	require.NoError(t, err)
	sizeA := a.size()
	require.True(t, eventually(ctx, func() bool { return strings.Contains(cosignedText(a.url), "\n"+itoa(sizeA)+"\n") }),
		"A's checkpoint of size %d gets cosigned", sizeA)

	verify := func(n *node) (string, error) {
		return n.cli("", "ledger", "verify", "--state", filepath.Join(t.TempDir(), "state.json"),
			"--witness", w.vkey, "--min-cosignatures", "1")
	}
	out, err := verify(a)
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok  1 of 1 witnesses cosigned the checkpoint of size")
	assert.Contains(t, string(httpGet(t, a.url+"/ledger")), "Cosigned by witnesses")

	// B: A's keys, a history of its own.
	dataB := t.TempDir()
	require.NoError(t, os.CopyFS(filepath.Join(dataB, "keys"), os.DirFS(filepath.Join(dataA, "keys"))))
	logsB := &nodetest.Logs{}
	b := startNode(t, dataB, logsB, witnessFlag...)
	require.Equal(t, keyA, strings.TrimSpace(string(httpGet(t, b.url+"/api/v1/ledger/key"))), "B signs with A's key")
	_, err = b.cli("", "admin", "invite", "--count", "5", "--admin-token-file", filepath.Join(dataB, "admin.token"))
	require.NoError(t, err)
	// While B is shorter than what the witness cosigned for A, B's own cosigner sees the
	// rollback; once longer, the witness checks B's consistency proof and refuses it.
	require.NoError(t, logsB.WaitFor(ctx, "knows a larger tree (", 1))
	require.NoError(t, logsB.WaitFor(ctx, "witness witness.test/commons answered 422", 1), "the witness refuses B's history")
	resp, err := http.Get(b.url + "/api/v1/ledger/checkpoint/cosigned")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
	out, err = verify(b)
	require.Error(t, err, out)
	assert.Contains(t, err.Error(), "FAILED")

	// A, still honest, keeps being cosigned as it grows.
	_, err = a.cli("", "admin", "invite", "--count", "1", "--admin-token-file", token)
	require.NoError(t, err)
	grown := a.size()
	require.True(t, eventually(ctx, func() bool { return strings.Contains(cosignedText(a.url), "\n"+itoa(grown)+"\n") }))
}

// size is the size of the node's latest checkpoint.
func (n *node) size() uint64 {
	n.t.Helper()
	lines := strings.Split(string(httpGet(n.t, n.url+"/api/v1/ledger/checkpoint")), "\n")
	require.Greater(n.t, len(lines), 2)
	size, err := strconv.ParseUint(lines[1], 10, 64)
	require.NoError(n.t, err)
	return size
}

// cosignedText is the node's cosigned checkpoint, or "" while it has none.
func cosignedText(url string) string {
	resp, err := http.Get(url + "/api/v1/ledger/checkpoint/cosigned")
	if err != nil {
		return ""
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return ""
	}
	return string(b)
}
