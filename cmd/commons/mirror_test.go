package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
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
