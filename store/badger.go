// Package store keeps what the server holds besides the ledger, in the same Badger database:
// sealed envelopes (which it cannot open), releases (computed once, served forever), and
// private records about residents that must not be public.
//
// Only this package knows its keys. A record written with a ledger entry is built here as a
// ledger.Put (CitizenRecord, NonceRecord, ReleaseRecord...); every other write (a contribution,
// a closing mark, a deletion) is a ledger.Write. Either way it goes through the ledger's
// sequencer, the node's one queue for durable writes, and is acknowledged only once its
// synced batch is committed. Reads go to Badger directly.
//
// Key layout (the ledger owns "l/"):
//
//	s/<purpose>␀<day>␀<citizen>␀<contribution>  share copy, sealed to a purpose
//	v/<citizen>␀<day>␀<contribution>            vault copy, sealed to the resident
//	n/<citizen>␀<nonce>                         contribution nonce, refuses replays
//	c/<purpose>␀<epoch>                         the epoch is closed: no more share copies
//	r/<purpose>␀<epoch>                         release bytes (neighbourhood × day)
//	h/<purpose>␀<day>                           release bytes (city × hour, one day)
//	p/citizen/<citizen>                          the resident's neighbourhood (private)
//	p/budget/<citizen>␀<ISO week>               ε the resident spent that week (private)
//	p/nonce/<citizen>␀<nonce>                   statement nonce, refuses replays (private)
//	p/answers/<petition>␀<nullifier>            a signer's sealed answers; empty once withdrawn
//	p/tokenkey/<petition>                        the petition's RSA token key (private)
//	p/issued/<petition>␀<citizen>               the resident was issued the petition's token: the
//	                                             SHA-256 of the blinded message (blind: says nothing
//	                                             of the token or its nullifier)
//	p/spent/<petition>␀<nullifier>␀<type>       the nullifier was used for petition.sign or
//	                                             petition.withdraw (accepted, pending or logged)
//	q/<petition>␀<nullifier>␀<type>             a petition act accepted and not yet in the ledger:
//	                                             its entry and sealed answers, until its batch lands
//	p/approver/<purpose>␀<version>␀<citizen>    the resident's nullifier on a purpose proposal (private)
//	f/follower/<actor>␀<follower actor>          a Fediverse follower of an actor, its inbox (private)
//	f/fanned/<actor>␀<event>                     the event was announced to the actor's followers
//	f/queue/<delivery>                           an activity still to deliver to an inbox, its retries
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Options configure the Badger database.
type Options struct {
	// Dir is the data directory.
	Dir string
	// Logger receives Badger's warnings and errors.
	Logger *slog.Logger
	// LargestWrite is the largest transaction the node must be able to commit, in bytes (its
	// request body limit); memtables are sized so that it fits. Zero means 4 MiB.
	LargestWrite int
}

// OpenBadger opens the one Badger database of a node with synced writes: a transaction that
// returns from Commit is on disk.
func OpenBadger(o Options) (*badger.DB, error) {
	// Badger refuses a transaction over 15 % of a memtable. Sized for a small machine: 32 MiB
	// memtables (Badger's default is 64) unless the largest write needs more, two of them at
	// once instead of five, and a 32 MiB block cache instead of 256.
	memtable := int64(32 << 20)
	if need := int64(max(o.LargestWrite, 4<<20)) * 100 / 14; need > memtable {
		memtable = need
	}
	opts := badger.DefaultOptions(o.Dir).
		WithSyncWrites(true).
		WithMemTableSize(memtable).
		WithNumMemtables(2).
		WithBlockCacheSize(32 << 20).
		WithLogger(slogger{o.Logger}).
		WithMetricsEnabled(false)
	db, err := badger.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("store: open badger in %s: %w", o.Dir, err)
	}
	return db, nil
}

// RunValueLogGC reclaims value-log space every interval until ctx ends.
func RunValueLogGC(ctx context.Context, db *badger.DB, every time.Duration, logger *slog.Logger) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			collectValueLog(db, logger)
		}
	}
}

// collectValueLog rewrites value-log files while at least half of one is garbage; nothing to
// rewrite is the usual case, not a warning.
func collectValueLog(db *badger.DB, logger *slog.Logger) {
	for {
		err := db.RunValueLogGC(0.5)
		if err == nil {
			continue
		}
		if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
			logger.Warn("store: value log gc", "err", err)
		}
		return
	}
}

// slogger routes Badger's logger to slog, one line per message: Badger ends its messages with
// a newline and prints some values (a cache's life-expectancy histogram) over several lines,
// so every run of white space becomes one space. Badger's info and debug chatter is dropped.
// Its advice that a cache "might be too small" (with that cache's metrics and histogram, once
// a minute while the hit ratio is low) is logged at debug level: a node's caches are sized in
// OpenBadger for its workload, and a bulk write, such as the demo city's load, reads too few
// blocks again for any cache to look useful.
type slogger struct{ l *slog.Logger }

// oneLine is Badger's message on one line.
func oneLine(f string, a ...any) string {
	return "badger: " + strings.Join(strings.Fields(fmt.Sprintf(f, a...)), " ")
}

// cacheAdvice reports whether a Badger warning is its periodic cache-sizing advice.
func cacheAdvice(msg string) bool {
	return strings.Contains(msg, "might be too small") || strings.Contains(msg, "Cache life expectancy")
}

func (s slogger) Errorf(f string, a ...any) { s.l.Error(oneLine(f, a...)) }

func (s slogger) Warningf(f string, a ...any) {
	msg := oneLine(f, a...)
	if cacheAdvice(msg) {
		s.l.Debug(msg)
		return
	}
	s.l.Warn(msg)
}

func (s slogger) Infof(string, ...any)  {}
func (s slogger) Debugf(string, ...any) {}
