package main

import (
	"context"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
)

// BenchmarkDemoStart measures a first `commons serve --demo`, from an empty data directory to
// the demo city loaded and its month published (one op). The baseline, measured in the same
// run, is how the demo was loaded before: the same loader driving the node over loopback HTTP,
// under the node's default 160 MiB soft memory limit, then the releases asked for over the
// admin API. "in-process" is serve --demo as it is now (loadDemo): the loader's client talks
// to the node's app over an in-memory listener, with the memory limit lifted while it loads.
func BenchmarkDemoStart(b *testing.B) {
	if testing.Short() {
		b.Skip("loads the whole demo city; skipped with -short")
	}
	limit := debug.SetMemoryLimit(-1)
	b.Cleanup(func() { debug.SetMemoryLimit(limit) })
	b.Run("baseline-loopback-http", func(b *testing.B) {
		for b.Loop() {
			debug.SetMemoryLimit(160 << 20)
			clock := fixtures.NewClock(time.Now)
			url, data, stop := benchNode(b, false, clock.Now)
			token, err := os.ReadFile(filepath.Join(data, "admin.token"))
			if err != nil {
				b.Fatal(err)
			}
			ctx := context.Background()
			c := client.New(url)
			c.HTTP.Transport = adminTransport{token: strings.TrimSpace(string(token)), base: http.DefaultTransport}
			if _, err := fixtures.Load(ctx, c, strings.TrimSpace(string(token)), clock, slog.New(slog.DiscardHandler)); err != nil {
				b.Fatal(err)
			}
			for more := true; more; {
				if _, more, err = c.RunReleases(ctx, strings.TrimSpace(string(token))); err != nil {
					b.Fatal(err)
				}
			}
			b.StopTimer()
			stop()
			b.StartTimer()
		}
	})
	b.Run("in-process", func(b *testing.B) {
		for b.Loop() {
			debug.SetMemoryLimit(160 << 20)
			url, _, stop := benchNode(b, true, nil)
			waitReady(b, url)
			b.StopTimer()
			stop()
			b.StartTimer()
		}
	})
}

// benchNode runs a node in the process on a fresh data directory, with the demo or with the
// clock now, and returns its URL, its data directory and how to stop it.
func benchNode(b *testing.B, demo bool, now func() time.Time) (url, data string, stop func()) {
	b.Helper()
	cfg := defaultServeConfig()
	cfg.Data, cfg.Addr, cfg.Demo, cfg.Now, cfg.ReleaseEvery = b.TempDir(), "127.0.0.1:0", demo, now, time.Hour
	urls := make(chan string, 1)
	logger := slog.New(slog.NewTextHandler(lineWatch{&nodetest.Logs{}, servingLine, urls}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, cfg, logger) }()
	select {
	case url = <-urls:
	case err := <-done:
		b.Fatalf("node stopped before serving: %v", err)
	}
	return url, cfg.Data, func() {
		cancel()
		if err := <-done; err != nil {
			b.Errorf("node: %v", err)
		}
	}
}

// waitReady polls /readyz until it answers 200, for the test's time at most.
func waitReady(b *testing.B, url string) {
	b.Helper()
	ctx := testContext(b)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/readyz", nil)
		if err != nil {
			b.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			return
		}
		select {
		case <-ctx.Done():
			b.Fatal("not ready by the test's deadline")
		case <-time.After(50 * time.Millisecond):
		}
	}
}
