// Package mirror keeps a verified, read-only copy of another Commons node's public record — its
// ledger and its releases — and serves it with the node's own ledger and release endpoints:
// the first step of a federation (docs/federation.md).
//
// A mirror trusts nothing its source says without a proof. Every checkpoint must verify with
// the source's key (given, or pinned on first use); every new checkpoint must be proved to
// extend the one the mirror holds (an RFC 6962 consistency proof); every entry is re-hashed into
// the tree, which must have the signed root; every release's bytes must hash to the hash its
// release.publish entry logged, and that entry must be proved included under the signed
// checkpoint. A source that rewrites or forks its history is caught by the consistency check
// (or by entries that do not make its signed root): the mirror keeps both checkpoints and the
// failed proof as evidence, shows them, and stops following that source for good.
//
// Storage is the mirror's own Badger database: the ledger as a replica (ledger.OpenReplica,
// the same layout as a node's) and, under "m/", the pinned key, the release bytes, the
// release entries still waiting for their bytes, and the fork evidence.
package mirror

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
)

// ErrForked is returned by Sync once the source was caught forking or rewriting its ledger:
// the mirror no longer follows it.
var ErrForked = errors.New("mirror: the source forked or rewrote its ledger; no longer following it")

// Badger keys of the mirror's own records; the ledger replica owns "l/".
var (
	keySource  = []byte("m/source")
	keyKey     = []byte("m/key")
	keyFork    = []byte("m/fork")
	keyPending = []byte("m/pending/") // + 8-byte index: a release entry whose bytes are not here yet
	keyRelease = []byte("m/r/")       // + purpose NUL epoch: the release bytes
)

func pendingKey(i uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte{}, keyPending...), i)
}

func releaseKey(purpose, epoch string) []byte {
	return append(append(append([]byte{}, keyRelease...), purpose+"\x00"...), epoch...)
}

// maxBody bounds one answer read from the source: a full entry bundle of maximal entries.
const maxBody = ledger.TileWidth * (2 + ledger.MaxEntrySize)

// Options configure a mirror.
type Options struct {
	// Source is the base URL of the node mirrored, e.g. https://commons.example.org.
	Source string
	// Key is the source's ledger verifier key (a note verifier key). Empty: the key the source
	// publishes at /api/v1/ledger/key is pinned on the first run and required from then on.
	Key string
	// Evidence is the directory where fork evidence is written (besides the database).
	Evidence string
	// HTTP fetches from the source (default: a client with a 60 s timeout).
	HTTP *http.Client
	// Logger receives the mirror's messages (default slog.Default()).
	Logger *slog.Logger
	// Now is the mirror's clock (default time.Now).
	Now func() time.Time
}

// Mirror is a verified copy of one source. It is safe for concurrent use.
type Mirror struct {
	db       *badger.DB
	log      *ledger.Log
	o        Options
	key      string
	verifier note.Verifier

	syncMu sync.Mutex // one Sync at a time

	mu       sync.Mutex // guards the fields below
	lastSync time.Time
	lastErr  string
	refused  map[uint64]string // release entries whose served bytes did not match, and why
	fork     *Fork
}

// Open opens the mirror of o.Source kept in db. It pins the source's key on first use (or
// checks the one given against the pinned one) and refuses a database that mirrors another
// source.
func Open(ctx context.Context, db *badger.DB, o Options) (*Mirror, error) {
	if o.Evidence == "" {
		return nil, errors.New("mirror: an evidence directory is required")
	}
	if o.HTTP == nil {
		o.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	o.Source = strings.TrimRight(o.Source, "/")
	if u, err := url.Parse(o.Source); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("mirror: source %q is not an http(s) URL", o.Source)
	}
	m := &Mirror{db: db, o: o, refused: map[uint64]string{}}
	if err := m.pin(ctx); err != nil {
		return nil, err
	}
	v, err := note.NewVerifier(m.key)
	if err != nil {
		return nil, fmt.Errorf("mirror: source key: %w", err)
	}
	m.verifier = v
	if m.log, err = ledger.OpenReplica(db, v, ledger.Options{Logger: o.Logger}); err != nil {
		return nil, fmt.Errorf("mirror: %w", err)
	}
	if b, err := m.get(keyFork); err != nil {
		return nil, err
	} else if b != nil {
		var f Fork
		if err := json.Unmarshal(b, &f); err != nil {
			return nil, fmt.Errorf("mirror: stored fork evidence: %w", err)
		}
		m.fork = &f
	}
	return m, nil
}

// pin fixes the source and its key in the database on first use, and checks them after.
func (m *Mirror) pin(ctx context.Context) error {
	source, err := m.get(keySource)
	if err != nil {
		return err
	}
	key, err := m.get(keyKey)
	if err != nil {
		return err
	}
	if source != nil && string(source) != m.o.Source {
		return fmt.Errorf("mirror: this data directory mirrors %s, not %s", source, m.o.Source)
	}
	if key != nil {
		if m.o.Key != "" && m.o.Key != string(key) {
			return fmt.Errorf("mirror: --key differs from the key pinned for %s (%s)", m.o.Source, key)
		}
		m.key = string(key)
		return nil
	}
	m.key = m.o.Key
	if m.key == "" {
		b, err := m.fetch(ctx, "/api/v1/ledger/key")
		if err != nil {
			return fmt.Errorf("mirror: fetch the source's key: %w", err)
		}
		m.key = string(bytes.TrimSpace(b))
		m.o.Logger.Warn("mirror: pinned the source's ledger key on first use; pass --key to pin it yourself",
			"source", m.o.Source, "key", m.key)
	}
	if _, err := note.NewVerifier(m.key); err != nil {
		return fmt.Errorf("mirror: source key %q: %w", m.key, err)
	}
	err = m.db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(keySource, []byte(m.o.Source)); err != nil {
			return err
		}
		return txn.Set(keyKey, []byte(m.key))
	})
	if err != nil {
		return fmt.Errorf("mirror: pin key: %w", err)
	}
	return nil
}

// Close closes the ledger replica; the database is the caller's.
func (m *Mirror) Close() error { return m.log.Close() }

// Ledger is the mirrored ledger, read-only.
func (m *Mirror) Ledger() *ledger.Log { return m.log }

// Run syncs now and then every interval until ctx ends (it returns nil) or the source is
// caught forking (it returns ErrForked; the mirror goes on serving what it verified).
// A failed fetch is logged and retried at the next tick.
func (m *Mirror) Run(ctx context.Context, every time.Duration) error {
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if err := m.Sync(ctx); errors.Is(err, ErrForked) {
			return err
		} else if err != nil && ctx.Err() == nil {
			m.o.Logger.Warn("mirror: sync failed; retrying at the next tick", "source", m.o.Source, "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
	}
}

// Sync fetches the source's latest checkpoint, proves it extends the one held, copies the new
// entries (re-hashed into the tree, which must have the signed root) and then the bytes of
// every release logged so far that the mirror does not hold yet. It returns ErrForked, and
// keeps the evidence, when the source is caught rewriting its ledger.
func (m *Mirror) Sync(ctx context.Context) error {
	m.syncMu.Lock()
	defer m.syncMu.Unlock()
	if m.Forked() != nil {
		return ErrForked
	}
	err := m.sync(ctx)
	m.mu.Lock()
	m.lastSync = m.o.Now().UTC()
	m.lastErr = ""
	if err != nil {
		m.lastErr = err.Error()
	}
	m.mu.Unlock()
	return err
}

func (m *Mirror) sync(ctx context.Context) error {
	served, err := m.fetch(ctx, "/ledger/checkpoint")
	if err != nil {
		return fmt.Errorf("mirror: checkpoint: %w", err)
	}
	cp, err := ledger.OpenCheckpoint(served, m.verifier)
	if err != nil {
		return fmt.Errorf("mirror: the source's checkpoint does not verify with its pinned key: %w", err)
	}
	held, size := m.log.Checkpoint()
	if held != nil {
		old, err := ledger.OpenCheckpoint(held, m.verifier)
		if err != nil {
			return fmt.Errorf("mirror: held checkpoint: %w", err)
		}
		var proof [][]byte
		if cp.Size > old.Size {
			if proof, err = m.consistencyProof(ctx, old.Size, cp.Size); err != nil {
				return err
			}
		}
		if err := ledger.VerifyConsistency(old, cp, proof); err != nil {
			return m.forked(ReasonNotExtension, held, served, proof, err)
		}
	}
	if cp.Size == size && bytes.Equal(served, held) {
		return m.releases(ctx) // nothing new: no fetch, no write
	}
	entries, err := m.entries(ctx, size, cp.Size)
	if err != nil {
		return err
	}
	var pending []ledger.Put
	for j, e := range entries {
		if pe, err := api.ParseEntry(e); err == nil && pe.Type == api.EntryRelease {
			pending = append(pending, ledger.Put{Key: pendingKey(size + uint64(j)), Value: e})
		}
	}
	if _, err := m.log.Extend(entries, served, pending...); errors.Is(err, ledger.ErrProof) {
		return m.forked(ReasonEntries, held, served, nil, err)
	} else if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	if cp.Size > size {
		m.o.Logger.Info("mirror: ledger extended", "source", m.o.Source, "from", size, "to", cp.Size)
	}
	return m.releases(ctx)
}

// consistencyProof asks the source to prove that its tree of size to extends that of size from.
func (m *Mirror) consistencyProof(ctx context.Context, from, to uint64) ([][]byte, error) {
	b, err := m.fetch(ctx, fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", from, to))
	if err != nil {
		return nil, fmt.Errorf("mirror: consistency proof %d→%d: %w", from, to, err)
	}
	var p api.ConsistencyProof
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("mirror: consistency proof %d→%d: %w", from, to, err)
	}
	return p.Proof, nil
}

// entries fetches entries [from, to) from the source's C2SP entry bundles.
func (m *Mirror) entries(ctx context.Context, from, to uint64) ([][]byte, error) {
	var out [][]byte
	for first := from - from%ledger.TileWidth; first < to; first += ledger.TileWidth {
		width := min(to-first, ledger.TileWidth)
		path := ledger.TilePath{Entries: true, Index: first / ledger.TileWidth, Width: int(width)}
		bundle, err := m.fetch(ctx, "/ledger/"+path.String())
		if err != nil {
			return nil, fmt.Errorf("mirror: %s: %w", path, err)
		}
		es, err := ledger.ParseEntryBundle(bundle)
		if err == nil && uint64(len(es)) != width {
			err = fmt.Errorf("%w: it holds %d entries, not %d", ledger.ErrProof, len(es), width)
		}
		if err != nil {
			return nil, fmt.Errorf("mirror: %s: %w", path, err)
		}
		for j, e := range es {
			if first+uint64(j) >= from {
				out = append(out, bytes.Clone(e))
			}
		}
	}
	return out, nil
}

// fetch GETs path from the source and returns its body; an answer other than 200 is an error.
func (m *Mirror) fetch(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, m.o.Source+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := m.o.HTTP.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return nil, fmt.Errorf("GET %s: %w", path, err)
	}
	if len(b) > maxBody {
		return nil, fmt.Errorf("GET %s: answer larger than %d bytes", path, maxBody)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, &statusError{path: path, status: resp.StatusCode}
	}
	return b, nil
}

// statusError is an answer from the source other than 200.
type statusError struct {
	path   string
	status int
}

func (e *statusError) Error() string { return fmt.Sprintf("GET %s: %d", e.path, e.status) }

// get reads one of the mirror's records; nil when absent.
func (m *Mirror) get(key []byte) ([]byte, error) {
	var v []byte
	err := m.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		v, err = item.ValueCopy(nil)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("mirror: read %s: %w", key, err)
	}
	return v, nil
}

// hashOf is the hash a release.publish entry logs for the release's bytes.
func hashOf(b []byte) string { return state.Hash(b) }
