package main

import (
	"context"
	"net/http"
	"os"
	"path/filepath"
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
