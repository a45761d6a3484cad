package release_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"filippo.io/age"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

// benchResidents is the size of the benchmarked city-day.
const benchResidents = 1000

// cityDays is a node with benchResidents consenting residents spread over the demo city's
// neighbourhoods, each with one share copy of 24 hourly readings for each prepared day. Days
// are a week apart, so no resident runs out of weekly budget.
type cityDays struct {
	e       *env
	engine  *release.Engine
	wallets []*crypto.Wallet
	cells   []string
	first   time.Time
	days    []string // prepared, not yet released
	made    int
}

func newCityDays(b *testing.B) *cityDays {
	var cells []string
	for _, n := range fixtures.Neighbourhoods() {
		cells = append(cells, n.ID)
	}
	e := newEnvOn(b, cells)
	p := e.purpose
	p.Version++
	p.Release.Epsilon, p.Release.HourEpsilon = 0.8, 0.2
	e.purpose = p
	e.definePurpose(p)
	c := &cityDays{e: e, cells: cells, first: mustDay(b, gridDay), wallets: make([]*crypto.Wallet, benchResidents)}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 16 { // concurrent appends share the ledger's group commits
		wg.Go(func() {
			for i := next.Add(1) - 1; i < benchResidents; i = next.Add(1) - 1 {
				c.wallets[i] = e.register(true)
			}
		})
	}
	wg.Wait()
	// The engine the node runs: the library's Laplace noise, not the tests' exact mechanism.
	c.engine = release.New(release.Config{Store: e.store, Ledger: e.log, State: e.st,
		Identities: map[string]age.Identity{purposeID: e.id}, Cells: cells, Now: e.clock.Now,
		Logger: loggerTo(e.logs)})
	return c
}

// prepare stores share copies for n more days: one contribution per resident holding every
// day's envelope.
func (c *cityDays) prepare(b *testing.B, n int) {
	var days []string
	for range n {
		days = append(days, c.first.AddDate(0, 0, 7*c.made).Format(time.DateOnly))
		c.made++
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < benchResidents; i = next.Add(1) - 1 {
				w := c.wallets[i]
				con := crypto.Contribution{Citizen: w.CitizenID(), Nonce: crypto.NewNonce(), IssuedAt: crypto.Now()}
				for _, d := range days {
					rs := make([]reading.Reading, 24)
					for h := range rs {
						rs[h] = reading.Reading{Sensor: "s1", Cell: c.cells[int(i)%len(c.cells)],
							RecordedAt: mustDay(b, d).Add(time.Duration(h)*time.Hour + 5*time.Minute),
							Values: reading.Values{PM2_5: reading.F(8 + float64(i%17) + float64(h)/3), PM10: reading.F(20),
								Temperature: reading.F(14), Humidity: reading.F(70)}}
					}
					con.Envelopes = append(con.Envelopes, crypto.Envelope{Day: d, Purpose: purposeID, Ciphertext: c.e.seal(rs, c.e.id.Recipient())})
				}
				id, err := con.ID()
				if err != nil {
					b.Error(err)
					return
				}
				if err := c.e.store.PutContribution(context.Background(), con, id); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	c.days = append(c.days, days...)
}

// next returns the next prepared day, preparing more when none is left.
func (c *cityDays) next(b *testing.B) string {
	if len(c.days) == 0 {
		c.prepare(b, 4)
	}
	d := c.days[0]
	c.days = c.days[1:]
	return d
}

// openAll opens every ciphertext on all cores, as fast as age can: the raw rate the engine's
// decrypt phase is compared with.
func openAll(b *testing.B, id age.Identity, copies []store.ShareCopy) time.Duration {
	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(len(copies)); i = next.Add(1) - 1 {
				if _, err := crypto.Open(copies[i].Ciphertext, id); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	return time.Since(start)
}

// BenchmarkReleaseCityDay measures the release of one city-day: 1,000 residents with hourly
// readings over every neighbourhood of the demo city, decrypted, cleaned, bounded, aggregated
// with noise into the daily release, and logged durably (with, after the first, the weekly
// release of the previous prepared day's week, which has closed by then). The baseline is this
// machine's raw age decryption of one such day's share copies on all cores; the release reports
// its decrypt phase (on all cores) as a share of the raw rate measured on the same envelopes
// just before and just after it, and the same with the parse phase that follows it.
func BenchmarkReleaseCityDay(b *testing.B) {
	c := newCityDays(b)
	b.Run("baseline-age-decrypt-city-day-all-cores", func(b *testing.B) {
		day := c.next(b)
		c.days = append([]string{day}, c.days...) // still to be released
		copies, err := c.e.store.ShareCopies(purposeID, day)
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			openAll(b, c.e.id, copies)
		}
	})
	b.Run("release-city-day", func(b *testing.B) {
		var raw, decrypt, parse time.Duration
		envelopes := 0
		b.ResetTimer()
		for range b.N {
			b.StopTimer()
			day := c.next(b)
			copies, err := c.e.store.ShareCopies(purposeID, day)
			if err != nil {
				b.Fatal(err)
			}
			raw += openAll(b, c.e.id, copies)
			envelopes += len(copies)
			c.e.closeDay(day)
			mark := len(c.e.logs.String())
			b.StartTimer()
			// The day, and the weekly release of the week before it, closed by then.
			if n, err := c.engine.RunDue(context.Background()); err != nil || n < 1 || n > 2 {
				b.Fatalf("released %d epochs: %v", n, err)
			}
			b.StopTimer()
			d, p, err := phasesTook(c.e.logs.String()[mark:])
			if err != nil {
				b.Fatal(err)
			}
			decrypt, parse = decrypt+d, parse+p
			// The raw rate again right after, so load from other processes weighs on both.
			raw += openAll(b, c.e.id, copies)
			b.StartTimer()
		}
		b.StopTimer()
		if decrypt > 0 {
			b.ReportMetric(float64(envelopes)/decrypt.Seconds(), "decrypted/s")
			b.ReportMetric(100*raw.Seconds()/2/decrypt.Seconds(), "decrypt-%-of-raw")
			b.ReportMetric(100*raw.Seconds()/2/(decrypt+parse).Seconds(), "decrypt+parse-%-of-raw")
		}
	})
}

// phasesTook reads the decrypt and parse phases' durations from the engine's "release
// published" log line (JSON, nanoseconds).
func phasesTook(logs string) (decrypt, parse time.Duration, err error) {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct {
			Msg     string `json:"msg"`
			Decrypt int64  `json:"decrypt_took"`
			Parse   int64  `json:"parse_took"`
		}
		if err := json.Unmarshal(sc.Bytes(), &line); err == nil && line.Msg == "release published" {
			return time.Duration(line.Decrypt), time.Duration(line.Parse), nil
		}
	}
	return 0, 0, errors.New("no \"release published\" line in the engine's log")
}
