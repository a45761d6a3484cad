package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"filippo.io/age"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/client/geo"
	"github.com/commons-city/commons/dashboards/release"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/server"
	"github.com/commons-city/commons/server/store"
)

// serveConfig is the node's configuration, from flags.
type serveConfig struct {
	Data          string        // data directory: Badger, keys, admin token
	Addr          string        // listen address
	Demo          bool          // load the demo city into an empty node
	Origin        string        // ledger origin, used when the ledger key is first created
	Grid          string        // GeoJSON file of neighbourhoods ("" = the demo city's)
	ReleaseEvery  time.Duration // how often closed epochs are released
	BodyLimit     int           // request body limit in bytes
	StatementSkew time.Duration // how far issued_at may be from the clock
	Fsck          bool          // re-hash the whole ledger before serving
}

func serve(args []string) error {
	var cfg serveConfig
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.StringVar(&cfg.Data, "data", "./data", "data `directory` (created if missing): Badger database, keys/, admin.token")
	fs.StringVar(&cfg.Addr, "addr", "127.0.0.1:8080", "listen `address` (port 0 picks a free port)")
	fs.BoolVar(&cfg.Demo, "demo", false, "load the demo city (fixtures) into an empty data directory")
	fs.StringVar(&cfg.Origin, "origin", "commons.localhost/ledger", "ledger origin, fixed when the ledger key is created on first start")
	fs.StringVar(&cfg.Grid, "neighbourhoods", "", "GeoJSON `file` of the public grid's neighbourhoods (default: the demo city's)")
	fs.DurationVar(&cfg.ReleaseEvery, "release-every", time.Minute, "how often to publish releases of closed days")
	fs.IntVar(&cfg.BodyLimit, "body-limit", 4<<20, "largest request body in `bytes`")
	fs.DurationVar(&cfg.StatementSkew, "statement-skew", 10*time.Minute, "largest accepted distance between a statement's issued_at and the clock")
	fs.BoolVar(&cfg.Fsck, "fsck", false, "before serving, re-hash every ledger entry and tree node and refuse to start on any mismatch")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if cfg.ReleaseEvery <= 0 {
		return errors.New("serve: --release-every must be positive")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runNode(ctx, cfg, logger)
}

// airPurpose is the built-in daily air-quality purpose, version 1.
func airPurpose(recipient string) state.Purpose {
	return state.Purpose{
		ID: fixtures.AirPurpose, Version: 1,
		Title:       "Daily air quality per neighbourhood",
		Description: "Your sensor's readings are used to publish, once per day, the mean PM2.5, PM10, temperature and humidity of each neighbourhood. A neighbourhood is published only when at least 10 residents contributed that day; each resident counts once, with their own daily mean, bounded to a plausible range.",
		Data:        "air-quality readings (pm10, pm2_5, temperature, humidity) mapped to your neighbourhood; never your precise location",
		Recipient:   recipient,
		Release: state.ReleasePolicy{Grid: release.GridNeighbourhoodDay, K: 10,
			ClampPM25: [2]float64{0, 100}, ClampPM10: [2]float64{0, 200}, GraceHours: 2},
	}
}

func runNode(ctx context.Context, cfg serveConfig, logger *slog.Logger) error {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	keys, err := loadNodeKeys(cfg.Data, cfg.Origin)
	if err != nil {
		return fmt.Errorf("serve: keys: %w", err)
	}
	grid := fixtures.GeoJSON()
	if cfg.Grid != "" {
		if grid, err = os.ReadFile(cfg.Grid); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	gridMap, err := geo.Parse(grid)
	if err != nil {
		return fmt.Errorf("serve: --neighbourhoods: %w", err)
	}
	db, err := store.OpenBadger(store.Options{Dir: filepath.Join(cfg.Data, "badger"), Logger: logger})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer db.Close()
	st, err := state.New(logger)
	if err != nil {
		return err
	}
	lg, err := ledger.Open(db, keys.signer, keys.verifier, ledger.Options{Apply: st.ApplyBatch, Logger: logger})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer lg.Close()
	started := time.Now()
	if err := st.Replay(ctx, lg); err != nil {
		return err
	}
	logger.Info("ledger replayed", "entries", lg.Size(), "citizens", st.CitizenCount(), "took", time.Since(started))
	if cfg.Fsck {
		started = time.Now()
		if err := lg.Fsck(ctx); err != nil {
			return fmt.Errorf("serve: refusing to start: %w", err)
		}
		logger.Info("ledger fsck passed", "entries", lg.Size(), "took", time.Since(started))
	}

	airID, err := purposeIdentity(cfg.Data, fixtures.AirPurpose, 1)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	if err := ensurePurpose(ctx, lg, st, airPurpose(airID.Recipient().String())); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	stor := store.New(db)
	engine := release.New(release.Config{Store: stor, Ledger: lg, State: st,
		Identities: map[string]age.Identity{fixtures.AirPurpose: airID},
		Cells:      gridMap.IDs(), Now: time.Now, Logger: logger})
	app, err := server.New(server.Config{Ledger: lg, State: st, Store: stor, Releases: engine,
		VerifierKey: keys.verifierKey, GeoJSON: grid, AdminToken: keys.adminToken,
		NullifierKey: keys.nullifierKey, AirPurpose: fixtures.AirPurpose, BodyLimit: cfg.BodyLimit,
		StatementSkew: cfg.StatementSkew, Now: time.Now, Logger: logger})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	url := "http://" + ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	logger.Info("serving", "url", url+"/", "data", cfg.Data)

	if cfg.Demo && st.CitizenCount() == 0 {
		fmt.Fprintf(os.Stderr, "commons: loading the demo city through %s (about half a minute)…\n", url)
		sum, err := fixtures.Load(ctx, client.New(url), keys.adminToken, time.Now(), logger)
		if err != nil {
			return fmt.Errorf("serve: demo: %w", err)
		}
		logger.Info("demo city loaded", "residents", sum.Residents, "sensors", sum.Sensors,
			"contributions", sum.Contributions, "signatures", sum.Signatures, "took", sum.Took.Round(time.Millisecond))
	}
	if _, err := engine.RunDue(ctx); err != nil {
		logger.Error("releases", "err", err)
	}
	fmt.Fprintf(os.Stderr, "commons: ready — open %s/ (ledger size %d)\n", url, lg.Size())

	go store.RunValueLogGC(ctx, db, 10*time.Minute, logger)
	tick := time.NewTicker(cfg.ReleaseEvery)
	defer tick.Stop()
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-tick.C:
			if _, err := engine.RunDue(ctx); err != nil {
				logger.Error("releases", "err", err)
			}
		case <-ctx.Done():
			logger.Info("shutting down")
			if err := app.ShutdownWithTimeout(10 * time.Second); err != nil {
				logger.Warn("shutdown", "err", err)
			}
			return nil
		}
	}
}

// ensurePurpose logs a built-in purpose on first start, and refuses to start if the logged
// purpose names a different recipient than the key file holds.
func ensurePurpose(ctx context.Context, lg *ledger.Log, st *state.State, p state.Purpose) error {
	if cur, ok := st.Purpose(p.ID); ok {
		if cur.Version == p.Version && cur.Recipient != p.Recipient {
			return fmt.Errorf("purpose %s v%d: the logged recipient does not match keys/purposes: restore the purpose key from your backup", p.ID, p.Version)
		}
		return nil
	}
	body, err := json.Marshal(p)
	if err != nil {
		return err
	}
	entry, err := ledger.Entry{Type: ledger.EntryPurpose, Purpose: p.ID, PurposeVersion: p.Version,
		Body: body, Hash: state.Hash(body)}.Marshal()
	if err != nil {
		return err
	}
	_, err = lg.Append(ctx, entry)
	return err
}
