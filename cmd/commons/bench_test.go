package main

import (
	"context"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
)

// BenchmarkStatementsHTTP measures signed consent statements posted over loopback HTTP to the
// real server by 128 concurrent clients: each is verified, appended to the ledger durably and
// answered with a receipt. The baseline, measured in the same run, is how fast this machine
// can only verify the Ed25519 signatures — the floor of any server that checks them.
func BenchmarkStatementsHTTP(b *testing.B) {
	w, err := crypto.NewWallet()
	if err != nil {
		b.Fatal(err)
	}
	signed, err := w.SignStatement(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily",
		PurposeVersion: 1, IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-ed25519-verify", func(b *testing.B) {
		pub := w.SigningPublicKey()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := signed.Verify(pub); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("http-durable-statement", func(b *testing.B) {
		data := b.TempDir()
		n := startNode(b, data, &syncBuffer{})
		token, err := os.ReadFile(filepath.Join(data, "admin.token"))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		c := client.New(n.url)
		const clients = 128
		c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: clients}
		invites, err := c.Invites(ctx, strings.TrimSpace(string(token)), clients)
		if err != nil {
			b.Fatal(err)
		}
		air, err := c.Purpose(ctx, "air-quality/daily")
		if err != nil {
			b.Fatal(err)
		}
		wallets := make([]*crypto.Wallet, clients)
		for i := range wallets {
			if wallets[i], err = crypto.NewWallet(); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Register(ctx, wallets[i], invites[i], "old-town"); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		var mu sync.Mutex
		var latencies []time.Duration
		b.ResetTimer()
		var wg sync.WaitGroup
		for i := range wallets {
			wg.Go(func() {
				granted := false
				var mine []time.Duration
				for next.Add(1) <= int64(b.N) {
					start := time.Now()
					var err error
					if granted {
						_, err = c.Revoke(ctx, wallets[i], air, false)
					} else {
						_, err = c.Grant(ctx, wallets[i], air)
					}
					if err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
					granted = !granted
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		b.StopTimer()
		slices.Sort(latencies)
		if len(latencies) > 0 {
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
		}
	})
}

// BenchmarkDashboardPage measures the /air page of a stored release served by the real
// binary to 16 concurrent clients over loopback (enough to keep every core busy), with its
// p50 and p99 latency. The baseline, from the same server in the same run, is its
// stylesheet: static bytes behind the same middleware (request id, metrics, security
// headers, timeout).
func BenchmarkDashboardPage(b *testing.B) { benchmarkPage(b, 16) }

// BenchmarkDashboardPageBusy is BenchmarkDashboardPage with 64 clients: what queueing alone
// adds on a small machine, to the page and to the static baseline alike.
func BenchmarkDashboardPageBusy(b *testing.B) { benchmarkPage(b, 64) }

func benchmarkPage(b *testing.B, clients int) {
	data := b.TempDir()
	n := startNode(b, data, &syncBuffer{})
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	admin := strings.TrimSpace(string(token))
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	populate(ctx, b, n.url, admin, day)
	if _, err := client.New(n.url).RunReleases(ctx, admin); err != nil {
		b.Fatal(err)
	}
	page := n.url + "/air?day=" + day.Format(time.DateOnly)
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	body := get(b, hc, page)
	css := regexp.MustCompile(`href="(/static/[0-9a-f]+/style\.css)"`).FindSubmatch(body)
	if css == nil {
		b.Fatal("no stylesheet link on /air")
	}
	b.Run("baseline-static-stylesheet", func(b *testing.B) { loadTest(b, hc, n.url+string(css[1]), clients) })
	b.Run("air-page-from-stored-release", func(b *testing.B) { loadTest(b, hc, page, clients) })
}

// get fetches url and fails the benchmark on anything but 200.
func get(b *testing.B, hc *http.Client, url string) []byte {
	resp, err := hc.Get(url)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %d %v", url, resp.StatusCode, err)
	}
	return body
}

// loadTest has clients concurrent clients GET url b.N times in all, reading every body, and
// reports the latency percentiles.
func loadTest(b *testing.B, hc *http.Client, url string, clients int) {
	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	b.ResetTimer()
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				resp, err := hc.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK {
					b.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
					return
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			latencies = append(latencies, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	b.StopTimer()
	slices.Sort(latencies)
	if len(latencies) > 0 {
		b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
		b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
	}
}
