package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/commons-city/commons/server"
)

// defaultMetricsAddr is where a node serves /metrics unless told otherwise: loopback only, on
// the port of Prometheus' own exporters' range rather than 9090, where Prometheus itself
// listens on a host that runs both.
const defaultMetricsAddr = "127.0.0.1:9464"

// serveMetrics serves m at GET /metrics on addr, a listener apart from the public one, and
// returns the function that stops it. With addr "" it serves nothing.
func serveMetrics(addr string, m *server.Metrics, logger *slog.Logger) (func(), error) {
	if addr == "" {
		logger.Info("metrics: not served (--metrics-addr is empty)")
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("--metrics-addr %s: %w (give another address, or --metrics-addr \"\" to serve no metrics)", addr, err)
	}
	srv := &http.Server{Handler: m.Handler(), ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
			logger.Error("metrics: listener failed", "err", err)
		}
	}()
	logger.Info("serving metrics", "url", "http://"+ln.Addr().String()+"/metrics")
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		<-done
	}, nil
}
