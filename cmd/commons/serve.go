package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/commons-city/commons/activitypub"
	"github.com/gofiber/fiber/v2"
	"github.com/valyala/fasthttp/fasthttputil"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/dashboards"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/purpose"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/server"
	"github.com/commons-city/commons/store"
	"github.com/commons-city/commons/witness"
)

// serve is `commons serve`: it reads the configuration (config.go) and runs the node until
// SIGTERM or SIGINT.
func serve(args []string) error {
	cfg, sources, check, err := loadServeConfig(args, os.LookupEnv, os.Stdout)
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	if err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	if check {
		return printConfig(os.Stdout, cfg, sources)
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: cfg.LogLevel}))
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set && cfg.MemoryLimit > 0 {
		debug.SetMemoryLimit(int64(cfg.MemoryLimit) << 20)
	}
	values := configValues(cfg)
	var changed []any
	for _, name := range slices.Sorted(maps.Keys(values)) {
		if src := sources[name]; src != "default" {
			changed = append(changed, slog.String(name, values[name]+" ("+src+")"))
		}
	}
	logger.Info("configuration (options not at their default)", changed...)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return runNode(ctx, cfg, logger)
}

// runNode serves a node from cfg until ctx ends, then shuts it down cleanly.
func runNode(ctx context.Context, cfg serveConfig, logger *slog.Logger) error {
	if err := os.MkdirAll(cfg.Data, 0o700); err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	lock, err := lockData(cfg.Data)
	if err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	defer lock.release()
	if err := checkDataFormat(cfg.Data); err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	badgerDir := filepath.Join(cfg.Data, "badger")
	if _, err := os.Stat(badgerDir); err == nil {
		if err := requireKeys(cfg.Data); err != nil {
			return fmt.Errorf("serve: refusing to start: %w", err)
		}
	}
	keys, err := loadNodeKeys(cfg.Data, cfg.Origin)
	if err != nil {
		return fmt.Errorf("serve: keys: %w", err)
	}
	grid := geo.Default()
	if cfg.Grid != "" {
		if grid, err = os.ReadFile(cfg.Grid); err != nil {
			return fmt.Errorf("serve: %w", err)
		}
	}
	gridMap, err := geo.Parse(grid)
	if err != nil {
		return fmt.Errorf("serve: --neighbourhoods: %w", err)
	}
	db, err := store.OpenBadger(store.Options{Dir: badgerDir, Logger: logger, LargestWrite: cfg.BodyLimit})
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	defer db.Close()
	st, err := state.New(logger)
	if err != nil {
		return err
	}
	metrics := server.NewMetrics()
	lg, err := ledger.Open(db, keys.signer, keys.verifier, ledger.Options{Apply: st.ApplyBatch, OnCommit: metrics.ObserveCommit, Logger: logger})
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

	identities, err := builtInPurposes(ctx, cfg.Data, lg, st)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	proposed := proposedKeys{cfg.Data}
	if err := proposed.check(st); err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	// A demo node that loads its city runs on the demo's clock: the node's clock, except while
	// the loader pins it to a past day to sign that day's signatures (fixtures.Load). No other
	// node has one.
	// Its residents share their whole month at once, so its look-back covers the month.
	var demoClock *fixtures.Clock
	shareDays := cfg.ShareDays
	if cfg.Demo && st.CitizenCount() == 0 {
		demoClock = fixtures.NewClock(cfg.clock())
		cfg.Now = demoClock.Now
		shareDays = max(shareDays, fixtures.ShareDays)
	}
	var cosigned func() ([]byte, int)
	if len(cfg.Witnesses) > 0 {
		var ws []witness.Witness
		for _, w := range cfg.Witnesses {
			parsed, err := witness.ParseWitness(w)
			if err != nil {
				return fmt.Errorf("serve: %w", err)
			}
			ws = append(ws, parsed)
		}
		cosigner := witness.New(lg, ws, &http.Client{Timeout: 30 * time.Second}, logger)
		go cosigner.Run(ctx, cfg.WitnessEvery)
		cosigned = cosigner.Cosigned
	}
	stor := store.New(db, lg)
	if err := upgradeData(ctx, cfg.Data, lg, stor, st, cfg.clock()(), logger); err != nil {
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	policy := server.BatchPolicy{Every: cfg.SignatureBatchEvery, Min: cfg.SignatureBatchMin}
	batcher := server.NewBatcher(policy, lg, stor, st, cfg.clock(), logger)
	if demoClock != nil {
		batcher.SetPolicy(server.BatchPolicy{}) // the demo city's residents sign on its calendar, each at once
	}
	engine := release.New(release.Config{Store: stor, Ledger: lg, State: st,
		Identities: identities, PurposeIdentity: proposed.identity, PetitionIdentity: tallyKeys{cfg.Data}.identity,
		Cells: gridMap.IDs(), Now: cfg.clock(), Logger: logger})
	backups := &onlineBackups{db: db}
	defer backups.Close() // before the ledger and the database close
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("serve: %w", err)
	}
	url := "http://" + ln.Addr().String()
	fed, pages, err := fediverse(cfg, url, stor, lg, st, grid, cosigned, logger)
	if err != nil {
		ln.Close()
		return err
	}
	var ready atomic.Bool
	app, err := server.New(server.Config{Fediverse: fed, Pages: pages, Ledger: lg, State: st, Store: stor, Releases: engine,
		VerifierKey: keys.verifierKey, Cosigned: cosigned, GeoJSON: grid, AdminToken: keys.adminToken,
		TallyKey: tallyKeys{cfg.Data}.recipient, PurposeKey: proposed.recipient, DestroyPurposeKey: proposed.destroy, AirPurpose: purpose.Air, BodyLimit: cfg.BodyLimit,
		StatementSkew: cfg.StatementSkew, DB: backups, Metrics: metrics, Ready: ready.Load,
		ShareDays: shareDays, EnvelopeQuota: int64(cfg.EnvelopeQuota) << 20,
		RateLimit: cfg.RateLimit, CitizenLimit: cfg.CitizenLimit, MaxConnections: cfg.MaxConnections, ProxyHeader: cfg.ProxyHeader,
		TrustedProxies: cfg.TrustedProxies, Batcher: batcher, Now: cfg.clock(), Logger: logger})
	if err != nil {
		ln.Close()
		return err
	}
	stopMetrics, err := serveMetrics(cfg.MetricsAddr, metrics, logger)
	if err != nil {
		ln.Close()
		return fmt.Errorf("serve: refusing to start: %w", err)
	}
	defer stopMetrics()
	served := make(chan error, 1)
	go func() { served <- app.Listener(server.LimitConnections(ln, cfg.MaxConnections)) }()
	logger.Info("serving", "url", url+"/", "data", cfg.Data)
	if err := lock.say(url + "/"); err != nil {
		logger.Warn("the data lock does not say where the node serves", "err", err)
	}

	if demoClock != nil {
		if cfg.beforeDemo != nil {
			cfg.beforeDemo()
		}
		fmt.Fprintf(os.Stderr, "commons: loading the demo city and publishing its month; the pages fill as it goes, and /readyz answers 200 once it is done…\n")
		if err := loadDemo(ctx, app, keys.adminToken, demoClock, engine, logger); err != nil {
			return err
		}
		batcher.SetPolicy(policy) // the demo loaded, residents' signatures wait for their batch
	}
	// Ready only now: a demo node promises its city, published.
	ready.Store(true)
	fmt.Fprintf(os.Stderr, "commons: ready — open %s/ (ledger size %d)\n", url, lg.Size())
	// Whatever fell due while the node was down is released now, while it serves: a backlog
	// (a node down for a week, a year's imported history) never delays the start.
	due := make(chan struct{}, 1)
	due <- struct{}{}

	go store.RunValueLogGC(ctx, db, 10*time.Minute, logger)
	// The petition batcher stops before the ledger closes; acts it has not appended stay
	// pending in the store for the next start.
	batchCtx, stopBatches := context.WithCancel(ctx)
	batches := make(chan struct{})
	go func() { defer close(batches); batcher.Run(batchCtx, time.Second) }()
	defer func() { stopBatches(); <-batches }()
	// The delivery worker stops before the ledger and the database close (defers run last first).
	workerCtx, stopWorker := context.WithCancel(ctx)
	worker := make(chan struct{})
	go func() { defer close(worker); fed.Run(workerCtx) }()
	defer func() { stopWorker(); <-worker }()
	tick := time.NewTicker(cfg.ReleaseEvery)
	defer tick.Stop()
	// A purpose past its end date is retired before the releases run: its share copies are
	// deleted, its key destroyed, both logged.
	retirer := purpose.Retirer{Ledger: lg, State: st, Store: stor, DestroyKey: proposed.destroy}
	for {
		select {
		case err := <-served:
			return fmt.Errorf("serve: %w", err)
		case <-due:
			runDue(ctx, &retirer, engine, cfg.clock(), logger)
			fed.Poke()
		case <-tick.C:
			runDue(ctx, &retirer, engine, cfg.clock(), logger)
			fed.Poke()
		case <-ctx.Done():
			ready.Store(false)
			if cfg.ShutdownDelay > 0 {
				logger.Info("shutting down: /readyz answers 503, still serving", "for", cfg.ShutdownDelay)
				time.Sleep(cfg.ShutdownDelay)
			}
			logger.Info("shutting down")
			if err := app.ShutdownWithTimeout(10 * time.Second); err != nil {
				logger.Warn("shutdown", "err", err)
			}
			return nil
		}
	}
}

// runDue retires the purposes past their end date, publishes every release due, then deletes
// the share copies past their purpose's retention (after the releases that read them).
func runDue(ctx context.Context, retirer *purpose.Retirer, engine *release.Engine, now func() time.Time, logger *slog.Logger) {
	if n, err := retirer.RetireDue(ctx, now()); err != nil && ctx.Err() == nil {
		logger.Error("purposes: retire at the end date", "err", err)
	} else if n > 0 {
		logger.Info("purposes retired at their end date: share copies deleted, keys destroyed", "purposes", n)
	}
	if _, err := engine.RunDue(ctx); err != nil && ctx.Err() == nil {
		logger.Error("releases", "err", err)
	}
	if n, err := retirer.PruneDue(ctx, now()); err != nil && ctx.Err() == nil {
		logger.Error("purposes: retention", "err", err)
	} else if n > 0 {
		logger.Info("share copies past their purpose's retention deleted", "days", n)
	}
}

// fediverse builds the public pages and, on them, the node's ActivityPub actors, under
// --public-url or else the listen address url.
func fediverse(cfg serveConfig, url string, stor *store.Store, lg *ledger.Log, st *state.State, grid []byte, cosigned func() ([]byte, int), logger *slog.Logger) (*activitypub.Service, *dashboards.Pages, error) {
	pages, err := server.NewPages(server.Config{Store: stor, State: st, Ledger: lg, GeoJSON: grid, AirPurpose: purpose.Air, Cosigned: cosigned, Now: cfg.clock()})
	if err != nil {
		return nil, nil, err
	}
	key, err := fediverseKey(cfg.Data)
	if err != nil {
		return nil, nil, fmt.Errorf("serve: keys: %w", err)
	}
	fed, err := activitypub.New(activitypub.Config{Store: stor, Source: pages, BaseURL: cmp.Or(cfg.PublicURL, url), Key: key,
		PerSecond: float64(cfg.FediverseRate), Logger: logger})
	if err != nil {
		return nil, nil, fmt.Errorf("serve: refusing to start: --public-url: %w", err)
	}
	return fed, pages, nil
}

// loadDemo loads the demo city into the node through its own HTTP API, in process: the
// loader's client talks to app over an in-memory listener, so every request goes through the
// same routes, middleware, checks and write queue as a resident's, without a socket. It then
// publishes the month of releases, which the demo promises before the node is ready.
//
// The heap's soft limit is lifted while the city loads: the loader, its thousands of sealed
// envelopes and the server share one heap (the process peaks near 1 GB), and under the default
// limit the collector would run nearly continuously (it doubled the load's CPU). The limit is
// restored, and the memory returned, once the city is in.
func loadDemo(ctx context.Context, app *fiber.App, adminToken string, clock *fixtures.Clock, engine *release.Engine, logger *slog.Logger) error {
	limit := debug.SetMemoryLimit(math.MaxInt64)
	defer func() {
		debug.SetMemoryLimit(limit)
		debug.FreeOSMemory()
	}()
	ln := &demoListener{InmemoryListener: fasthttputil.NewInmemoryListener()}
	transport := &http.Transport{
		DialContext:         func(context.Context, string, string) (net.Conn, error) { return ln.Dial() },
		MaxIdleConnsPerHost: 64,
	}
	served := make(chan error, 1)
	go func() { served <- app.Listener(ln) }()
	defer func() {
		// Closing the listener ends app.Listener's serving of it; the node's socket stays.
		transport.CloseIdleConnections()
		if err := ln.Close(); err != nil {
			logger.Warn("demo: close the in-memory listener", "err", err)
		}
		<-served
	}()
	c := client.New("http://demo.invalid")
	c.HTTP.Transport = adminTransport{token: adminToken, base: transport}
	sum, err := fixtures.Load(ctx, c, adminToken, clock, logger)
	if err != nil {
		return fmt.Errorf("serve: demo: %w", err)
	}
	logger.Info("demo city loaded", "residents", sum.Residents, "sensors", sum.Sensors,
		"contributions", sum.Contributions, "signatures", sum.Signatures, "took", sum.Took.Round(time.Millisecond))
	if _, err := engine.RunDue(ctx); err != nil {
		return fmt.Errorf("serve: demo: releases: %w", err)
	}
	return nil
}

// demoListener is the demo loader's in-memory listener. Its Close may be called twice, by
// loadDemo and again by the node's shutdown, which closes every listener the app served.
type demoListener struct {
	*fasthttputil.InmemoryListener
	once sync.Once
	err  error
}

// Close closes the listener once and answers every call with that close's error.
func (l *demoListener) Close() error {
	l.once.Do(func() { l.err = l.InmemoryListener.Close() })
	return l.err
}

// adminTransport adds the admin token to every request of the demo loader, so that the rate
// limit, which never applies to the operator, lets its thousands of writes through.
type adminTransport struct {
	token string
	base  http.RoundTripper
}

// RoundTrip implements http.RoundTripper.
func (t adminTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Header.Get("Authorization") == "" {
		r = r.Clone(r.Context())
		r.Header.Set("Authorization", "Bearer "+t.token)
	}
	return t.base.RoundTrip(r)
}
