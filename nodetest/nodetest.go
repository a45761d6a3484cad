// Package nodetest builds the core of a Commons node for tests, the way production wires it:
// a real Badger in a temporary directory, the ledger with a fresh signing key, the go-memdb
// read model applied by the ledger's sequencer, and the store; with a clock the test
// controls and a log sink it can read. It is the one harness every package's tests share
// (server, dashboards, release, the read model and the binary's tests), so that no test sets
// up a node by hand and no test sleeps on the wall clock to reach a deadline.
//
// nodetest imports no HTTP code: the server's and the dashboards' own tests build their
// fiber app on a Core.
package nodetest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/store"
)

// Clock is a time the test sets: pass its Now wherever the node takes a clock.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a clock that reads t until it is set or advanced.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Logs collects log output written from any goroutine, for a test to read.
type Logs struct {
	mu      sync.Mutex
	b       bytes.Buffer
	written chan struct{} // closed by the next Write, for WaitFor
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.written != nil {
		close(l.written)
		l.written = nil
	}
	return l.b.Write(p)
}

// WaitFor returns once s has been written n times, or an error when ctx ends first. It waits
// on the writes themselves, never on the clock.
func (l *Logs) WaitFor(ctx context.Context, s string, n int) error {
	for {
		l.mu.Lock()
		seen := strings.Count(l.b.String(), s)
		if seen >= n {
			l.mu.Unlock()
			return nil
		}
		if l.written == nil {
			l.written = make(chan struct{})
		}
		written := l.written
		l.mu.Unlock()
		select {
		case <-written:
		case <-ctx.Done():
			return fmt.Errorf("nodetest: %q logged %d of %d times: %w", s, seen, n, ctx.Err())
		}
	}
}

// String returns everything written so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Logger returns a text logger at debug level that writes into l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Options adjust a Core. The zero value is a node whose clock reads a fixed day.
type Options struct {
	// Origin is the ledger's checkpoint origin (default "test.commons.local/ledger").
	Origin string
	// Start is the clock's first reading (default 2026-05-04 10:00 UTC).
	Start time.Time
	// OnCommit is passed to the ledger (for the server's metrics, or to hold the sequencer).
	OnCommit func(entries, writes int, took time.Duration, err error)
	// Synced opens Badger with the node's own options (store.OpenBadger: synced writes, small
	// memtables) instead of Badger's defaults, for tests of durability and benchmarks.
	Synced bool
}

// Core is the storage side of a node: everything but the HTTP app and the release engine.
type Core struct {
	DB     *badger.DB
	Ledger *ledger.Log
	State  *state.State
	Store  *store.Store
	// VerifierKey is the ledger's note verifier key; Verifier checks its checkpoints.
	VerifierKey string
	Verifier    note.Verifier
	Clock       *Clock
	Logs        *Logs
	Logger      *slog.Logger

	dir    string
	signer note.Signer
	opts   Options
	closed bool
}

// New builds a Core in t.TempDir(); it is closed when the test ends.
func New(t testing.TB, o Options) *Core {
	t.Helper()
	if o.Origin == "" {
		o.Origin = "test.commons.local/ledger"
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	}
	skey, vkey, err := ledger.GenerateKey(o.Origin)
	require.NoError(t, err)
	signer, err := note.NewSigner(skey)
	require.NoError(t, err)
	verifier, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	c := &Core{VerifierKey: vkey, Verifier: verifier, Clock: NewClock(o.Start), Logs: &Logs{},
		dir: t.TempDir(), signer: signer, opts: o}
	c.Logger = c.Logs.Logger()
	c.open(t)
	return c
}

// open opens the database, the read model and the ledger in c.dir.
func (c *Core) open(t testing.TB) {
	t.Helper()
	var db *badger.DB
	var err error
	if c.opts.Synced {
		db, err = store.OpenBadger(store.Options{Dir: c.dir, Logger: c.Logger})
	} else {
		db, err = badger.Open(badger.DefaultOptions(c.dir).WithLogger(nil))
	}
	require.NoError(t, err)
	st, err := state.New(c.Logger)
	require.NoError(t, err)
	lg, err := ledger.Open(db, c.signer, c.Verifier, ledger.Options{Apply: st.ApplyBatch, OnCommit: c.opts.OnCommit, Logger: c.Logger})
	require.NoError(t, err)
	c.DB, c.State, c.Ledger, c.Store, c.closed = db, st, lg, store.New(db, lg), false
	t.Cleanup(func() { c.Close(t) })
}

// Close closes the ledger and the database, as a node's shutdown does; closing twice is a
// no-op.
func (c *Core) Close(t testing.TB) {
	t.Helper()
	if c.closed {
		return
	}
	c.closed = true
	assert.NoError(t, c.Ledger.Close())
	assert.NoError(t, c.DB.Close())
}

// Reopen closes the node and opens it again on the same directory and keys, with a new,
// empty read model: replay it (State.Replay) as a node does when it starts.
func (c *Core) Reopen(t testing.TB) {
	t.Helper()
	c.Close(t)
	c.open(t)
}

// Append logs an entry durably and returns its index.
func (c *Core) Append(t testing.TB, e api.Entry) uint64 {
	t.Helper()
	b, err := e.Marshal()
	require.NoError(t, err)
	r, err := c.Ledger.Append(context.Background(), b)
	require.NoError(t, err)
	return r.Index
}

// DefinePurpose logs a purpose.define entry for p, as a node does for its built-in purposes.
func (c *Core) DefinePurpose(t testing.TB, p api.Purpose) uint64 {
	t.Helper()
	body, err := json.Marshal(p)
	require.NoError(t, err)
	return c.Append(t, api.Entry{Type: api.EntryPurpose, Purpose: p.ID, PurposeVersion: p.Version,
		Body: body, Hash: state.Hash(body)})
}
