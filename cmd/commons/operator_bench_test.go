package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
)

// registered registers n residents of old-town through the node's API, 16 at a time, each
// consenting to the air-quality purpose if consent is set; it returns their wallets and the
// purpose.
func registered(b *testing.B, nd *node, n int, consent bool) ([]*crypto.Wallet, client.Purpose) {
	b.Helper()
	ctx := context.Background()
	c := client.New(nd.url)
	invites, err := c.Invites(ctx, adminTokenOf(b, nd.data), n)
	if err != nil {
		b.Fatal(err)
	}
	air, err := c.Purpose(ctx, fixtures.AirPurpose)
	if err != nil {
		b.Fatal(err)
	}
	wallets := make([]*crypto.Wallet, n)
	inParallel(b, 16, n, func(i int) error {
		w, err := crypto.NewWallet()
		if err == nil {
			_, err = c.Register(ctx, w, invites[i], "old-town")
		}
		if err == nil && consent {
			_, err = c.Grant(ctx, w, air)
		}
		wallets[i] = w
		return err
	})
	return wallets, air
}

// BenchmarkCityLoad runs the demo city's node under a city's steady load for COMMONS_CITYLOAD
// (default 60 s): 1,000 sensors uploading a sealed reading every 145 s each (6.9 signed
// contributions a second, each with a vault and a share copy) and 50 dashboard and API reads a
// second, and reports the server's CPU (share of one core) and resident set size, now and at
// its peak during the load. The node runs with its defaults, among them --memory-limit.
func BenchmarkCityLoad(b *testing.B) {
	dur := time.Minute
	if v := os.Getenv("COMMONS_CITYLOAD"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			b.Fatal(err)
		}
		dur = d
	}
	data := b.TempDir()
	nd := startNode(b, data, &nodetest.Logs{}, "--demo")
	wallets, air := registered(b, nd, 1000, true)
	// The load runs against a node restarted on that data, as a node serving a city is: not
	// the process that just loaded the demo city through its own API.
	nd.stop()
	nd = startNode(b, data, &nodetest.Logs{})
	recipient, err := age.ParseX25519Recipient(air.Recipient)
	if err != nil {
		b.Fatal(err)
	}
	c := client.New(nd.url)
	c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 64}
	pages := []string{"/", "/air", "/petitions", "/ledger", "/api/v1/stats/air", "/api/v1/petitions", "/api/v1/ledger/checkpoint"}
	for b.Loop() {
		ctx, cancel := context.WithTimeout(context.Background(), dur)
		// The peak is the load's, not the start's: writing 5 to clear_refs resets it.
		if err := os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", nd.cmd.Process.Pid), []byte("5"), 0); err != nil {
			b.Fatal(err)
		}
		cpu0, _ := procStat(b, nd.cmd.Process.Pid)
		start := time.Now()
		var sent, read atomic.Int64
		var wg sync.WaitGroup
		every := func(rate float64, fn func(i int)) {
			wg.Go(func() {
				t := time.NewTicker(time.Duration(float64(time.Second) / rate))
				defer t.Stop()
				for i := 0; ; i++ {
					select {
					case <-ctx.Done():
						return
					case <-t.C:
						wg.Go(func() { fn(i) })
					}
				}
			})
		}
		every(1000.0/145, func(i int) {
			w := wallets[i%len(wallets)]
			rs := []reading.Reading{{Sensor: "sds011", RecordedAt: time.Now().UTC(), Cell: "old-town",
				Values: reading.Values{PM2_5: reading.F(float64(8 + i%20)), PM10: reading.F(float64(14 + i%30))}}}
			plain, err := reading.MarshalBatch(rs)
			if err != nil {
				b.Error(err)
				return
			}
			vault, err1 := crypto.Seal(plain, w.Recipient())
			share, err2 := crypto.Seal(plain, recipient)
			if err1 != nil || err2 != nil {
				b.Error(err1, err2)
				return
			}
			day := time.Now().UTC().Format(time.DateOnly)
			s, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(),
				Envelopes: []crypto.Envelope{{Day: day, Purpose: crypto.VaultPurpose, Ciphertext: vault},
					{Day: day, Purpose: air.ID, Ciphertext: share}}})
			if err == nil {
				err = c.PostContribution(context.Background(), s)
			}
			if err != nil {
				b.Error(err)
				return
			}
			sent.Add(1)
		})
		every(50, func(i int) {
			resp, err := c.HTTP.Get(nd.url + pages[i%len(pages)])
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Errorf("%s: %s", pages[i%len(pages)], resp.Status)
				return
			}
			read.Add(1)
		})
		<-ctx.Done()
		wg.Wait()
		cancel()
		wall := time.Since(start)
		cpu1, m := procStat(b, nd.cmd.Process.Pid)
		b.ReportMetric(100*(cpu1-cpu0).Seconds()/wall.Seconds(), "core-%")
		b.ReportMetric(float64(m.rss>>20), "rss-MiB")
		b.ReportMetric(float64(m.peak>>20), "peak-rss-MiB")
		b.ReportMetric(float64(m.anon>>20), "anon-MiB")
		b.ReportMetric(float64(m.file>>20), "file-MiB")
		b.ReportMetric(float64(sent.Load())/wall.Seconds(), "uploads/s")
		b.ReportMetric(float64(read.Load())/wall.Seconds(), "reads/s")
	}
}

// BenchmarkColdStartYear builds a node holding a year of a city's data — 1,000 residents,
// each with a vault and a share copy for every one of 365 days (730,000 sealed envelopes),
// the year's daily releases published and logged — then measures a restart: from exec to the
// "ready" line (open Badger, check the ledger root against its signed checkpoint, replay the
// read model). It also reports how long the node took to publish the year's backlog of
// releases, which it does while serving. The baseline is the restart of a node holding
// nothing.
func BenchmarkColdStartYear(b *testing.B) {
	restart := func(b *testing.B, data string) {
		for b.Loop() {
			nd := startNode(b, data, &nodetest.Logs{})
			nd.stop()
		}
	}
	b.Run("baseline-empty-node", func(b *testing.B) {
		data := b.TempDir()
		startNode(b, data, &nodetest.Logs{}).stop()
		restart(b, data)
	})
	b.Run("year-of-city", func(b *testing.B) {
		data := b.TempDir()
		nd := startNode(b, data, &nodetest.Logs{})
		wallets, air := registered(b, nd, 1000, true)
		recipient, err := age.ParseX25519Recipient(air.Recipient)
		if err != nil {
			b.Fatal(err)
		}
		// One sealed day per calendar day, shared by every resident: the server cannot tell,
		// and sealing 730,000 envelopes would only time the benchmark's own set-up.
		first := time.Now().UTC().Truncate(24*time.Hour).AddDate(-1, 0, -1)
		type sealedDay struct {
			day   string
			share []byte
		}
		days := make([]sealedDay, 365)
		for d := range days {
			at := first.AddDate(0, 0, d)
			plain, err := reading.MarshalBatch(dayReadings("old-town", at, d%7))
			if err != nil {
				b.Fatal(err)
			}
			share, err := crypto.Seal(plain, recipient)
			if err != nil {
				b.Fatal(err)
			}
			days[d] = sealedDay{day: at.Format(time.DateOnly), share: share}
		}
		c := client.New(nd.url)
		inParallel(b, 8, len(wallets), func(i int) error {
			w := wallets[i]
			vault, err := crypto.Seal([]byte(`{"v":1,"readings":[]}`), w.Recipient())
			if err != nil {
				return err
			}
			// Two contributions of about half a year each, under the envelope limit.
			for half := range 2 {
				var envs []crypto.Envelope
				for _, d := range days[half*183 : min(len(days), (half+1)*183)] {
					envs = append(envs, crypto.Envelope{Day: d.day, Purpose: crypto.VaultPurpose, Ciphertext: vault},
						crypto.Envelope{Day: d.day, Purpose: air.ID, Ciphertext: d.share})
				}
				s, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(), Envelopes: envs})
				if err == nil {
					err = c.PostContribution(context.Background(), s)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		nd.stop()
		logs := &nodetest.Logs{}
		nd = startNode(b, data, logs)
		t0 := time.Now()
		// The node releases the year's backlog while it serves: one log line a day released.
		ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
		err = logs.WaitFor(ctx, `msg="release published"`, 365)
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		releaseYear := time.Since(t0)
		nd.stop()
		restart(b, data)
		// After the loop: metrics reported before b.Loop are reset by it.
		b.ReportMetric(releaseYear.Seconds(), "release-year-s")
	})
}
