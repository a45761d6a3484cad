package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
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
	pub := w.SigningPublicKey()
	b.Run("baseline-ed25519-verify", verifyOnly(func() error { return signed.Verify(pub) }))
	b.Run("http-durable-statement", func(b *testing.B) {
		n := startNode(b, b.TempDir(), &nodetest.Logs{})
		ctx := context.Background()
		c := client.New(n.url)
		const clients = 128
		c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: clients}
		wallets, air := registered(b, n, clients, false)
		timeOps(b, len(wallets), func(i int) func() error {
			granted := false
			return func() error {
				var err error
				if granted {
					_, err = c.Revoke(ctx, wallets[i], air, false)
				} else {
					_, err = c.Grant(ctx, wallets[i], air)
				}
				granted = !granted
				return err
			}
		})
	})
}

// timeOps runs b.N operations in all from workers goroutines, goroutine i doing op(i)'s, and
// reports the median and 99th percentile of their latencies in milliseconds. A goroutine
// stops at its first error, which fails b.
func timeOps(b *testing.B, workers int, op func(i int) func() error) {
	ops := make([]func() error, workers)
	for i := range ops {
		ops[i] = op(i)
	}
	var next atomic.Int64
	var mu sync.Mutex
	var latencies []time.Duration
	b.ResetTimer()
	var wg sync.WaitGroup
	for _, do := range ops {
		wg.Go(func() {
			var mine []time.Duration
			for next.Add(1) <= int64(b.N) {
				start := time.Now()
				if err := do(); err != nil {
					b.Error(err)
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

// verifyOnly is the baseline of the signed-write benchmarks: this machine's rate of only
// verifying one Ed25519 signature, on all cores.
func verifyOnly(verify func() error) func(*testing.B) {
	return func(b *testing.B) {
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := verify(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
}

// BenchmarkContributionsHTTP measures signed contributions (one 1 KiB sealed envelope each)
// posted over loopback HTTP by 128 concurrent residents: each is checked (citizen, signature,
// freshness, nonce, sealed form) and stored in a synced Badger transaction before the answer.
// The baseline is this machine's rate for only verifying the same contributions' signatures.
func BenchmarkContributionsHTTP(b *testing.B) {
	const clients = 128
	n := startNode(b, b.TempDir(), &nodetest.Logs{})
	wallets, _ := registered(b, n, clients, false)
	envelopes := make([]crypto.Envelope, clients)
	day := time.Now().UTC().Format(time.DateOnly)
	for i, w := range wallets {
		sealed, err := crypto.Seal([]byte(strings.Repeat("x", 1024-200)), w.Recipient())
		if err != nil {
			b.Fatal(err)
		}
		envelopes[i] = crypto.Envelope{Day: day, Purpose: crypto.VaultPurpose, Ciphertext: sealed}
	}
	// sign makes the i-th signed contribution of a run, as resident i%clients sends it.
	sign := func(i int) crypto.SignedContribution {
		s, err := wallets[i%clients].SignContribution(crypto.Contribution{IssuedAt: crypto.Now(),
			Nonce: crypto.NewNonce(), Envelopes: []crypto.Envelope{envelopes[i%clients]}})
		if err != nil {
			b.Fatal(err)
		}
		return s
	}
	first, pub := sign(0), wallets[0].SigningPublicKey()
	b.Run("baseline-ed25519-verify", verifyOnly(func() error { return first.Verify(pub) }))
	b.Run("http-durable-contribution", func(b *testing.B) {
		// Signing and encoding are the residents' work, not the server's: they are done before
		// the clock starts, so the load generator takes as little of the shared cores as it can.
		bodies := make([][]byte, b.N)
		for i := range bodies {
			var err error
			if bodies[i], err = json.Marshal(sign(i)); err != nil {
				b.Fatal(err)
			}
		}
		b.ResetTimer()
		postAll(b, n.url+"/api/v1/contributions", bodies)
	})
}

// BenchmarkGatewayDevices measures the gateway's own CPU time for each device post it takes,
// including its share of the batches it seals and uploads, from the process's rusage (start-up
// included, so the figure errs high). The figure that matters, the share of one core that
// 1,000 devices posting every 145 s would take, is reported as core-%-1000-devices.
func BenchmarkGatewayDevices(b *testing.B) {
	n := startNode(b, b.TempDir(), &nodetest.Logs{})
	wallet, home := gatewayResident(b, n)
	body, _ := deviceBody(b, "sds011_bmp280.json")
	gw := startGateway(b, n.url, wallet, filepath.Join(b.TempDir(), "outbox"), home, "--batch", "2s")
	const devices = 16
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for d := range devices {
		wg.Go(func() {
			for next.Add(1) <= int64(b.N) {
				if code := gw.device(fmt.Sprintf("esp8266-%d", 1000+d), "", body); code/100 != 2 {
					b.Errorf("device post: %d", code)
					return
				}
			}
		})
	}
	wg.Wait()
	gw.stop() // SIGTERM flushes what is left, so the final upload is counted too
	b.StopTimer()
	used := gw.cmd.ProcessState.UserTime() + gw.cmd.ProcessState.SystemTime()
	perPost := used.Seconds() / float64(b.N)
	b.ReportMetric(perPost*1e6, "cpu-µs/post")
	b.ReportMetric(100*perPost*1000/145, "core-%-1000-devices")
}

// BenchmarkImportYear imports a year of one sensor's Sensor.Community archive (one file per
// day, a reading every 158 s: 199,655 rows) with `commons contribute` against the real server:
// parse, seal to the vault and the air-quality purpose, upload, journal. The baseline, in
// the same run, only parses the same files in-process.
func BenchmarkImportYear(b *testing.B) {
	n := startNode(b, b.TempDir(), &nodetest.Logs{})
	wallet, _ := gatewayResident(b, n)
	dir := b.TempDir()
	first := time.Now().UTC().Truncate(24*time.Hour).AddDate(-1, 0, 0)
	rows := 0
	for d := range 365 {
		day := first.AddDate(0, 0, d)
		var sb strings.Builder
		sb.WriteString("sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n")
		for at := day; at.Before(day.Add(24 * time.Hour)); at = at.Add(158 * time.Second) {
			fmt.Fprintf(&sb, "12345;SDS011;6231;41.392123;2.193142;%s;%d.%d;;;%d.%d;;\n",
				at.Format("2006-01-02T15:04:05"), 10+rows%30, rows%10, 5+rows%20, rows%7)
			rows++
		}
		name := filepath.Join(dir, day.Format(time.DateOnly)+"_sds011_sensor_12345.csv")
		if err := os.WriteFile(name, []byte(sb.String()), 0o600); err != nil {
			b.Fatal(err)
		}
	}
	b.Run("baseline-parse-only", func(b *testing.B) {
		grid, err := client.New(n.url).Neighbourhoods(context.Background())
		if err != nil {
			b.Fatal(err)
		}
		files, err := inputFiles([]string{dir})
		if err != nil {
			b.Fatal(err)
		}
		for b.Loop() {
			got := 0
			for _, f := range files {
				rs, _, err := reading.ParseFile(f, grid.Locate, reading.Options{Now: time.Now()})
				if err != nil {
					b.Fatal(err)
				}
				got += len(rs)
			}
			if got != rows {
				b.Fatalf("parsed %d rows, want %d", got, rows)
			}
		}
	})
	b.Run("import-cli", func(b *testing.B) {
		for b.Loop() {
			journal := filepath.Join(b.TempDir(), "journal")
			out, err := n.cli(wallet, "contribute", "--json", "--journal", journal, dir)
			if err != nil {
				b.Fatal(err)
			}
			var s importSummary
			if err := json.Unmarshal([]byte(out), &s); err != nil || s.Imported != rows {
				b.Fatalf("imported %d of %d rows (%v): %s", s.Imported, rows, err, out)
			}
		}
		b.ReportMetric(float64(rows), "rows")
	})
}

// petitionSigners is the viral petition of issue #5: this many signatures, all at once.
const petitionSigners = 10_000

// BenchmarkPetitionSignaturesHTTP signs one petition 10,000 times over loopback HTTP, from 128
// concurrent clients, on the real server: every signature's act is verified with its petition
// key and its token with the petition's RSA key (RFC 9474), accepted durably, pending, and
// appended to the ledger in shuffled batches (every 100 ms here). The clock runs from the first
// request until the petition counts all 10,000, so the figure includes the batches. The tokens
// are issued and the acts signed before the clock starts. After the run the count must still be
// exactly 10,000 after a restart (the read model replayed from the ledger). The baseline,
// measured in the same run, is this machine's raw rate of RSA token verification.
func BenchmarkPetitionSignaturesHTTP(b *testing.B) {
	sk, err := crypto.NewTokenKey()
	if err != nil {
		b.Fatal(err)
	}
	w, err := crypto.NewWallet()
	if err != nil {
		b.Fatal(err)
	}
	req, err := w.BlindToken("viral", &sk.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	blindSig, err := crypto.BlindSign(sk, req.Blinded)
	if err != nil {
		b.Fatal(err)
	}
	tok, err := req.Finalize(blindSig)
	if err != nil {
		b.Fatal(err)
	}
	v, err := crypto.NewTokenVerifier(&sk.PublicKey)
	if err != nil {
		b.Fatal(err)
	}
	pub := req.Key.Public().(ed25519.PublicKey)
	b.Run("baseline-rsa-token-verify", verifyOnly(func() error { return v.Verify("viral", pub, req.Randomizer, tok) }))
	b.Run("http-10000-signatures", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			n, bodies := viralPetition(b)
			b.StartTimer()
			start := time.Now()
			postAll(b, n.url+"/api/v1/petitions/viral/signatures", bodies)
			waitCount(b, n.url, petitionSigners)
			elapsed += time.Since(start)
			b.StopTimer()
			n.stop()
			n = startNode(b, n.data, &nodetest.Logs{})
			checkCount(b, n.url, petitionSigners)
			n.stop()
		}
		perSignature := float64(elapsed.Nanoseconds()) / float64(b.N*petitionSigners)
		b.ReportMetric(perSignature, "ns/op")
		b.ReportMetric(1e9/perSignature, "signatures/s")
	})
}

// viralPetition starts a node with an open petition and 10,000 registered residents, each
// issued their token, and returns each resident's signature request, ready to post.
func viralPetition(b *testing.B) (*node, [][]byte) {
	n := startNode(b, b.TempDir(), &nodetest.Logs{}, "--signature-batch-every", "100ms", "--signature-batch-min", "1")
	ctx := context.Background()
	c := client.New(n.url)
	c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 128}
	token := adminTokenOf(b, n.data)
	var invites []string
	for len(invites) < petitionSigners+1 {
		batch, err := c.Invites(ctx, token, min(5000, petitionSigners+1-len(invites)))
		if err != nil {
			b.Fatal(err)
		}
		invites = append(invites, batch...)
	}
	organiser, err := fixtures.NewOrganiser(ctx, c, token, invites[petitionSigners])
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := c.CreatePetition(ctx, organiser, api.Petition{ID: "viral", Title: "A viral petition", Text: "Sign it.",
		Opens: now.Add(-time.Minute), Closes: now.Add(time.Hour), Threshold: petitionSigners}); err != nil {
		b.Fatal(err)
	}
	ps, err := c.Petitions(ctx)
	if err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, petitionSigners)
	inParallel(b, 32, petitionSigners, func(i int) error {
		w, err := crypto.NewWallet()
		if err == nil {
			_, err = c.Register(ctx, w, invites[i], "old-town")
		}
		var toks map[string]client.Token
		if err == nil {
			toks, _, err = c.Tokens(ctx, w, ps)
		}
		var key ed25519.PrivateKey
		if err == nil {
			key, err = w.PetitionKey("viral")
		}
		var act crypto.PetitionAct
		var sig string
		if err == nil {
			act, sig, err = crypto.SignAct(key, crypto.PetitionAct{Petition: "viral", Type: crypto.TypePetitionSign})
		}
		if err == nil {
			bodies[i], err = json.Marshal(api.SignatureRequest{Type: act.Type, Petition: act.Petition, Key: act.Key,
				Signature: sig, Randomizer: toks["viral"].Randomizer, Token: toks["viral"].Signature})
		}
		return err
	})
	return n, bodies
}

// waitCount polls the viral petition's published count until it is want: the last batch
// lands within its cadence.
func waitCount(b *testing.B, url string, want int) {
	c := client.New(url)
	for {
		p, err := c.Petition(context.Background(), "viral")
		if err != nil {
			b.Fatal(err)
		}
		if p.Signatures >= want {
			checkCount(b, url, want)
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// postAll posts every body to url from 128 concurrent clients; each must be answered 201 (or
// 202, accepted).
func postAll(b *testing.B, url string, bodies [][]byte) {
	const clients = 128
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
	inParallel(b, clients, len(bodies), func(i int) error {
		resp, err := hc.Post(url, "application/json", bytes.NewReader(bodies[i]))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusAccepted {
			return fmt.Errorf("body %d: status %d", i, resp.StatusCode)
		}
		return nil
	})
}

// checkCount fails unless the viral petition's published online count is want.
func checkCount(b *testing.B, url string, want int) {
	p, err := client.New(url).Petition(context.Background(), "viral")
	if err != nil {
		b.Fatal(err)
	}
	if p.Signatures != want || p.Total != want {
		b.Fatalf("the petition counts %d online, %d in total; want %d", p.Signatures, p.Total, want)
	}
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
	n := startNode(b, data, &nodetest.Logs{})
	token, err := os.ReadFile(filepath.Join(data, "admin.token"))
	if err != nil {
		b.Fatal(err)
	}
	admin := strings.TrimSpace(string(token))
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	populate(ctx, b, n.url, admin, day)
	if _, _, err := client.New(n.url).RunReleases(ctx, admin); err != nil {
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
	timeOps(b, clients, func(int) func() error {
		return func() error {
			resp, err := hc.Get(url)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if err != nil || resp.StatusCode != http.StatusOK {
				return fmt.Errorf("GET %s: %d %v", url, resp.StatusCode, err)
			}
			return nil
		}
	})
}

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
		// A year of share copies is a backlog the node takes only if told to, as an operator
		// importing one would (--share-days).
		nd := startNode(b, data, &nodetest.Logs{}, "--share-days", "400")
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
