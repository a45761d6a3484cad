package release_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"math"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/google/differential-privacy/go/v3/noise"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

const (
	purposeID = "air-quality"
	gridDay   = "2025-03-10"
	k         = 10
	grace     = 2
)

// The grid of every test: four neighbourhoods, in display order, deliberately not sorted.
var cells = []string{"n-north", "n-east", "n-south", "n-west"}

// env is a node: a real Badger, a real ledger with the read model applied by its sequencer,
// the store, one daily purpose and the release engine.
type env struct {
	t       testing.TB
	log     *ledger.Log
	st      *state.State
	store   *store.Store
	id      *age.X25519Identity
	purpose api.Purpose
	clock   *nodetest.Clock
	logs    *nodetest.Logs
	core    *nodetest.Core
	engine  *release.Engine
}

func newEnv(t testing.TB) *env {
	t.Helper()
	return newEnvOn(t, cells)
}

// newEnvOn is newEnv over a grid of the given neighbourhoods.
func newEnvOn(t testing.TB, cells []string) *env {
	t.Helper()
	core := nodetest.New(t, nodetest.Options{Origin: "test.commons.local/release", Start: mustDay(t, gridDay)})
	logger := loggerTo(core.Logs)
	lg, st := core.Ledger, core.State
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	e := &env{
		t: t, log: lg, st: st, store: core.Store, id: id,
		clock: core.Clock, logs: core.Logs, core: core,
	}
	e.purpose = api.Purpose{
		ID: purposeID, Version: 1, Title: "Daily air quality", Recipient: id.Recipient().String(),
		Release: api.ReleasePolicy{Grid: release.GridNeighbourhoodDay, K: k,
			ClampPM25: [2]float64{0, 100}, ClampPM10: [2]float64{0, 200}, GraceHours: grace},
	}
	e.definePurpose(e.purpose)
	e.engine = release.New(release.Config{
		Store: e.store, Ledger: lg, State: st,
		Identities: map[string]age.Identity{purposeID: id},
		Cells:      cells, Now: e.clock.Now, Logger: logger, Noise: exact{},
	})
	return e
}

// loggerTo is the engine's logger in tests: JSON lines into logs.
func loggerTo(logs *nodetest.Logs) *slog.Logger { return slog.New(slog.NewJSONHandler(logs, nil)) }

func mustDay(t testing.TB, day string) time.Time {
	t.Helper()
	d, err := time.Parse(time.DateOnly, day)
	require.NoError(t, err)
	return d
}

// nextDay returns the day after day.
func nextDay(t testing.TB, day string, n int) string {
	return mustDay(t, day).AddDate(0, 0, n).Format(time.DateOnly)
}

func (e *env) append(en api.Entry) uint64 {
	e.t.Helper()
	return e.core.Append(e.t, en)
}

func (e *env) definePurpose(p api.Purpose) {
	e.t.Helper()
	e.core.DefinePurpose(e.t, p)
}

func randomHex(t testing.TB) string {
	var b [32]byte
	_, err := rand.Read(b[:])
	require.NoError(t, err)
	return hex.EncodeToString(b[:])
}

// register logs a new resident; consent says whether they also grant consent to the purpose.
func (e *env) register(consent bool) *crypto.Wallet {
	e.t.Helper()
	w, err := crypto.NewWallet()
	require.NoError(e.t, err)
	e.append(api.Entry{Type: api.EntryRegister, Citizen: w.CitizenID(),
		SigningKey: crypto.EncodeKey(w.SigningPublicKey()), Recipient: w.Recipient().String(),
		Hash: randomHex(e.t), IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	require.NotNil(e.t, w)
	if consent {
		e.grant(w)
	}
	return w
}

func (e *env) grant(w *crypto.Wallet) {
	e.t.Helper()
	e.append(api.Entry{Type: api.EntryConsentGrant, Citizen: w.CitizenID(), Purpose: purposeID,
		PurposeVersion: e.purpose.Version, IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	require.True(e.t, e.st.ActiveConsent(w.CitizenID(), purposeID))
}

func (e *env) revoke(w *crypto.Wallet) {
	e.t.Helper()
	e.append(api.Entry{Type: api.EntryConsentRevoke, Citizen: w.CitizenID(), Purpose: purposeID,
		PurposeVersion: e.purpose.Version, IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	require.False(e.t, e.st.ActiveConsent(w.CitizenID(), purposeID))
}

// seal seals readings the way a resident's client does, to the purpose's recipient.
func (e *env) seal(rs []reading.Reading, to age.Recipient) []byte {
	e.t.Helper()
	plain, err := reading.MarshalBatch(rs)
	require.NoError(e.t, err)
	ct, err := crypto.Seal(plain, to)
	require.NoError(e.t, err)
	return ct
}

// put stores one contribution holding a single share copy for day.
func (e *env) put(w *crypto.Wallet, day string, ciphertext []byte) error {
	e.t.Helper()
	c := crypto.Contribution{Citizen: w.CitizenID(), Nonce: crypto.NewNonce(), IssuedAt: crypto.Now(),
		Envelopes: []crypto.Envelope{{Day: day, Purpose: purposeID, Ciphertext: ciphertext}}}
	id, err := c.ID()
	require.NoError(e.t, err)
	return e.store.PutContribution(context.Background(), c, id)
}

// contribute seals readings to the purpose and stores them as the share copy of day.
func (e *env) contribute(w *crypto.Wallet, day string, rs []reading.Reading) {
	e.t.Helper()
	require.NoError(e.t, e.put(w, day, e.seal(rs, e.id.Recipient())))
}

// readings returns one PM2.5 reading per value, spread over day in cell.
func readings(t testing.TB, day, cell string, pm25 ...float64) []reading.Reading {
	start := mustDay(t, day)
	rs := make([]reading.Reading, len(pm25))
	for i, v := range pm25 {
		rs[i] = reading.Reading{Sensor: "s1", Cell: cell,
			RecordedAt: start.Add(time.Duration(i%24)*time.Hour + time.Duration(i/24)*time.Second),
			Values:     reading.Values{PM2_5: reading.F(v)}}
	}
	return rs
}

// resident registers a consenting resident and contributes one PM2.5 reading per value.
func (e *env) resident(day, cell string, pm25 ...float64) *crypto.Wallet {
	e.t.Helper()
	w := e.register(true)
	e.contribute(w, day, readings(e.t, day, cell, pm25...))
	return w
}

// residents registers n consenting residents that each contribute one PM2.5 reading.
func (e *env) residents(n int, day, cell string, pm25 float64) []*crypto.Wallet {
	e.t.Helper()
	ws := make([]*crypto.Wallet, n)
	for i := range ws {
		ws[i] = e.resident(day, cell, pm25)
	}
	return ws
}

// closeDay moves the clock to the moment day's epoch closes.
func (e *env) closeDay(day string) {
	e.t.Helper()
	closes, err := release.Closes(day, grace)
	require.NoError(e.t, err)
	e.clock.Set(closes)
}

func (e *env) runDue() int {
	e.t.Helper()
	n, err := e.engine.RunDue(context.Background())
	require.NoError(e.t, err)
	return n
}

// releaseDay closes day, requires the engine to publish its one release, and returns it.
func (e *env) releaseDay(day string) release.AirDay {
	e.t.Helper()
	e.closeDay(day)
	require.Equal(e.t, 1, e.runDue())
	return e.released(day)
}

// released returns the parsed release of day.
func (e *env) released(day string) release.AirDay {
	e.t.Helper()
	return stored(e, purposeID, day, release.ParseAirDay)
}

// stored parses the stored release of a purpose's epoch.
func stored[T any](e *env, purpose, epoch string, parse func([]byte) (T, error)) T {
	e.t.Helper()
	b, err := e.store.Release(purpose, epoch)
	require.NoError(e.t, err)
	r, err := parse(b)
	require.NoError(e.t, err)
	return r
}

func cellOf(t testing.TB, d release.AirDay, name string) release.Cell {
	t.Helper()
	return named(t, d.Cells, name)
}

// named returns the cell of a neighbourhood among a release's cells.
func named(t testing.TB, cells []release.Cell, name string) release.Cell {
	t.Helper()
	for _, c := range cells {
		if c.Neighbourhood == name {
			return c
		}
	}
	t.Fatalf("cell %s not in release", name)
	return release.Cell{}
}

// releaseEntries returns the release.publish entries of the ledger.
func (e *env) releaseEntries() []api.Entry {
	e.t.Helper()
	var out []api.Entry
	require.NoError(e.t, e.log.Scan(context.Background(), 0, e.log.Size(), func(_ uint64, b []byte) error {
		en, err := api.ParseEntry(b)
		if err != nil {
			return err
		}
		if en.Type == api.EntryRelease {
			out = append(out, en)
		}
		return nil
	}))
	return out
}

func mean(vs []float64) float64 {
	var s float64
	for _, v := range vs {
		s += v
	}
	return s / float64(len(vs))
}

func clampTo(v, lo, hi float64) float64 { return math.Min(math.Max(v, lo), hi) }

// exactCell is what the release rules predict from plaintext, before rounding: each
// resident's own mean, clamped to the policy range and then to the cell's window, then the
// mean of those.
func exactCell(perResident [][]float64, policy, window [2]float64) float64 {
	means := make([]float64, len(perResident))
	for i, vs := range perResident {
		m := clampTo(mean(vs), policy[0], policy[1])
		means[i] = clampTo(m, window[0], window[1])
	}
	return mean(means)
}

// assertPM25 checks a cell's published PM2.5 is exactCell, with the window the cell states,
// rounded to 0.1: on the 0.1 grid and within half a step of the exact value.
func assertPM25(t *testing.T, perResident [][]float64, c release.Cell, what string) {
	t.Helper()
	if !assert.NotNil(t, c.PM25, what) || !assert.NotNil(t, c.ClampPM25, what) {
		return
	}
	got := *c.PM25
	assert.InDelta(t, math.Round(got*10), got*10, 1e-6, "%s = %v is not rounded to 0.1", what, got)
	assert.InDelta(t, exactCell(perResident, [2]float64{0, 100}, *c.ClampPM25), got, 0.05+1e-9, what)
}

// assertStat is assertPM25 for another statistic of a weekly cell.
func assertStat(t *testing.T, perResident [][]float64, policy [2]float64, window *[2]float64, got *float64, what string) {
	t.Helper()
	if !assert.NotNil(t, got, what) || !assert.NotNil(t, window, what) {
		return
	}
	assert.InDelta(t, exactCell(perResident, policy, *window), *got, 0.05+1e-9, what)
}

// week returns the parsed weekly release of week.
func (e *env) week(week string) release.AirWeek {
	e.t.Helper()
	return stored(e, release.WeekPurpose(purposeID), week, release.ParseAirWeek)
}

func weekCell(t testing.TB, w release.AirWeek, name string) release.Cell {
	t.Helper()
	return named(t, w.Cells, name)
}

// exact is a differential-privacy "mechanism" that adds no noise, so that tests of the
// aggregation's arithmetic (bounding, k, attribution, consent) can compare exact values. The
// tests of the noise itself use the engine's default, the library's Laplace mechanism.
type exact struct{}

func (exact) AddNoiseInt64(x, _, _ int64, _, _ float64) (int64, error)             { return x, nil }
func (exact) AddNoiseFloat64(x float64, _ int64, _, _, _ float64) (float64, error) { return x, nil }
func (exact) Threshold(int64, float64, float64, float64, float64) (float64, error) { return 0, nil }
func (exact) ComputeConfidenceIntervalInt64(x, _, _ int64, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: float64(x), UpperBound: float64(x)}, nil
}
func (exact) ComputeConfidenceIntervalFloat64(x float64, _ int64, _, _, _, _ float64) (noise.ConfidenceInterval, error) {
	return noise.ConfidenceInterval{LowerBound: x, UpperBound: x}, nil
}
func (exact) String() string { return "none" }
