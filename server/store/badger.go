// Package store keeps what the server holds besides the ledger, in the same Badger database:
// sealed envelopes (which it cannot open), releases (computed once, served forever), and
// private records about residents that must not be public.
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
package store

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/dgraph-io/badger/v4"
)

// Options configure the Badger database.
type Options struct {
	// Dir is the data directory.
	Dir string
	// Logger receives Badger's warnings and errors.
	Logger *slog.Logger
}

// OpenBadger opens the one Badger database of a node with synced writes: a transaction that
// returns from Commit is on disk.
func OpenBadger(o Options) (*badger.DB, error) {
	opts := badger.DefaultOptions(o.Dir).
		WithSyncWrites(true).
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
			for {
				err := db.RunValueLogGC(0.5)
				if err != nil {
					if !errors.Is(err, badger.ErrNoRewrite) && !errors.Is(err, badger.ErrRejected) {
						logger.Warn("store: value log gc", "err", err)
					}
					break
				}
			}
		}
	}
}

// slogger routes Badger's logger to slog; Badger's info and debug chatter is dropped.
type slogger struct{ l *slog.Logger }

func (s slogger) Errorf(f string, a ...any)   { s.l.Error("badger: " + fmt.Sprintf(f, a...)) }
func (s slogger) Warningf(f string, a ...any) { s.l.Warn("badger: " + fmt.Sprintf(f, a...)) }
func (s slogger) Infof(string, ...any)        {}
func (s slogger) Debugf(string, ...any)       {}
