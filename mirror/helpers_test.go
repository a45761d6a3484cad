package mirror

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
)

const testAir = "air-quality"

// keys is a source's ledger key pair.
type keys struct {
	signer   note.Signer
	verifier note.Verifier
	public   string
}

func newKeys(t testing.TB) keys {
	t.Helper()
	skey, vkey, err := ledger.GenerateKey("source.commons.test/ledger")
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	return keys{s, v, vkey}
}

func tempDB(t testing.TB) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithSyncWrites(true).WithLogger(nil))
	require.NoError(t, err)
	t.Cleanup(func() { db.Close() })
	return db
}

// history is one version of a source's ledger: a real signing log and the release bytes it
// serves, by query ("day=…" or "week=…").
type history struct {
	log      *ledger.Log
	releases map[string][]byte
}

// newHistory logs n test entries under k, then a day's release whose bytes are body.
func newHistory(t testing.TB, k keys, n int, tag string) *history {
	t.Helper()
	l, err := ledger.Open(tempDB(t), k.signer, k.verifier, ledger.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	h := &history{log: l, releases: map[string][]byte{}}
	for i := range n {
		e, err := api.Entry{Type: api.EntryInvite, Hash: fmt.Sprintf("%s-%d", tag, i)}.Marshal()
		require.NoError(t, err)
		_, err = l.Append(context.Background(), e)
		require.NoError(t, err)
	}
	return h
}

// release logs a release of the air purpose for epoch (a day or a week) and serves body for it.
func (h *history) release(t testing.TB, epoch string, body []byte) {
	t.Helper()
	e, err := api.Entry{Type: api.EntryRelease, Purpose: testAir, PurposeVersion: 1, Epoch: epoch, Hash: state.Hash(body)}.Marshal()
	require.NoError(t, err)
	_, err = h.log.Append(context.Background(), e)
	require.NoError(t, err)
	q := "day="
	if isWeek(epoch) {
		q = "week="
	}
	h.releases[q+epoch] = body
}

// source is a test double of a node: it serves the ledger and release endpoints a mirror reads
// from whichever history the test sets, so a test can make it rewrite its past.
type source struct {
	mu      sync.Mutex
	h       *history
	key     string
	tamper  func(path string, b []byte) []byte // alters what is served, if set
	fetches int
	srv     *httptest.Server
}

// releasedHistory is a history of n entries (tag "a") that logs one release of day; it
// returns the release's bytes too.
func releasedHistory(t testing.TB, k keys, n int, day string) (*history, []byte) {
	t.Helper()
	h := newHistory(t, k, n, "a")
	body := []byte(`{"epoch":"` + day + `","cells":[]}`)
	h.release(t, day, body)
	return h, body
}

func newSource(t testing.TB, k keys, h *history) *source {
	t.Helper()
	s := &source{h: h, key: k.public}
	s.srv = httptest.NewServer(s)
	t.Cleanup(s.srv.Close)
	return s
}

func (s *source) set(h *history) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.h = h
}

func (s *source) setTamper(f func(path string, b []byte) []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tamper = f
}

func (s *source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	h, tamper := s.h, s.tamper
	s.fetches++
	s.mu.Unlock()
	var b []byte
	var err error
	q := r.URL.Query()
	switch p := r.URL.Path; {
	case p == "/ledger/checkpoint":
		b, _ = h.log.Checkpoint()
	case p == "/api/v1/ledger/key":
		b = []byte(s.key + "\n")
	case strings.HasPrefix(p, "/ledger/tile/"):
		var tp ledger.TilePath
		if tp, err = ledger.ParseTilePath(strings.TrimPrefix(p, "/ledger/")); err == nil {
			b, err = h.log.Tile(tp)
		}
	case p == "/api/v1/ledger/proof/consistency":
		from, _ := strconv.ParseUint(q.Get("from"), 10, 64)
		to, _ := strconv.ParseUint(q.Get("to"), 10, 64)
		var proof [][]byte
		if proof, err = h.log.ConsistencyProof(from, to); err == nil {
			if proof == nil {
				proof = [][]byte{}
			}
			b, err = json.Marshal(map[string]any{"from": from, "to": to, "proof": proof})
		}
	case p == "/api/v1/stats/air" && r.URL.RawQuery == "":
		b = []byte(`{"purpose":"` + testAir + `","epochs":[],"hourly":[],"weeks":[]}`)
	case p == "/api/v1/stats/air":
		var ok bool
		if b, ok = h.releases[r.URL.RawQuery]; !ok {
			err = ledger.ErrNotFound
		}
	default:
		err = ledger.ErrNotFound
	}
	if err != nil {
		http.Error(w, `{"error":{"code":"not_found","message":"no"}}`, http.StatusNotFound)
		return
	}
	if tamper != nil {
		b = tamper(r.URL.Path+"?"+r.URL.RawQuery, b)
	}
	_, _ = w.Write(b)
}

// openMirror opens a mirror of src on db, its evidence under dir, its log lines in logs.
func openMirror(t testing.TB, db *badger.DB, src *source, dir, key string, logs io.Writer) *Mirror {
	t.Helper()
	m, err := Open(context.Background(), db, Options{Source: src.srv.URL, Key: key, Evidence: dir,
		Logger: slog.New(slog.NewTextHandler(logs, nil))})
	require.NoError(t, err)
	t.Cleanup(func() { m.Close() })
	return m
}

// get fetches path from h and returns the status and body.
func get(t testing.TB, h http.Handler, method, path string) (int, []byte, http.Header) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(method, path, nil))
	return rec.Code, rec.Body.Bytes(), rec.Header()
}
