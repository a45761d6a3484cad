package server

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/store"
)

// BatchPolicy says when accepted petition acts (signatures and withdrawals) are appended to
// the ledger: in one shuffled batch once Every has passed since the last batch and at least Min
// acts are pending, whichever comes later. Token issuances (petition.issue entries) wait in the
// same batches without counting towards Min; with no act pending, they go at the cadence. Acts for a petition that has closed are appended at
// the next tick whatever their number. The zero policy appends each act as it is accepted.
type BatchPolicy struct {
	Every time.Duration
	Min   int
}

// immediate reports whether the policy appends each act as it is accepted.
func (p BatchPolicy) immediate() bool { return p.Every <= 0 && p.Min <= 1 }

// Batcher appends pending petition acts to the ledger in shuffled batches. Acts are durable
// in the store (store.PutPending) before the node acknowledges them, so a batch lost to a crash
// is appended after the restart; each act's entry is appended in the same transaction that
// deletes its pending record, so none is appended twice.
type Batcher struct {
	policy atomic.Pointer[BatchPolicy]
	Ledger *ledger.Log
	Store  *store.Store
	State  *state.State
	Now    func() time.Time
	Logger *slog.Logger

	mu      sync.Mutex // one batch at a time
	last    time.Time  // when the last batch was appended
	scanned time.Time  // when the pending acts were last read for a petition's close
	kick    chan struct{}
}

// NewBatcher returns a batcher; its clock starts at now, so the first batch waits a full Every.
func NewBatcher(p BatchPolicy, lg *ledger.Log, st *store.Store, s *state.State, now func() time.Time, logger *slog.Logger) *Batcher {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.Default()
	}
	b := &Batcher{Ledger: lg, Store: st, State: s, Now: now, Logger: logger, last: now(), kick: make(chan struct{}, 1)}
	b.policy.Store(&p)
	return b
}

// Policy is the batcher's policy now.
func (b *Batcher) Policy() BatchPolicy { return *b.policy.Load() }

// SetPolicy replaces the policy from the next act or tick on: a demo node loads its city with
// each act appended at once, then serves with the operator's batches.
func (b *Batcher) SetPolicy(p BatchPolicy) { b.policy.Store(&p) }

// accepted is called once an act is durably pending: an immediate policy appends it now,
// before the node answers; any other wakes Run. A batch that fails is logged: the act stays
// pending, and the next batch appends it.
func (b *Batcher) accepted(ctx context.Context) {
	if b.Policy().immediate() {
		if _, err := b.Tick(ctx); err != nil {
			b.Logger.Error("petition batch failed", "err", err)
		}
		return
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Run ticks every interval (real time; at least four times per cadence) and whenever an act is
// accepted, until ctx ends. The policy reads the batcher's clock (Now), so a test drives
// batches with Tick and its own clock.
func (b *Batcher) Run(ctx context.Context, interval time.Duration) {
	if quarter := b.Policy().Every / 4; quarter > 0 && quarter < interval {
		interval = quarter
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-b.kick:
		}
		if _, err := b.Tick(ctx); err != nil {
			b.Logger.Error("petition batch failed", "err", err)
		}
	}
}

// Tick appends the pending acts if the policy says a batch is due, and returns how many it
// appended. A batch is shuffled with crypto/rand; a withdrawal and its signature are never in
// the same batch, as a withdrawal is accepted only once its signature is logged.
func (b *Batcher) Tick(ctx context.Context) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now, policy := b.Now(), b.Policy()
	if !policy.immediate() && now.Sub(b.last) < policy.Every && !b.closedSince(now) {
		return 0, nil // nothing can be due: no need to read the pending acts
	}
	pending, err := b.Store.Pendings()
	if err != nil {
		return 0, err
	}
	if len(pending) == 0 {
		return 0, nil
	}
	acts := 0 // signatures and withdrawals: token issuances ride along but make no company
	for _, p := range pending {
		if p.Type != store.PendingIssueType {
			acts++
		}
	}
	// An immediate policy is always due, even on a clock that moves back (the demo's does).
	// Token issuances alone go at the cadence: they wait for no signature.
	due := policy.immediate() || now.Sub(b.last) >= policy.Every && (acts >= max(policy.Min, 1) || acts == 0)
	if !due {
		// Acts of a petition that has closed cannot wait for more company.
		var closed []store.Pending
		for _, p := range pending {
			if pt, ok := b.State.Petition(p.Petition); !ok || !now.Before(pt.Closes) {
				closed = append(closed, p)
			}
		}
		if len(closed) == 0 {
			return 0, nil
		}
		pending = closed
	}
	if err := shuffle(pending); err != nil {
		return 0, err
	}
	entries := make([]ledger.Logged, len(pending))
	for i, p := range pending {
		if p.Entry, err = b.stamped(p, now); err != nil {
			return 0, err
		}
		entries[i] = p.Landed()
	}
	if _, err := b.Ledger.AppendAll(ctx, entries); err != nil {
		return 0, fmt.Errorf("server: petition batch: %w", err)
	}
	b.last = now
	b.Logger.Info("petition batch appended", "acts", len(entries))
	return len(entries), nil
}

// closedSince reports whether a petition closed since the last time it was asked (and records
// now): its pending acts must then go whatever the cadence. The first call reports true.
func (b *Batcher) closedSince(now time.Time) bool {
	defer func() { b.scanned = now }()
	if b.scanned.IsZero() {
		return true
	}
	for _, p := range b.State.Petitions() {
		if p.Closes.After(b.scanned) && !now.Before(p.Closes) {
			return true
		}
	}
	return false
}

// stamped is a pending entry with its epoch: the UTC day its batch is appended, or the
// petition's last open day for a batch appended after the close. Every entry of a batch has the
// same day, so the day tells no more than the batch's place; the node keeps no record of when
// an act was accepted.
func (b *Batcher) stamped(p store.Pending, now time.Time) ([]byte, error) {
	e, err := api.ParseEntry(p.Entry)
	if err != nil {
		return nil, fmt.Errorf("server: petition batch: %w", err)
	}
	day := now
	if pt, ok := b.State.Petition(p.Petition); ok && !now.Before(pt.Closes) {
		day = pt.Closes.Add(-time.Nanosecond)
	}
	e.Epoch = day.UTC().Format(time.DateOnly)
	return e.Marshal()
}

// shuffle puts acts in a uniformly random order (Fisher–Yates with crypto/rand).
func shuffle(ps []store.Pending) error {
	for i := len(ps) - 1; i > 0; i-- {
		j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
		if err != nil {
			return fmt.Errorf("server: shuffle: %w", err)
		}
		ps[i], ps[j.Int64()] = ps[j.Int64()], ps[i]
	}
	return nil
}
