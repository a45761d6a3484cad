package mirror

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/ledger"
)

// The mirror copies the source's ledger and releases, serves the same bytes, and follows the
// source as it grows, across a tile boundary.
func TestMirrorCopiesVerifiedLedgerAndReleases(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	h, dayBody := releasedHistory(t, k, 5, "2026-12-01")
	src := newSource(t, k, h)
	var logs bytes.Buffer
	m := openMirror(t, tempDB(t), src, t.TempDir(), "", &logs)
	ctx := context.Background()
	require.NoError(t, m.Sync(ctx))

	srv := m.Handler()
	want, size := h.log.Checkpoint()
	code, got, _ := get(t, srv, "GET", "/ledger/checkpoint")
	require.Equal(t, 200, code)
	assert.Equal(t, want, got, "the source's signed checkpoint, verbatim")
	assert.Equal(t, size, m.Ledger().Size())
	code, got, hdr := get(t, srv, "GET", "/api/v1/stats/air?day=2026-12-01")
	require.Equal(t, 200, code)
	assert.Equal(t, dayBody, got, "the release, byte-identical")
	assert.NotEmpty(t, hdr.Get("ETag"))
	code, got, _ = get(t, srv, "GET", "/api/v1/ledger/key")
	require.Equal(t, 200, code)
	assert.Equal(t, k.public+"\n", string(got), "the key pinned on first use")

	// The source grows past a full tile, with a weekly release among the new entries.
	weekBody := []byte(`{"epoch":"2026-W49"}`)
	h.release(t, "2026-W49", weekBody)
	for i := range 300 {
		_, err := h.log.Append(ctx, []byte(`{"type":"invite.create","hash":"b`+strings.Repeat("x", i%7)+`"}`))
		require.NoError(t, err)
	}
	require.NoError(t, m.Sync(ctx))
	want, size = h.log.Checkpoint()
	_, got, _ = get(t, srv, "GET", "/api/v1/ledger/checkpoint")
	assert.Equal(t, want, got)
	for _, p := range []ledger.TilePath{{Entries: true, Index: 0, Width: ledger.TileWidth}, {Entries: true, Index: 1, Width: int(size - ledger.TileWidth)}, {Level: 0, Index: 1, Width: int(size - ledger.TileWidth)}, {Level: 1, Index: 0, Width: 1}} {
		tile, err := h.log.Tile(p)
		require.NoError(t, err)
		code, got, _ := get(t, srv, "GET", "/ledger/"+p.String())
		require.Equal(t, 200, code, p.String())
		assert.Equal(t, tile, got, p.String())
	}
	code, got, _ = get(t, srv, "GET", "/api/v1/stats/air?week=2026-W49")
	require.Equal(t, 200, code)
	assert.Equal(t, weekBody, got)
	_, got, _ = get(t, srv, "GET", "/api/v1/stats/air")
	assert.JSONEq(t, `{"purpose":"air-quality","epochs":["2026-12-01"],"hourly":[],"weeks":["2026-W49"]}`, string(got))

	// The mirror's proofs verify against the source's checkpoint.
	cp, err := ledger.OpenCheckpoint(want, k.verifier)
	require.NoError(t, err)
	old, err := ledger.OpenCheckpoint(mustCheckpointAt(t, k, h, 6), k.verifier)
	require.NoError(t, err)
	_, got, _ = get(t, srv, "GET", "/api/v1/ledger/proof/consistency?from=6&to="+itoa(size))
	var cons struct{ Proof [][]byte }
	require.NoError(t, json.Unmarshal(got, &cons))
	require.NoError(t, ledger.VerifyConsistency(old, cp, cons.Proof))
	_, got, _ = get(t, srv, "GET", "/api/v1/ledger/proof/inclusion?index=5&size="+itoa(size))
	var inc struct {
		LeafHash []byte `json:"leaf_hash"`
		Proof    [][]byte
	}
	require.NoError(t, json.Unmarshal(got, &inc))
	entry, err := h.log.Entry(5)
	require.NoError(t, err)
	assert.Equal(t, ledger.LeafHash(entry), inc.LeafHash)
	require.NoError(t, ledger.VerifyInclusion(cp, 5, inc.LeafHash, inc.Proof))
	_, got, _ = get(t, srv, "GET", "/api/v1/ledger/entries/5")
	assert.Equal(t, entry, got)

	// With nothing new, a fetch is the checkpoint alone.
	src.mu.Lock()
	before := src.fetches
	src.mu.Unlock()
	require.NoError(t, m.Sync(ctx))
	src.mu.Lock()
	assert.Equal(t, before+1, src.fetches, "only the checkpoint was fetched")
	src.mu.Unlock()

	st, err := m.Status()
	require.NoError(t, err)
	assert.True(t, st.Following)
	assert.Nil(t, st.Fork)
	assert.Empty(t, st.LastError)
	assert.Contains(t, logs.String(), "mirror: release copied")
}

// mustCheckpointAt is the checkpoint a fresh log under the same key signs over the first n
// entries of h: what the source signed when it had n entries.
func mustCheckpointAt(t *testing.T, k keys, h *history, n uint64) []byte {
	t.Helper()
	var entries [][]byte
	require.NoError(t, h.log.Scan(context.Background(), 0, n, func(_ uint64, e []byte) error {
		entries = append(entries, e)
		return nil
	}))
	l, err := ledger.Open(tempDB(t), k.signer, k.verifier, ledger.Options{})
	require.NoError(t, err)
	defer l.Close()
	for _, e := range entries {
		_, err := l.Append(context.Background(), e)
		require.NoError(t, err)
	}
	cp, _ := l.Checkpoint()
	return cp
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }

// A source that rewrites one entry of its past and signs the new tree is caught by the
// consistency proof: both checkpoints and the proof are kept, shown, and the mirror stops
// following the source, even after a restart.
func TestMirrorCatchesRewrittenHistory(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	honest := newHistory(t, k, 5, "a")
	src := newSource(t, k, honest)
	var logs bytes.Buffer
	db, evidence := tempDB(t), t.TempDir()
	m := openMirror(t, db, src, evidence, k.public, &logs)
	ctx := context.Background()
	require.NoError(t, m.Sync(ctx))
	held, _ := honest.log.Checkpoint()

	rewritten := newHistory(t, k, 6, "z") // same key, another past, one entry longer
	src.set(rewritten)
	err := m.Sync(ctx)
	require.ErrorIs(t, err, ErrForked)
	served, _ := rewritten.log.Checkpoint()

	f := m.Forked()
	require.NotNil(t, f)
	assert.Equal(t, ReasonNotExtension, f.Reason)
	assert.Equal(t, string(held), f.Held)
	assert.Equal(t, string(served), f.Served)
	assert.NotEmpty(t, f.Proof, "the proof the source gave is kept")
	for name, want := range map[string][]byte{"held.checkpoint": held, "served.checkpoint": served} {
		b, err := os.ReadFile(filepath.Join(f.Evidence, name))
		require.NoError(t, err)
		assert.Equal(t, want, b, name)
	}
	assert.True(t, strings.HasPrefix(f.Evidence, evidence))
	assert.Contains(t, logs.String(), "SOURCE FORKED OR REWROTE ITS LEDGER")

	// The evidence is the source's own signatures: anyone can check both, and the failure.
	hcp, err := ledger.OpenCheckpoint([]byte(f.Held), k.verifier)
	require.NoError(t, err)
	scp, err := ledger.OpenCheckpoint([]byte(f.Served), k.verifier)
	require.NoError(t, err)
	require.ErrorIs(t, ledger.VerifyConsistency(hcp, scp, f.Proof), ledger.ErrProof)

	// The mirror still serves what it verified, and shows the fork.
	srv := m.Handler()
	_, got, _ := get(t, srv, "GET", "/ledger/checkpoint")
	assert.Equal(t, held, got)
	_, got, _ = get(t, srv, "GET", "/api/v1/mirror")
	var st Status
	require.NoError(t, json.Unmarshal(got, &st))
	assert.False(t, st.Following)
	require.NotNil(t, st.Fork)
	assert.Equal(t, f.Served, st.Fork.Served)
	_, page, _ := get(t, srv, "GET", "/ledger")
	assert.Contains(t, string(page), "The source forked or rewrote its ledger")

	// It no longer asks the source anything, and a restart remembers.
	src.mu.Lock()
	before := src.fetches
	src.mu.Unlock()
	require.ErrorIs(t, m.Sync(ctx), ErrForked)
	require.NoError(t, m.Close())
	m2 := openMirror(t, db, src, evidence, "", &logs)
	require.ErrorIs(t, m2.Sync(ctx), ErrForked)
	require.NotNil(t, m2.Forked())
	assert.Equal(t, f.Served, m2.Forked().Served)
	src.mu.Lock()
	assert.Equal(t, before, src.fetches, "a forked source is not followed")
	src.mu.Unlock()
}

// Two checkpoints of the same size and different roots (a split view) are a fork too, as is a
// tree that shrank.
func TestMirrorCatchesSplitViewAndShrinking(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		n    int
	}{{"same size, other root", 5}, {"shrank", 3}} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			k := newKeys(t)
			src := newSource(t, k, newHistory(t, k, 5, "a"))
			m := openMirror(t, tempDB(t), src, t.TempDir(), "", &bytes.Buffer{})
			require.NoError(t, m.Sync(context.Background()))
			src.set(newHistory(t, k, c.n, "other"))
			require.ErrorIs(t, m.Sync(context.Background()), ErrForked)
			require.NotNil(t, m.Forked())
			assert.Equal(t, ReasonNotExtension, m.Forked().Reason)
			assert.Empty(t, m.Forked().Proof, "no proof was asked for")
		})
	}
}

// Entries that do not make the signed root are caught before anything is stored.
func TestMirrorCatchesEntriesThatDifferFromTheCheckpoint(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	src := newSource(t, k, newHistory(t, k, 5, "a"))
	src.setTamper(func(path string, b []byte) []byte {
		if strings.HasPrefix(path, "/ledger/tile/entries/") {
			return bytes.Replace(b, []byte(`"a-2"`), []byte(`"a-X"`), 1)
		}
		return b
	})
	m := openMirror(t, tempDB(t), src, t.TempDir(), "", &bytes.Buffer{})
	require.ErrorIs(t, m.Sync(context.Background()), ErrForked)
	require.NotNil(t, m.Forked())
	assert.Equal(t, ReasonEntries, m.Forked().Reason)
	assert.Equal(t, uint64(0), m.Ledger().Size(), "nothing of it stored")
	code, _, _ := get(t, m.Handler(), "GET", "/ledger/checkpoint")
	assert.Equal(t, http.StatusNotFound, code)
}

// A release whose served bytes differ from the logged hash is refused and shown, not copied;
// once the source serves the logged bytes it is copied.
func TestMirrorRefusesReleaseBytesThatDifferFromTheLog(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	h, body := releasedHistory(t, k, 2, "2026-12-02")
	src := newSource(t, k, h)
	src.setTamper(func(path string, b []byte) []byte {
		if strings.HasPrefix(path, "/api/v1/stats/air?day=") {
			return []byte(`{"epoch":"2026-12-02","forged":true}`)
		}
		return b
	})
	m := openMirror(t, tempDB(t), src, t.TempDir(), "", &bytes.Buffer{})
	require.NoError(t, m.Sync(context.Background()))
	code, _, _ := get(t, m.Handler(), "GET", "/api/v1/stats/air?day=2026-12-02")
	assert.Equal(t, http.StatusNotFound, code)
	st, err := m.Status()
	require.NoError(t, err)
	require.Len(t, st.Refused, 1)
	assert.Equal(t, uint64(2), st.Refused[0].Index)
	assert.Nil(t, st.Fork, "a wrong release is refused, not a fork")

	src.setTamper(nil)
	require.NoError(t, m.Sync(context.Background()))
	code, got, _ := get(t, m.Handler(), "GET", "/api/v1/stats/air?day=2026-12-02")
	require.Equal(t, http.StatusOK, code)
	assert.Equal(t, body, got)
	st, err = m.Status()
	require.NoError(t, err)
	assert.Empty(t, st.Refused)
}

// The key is pinned: a checkpoint signed by another key is an error (retried, not a fork), and
// a --key that differs from the pinned one is refused at start.
func TestMirrorPinsTheSourceKey(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	src := newSource(t, k, newHistory(t, k, 3, "a"))
	db := tempDB(t)
	m := openMirror(t, db, src, t.TempDir(), "", &bytes.Buffer{})
	require.NoError(t, m.Sync(context.Background()))

	other := newKeys(t)
	src.set(newHistory(t, other, 4, "a"))
	err := m.Sync(context.Background())
	require.Error(t, err)
	assert.NotErrorIs(t, err, ErrForked)
	assert.Contains(t, err.Error(), "does not verify with its pinned key")
	assert.Nil(t, m.Forked())
	st, err := m.Status()
	require.NoError(t, err)
	assert.Contains(t, st.LastError, "pinned key")
	require.NoError(t, m.Close())

	_, err = Open(context.Background(), db, Options{Source: src.srv.URL, Key: other.public, Evidence: t.TempDir()})
	require.ErrorContains(t, err, "differs from the key pinned")
	_, err = Open(context.Background(), db, Options{Source: "http://elsewhere.test", Evidence: t.TempDir()})
	require.ErrorContains(t, err, "mirrors "+src.srv.URL)
}

// The mirror is read-only and answers bad requests as a node does.
func TestMirrorAnswersBadRequests(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	src := newSource(t, k, newHistory(t, k, 3, "a"))
	m := openMirror(t, tempDB(t), src, t.TempDir(), "", &bytes.Buffer{})
	require.NoError(t, m.Sync(context.Background()))
	srv := m.Handler()
	for _, c := range []struct {
		method, path string
		status       int
		code         string
	}{
		{"POST", "/api/v1/citizens", 405, "method_not_allowed"},
		{"PUT", "/ledger/checkpoint", 405, "method_not_allowed"},
		{"GET", "/api/v1/ledger/proof/consistency?from=x&to=2", 422, "invalid_field"},
		{"GET", "/api/v1/ledger/proof/inclusion?index=1", 422, "invalid_field"},
		{"GET", "/api/v1/ledger/proof/inclusion?index=5&size=3", 404, "not_found"},
		{"GET", "/api/v1/ledger/entries/3", 404, "not_found"},
		{"GET", "/api/v1/ledger/entries/-1", 404, "not_found"},
		{"GET", "/ledger/tile/0/001", 404, "not_found"},
		{"GET", "/ledger/tile/nonsense", 404, "not_found"},
		{"GET", "/api/v1/stats/air?day=2026-12-40", 404, "not_found"},
		{"GET", "/api/v1/stats/air?day=2026-12-01&format=csv", 404, "not_found"},
		{"GET", "/api/v1/stats/air?grid=hour&day=2026-12-01", 404, "not_found"},
		{"GET", "/api/v1/petitions", 404, "not_found"},
	} {
		code, body, hdr := get(t, srv, c.method, c.path)
		assert.Equal(t, c.status, code, c.method+" "+c.path)
		assert.Equal(t, "application/json", hdr.Get("Content-Type"), c.path)
		var e struct {
			Error struct{ Code, Message string }
		}
		require.NoError(t, json.Unmarshal(body, &e), c.path)
		assert.Equal(t, c.code, e.Error.Code, c.path)
		assert.NotEmpty(t, e.Error.Message, c.path)
	}
	_, err := Open(context.Background(), tempDB(t), Options{Source: "ftp://x", Evidence: t.TempDir()})
	require.ErrorContains(t, err, "not an http(s) URL")
}

// A mirror serves what a node serves, so a mirror of a mirror verifies against the first
// source's key: copies can be chained, and none of them is trusted.
func TestMirrorOfAMirror(t *testing.T) {
	t.Parallel()
	k := newKeys(t)
	h, body := releasedHistory(t, k, 4, "2026-12-03")
	src := newSource(t, k, h)
	b := openMirror(t, tempDB(t), src, t.TempDir(), k.public, &bytes.Buffer{})
	require.NoError(t, b.Sync(context.Background()))
	bsrv := httptest.NewServer(b.Handler())
	t.Cleanup(bsrv.Close)

	c, err := Open(context.Background(), tempDB(t), Options{Source: bsrv.URL, Key: k.public, Evidence: t.TempDir()})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.Sync(context.Background()))
	want, _ := h.log.Checkpoint()
	got, _ := c.Ledger().Checkpoint()
	assert.Equal(t, want, got)
	rel, err := c.Release("2026-12-03")
	require.NoError(t, err)
	assert.Equal(t, body, rel)
}
