package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the node's Prometheus series, served at GET /metrics by Handler on the node's
// own metrics listener, never on the public one. Every label value comes
// from a fixed set — a route pattern, a method, a status code, an error code — and never from
// a request: no citizen id, no petition id, no path.
type Metrics struct {
	registry      *prometheus.Registry
	requests      *prometheus.CounterVec
	latency       *prometheus.HistogramVec
	appended      prometheus.Counter
	batches       prometheus.Histogram
	commits       prometheus.Histogram
	commitErrors  prometheus.Counter
	contributions *prometheus.CounterVec
}

// NewMetrics makes the series on a fresh registry, with the Go runtime and process collectors.
// Create it before the ledger, so that the ledger's commits can be observed (ObserveCommit).
func NewMetrics() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commons_http_requests_total",
			Help: "HTTP requests answered, by method, route pattern and status code.",
		}, []string{"method", "route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "commons_http_request_duration_seconds",
			Help:    "Time to answer an HTTP request, by method and route pattern.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"method", "route"}),
		appended: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commons_ledger_appended_entries_total",
			Help: "Ledger entries committed since the process started.",
		}),
		batches: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "commons_ledger_batch_entries",
			Help:    "Entries per committed ledger batch (group commit: one fsync per batch).",
			Buckets: prometheus.ExponentialBuckets(1, 2, 11),
		}),
		commits: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "commons_ledger_commit_seconds",
			Help:    "Time to write, sign and durably commit one ledger batch.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1},
		}),
		commitErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "commons_ledger_commit_failures_total",
			Help: "Ledger batches whose commit failed (every append of the batch was refused).",
		}),
		contributions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "commons_contributions_total",
			Help: `Contributions answered, by result: "accepted" or the error code of the refusal.`,
		}, []string{"result"}),
	}
	m.contributions.WithLabelValues("accepted")
	m.registry.MustRegister(m.requests, m.latency, m.appended, m.batches, m.commits, m.commitErrors,
		m.contributions, collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// ObserveCommit records one ledger batch commit; its signature is ledger.Options.OnCommit. A
// batch of private writes alone (contributions, closing marks) appends nothing: it is not a
// ledger batch in these series.
func (m *Metrics) ObserveCommit(entries, _ int, took time.Duration, err error) {
	if entries == 0 {
		return
	}
	if err != nil {
		m.commitErrors.Inc()
		return
	}
	m.appended.Add(float64(entries))
	m.batches.Observe(float64(entries))
	m.commits.Observe(took.Seconds())
}

// register adds the series computed from the app's own sources at scrape time. A Metrics
// serves one app: a second registration is an error.
func (m *Metrics) register(a *handlers) error {
	size := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "commons_ledger_size",
		Help: "Entries covered by the latest signed checkpoint.",
	}, func() float64 { return float64(a.Ledger.Size()) })
	releases := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name:        "commons_releases_published_total",
		Help:        "Releases (one per purpose and day) published and stored.",
		ConstLabels: prometheus.Labels{"purpose": a.AirPurpose},
	}, func() float64 {
		epochs, err := a.Store.Epochs(a.AirPurpose)
		if err != nil {
			a.Logger.Warn("metrics: count releases", "err", err)
		}
		return float64(len(epochs))
	})
	for _, c := range []prometheus.Collector{size, releases} {
		if err := m.registry.Register(c); err != nil {
			return fmt.Errorf("server: metrics: %w", err)
		}
	}
	return nil
}

// Handler serves the registry in the Prometheus text format at GET /metrics, on the node's
// metrics listener: the public app does not route /metrics (its request counters, the
// contributions' above all, would tell the public who uploads when). Any other request is
// answered a JSON 404.
func (m *Metrics) Handler() http.Handler {
	notFound, _ := json.Marshal(func() (b errorBody) {
		b.Error.Code, b.Error.Message = errNotFound.code, errNotFound.message
		return b
	}())
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		w.Write(notFound)
	})
	return mux
}

// routeLabel is the Locals key under which the catch-all handler marks a request that matched
// no route, so that its metrics and log line say so instead of naming a pattern.
const routeLabel = "commons.route"

// unmatched is the route label of requests that matched no route.
const unmatched = "(unmatched)"

// observe wraps every request: it answers errors through the error handler (so the status is
// known here), counts the request by route pattern and status, and logs one debug line. Neither
// the metrics nor the line ever carry the raw path, a query or a body.
func (a *handlers) observe(errorHandler fiber.ErrorHandler) fiber.Handler {
	debug := a.Logger.Enabled(context.Background(), slog.LevelDebug)
	return func(c *fiber.Ctx) error {
		start := time.Now()
		if err := c.Next(); err != nil {
			if err := errorHandler(c, err); err != nil {
				_ = c.SendStatus(fiber.StatusInternalServerError)
			}
		}
		took := time.Since(start)
		method, route := c.Method(), c.Route().Path
		if l, ok := c.Locals(routeLabel).(string); ok {
			route = l
		}
		status := c.Response().StatusCode()
		a.Metrics.requests.WithLabelValues(method, route, strconv.Itoa(status)).Inc()
		a.Metrics.latency.WithLabelValues(method, route).Observe(took.Seconds())
		if debug {
			a.Logger.Debug("request", "method", method, "route", route, "status", status,
				"took", took, "request_id", c.Locals(requestIDKey))
		}
		return nil
	}
}

// countContributions counts each contribution by its result: accepted, or the fixed code of
// the error that refused it.
func (a *handlers) countContributions(c *fiber.Ctx) error {
	err := c.Next()
	a.Metrics.contributions.WithLabelValues(resultCode(err)).Inc()
	return err
}

// resultCode is "accepted" for nil and the fixed client code of any error.
func resultCode(err error) string {
	var ae *apiError
	var fe *fiber.Error
	switch {
	case err == nil:
		return "accepted"
	case errors.As(err, &ae):
		return ae.code
	case errors.As(err, &fe):
		return fromFiber(fe.Code).code
	}
	return errInternal.code
}

// readyz answers 200 while the node takes traffic, and 503 before it can serve what it
// promises (a demo node's city, loaded and published) and once it is shutting down.
func (a *handlers) readyz(c *fiber.Ctx) error {
	if a.Ready != nil && !a.Ready() {
		return errNotReady
	}
	return c.JSON(fiber.Map{"status": "ready"})
}
