package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/mirror"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/release"
)

// Two nodes on loopback: A, a real node with a released day, and B, `commons mirror` of A. B
// serves A's checkpoint, tiles and releases byte for byte, `commons ledger verify --all`
// passes against B; then A (through a test double holding A's real signing key) rewrites its
// history, and B catches it, keeps the evidence, shows it, stops following A, and goes on
// serving what it verified.
func TestMirrorOfARealNode(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	ctx := testContext(t)
	dataA := t.TempDir()
	a := startNode(t, dataA, &nodetest.Logs{})
	day, published := releaseDay(ctx, t, a)
	require.GreaterOrEqual(t, published, 1)
	dayText := day.Format(time.DateOnly)
	week, weekClosed := weekOf(t, day)

	// A's public face goes through a double that forwards to A until the test makes it lie.
	target, err := url.Parse(a.url)
	require.NoError(t, err)
	var forged atomic.Pointer[ledger.Log]
	double := httptest.NewServer(forgingProxy(httputil.NewSingleHostReverseProxy(target), &forged))
	t.Cleanup(double.Close)

	dataB := t.TempDir()
	logsB := &nodetest.Logs{}
	b := startMirror(t, double.URL, dataB, logsB)

	get := func(base, path string) []byte {
		t.Helper()
		resp, err := http.Get(base + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, http.StatusOK, resp.StatusCode, "%s%s: %s", base, path, body)
		return body
	}
	status := func() mirror.Status {
		var s mirror.Status
		require.NoError(t, json.Unmarshal(get(b.url, "/api/v1/mirror"), &s))
		return s
	}
	checkpointA := get(a.url, "/ledger/checkpoint")
	synced := eventually(ctx, func() bool {
		s := status()
		return string(checkpointA) == s.Checkpoint && len(s.Days) == 1
	})
	require.True(t, synced, "B caught up with A; logs:\n%s", logsB.String())

	// Byte for byte: the checkpoint, the key, every tile, the releases.
	assert.Equal(t, checkpointA, get(b.url, "/ledger/checkpoint"))
	assert.Equal(t, get(a.url, "/api/v1/ledger/key"), get(b.url, "/api/v1/ledger/key"))
	cp, err := ledger.OpenCheckpoint(checkpointA, verifierOf(t, dataA))
	require.NoError(t, err)
	for first := uint64(0); first < cp.Size; first += ledger.TileWidth {
		width := int(min(cp.Size-first, ledger.TileWidth))
		for _, p := range []ledger.TilePath{{Entries: true, Index: first / ledger.TileWidth, Width: width}, {Index: first / ledger.TileWidth, Width: width}} {
			assert.Equal(t, get(a.url, "/ledger/"+p.String()), get(b.url, "/ledger/"+p.String()), p.String())
		}
	}
	releaseA := get(a.url, "/api/v1/stats/air?day="+dayText)
	assert.Equal(t, releaseA, get(b.url, "/api/v1/stats/air?day="+dayText), "A's release, served by B byte-identically")
	if weekClosed {
		require.True(t, eventually(ctx, func() bool { return len(status().Weeks) == 1 }))
		assert.Equal(t, get(a.url, "/api/v1/stats/air?week="+week), get(b.url, "/api/v1/stats/air?week="+week))
	}
	var index struct {
		Purpose string   `json:"purpose"`
		Epochs  []string `json:"epochs"`
	}
	require.NoError(t, json.Unmarshal(get(b.url, "/api/v1/stats/air"), &index))
	assert.Equal(t, []string{dayText}, index.Epochs)

	// An auditor checks B exactly as it checks a node.
	auditor := &node{t: t, ctx: ctx, url: b.url}
	out, err := auditor.cli("", "ledger", "verify", "--state", filepath.Join(t.TempDir(), "state.json"), "--all")
	require.NoError(t, err)
	assert.Contains(t, out, "the root matches the checkpoint")

	// A rewrites one entry of its past and signs the new tree with its real key.
	forged.Store(rewrite(t, a, dataA, cp.Size))
	caught := eventually(ctx, func() bool { return status().Fork != nil })
	require.True(t, caught, "B caught the rewrite; logs:\n%s", logsB.String())
	s := status()
	assert.False(t, s.Following)
	assert.Equal(t, mirror.ReasonNotExtension, s.Fork.Reason)
	assert.Equal(t, string(checkpointA), s.Fork.Held)
	for _, name := range []string{"held.checkpoint", "served.checkpoint", "fork.json"} {
		_, err := os.Stat(filepath.Join(s.Fork.Evidence, name))
		assert.NoError(t, err, name)
	}
	assert.True(t, strings.HasPrefix(s.Fork.Evidence, filepath.Join(dataB, "evidence")))
	served, err := os.ReadFile(filepath.Join(s.Fork.Evidence, "served.checkpoint"))
	require.NoError(t, err)
	_, err = ledger.OpenCheckpoint(served, verifierOf(t, dataA))
	require.NoError(t, err, "the evidence is signed by A's own key")
	assert.Contains(t, logsB.String(), "SOURCE FORKED OR REWROTE ITS LEDGER")
	assert.Contains(t, logsB.String(), "no longer following the source")
	assert.Contains(t, string(get(b.url, "/ledger")), "The source forked or rewrote its ledger")
	assert.Equal(t, checkpointA, get(b.url, "/ledger/checkpoint"), "B keeps serving what it verified")
	assert.Equal(t, releaseA, get(b.url, "/api/v1/stats/air?day="+dayText))
}

// forgingProxy forwards to the real node, except that once forged holds a log, the ledger
// endpoints a mirror reads answer from it.
func forgingProxy(real http.Handler, forged *atomic.Pointer[ledger.Log]) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l := forged.Load()
		if l == nil {
			real.ServeHTTP(w, r)
			return
		}
		var b []byte
		var err error
		switch p := r.URL.Path; {
		case p == "/ledger/checkpoint":
			b, _ = l.Checkpoint()
		case strings.HasPrefix(p, "/ledger/tile/"):
			var tp ledger.TilePath
			if tp, err = ledger.ParseTilePath(strings.TrimPrefix(p, "/ledger/")); err == nil {
				b, err = l.Tile(tp)
			}
		case p == "/api/v1/ledger/proof/consistency":
			from, _ := strconv.ParseUint(r.URL.Query().Get("from"), 10, 64)
			to, _ := strconv.ParseUint(r.URL.Query().Get("to"), 10, 64)
			var proof [][]byte
			if proof, err = l.ConsistencyProof(from, to); err == nil {
				b, err = json.Marshal(map[string]any{"from": from, "to": to, "proof": proof})
			}
		default:
			real.ServeHTTP(w, r)
			return
		}
		if err != nil {
			http.Error(w, `{"error":{"code":"not_found","message":"no"}}`, http.StatusNotFound)
			return
		}
		_, _ = w.Write(b)
	})
}

// rewrite builds the history a dishonest A would show: its first size entries with entry 2
// replaced, and one more, signed with A's real ledger key.
func rewrite(t *testing.T, a *node, dataA string, size uint64) *ledger.Log {
	t.Helper()
	skey, err := os.ReadFile(filepath.Join(dataA, "keys", "ledger.key"))
	require.NoError(t, err)
	signer, err := note.NewSigner(strings.TrimSpace(string(skey)))
	require.NoError(t, err)
	db, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	l, err := ledger.Open(db, signer, verifierOf(t, dataA), ledger.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	c := client.New(a.url)
	for first := uint64(0); first < size; first += ledger.TileWidth {
		p := ledger.TilePath{Entries: true, Index: first / ledger.TileWidth, Width: int(min(size-first, ledger.TileWidth))}
		bundle, err := c.Get(a.ctx, "/ledger/"+p.String())
		require.NoError(t, err)
		entries, err := ledger.ParseEntryBundle(bundle)
		require.NoError(t, err)
		for j, e := range entries {
			if first+uint64(j) == 2 {
				e, err = api.Entry{Type: api.EntryInvite, Hash: strings.Repeat("ab", 32)}.Marshal()
				require.NoError(t, err)
			}
			_, err := l.Append(context.Background(), e)
			require.NoError(t, err)
		}
	}
	extra, err := api.Entry{Type: api.EntryInvite, Hash: strings.Repeat("cd", 32)}.Marshal()
	require.NoError(t, err)
	_, err = l.Append(context.Background(), extra)
	require.NoError(t, err)
	return l
}

// verifierOf is the ledger verifier of the node whose data directory is data.
func verifierOf(t *testing.T, data string) note.Verifier {
	t.Helper()
	vkey, err := os.ReadFile(filepath.Join(data, "keys", "ledger.pub"))
	require.NoError(t, err)
	v, err := note.NewVerifier(strings.TrimSpace(string(vkey)))
	require.NoError(t, err)
	return v
}

// startMirror runs `commons mirror` of from on data, fetching every second, until the test
// ends; its log lines go to logs.
func startMirror(t *testing.T, from, data string, logs *nodetest.Logs) *node {
	t.Helper()
	bin, err := binary()
	require.NoError(t, err)
	return startProcess(t, "mirror", nil, data, logs, bin, "mirror", "--from", from, "--data", data, "--addr", "127.0.0.1:0", "--every", "1s")
}

// The command refuses what it cannot run with, and a node's own data directory, before opening
// anything.
func TestMirrorCommandRefusesBadFlags(t *testing.T) {
	t.Parallel()
	nodeData := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(nodeData, "keys"), 0o700))
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--data", "x"}, "--from URL and --data DIR are required"},
		{[]string{"--from", "http://127.0.0.1:1"}, "--from URL and --data DIR are required"},
		{[]string{"--from", "http://127.0.0.1:1", "--data", "x", "--every", "10ms"}, "--every must be at least 1s"},
		{[]string{"--from", "http://127.0.0.1:1", "--data", "x", "extra"}, `unexpected argument "extra"`},
		{[]string{"--from", "http://127.0.0.1:1", "--data", nodeData}, "is a node's data directory"},
	} {
		err := run(append([]string{"mirror"}, c.args...))
		require.Error(t, err, fmt.Sprint(c.args))
		assert.Contains(t, err.Error(), c.want)
	}
}

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

// readFeed is a Python script that reads an Atom feed with feedparser, a parser Commons does
// not otherwise use, and prints what it understood as JSON.
const readFeed = `import json, sys, feedparser
d = feedparser.parse(sys.stdin.buffer.read())
print(json.dumps({
  "bozo": int(d.bozo), "problem": str(d.get("bozo_exception", "")), "version": d.version,
  "language": d.feed.get("language", ""), "title": d.feed.get("title", ""),
  "links": [l.get("href") for l in d.feed.get("links", [])],
  "entries": [{"id": e.get("id", ""), "title": e.get("title", ""), "updated": e.get("updated", ""),
               "summary": e.get("summary", ""), "links": [l.get("href") for l in e.get("links", [])]}
              for e in d.entries],
}))
`

type parsedFeed struct {
	Bozo     int    `json:"bozo"`
	Problem  string `json:"problem"`
	Version  string `json:"version"`
	Language string `json:"language"`
	Title    string `json:"title"`
	Links    []string
	Entries  []struct {
		ID, Title, Updated, Summary string
		Links                       []string
	}
}

// feedparser finds a python3 that has the feedparser module (Debian's python3-feedparser
// belongs to /usr/bin/python3, which another python3 on PATH may hide). Without one the test
// is skipped, except on CI, which installs python3-feedparser.
func feedparser(t *testing.T) string {
	t.Helper()
	var tried []string
	for _, name := range []string{"python3", "/usr/bin/python3"} {
		python, err := exec.LookPath(name)
		if err == nil {
			err = exec.Command(python, "-c", "import feedparser").Run()
		}
		if err == nil {
			return python
		}
		tried = append(tried, name+": "+err.Error())
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("a python3 with feedparser is needed, and CI=true: install it (apt-get install python3-feedparser); tried %s", strings.Join(tried, "; "))
	}
	t.Skipf("skipping the independent reading of the Atom feeds: no python3 with feedparser (apt-get install python3-feedparser); tried %s", strings.Join(tried, "; "))
	return ""
}

// TestFeedsReadByAnIndependentParser has python3's feedparser read the city's feed, in both
// languages, and a neighbourhood's, from the real binary holding a released day: each is
// valid Atom 1.0 with the day's release worded, a link to its page and to its ledger entry,
// and the petition that opened.
func TestFeedsReadByAnIndependentParser(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	python := feedparser(t)
	ctx := testContext(t)
	n := startFreshNode(t)
	day, _ := releaseDay(ctx, t, n)
	dayText := day.Format(time.DateOnly)

	read := func(path string) parsedFeed {
		t.Helper()
		resp, err := http.Get(n.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		assert.Equal(t, "application/atom+xml; charset=utf-8", resp.Header.Get("Content-Type"))
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		cmd := exec.CommandContext(ctx, python, "-c", readFeed)
		cmd.Stdin = strings.NewReader(string(body))
		out, err := cmd.Output()
		require.NoError(t, err, "feedparser on %s", path)
		var f parsedFeed
		require.NoError(t, json.Unmarshal(out, &f))
		assert.Zero(t, f.Bozo, "%s is well-formed for feedparser: %s", path, f.Problem)
		assert.Equal(t, "atom10", f.Version, path)
		for _, e := range f.Entries {
			assert.True(t, strings.HasPrefix(e.ID, "tag:"), e.ID)
			_, err := time.Parse(time.RFC3339, e.Updated)
			assert.NoError(t, err, "entry %s updated", e.ID)
			require.NotEmpty(t, e.Links, e.ID)
			assert.True(t, strings.HasPrefix(e.Links[0], n.url+"/"), "absolute links: %s", e.Links[0])
		}
		return f
	}

	city := read("/feed.atom")
	assert.Equal(t, "en", city.Language)
	assert.Equal(t, "Commons: air quality and petitions in the city", city.Title)
	var released, opened bool
	for _, e := range city.Entries {
		if e.Title == "Air quality on "+day.Format("Monday 2 January 2006") {
			released = true
			assert.Contains(t, e.Summary, "neighbourhoods have a PM2.5 figure.")
			assert.Contains(t, e.Links, n.url+"/air?day="+dayText+"&lang=en")
			assert.Len(t, e.Links, 2, "the page and the ledger entry")
		}
		opened = opened || e.Title == "Petition opened: Clean air at the school gates"
	}
	assert.True(t, released, "the released day is in the city's feed")
	assert.True(t, opened, "the open petition is in the city's feed")

	fr := read("/feed.atom?lang=fr")
	assert.Equal(t, "fr", fr.Language)
	assert.Equal(t, "Commons : qualité de l'air et pétitions dans la ville", fr.Title)

	// The neighbourhood's feed words its cell of the day as the release has it.
	var cell release.Cell
	for _, c := range fetchRelease(t, n.url, dayText).Cells {
		if c.Neighbourhood == oldTown {
			cell = c
		}
	}
	want := "Ciutat Vella — not enough data: no figure is published."
	switch {
	case cell.Suppressed:
	case cell.PM25 != nil:
		want = fmt.Sprintf("Ciutat Vella — fine particles (PM2.5): %.1f (%.1f–%.1f) µg/m³", *cell.PM25, cell.PM25CI[0], cell.PM25CI[1])
	case cell.PM25Band != "":
		want = "Ciutat Vella — fine particles (PM2.5): " + cell.PM25Band + " (a band only"
	}
	nb := read("/neighbourhoods/" + oldTown + "/feed.atom")
	found := false
	for _, e := range nb.Entries {
		if e.Title == "Air quality in Ciutat Vella on "+day.Format("Monday 2 January 2006") {
			found = true
			assert.Contains(t, e.Summary, want)
		}
	}
	assert.True(t, found, "old-town's released day is in its feed")
}

// followerDir holds the Fedify follower and its lockfile.
var followerDir = filepath.Join("..", "..", "activitypub", "testdata", "follower")

// fedify returns the node binary that runs the Fedify follower, with its packages installed
// (npm ci from the lockfile when they are missing). Without Node.js 20 or later and npm the
// test is skipped, except on CI, which installs them (.ci/run).
func fedify(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err == nil {
		var out []byte
		if out, err = exec.Command(node, "-p", "process.versions.node.split('.')[0]").Output(); err == nil {
			if major, _ := strconv.Atoi(strings.TrimSpace(string(out))); major < 20 {
				err = os.ErrNotExist
			}
		}
	}
	if err == nil {
		if _, err = os.Stat(filepath.Join(followerDir, "node_modules", "@fedify", "fedify")); err != nil {
			cmd := exec.Command("npm", "ci", "--no-audit", "--no-fund")
			cmd.Dir = followerDir
			var out []byte
			if out, err = cmd.CombinedOutput(); err != nil {
				t.Logf("npm ci in %s: %s", followerDir, out)
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the Fedify follower needs Node.js ≥ 20 and npm, and CI=true: %v", err)
		}
		t.Skipf("skipping the Fedify follower: Node.js ≥ 20 with npm is needed (%v)", err)
	}
	return node
}

// followerEvent is one line the Fedify follower prints.
type followerEvent struct {
	Event, Origin, Error           string
	ID, Type, Username, Inbox, Key string
	Path, Body, Signature          string
	Status                         int
}

// TestFediverseFollowerWithFedify has an independent ActivityPub implementation, a follower
// written with Fedify and run by Node on loopback, follow old-town on the real binary: it
// finds the actor through WebFinger and reads its document; the node verifies its signed
// Follow and answers a signed Accept; after a release, the follower receives the Create of a
// Note in both languages and Fedify verifies its signature against the actor's key (it answers
// 202, and 401 to an unsigned copy). Every delivery is an item of the public outbox, byte for
// byte, and the follower is in no ledger entry; its Undo empties the followers count.
func TestFediverseFollowerWithFedify(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	node := fedify(t)
	ctx := testContext(t)
	n := startFreshNode(t)
	host := strings.TrimPrefix(n.url, "http://")

	cmd := exec.CommandContext(ctx, node, "follower.mjs", "acct:"+oldTown+"@"+host)
	cmd.Dir = followerDir
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	require.NoError(t, cmd.Start())
	t.Cleanup(func() {
		stdin.Close()
		cmd.Process.Kill()
		cmd.Wait()
	})
	events := make(chan followerEvent, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(stdout)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var e followerEvent
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				events <- e
			}
		}
	}()
	// next waits for the follower's next event that satisfies ok.
	next := func(what string, ok func(followerEvent) bool) followerEvent {
		t.Helper()
		for {
			select {
			case e, open := <-events:
				require.True(t, open, "the follower exited while the test waited for %s; its stderr:\n%s", what, stderr.String())
				require.NotEqual(t, "error", e.Event, "follower: %s", e.Error)
				if ok(e) {
					return e
				}
			case <-ctx.Done():
				t.Fatalf("no %s from the follower by the test's deadline; node logs:\n%s", what, n.logs.String())
			}
		}
	}
	listening := next("listening", func(e followerEvent) bool { return e.Event == "listening" })
	actorID := n.url + "/neighbourhoods/" + oldTown

	// Fedify read the actor document found through WebFinger, key included.
	following := next("following", func(e followerEvent) bool { return e.Event == "following" })
	assert.Equal(t, actorID, following.ID)
	assert.Equal(t, "Service", following.Type)
	assert.Equal(t, oldTown, following.Username)
	assert.Equal(t, actorID+"/inbox", following.Inbox)
	assert.Equal(t, actorID+"#main-key", following.Key)

	// The node verified the Follow and answered a signed Accept, which Fedify verified.
	accept := next("Accept", func(e followerEvent) bool { return e.Event == "post" && strings.Contains(e.Body, `"type":"Accept"`) })
	assert.Equal(t, http.StatusAccepted, accept.Status, "Fedify accepts the node's signature")
	assert.Contains(t, accept.Signature, `keyId="`+actorID+`#main-key"`)
	assert.Equal(t, 1, totalItems(t, actorID+"/followers"))

	// A release: the follower receives its Create, and Fedify verifies the signature.
	day, _ := releaseDay(ctx, t, n)
	title := "Air quality in Ciutat Vella on " + day.Format("Monday 2 January 2006")
	created := next("the release's Create", func(e followerEvent) bool {
		return e.Event == "post" && strings.Contains(e.Body, `"type":"Create"`) && strings.Contains(e.Body, title)
	})
	assert.Equal(t, http.StatusAccepted, created.Status, "Fedify accepts the node's signature on the Create")
	var create struct {
		Actor  string
		Object struct {
			Type, Content string
			ContentMap    map[string]string
		}
	}
	require.NoError(t, json.Unmarshal([]byte(created.Body), &create))
	assert.Equal(t, actorID, create.Actor)
	assert.Equal(t, "Note", create.Object.Type)
	assert.Contains(t, create.Object.ContentMap["en"], title)
	assert.Contains(t, create.Object.ContentMap["fr"], "Qualité de l&#39;air à Ciutat Vella")
	assert.Equal(t, create.Object.ContentMap["en"], create.Object.Content)

	// Fedify refuses the same Create unsigned: its 202 above was a verified signature.
	resp, err := http.Post(listening.Origin+"/users/alice/inbox", "application/activity+json", strings.NewReader(created.Body))
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusUnauthorized, resp.StatusCode)
	next("the unsigned copy", func(e followerEvent) bool { return e.Event == "post" && e.Signature == "" })

	// What left the node is what its outbox publishes, and the follower is in no ledger entry.
	outbox := getJSON(t, actorID+"/outbox")
	var items []any
	require.NoError(t, json.Unmarshal(outbox["orderedItems"], &items))
	var sent map[string]any
	require.NoError(t, json.Unmarshal([]byte(created.Body), &sent))
	delete(sent, "@context")
	assert.True(t, slices.ContainsFunc(items, func(it any) bool { return reflect.DeepEqual(it, any(sent)) }),
		"the delivered Create is an item of the public outbox, field for field")
	resp, err = http.Get(n.url + "/api/v1/ledger/checkpoint")
	require.NoError(t, err)
	cp, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	lines := strings.Split(string(cp), "\n")
	require.Greater(t, len(lines), 2)
	size, err := strconv.ParseUint(lines[1], 10, 64)
	require.NoError(t, err)
	require.NotZero(t, size)
	for i := range size {
		b := httpGet(t, n.url+"/api/v1/ledger/entries/"+strconv.FormatUint(i, 10))
		assert.NotContains(t, string(b), strings.TrimPrefix(listening.Origin, "http://"), "entry %d", i)
	}

	// Undo of the Follow: no follower left.
	_, err = io.WriteString(stdin, "undo\n")
	require.NoError(t, err)
	next("undone", func(e followerEvent) bool { return e.Event == "undone" })
	assert.Equal(t, 0, totalItems(t, actorID+"/followers"))
}

// getJSON reads an ActivityStreams or JSON document's top-level fields.
func getJSON(t *testing.T, url string) map[string]json.RawMessage {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", "application/activity+json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, url)
	var m map[string]json.RawMessage
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&m))
	return m
}

// totalItems is a collection's count.
func totalItems(t *testing.T, url string) int {
	t.Helper()
	var n int
	require.NoError(t, json.Unmarshal(getJSON(t, url)["totalItems"], &n))
	return n
}
