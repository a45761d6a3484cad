// Package gateway is the resident's gateway for sensors they already own: a small HTTP server
// on the local network that accepts the posts of Sensor.Community firmware and scripts (see
// package device), and forwards the readings, sealed, to a Commons server.
//
// The model:
//
//   - The gateway is configured with one neighbourhood (Config.Cell), which the caller derives
//     from the resident's precise location with the server's published polygons. The location
//     itself never reaches this package, the outbox, the logs or the server.
//   - Each accepted post becomes one reading, recorded at the time it arrived, checked with
//     reading.Validate and appended to the on-disk outbox, fsync'd, before the device gets its
//     200. An acknowledged reading is never lost.
//   - Every batch interval (and at start and on shutdown) Flush closes the current batch,
//     seals it with client.Seal to the resident and to each purpose the resident consents to,
//     signs one contribution with a fresh nonce, saves that signed contribution in the outbox,
//     and only then uploads it.
//   - Exactly once: a batch leaves the outbox only when the server stored it (201) or says the
//     nonce was already used (an earlier attempt was stored). After a network error or a 5xx
//     the same signed contribution is retried, so a retry after a lost acknowledgement is
//     refused as a replay, never stored twice. A new nonce is used only when the server's
//     answer proves the previous contribution was not stored.
package gateway

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/client/device"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/reading"
)

// maxBody is the largest post the gateway reads. A firmware post is well under 2 KiB.
const maxBody = 64 << 10

// flushTimeout bounds one flush, uploads included.
const flushTimeout = 2 * time.Minute

// Config configures a Gateway.
type Config struct {
	// Outbox is the outbox directory, created if missing (mode 0700).
	Outbox string
	// Cell is the neighbourhood id every reading is assigned to.
	Cell string
	// Wallet seals the vault copies and signs the contributions.
	Wallet *crypto.Wallet
	// Client uploads to the server.
	Client *client.Client
	// Purposes returns the purposes the resident currently consents to. It is asked once per
	// flush that has something to seal, so a consent granted or withdrawn with the CLI
	// applies from the next batch.
	Purposes func(context.Context) ([]client.Purpose, error)
	// BasicAuth is "USER:PASS" to require HTTP Basic credentials on every request, or "".
	BasicAuth string
	// Logger receives counts and reasons only, never a reading, a sensor label or a location.
	Logger *slog.Logger
}

// Gateway accepts sensor posts and forwards them. Create it with Open.
type Gateway struct {
	cfg      Config
	authHash [sha256.Size]byte // of BasicAuth, for a constant-time comparison
	outbox   *outbox
	metrics  metrics

	flushMu sync.Mutex // serialises flushes; guards the fields below
	// lastPurposes is the last successful answer of cfg.Purposes, if haveLast.
	lastPurposes []client.Purpose
	haveLast     bool
}

// Open checks cfg and opens the outbox, loading whatever an earlier run left in it.
func Open(cfg Config) (*Gateway, error) {
	switch {
	case cfg.Outbox == "":
		return nil, errors.New("gateway: an outbox directory is required")
	case cfg.Cell == "":
		return nil, errors.New("gateway: a neighbourhood is required")
	case cfg.Wallet == nil || cfg.Client == nil || cfg.Purposes == nil:
		return nil, errors.New("gateway: a wallet, a client and a purposes function are required")
	}
	if cfg.BasicAuth != "" {
		if user, _, found := strings.Cut(cfg.BasicAuth, ":"); !found || user == "" {
			return nil, errors.New("gateway: basic auth must be USER:PASS")
		}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	o, err := openOutbox(cfg.Outbox, cfg.Logger)
	if err != nil {
		return nil, err
	}
	g := &Gateway{cfg: cfg, outbox: o, authHash: sha256.Sum256([]byte(cfg.BasicAuth))}
	if n, b := o.pending(); b > 0 {
		cfg.Logger.Info("gateway: outbox holds batches from an earlier run", "batches", b, "readings", n)
	}
	return g, nil
}

// Handler serves the gateway: POST on any path is a sensor post (the firmware's default
// path is /data.php); GET /metrics is the Prometheus text exposition of the counters.
func (g *Gateway) Handler() http.Handler { return http.HandlerFunc(g.serveHTTP) }

func (g *Gateway) serveHTTP(w http.ResponseWriter, r *http.Request) {
	if !g.authorized(r) {
		g.metrics.add(&g.metrics.unauthorized, 1)
		w.Header().Set("WWW-Authenticate", `Basic realm="commons gateway", charset="UTF-8"`)
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	switch {
	case r.Method == http.MethodPost:
		g.receive(w, r)
	case r.Method == http.MethodGet && r.URL.Path == "/metrics":
		readings, batches := g.outbox.pending()
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		if err := g.metrics.write(w, readings, batches); err != nil {
			g.cfg.Logger.Debug("gateway: write metrics", "err", err)
		}
	default:
		w.Header().Set("Allow", "POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

func (g *Gateway) authorized(r *http.Request) bool {
	if g.cfg.BasicAuth == "" {
		return true
	}
	user, pass, ok := r.BasicAuth()
	got := sha256.Sum256([]byte(user + ":" + pass))
	return ok && subtle.ConstantTimeCompare(got[:], g.authHash[:]) == 1
}

// receive stores one sensor post. The answers are tiny fixed texts: devices only read the
// status, and nothing of the post is echoed.
func (g *Gateway) receive(w http.ResponseWriter, r *http.Request) {
	now := time.Now().UTC().Truncate(time.Second)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			g.refuse(w, "too_large", http.StatusRequestEntityTooLarge)
		} else {
			g.refuse(w, "unreadable", http.StatusBadRequest)
		}
		return
	}
	p, err := device.ParseAirrohr(body, device.Headers{Sensor: r.Header.Get("X-Sensor")})
	g.metrics.add(&g.metrics.unknownTypes, p.Unknown)
	g.metrics.add(&g.metrics.valuesDropped, p.Dropped)
	switch {
	case errors.Is(err, device.ErrNoValues):
		g.refuse(w, "no_values", http.StatusUnprocessableEntity)
		return
	case errors.Is(err, device.ErrNoSensor):
		g.refuse(w, "no_sensor", http.StatusBadRequest)
		return
	case err != nil:
		g.refuse(w, "malformed", http.StatusBadRequest)
		return
	}
	rd := p.Reading
	rd.Cell, rd.RecordedAt = g.cfg.Cell, now
	if err := reading.Validate(rd, reading.Options{Now: now}); err != nil {
		reason := "invalid"
		var re *reading.RowError
		if errors.As(err, &re) {
			reason = re.Reason // a field name and a fixed problem, never the value
		}
		g.refuse(w, reason, http.StatusUnprocessableEntity)
		return
	}
	if err := g.outbox.append(rd); err != nil {
		g.cfg.Logger.Error("gateway: could not store a reading", "err", err)
		g.refuse(w, "storage", http.StatusServiceUnavailable)
		return
	}
	g.metrics.add(&g.metrics.accepted, 1)
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	io.WriteString(w, "ok\n")
}

func (g *Gateway) refuse(w http.ResponseWriter, reason string, status int) {
	g.metrics.reject(reason)
	http.Error(w, strings.ToLower(http.StatusText(status)), status)
}

// Run serves ln and flushes at start, every interval, and once more when ctx ends (after the
// server stopped accepting posts). It returns when ctx ends, or when serving fails.
func (g *Gateway) Run(ctx context.Context, ln net.Listener, every time.Duration) error {
	if every <= 0 {
		return errors.New("gateway: the batch interval must be positive")
	}
	srv := &http.Server{
		Handler:           g.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(g.cfg.Logger.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	g.flushLogged(ctx)
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		select {
		case err := <-served:
			return fmt.Errorf("gateway: serve: %w", err)
		case <-tick.C:
			g.flushLogged(ctx)
		case <-ctx.Done():
			shutdown, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err := srv.Shutdown(shutdown)
			cancel()
			if err != nil {
				g.cfg.Logger.Warn("gateway: shutdown", "err", err)
			}
			g.flushLogged(context.Background())
			return nil
		}
	}
}

func (g *Gateway) flushLogged(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, flushTimeout)
	defer cancel()
	if err := g.Flush(ctx); err != nil {
		readings, batches := g.outbox.pending()
		g.cfg.Logger.Warn("gateway: flush incomplete; the outbox keeps the rest for the next one",
			"err", err, "pending_batches", batches, "pending_readings", readings)
	}
}

// Flush closes the current batch and delivers every batch in the outbox, oldest first. It
// stops at the first batch that cannot be delivered now, leaving it and the later ones in the
// outbox, and returns why.
func (g *Gateway) Flush(ctx context.Context) error {
	g.flushMu.Lock()
	defer g.flushMu.Unlock()
	if err := g.outbox.cut(); err != nil {
		return err
	}
	f := &flush{g: g}
	for _, b := range g.outbox.batches() {
		if err := f.deliver(ctx, b); err != nil {
			return err
		}
	}
	return nil
}

// flush is the state of one Flush: the purposes, fetched at most once.
type flush struct {
	g       *Gateway
	fetched bool
}

// errRetry stops a flush at a batch to retry at the next one.
var errRetry = errors.New("gateway: upload not acknowledged; will retry")

// deliver uploads one batch, sealing and signing it first if needed.
func (f *flush) deliver(ctx context.Context, b *batch) error {
	g := f.g
	if b.upload == nil {
		if err := f.sign(ctx, b, true); err != nil {
			return err
		}
	}
	resigned := false // at most one re-signing per batch and flush
	for {
		out, code, err := g.attempt(ctx, b)
		if err != nil {
			return err
		}
		switch out {
		case delivered:
			if err := g.outbox.done(b); err != nil {
				return err
			}
			g.metrics.add(&g.metrics.uploaded, 1)
			g.cfg.Logger.Info("gateway: batch delivered", "readings", len(b.readings))
			return nil
		case unsent, unknown:
			g.metrics.add(&g.metrics.uploadFailures, 1)
			return fmt.Errorf("%w (%s)", errRetry, code)
		case later:
			g.metrics.add(&g.metrics.uploadFailures, 1)
			g.cfg.Logger.Warn("gateway: server refused a batch for now; will retry", "code", code)
			return nil
		case resign, vaultOnly:
			g.metrics.add(&g.metrics.uploadFailures, 1)
			if b.upload.Uncertain {
				// An earlier attempt may have been stored: a new nonce could store it twice.
				g.cfg.Logger.Warn("gateway: cannot re-sign a batch an earlier attempt may have stored", "code", code)
				return g.hold(b, "maybe_stored")
			}
			if resigned {
				g.cfg.Logger.Warn("gateway: server refused a batch signed afresh; will retry", "code", code)
				return nil
			}
			g.cfg.Logger.Info("gateway: the server did not store the batch; sealing and signing it again", "code", code)
			if err := f.sign(ctx, b, out == resign); err != nil {
				return err
			}
			resigned = true
		default:
			return g.hold(b, code)
		}
	}
}

// sign seals b to the resident and, when share is set, to every consented purpose, signs one
// contribution with a new nonce, and saves it in the outbox before any attempt to send it.
func (f *flush) sign(ctx context.Context, b *batch, share bool) error {
	g := f.g
	var purposes []client.Purpose
	if share {
		if !f.fetched {
			ps, err := g.cfg.Purposes(ctx)
			switch {
			case err == nil:
				g.lastPurposes, g.haveLast = ps, true
			case g.haveLast:
				// The server is likely down and the upload will wait: seal now, to the purposes
				// of the last answer. Should the consent have changed, the server refuses the
				// upload and the batch is sealed again.
				g.cfg.Logger.Warn("gateway: cannot fetch the consented purposes; sealing to the last known ones", "err", err)
			default:
				return fmt.Errorf("gateway: consented purposes: %w", err)
			}
			f.fetched = true
		}
		purposes = g.lastPurposes
	}
	envs, err := client.Seal(g.cfg.Wallet, b.readings, purposes)
	if err != nil {
		return fmt.Errorf("gateway: seal batch: %w", err)
	}
	signed, err := g.cfg.Wallet.SignContribution(crypto.Contribution{
		IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(), Envelopes: envs})
	if err != nil {
		return fmt.Errorf("gateway: sign batch: %w", err)
	}
	return g.outbox.saveUpload(b, upload{Signed: signed})
}

// attempt sends b's signed contribution once. Around the request it keeps the upload file's
// Uncertain flag true for as long as the server may have received it.
func (g *Gateway) attempt(ctx context.Context, b *batch) (outcome, string, error) {
	prior := b.upload.Uncertain
	if !prior {
		if err := g.outbox.saveUpload(b, upload{Signed: b.upload.Signed, Uncertain: true}); err != nil {
			return 0, "", err
		}
	}
	// A request that never had a connection never reached the server, whatever ended it: a
	// flush cancelled while connecting (the gateway stopping during an outage) leaves the
	// batch one that may be signed again.
	var connected atomic.Bool
	trace := &httptrace.ClientTrace{GotConn: func(httptrace.GotConnInfo) { connected.Store(true) }}
	out, code := classify(g.cfg.Client.PostContribution(httptrace.WithClientTrace(ctx, trace), b.upload.Signed))
	if out == unknown && !connected.Load() {
		out, code = unsent, "not_sent"
	}
	if !prior && out.definite() {
		if err := g.outbox.saveUpload(b, upload{Signed: b.upload.Signed}); err != nil {
			return 0, "", err
		}
	}
	return out, code, nil
}

// hold moves b out of the upload queue, keeping its readings in held/ (see outbox.hold).
// reason is a server error code, or "maybe_stored".
func (g *Gateway) hold(b *batch, reason string) error {
	if err := g.outbox.hold(b, reason); err != nil {
		return err
	}
	g.metrics.add(&g.metrics.held, 1)
	g.cfg.Logger.Warn("gateway: batch not uploaded; its readings are kept in the outbox's held/ directory",
		"reason", reason, "readings", len(b.readings))
	return nil
}

// outcome is what an upload attempt proved.
type outcome int

const (
	delivered outcome = iota // stored, now or by an earlier attempt
	unsent                   // never reached the server: retry the same contribution
	unknown                  // may have been stored: retry the same contribution, never re-sign
	later                    // refused for now, not stored: retry the same contribution
	resign                   // refused, not stored; a fresh seal and signature may pass
	vaultOnly                // the day is released or too old: only the resident's own copy can be stored
	refused                  // refused for good, not stored
)

// definite reports whether the server certainly did not store the contribution.
func (o outcome) definite() bool { return o != delivered && o != unknown }

// classify maps an upload's result to an outcome, with a short code for logs and file names.
func classify(err error) (outcome, string) {
	if err == nil {
		return delivered, "created"
	}
	var ae *client.APIError
	if !errors.As(err, &ae) {
		var oe *net.OpError
		if errors.As(err, &oe) && oe.Op == "dial" {
			return unsent, "unreachable"
		}
		return unknown, "network_error"
	}
	if ae.Status >= 500 || ae.Status < 400 {
		return unknown, "server_error"
	}
	switch ae.Code {
	case "replayed":
		// The nonce is checked before anything is stored, in the same transaction: the
		// contribution was stored by an earlier attempt.
		return delivered, ae.Code
	case "stale_statement", "no_consent", "unknown_purpose", "purpose_version_changed":
		return resign, ae.Code
	case "epoch_closed", "share_day_too_old":
		// The server checks the nonce before the epoch: this contribution was never stored.
		// A day released, or older than the server's look-back, is kept in the vault only.
		return vaultOnly, ae.Code
	case "malformed_json", "unsupported_media_type", "body_too_large", "bad_signature",
		"invalid_field", "not_sealed", "quota_exceeded":
		return refused, ae.Code
	}
	// Anything else (unknown_citizen, conflict_in_flight, a proxy's 4xx, a wrong URL) is
	// not a verdict on the contribution.
	return later, "refused_for_now"
}
