package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/commons-city/commons/mirror"
	"github.com/commons-city/commons/store"
)

// mirrorConfig is what `commons mirror` runs with.
type mirrorConfig struct {
	From, Data, Addr, Key string
	Every                 time.Duration
}

// mirrorCmd is `commons mirror --from URL --data DIR --addr HOST:PORT [--key KEY] [--every D]`:
// it keeps a verified copy of another node's ledger and releases and serves it read-only, until
// SIGTERM or SIGINT.
func mirrorCmd(args []string) error {
	fs := newFlagSet("mirror")
	var cfg mirrorConfig
	fs.StringVar(&cfg.From, "from", "", "base `URL` of the node to mirror")
	fs.StringVar(&cfg.Data, "data", "", "data `directory` of the mirror (its database and any fork evidence)")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8081", "`HOST:PORT` to serve the copy on")
	fs.StringVar(&cfg.Key, "key", "", "the source's ledger verifier `key` (default: pinned from the source on the first run)")
	fs.DurationVar(&cfg.Every, "every", time.Minute, "how often to fetch the source's new checkpoint")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	switch {
	case cfg.From == "" || cfg.Data == "":
		return errors.New("mirror: --from URL and --data DIR are required")
	case cfg.Every < time.Second:
		return errors.New("mirror: --every must be at least 1s")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runMirror(ctx, cfg, logger)
}

// runMirror follows the source and serves the copy until ctx ends. A source caught forking is
// no longer followed, but what was verified before stays served, with the evidence.
func runMirror(ctx context.Context, cfg mirrorConfig, logger *slog.Logger) error {
	if _, err := os.Stat(filepath.Join(cfg.Data, "keys")); err == nil {
		return fmt.Errorf("mirror: %s is a node's data directory (it has keys/): give the mirror its own", cfg.Data)
	}
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	db, err := store.OpenBadger(store.Options{Dir: filepath.Join(cfg.Data, "badger"), Logger: logger})
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	defer db.Close()
	m, err := mirror.Open(ctx, db, mirror.Options{Source: cfg.From, Key: cfg.Key,
		Evidence: filepath.Join(cfg.Data, "evidence"), Logger: logger})
	if err != nil {
		return err
	}
	defer m.Close()
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("mirror: %w", err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 2 * time.Minute, ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	url := "http://" + ln.Addr().String()
	fmt.Fprintf(os.Stderr, "commons: mirror ready — open %s/ledger (copy of %s, ledger size %d)\n", url, cfg.From, m.Ledger().Size())
	followed := make(chan error, 1)
	go func() { followed <- m.Run(ctx, cfg.Every) }()
	for {
		select {
		case err := <-served:
			return fmt.Errorf("mirror: %w", err)
		case err := <-followed:
			if err != nil {
				logger.Error("mirror: no longer following the source; still serving the copy verified before", "err", err)
			}
			followed = nil
		case <-ctx.Done():
			logger.Info("shutting down")
			shut, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := srv.Shutdown(shut); err != nil {
				logger.Warn("shutdown", "err", err)
			}
			if followed != nil {
				<-followed
			}
			return nil
		}
	}
}
