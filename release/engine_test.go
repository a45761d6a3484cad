package release_test

import (
	"bufio"
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

func TestClosesIsEndOfDayPlusGrace(t *testing.T) {
	t.Parallel()
	got, err := release.Closes("2025-03-10", 2)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2025, 3, 11, 2, 0, 0, 0, time.UTC), got)

	got, err = release.Closes("2025-12-31", 0)
	require.NoError(t, err)
	assert.Equal(t, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), got, "a year boundary")

	for _, bad := range []string{"", "10/03/2025", "2025-02-30", "2025-03-10T00:00:00Z"} {
		_, err := release.Closes(bad, 2)
		assert.Error(t, err, "day %q", bad)
	}
}

// No release before the epoch closes (end of day + grace), exactly one after, and it is
// stored once, served byte-identically and committed to in the ledger by its hash.
func TestReleaseOnlyAfterEpochClosesAndOnlyOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var ws []*crypto.Wallet
	for i := 0; i < k; i++ {
		ws = append(ws, e.resident(gridDay, "n-north", float64(10+i)))
	}
	closes, err := release.Closes(gridDay, grace)
	require.NoError(t, err)
	ledgerSize := e.log.Size()

	for _, now := range []time.Time{
		mustDay(t, gridDay).Add(12 * time.Hour), // during the day
		mustDay(t, gridDay).AddDate(0, 0, 1),    // the day ended, grace running
		closes.Add(-time.Nanosecond),            // the last instant of grace
	} {
		e.clock.Set(now)
		assert.Zero(t, e.runDue(), "at %s", now)
		epochs, err := e.store.Epochs(purposeID)
		require.NoError(t, err)
		assert.Empty(t, epochs, "at %s", now)
		_, err = e.store.Release(purposeID, gridDay)
		assert.ErrorIs(t, err, store.ErrNotFound, "at %s", now)
		assert.Equal(t, ledgerSize, e.log.Size(), "nothing logged at %s", now)
	}

	e.clock.Set(closes)
	assert.Equal(t, 1, e.runDue())
	assert.Equal(t, ledgerSize+1, e.log.Size())
	assert.Zero(t, e.runDue(), "a second run publishes nothing")
	e.clock.Set(closes.Add(72 * time.Hour))
	assert.Zero(t, e.runDue(), "nor does a much later one")
	assert.Equal(t, ledgerSize+1, e.log.Size())

	epochs, err := e.store.Epochs(purposeID)
	require.NoError(t, err)
	assert.Equal(t, []string{gridDay}, epochs)

	body, err := e.store.Release(purposeID, gridDay)
	require.NoError(t, err)
	require.NotEmpty(t, body)
	for i := 0; i < 100; i++ {
		again, err := e.store.Release(purposeID, gridDay)
		require.NoError(t, err)
		require.Equal(t, body, again, "read %d", i)
	}

	entries := e.releaseEntries()
	require.Len(t, entries, 1)
	assert.Equal(t, purposeID, entries[0].Purpose)
	assert.Equal(t, e.purpose.Version, entries[0].PurposeVersion)
	assert.Equal(t, gridDay, entries[0].Epoch)
	assert.Equal(t, state.Hash(body), entries[0].Hash)
	assert.Empty(t, entries[0].Citizen, "a release entry names no resident")

	// The epoch is closed in the store: a late share copy is refused.
	assert.ErrorIs(t, e.put(ws[0], gridDay, e.seal(readings(t, gridDay, "n-north", 50), e.id.Recipient())),
		store.ErrEpochClosed)

	// Withdrawal affects later epochs, never rewrites old ones.
	e.revoke(ws[0])
	assert.Zero(t, e.runDue())
	after, err := e.store.Release(purposeID, gridDay)
	require.NoError(t, err)
	assert.Equal(t, body, after)
	assert.Len(t, e.releaseEntries(), 1)
}

func TestRunDueReleasesEveryClosedDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	days := []string{nextDay(t, gridDay, 0), nextDay(t, gridDay, 1), nextDay(t, gridDay, 2)}
	w := e.register(true)
	// Stored out of order: Days and Epochs must still come back in day order.
	for _, d := range []string{days[2], days[0], days[1]} {
		e.contribute(w, d, readings(t, d, "n-north", 30))
	}
	e.closeDay(days[1])
	assert.Equal(t, 2, e.runDue())
	epochs, err := e.store.Epochs(purposeID)
	require.NoError(t, err)
	assert.Equal(t, days[:2], epochs)

	e.closeDay(days[2])
	assert.Equal(t, 1, e.runDue())
	epochs, err = e.store.Epochs(purposeID)
	require.NoError(t, err)
	assert.Equal(t, days, epochs)

	var logged []string
	for _, en := range e.releaseEntries() {
		logged = append(logged, en.Epoch)
	}
	assert.Equal(t, days, logged)
}

func TestRunDueSkipsPurposesItHasNoKeyFor(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.residents(k, gridDay, "n-north", 20)
	e.closeDay(gridDay)
	keyless := release.New(release.Config{Store: e.store, Ledger: e.log, State: e.st,
		Identities: map[string]age.Identity{}, Cells: cells, Now: e.clock.Now, Noise: exact{}, Logger: slog.New(slog.DiscardHandler)})
	n, err := keyless.RunDue(context.Background())
	require.NoError(t, err)
	assert.Zero(t, n)
	_, err = e.store.Release(purposeID, gridDay)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.Empty(t, e.releaseEntries())
}

// plain is one resident's plaintext of the day, per statistic.
type plain struct {
	pm25, pm10, temp, humid []float64
}

func (p plain) readings(t testing.TB, day, cell string) []reading.Reading {
	n := max(len(p.pm25), len(p.pm10), len(p.temp), len(p.humid))
	start := mustDay(t, day)
	rs := make([]reading.Reading, n)
	at := func(vs []float64, i int) *float64 {
		if i < len(vs) {
			return reading.F(vs[i])
		}
		return nil
	}
	for i := range rs {
		rs[i] = reading.Reading{Sensor: "s1", Cell: cell, RecordedAt: start.Add(time.Duration(i) * 24 * time.Hour / time.Duration(n)),
			Values: reading.Values{PM2_5: at(p.pm25, i), PM10: at(p.pm10, i), Temperature: at(p.temp, i), Humidity: at(p.humid, i)}}
	}
	return rs
}

func randomValues(rng *rand.Rand, lo, hi float64) []float64 {
	vs := make([]float64, 1+rng.IntN(6))
	for i := range vs {
		vs[i] = math.Round((lo+rng.Float64()*(hi-lo))*10) / 10
	}
	return vs
}

// The releases are what the plaintext predicts: the mean of per-resident means, clamped to the
// policy range and to the window each cell states, rounded to 0.1; the day carries PM2.5, the
// week every statistic; a cell whose (here exact) count is below k shows nothing at all.
func TestReleaseMatchesPlaintext(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(7, 11))

	// n-north: 12 residents, some with daily means above the PM clamps or below zero, five
	// with humidity (fewer than k, so humidity is withheld).
	var north []plain
	for i := 0; i < 12; i++ {
		p := plain{pm25: randomValues(rng, 0, 80), pm10: randomValues(rng, 0, 150), temp: randomValues(rng, -5, 25)}
		switch i {
		case 0:
			p.pm25, p.pm10 = []float64{150, 180, 130}, []float64{400, 260} // means above the clamps
		case 1:
			p.pm25 = []float64{-20, -30} // a broken sensor: clamped to 0
		case 2:
			p.temp = []float64{70, 80} // clamped to 50
		}
		if i < 5 {
			p.humid = randomValues(rng, 20, 90)
		}
		north = append(north, p)
	}
	// n-east: 9 residents, one short of k.
	var east []plain
	for i := 0; i < k-1; i++ {
		east = append(east, plain{pm25: randomValues(rng, 0, 80), temp: randomValues(rng, -5, 25)})
	}
	// n-south: exactly k residents.
	var south []plain
	for i := 0; i < k; i++ {
		south = append(south, plain{pm25: randomValues(rng, 0, 80)})
	}
	// n-west: nobody.
	var ids []string
	for cell, ps := range map[string][]plain{"n-north": north, "n-east": east, "n-south": south} {
		for _, p := range ps {
			w := e.register(true)
			ids = append(ids, w.CitizenID())
			e.contribute(w, gridDay, p.readings(t, gridDay, cell))
		}
	}
	d := e.releaseDay(gridDay)

	assert.Equal(t, purposeID, d.Purpose)
	assert.Equal(t, 1, d.PurposeVersion)
	assert.Equal(t, gridDay, d.Epoch)
	assert.Equal(t, k, d.K)
	assert.Equal(t, "none", d.Noise, "the release must say that no noise is applied")
	assert.Equal(t, release.FormatVersion, d.Version)
	assert.Equal(t, 0.1, d.Rounding)
	assert.Equal(t, [2]float64{0, 100}, d.Clamp.PM25)
	assert.Equal(t, [2]float64{0, 200}, d.Clamp.PM10)
	require.NotNil(t, d.Guarantee)
	assert.InDelta(t, 1, d.Guarantee.EpsilonDay, 1e-6)
	assert.Greater(t, d.Rho, 0.0)

	var order []string
	for _, c := range d.Cells {
		order = append(order, c.Neighbourhood)
	}
	assert.Equal(t, cells, order, "every grid cell, in display order")

	col := func(ps []plain, get func(plain) []float64) [][]float64 {
		var out [][]float64
		for _, p := range ps {
			out = append(out, get(p))
		}
		return out
	}
	pm25 := func(p plain) []float64 { return p.pm25 }
	n := cellOf(t, d, "n-north")
	assert.False(t, n.Suppressed)
	assert.Equal(t, 12, n.Contributors)
	assertPM25(t, col(north, pm25), n, "north pm2.5")
	assert.Nil(t, n.PM10, "a day carries PM2.5 only")
	assert.Nil(t, n.Temperature, "a day carries PM2.5 only")

	s := cellOf(t, d, "n-south")
	assert.False(t, s.Suppressed)
	assert.Equal(t, k, s.Contributors, "exactly k contributors is enough")
	assertPM25(t, col(south, pm25), s, "south pm2.5")

	for _, name := range []string{"n-east", "n-west"} {
		c := cellOf(t, d, name)
		assert.Equal(t, release.Cell{Neighbourhood: name, Suppressed: true}, c, "%s carries no statistic", name)
	}
	assert.Equal(t, 12+k-1+k, d.Contributors, "the city counts every contributor, suppressed cells too")
	require.NotNil(t, d.City)
	var all [][]float64
	for _, ps := range [][]plain{north, east, south} {
		all = append(all, col(ps, pm25)...)
	}
	assertPM25(t, all, *d.City, "city pm2.5")

	// The week: the same residents' means of the week (here one day), every statistic.
	closes, err := release.WeekCloses("2025-W11", grace)
	require.NoError(t, err)
	e.clock.Set(closes)
	require.Equal(t, 1, e.runDue(), "the week's release")
	w := e.week("2025-W11")
	assert.Equal(t, "2025-03-10", w.From)
	assert.Equal(t, "2025-03-16", w.To)
	wn := weekCell(t, w, "n-north")
	assertPM25(t, col(north, pm25), wn, "north weekly pm2.5")
	assertStat(t, col(north, func(p plain) []float64 { return p.pm10 }), [2]float64{0, 200}, wn.ClampPM10, wn.PM10, "north pm10")
	assertStat(t, col(north, func(p plain) []float64 { return p.temp }), [2]float64{-40, 50}, wn.ClampTemperature, wn.Temperature, "north temperature")
	assert.Nil(t, wn.Humidity, "humidity measured by 5 < k residents must be withheld")
	ws := weekCell(t, w, "n-south")
	assert.Nil(t, ws.PM10, "nobody in the south measured PM10")
	for _, name := range []string{"n-east", "n-west"} {
		assert.Equal(t, release.Cell{Neighbourhood: name, Suppressed: true}, weekCell(t, w, name))
	}

	// The stored JSON of a suppressed cell holds nothing but its name and the flag.
	body, err := e.store.Release(purposeID, gridDay)
	require.NoError(t, err)
	var raw struct {
		Cells []map[string]any `json:"cells"`
	}
	require.NoError(t, json.Unmarshal(body, &raw))
	for _, c := range raw.Cells {
		if c["neighbourhood"] == "n-east" || c["neighbourhood"] == "n-west" {
			assert.Equal(t, map[string]any{"neighbourhood": c["neighbourhood"], "suppressed": true}, c)
		}
	}

	// Leak scan: neither the release nor the engine's log names a resident.
	logs := e.logs.String()
	for _, id := range ids {
		assert.NotContains(t, string(body), id)
		assert.NotContains(t, logs, id)
	}
	rec := publishedRecord(t, e)
	assert.EqualValues(t, 12+k-1+k, rec["counted"])
	assert.EqualValues(t, 0, rec["unreadable"])
}

// publishedRecord returns the engine's last "release published" log record.
func publishedRecord(t *testing.T, e *env) map[string]any {
	t.Helper()
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(e.logs.String()))
	for sc.Scan() {
		var rec map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &rec))
		if rec["msg"] == "release published" {
			last = rec
		}
	}
	require.NotNil(t, last, "no release published record")
	return last
}

// Bounding (PRIVACY.md): one resident with 10,000 readings of 999 moves a cell's mean by at
// most the clamp range / n — here by at most the cell's window / n, which is narrower — in the
// day's and in the week's release.
func TestOneResidentMovesACellByAtMostClampRangeOverN(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(3, 5))
	dayWithout, dayWith := gridDay, nextDay(t, gridDay, 7) // Mondays of two ISO weeks
	var honest25, honest10 [][]float64
	for i := 0; i < 11; i++ {
		w := e.register(true)
		p := plain{pm25: randomValues(rng, 5, 40), pm10: randomValues(rng, 10, 60)}
		honest25, honest10 = append(honest25, p.pm25), append(honest10, p.pm10)
		e.contribute(w, dayWithout, p.readings(t, dayWithout, "n-north"))
		e.contribute(w, dayWith, p.readings(t, dayWith, "n-north"))
	}
	outlier := e.register(true)
	flood := make([]float64, 10000)
	for i := range flood {
		flood[i] = 999 - float64(i%2) // not one stuck value: cleaning would drop that sensor's day
	}
	e.contribute(outlier, dayWith, plain{pm25: flood, pm10: flood}.readings(t, dayWith, "n-north"))

	closes, err := release.WeekCloses("2025-W12", grace)
	require.NoError(t, err)
	e.clock.Set(closes)
	require.Equal(t, 4, e.runDue(), "two days, two weeks")
	without := cellOf(t, e.released(dayWithout), "n-north")
	with := cellOf(t, e.released(dayWith), "n-north")
	require.Equal(t, 11, without.Contributors)
	require.Equal(t, 12, with.Contributors, "the outlier is counted once, not 10,000 times")
	require.NotNil(t, without.PM25)
	require.NotNil(t, with.PM25)
	n := float64(with.Contributors)
	// Each published mean is rounded to 0.1, so two releases may differ by 0.1 more.
	assert.LessOrEqual(t, math.Abs(*with.PM25-*without.PM25), (100-0)/n+0.1)
	// And the outlier is clamped, not dropped: the cell is exactly what the clamp predicts.
	assertPM25(t, append(slices.Clone(honest25), flood), with, "with.PM25")
	assert.Greater(t, *with.PM25, *without.PM25)

	weekWithout, weekWith := weekCell(t, e.week("2025-W11"), "n-north"), weekCell(t, e.week("2025-W12"), "n-north")
	require.NotNil(t, weekWithout.PM10)
	require.NotNil(t, weekWith.PM10)
	assert.LessOrEqual(t, math.Abs(*weekWith.PM10-*weekWithout.PM10), (200-0)/n+0.1)
	assertStat(t, append(slices.Clone(honest10), flood), [2]float64{0, 200}, weekWith.ClampPM10, weekWith.PM10, "week pm10")
}

// Each resident counts in one neighbourhood per day: the one holding most of their readings
// (ties: the smallest id), with only the readings taken there.
func TestEachResidentCountsInOneNeighbourhoodPerDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	var north, south, east [][]float64
	for i := 0; i < k; i++ {
		v := float64(10 + i)
		e.resident(gridDay, "n-north", v)
		north = append(north, []float64{v})
		e.resident(gridDay, "n-south", 2*v)
		south = append(south, []float64{2 * v})
	}
	for i := 0; i < k-1; i++ {
		e.resident(gridDay, "n-east", 30)
		east = append(east, []float64{30})
		e.resident(gridDay, "n-west", 40)
	}
	start := mustDay(t, gridDay)
	at := func(h int, cell string, v float64) reading.Reading {
		return reading.Reading{Sensor: "s1", Cell: cell, RecordedAt: start.Add(time.Duration(h) * time.Hour),
			Values: reading.Values{PM2_5: reading.F(v)}}
	}
	// A resident who moved about: three readings in the north, two in the south, uploaded in
	// two contributions.
	mover := e.register(true)
	e.contribute(mover, gridDay, []reading.Reading{at(1, "n-north", 50), at(2, "n-south", 90), at(3, "n-south", 90)})
	e.contribute(mover, gridDay, []reading.Reading{at(4, "n-north", 50), at(5, "n-north", 50)})
	// A tie between east and west goes to the smaller id, n-east.
	tied := e.register(true)
	e.contribute(tied, gridDay, []reading.Reading{at(1, "n-west", 40), at(2, "n-east", 60), at(3, "n-west", 40), at(4, "n-east", 60)})

	d := e.releaseDay(gridDay)

	n := cellOf(t, d, "n-north")
	assert.Equal(t, k+1, n.Contributors)
	require.NotNil(t, n.PM25)
	assertPM25(t, append(north, []float64{50, 50, 50}), n, "n.PM25")

	s := cellOf(t, d, "n-south")
	assert.Equal(t, k, s.Contributors, "the mover is not counted in the south too")
	require.NotNil(t, s.PM25)
	assertPM25(t, south, s, "the mover's south readings are not used")

	ea := cellOf(t, d, "n-east")
	assert.False(t, ea.Suppressed, "the tied resident makes n-east reach k")
	assert.Equal(t, k, ea.Contributors)
	require.NotNil(t, ea.PM25)
	assertPM25(t, append(east, []float64{60, 60}), ea, "ea.PM25")
	assert.True(t, cellOf(t, d, "n-west").Suppressed)

	assert.Equal(t, (k+1)+k+k+k-1, d.Contributors, "every resident counted once in the city total")
}

// k counts distinct residents, not uploads: nine residents uploading twice stay suppressed,
// and a resident's uploads of one day are reduced together.
func TestRepeatedUploadsCountOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	day2 := nextDay(t, gridDay, 1)
	var perResident [][]float64
	for i := 0; i < k-1; i++ {
		w := e.register(true)
		first, second := []float64{float64(10 + i)}, []float64{40, 40, 40}
		e.contribute(w, gridDay, readings(t, gridDay, "n-north", first...))
		e.contribute(w, gridDay, readings(t, gridDay, "n-north", second...))
		e.contribute(w, day2, readings(t, day2, "n-north", first...))
		e.contribute(w, day2, readings(t, day2, "n-north", second...))
		perResident = append(perResident, append(slices.Clone(first), second...))
	}
	tenth := e.register(true)
	e.contribute(tenth, day2, readings(t, day2, "n-north", 20))
	perResident = append(perResident, []float64{20})

	e.closeDay(day2)
	require.Equal(t, 2, e.runDue())
	assert.Equal(t, release.Cell{Neighbourhood: "n-north", Suppressed: true}, cellOf(t, e.released(gridDay), "n-north"))
	assert.Zero(t, e.released(gridDay).Contributors)

	c := cellOf(t, e.released(day2), "n-north")
	assert.Equal(t, k, c.Contributors)
	require.NotNil(t, c.PM25)
	// The mean of each resident's own mean over all of their readings of the day.
	assertPM25(t, perResident, c, "c.PM25")
}

// A resident who withdrew before the epoch closed, or never consented, or consented to an
// older version of the purpose, is not counted.
func TestOnlyActiveConsentIsCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.residents(k, gridDay, "n-north", 10)
	withdrawn := e.resident(gridDay, "n-north", 90)
	e.revoke(withdrawn)
	// Never consented, yet a share copy of theirs is in the store (written behind the server's
	// back: the engine must check for itself).
	never := e.register(false)
	e.contribute(never, gridDay, readings(t, gridDay, "n-north", 90))

	c := cellOf(t, e.releaseDay(gridDay), "n-north")
	assert.Equal(t, k, c.Contributors)
	require.NotNil(t, c.PM25)
	assert.Equal(t, 10.0, *c.PM25)
}

func TestNewPurposeVersionNeedsNewConsent(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	old := e.residents(k, gridDay, "n-north", 10)
	v2 := e.purpose
	v2.Version = 2
	e.definePurpose(v2)
	e.purpose = v2
	for _, w := range old {
		assert.False(t, e.st.ActiveConsent(w.CitizenID(), purposeID))
	}
	d := e.releaseDay(gridDay)
	assert.Equal(t, 2, d.PurposeVersion)
	assert.True(t, cellOf(t, d, "n-north").Suppressed, "consent to version 1 does not cover version 2")

	day2 := nextDay(t, gridDay, 1)
	for _, w := range old {
		e.grant(w)
		e.contribute(w, day2, readings(t, day2, "n-north", 10))
	}
	assert.Equal(t, k, cellOf(t, e.releaseDay(day2), "n-north").Contributors)
}

// An envelope of a day only contributes that day's readings, on the grid.
func TestReadingsOfAnotherDayOrOffTheGridAreIgnored(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	start := mustDay(t, gridDay)
	for i := 0; i < k; i++ {
		rs := readings(t, gridDay, "n-north", 20, 20)
		rs = append(rs,
			reading.Reading{Sensor: "s1", Cell: "n-north", RecordedAt: start.Add(-time.Second), Values: reading.Values{PM2_5: reading.F(99)}},
			reading.Reading{Sensor: "s1", Cell: "n-north", RecordedAt: start.AddDate(0, 0, 1), Values: reading.Values{PM2_5: reading.F(0)}},
			reading.Reading{Sensor: "s1", Cell: "n-north", RecordedAt: start.AddDate(0, 0, 1).Add(30 * time.Minute), Values: reading.Values{PM2_5: reading.F(0)}},
		)
		w := e.register(true)
		e.contribute(w, gridDay, rs)
	}
	// Only readings of other days: not a contributor of this day at all.
	other := e.register(true)
	e.contribute(other, gridDay, readings(t, nextDay(t, gridDay, -1), "n-north", 70, 70))
	// Only readings outside the grid: not a contributor either.
	offGrid := e.register(true)
	e.contribute(offGrid, gridDay, readings(t, gridDay, "n-nowhere", 70, 70))
	// Mostly outside the grid: attributed to the grid cell they were seen in, with only the
	// reading taken there, which makes the south reach k.
	for i := 0; i < k-1; i++ {
		e.resident(gridDay, "n-south", 30)
	}
	mostlyOff := e.register(true)
	e.contribute(mostlyOff, gridDay, append(readings(t, gridDay, "n-nowhere", 70, 70, 70), readings(t, gridDay, "n-south", 30)...))

	d := e.releaseDay(gridDay)
	c := cellOf(t, d, "n-north")
	assert.Equal(t, k, c.Contributors)
	require.NotNil(t, c.PM25)
	assert.Equal(t, 20.0, *c.PM25)
	south := cellOf(t, d, "n-south")
	assert.Equal(t, k, south.Contributors)
	require.NotNil(t, south.PM25)
	assert.Equal(t, 30.0, *south.PM25, "the off-grid readings are not averaged in")
	assert.Equal(t, 2*k, d.Contributors)
	for _, cl := range d.Cells {
		assert.NotEqual(t, "n-nowhere", cl.Neighbourhood)
	}
}

// An envelope the engine cannot open or parse is counted as unreadable, never fatal.
func TestUnreadableEnvelopesAreCountedNotFatal(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.residents(k, gridDay, "n-north", 20)
	stranger, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	toStranger := e.register(true)
	require.NoError(t, e.put(toStranger, gridDay, e.seal(readings(t, gridDay, "n-north", 99), stranger.Recipient())))
	garbage := e.register(true)
	require.NoError(t, e.put(garbage, gridDay, []byte("age-encryption.org/v1\n-> X25519 not really\n")))
	wrongVersion := e.register(true)
	ct, err := crypto.Seal([]byte(`{"v":99,"readings":[{"sensor":"s","recorded_at":"2025-03-10T01:00:00Z","cell":"n-north","values":{"pm2_5":99}}]}`), e.id.Recipient())
	require.NoError(t, err)
	require.NoError(t, e.put(wrongVersion, gridDay, ct))
	notJSON := e.register(true)
	ct, err = crypto.Seal([]byte("pm2_5=99"), e.id.Recipient())
	require.NoError(t, err)
	require.NoError(t, e.put(notJSON, gridDay, ct))

	c := cellOf(t, e.releaseDay(gridDay), "n-north")
	assert.Equal(t, k, c.Contributors)
	require.NotNil(t, c.PM25)
	assert.Equal(t, 20.0, *c.PM25)

	rec := publishedRecord(t, e)
	assert.EqualValues(t, 4, rec["unreadable"])
	assert.EqualValues(t, k, rec["counted"])
	assert.EqualValues(t, k+4, rec["envelopes"])
}

// Differencing, control arm (PRIVACY.md), through the whole engine: with exact means and the
// k threshold alone, an attacker who knows every other resident's values recovers a joining
// victim's value from two releases (values within the clamps' windows, so that only rounding
// stands in the way). The noisy arm is TestDifferencingAttackFailsWithNoise.
func TestDifferencingSucceedsWithoutNoise_ControlArm(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	rng := rand.New(rand.NewPCG(2024, 10))
	others := make([]*crypto.Wallet, k)
	for i := range others {
		others[i] = e.register(true)
	}
	const trials = 12
	type trial struct {
		before, after string
		victim        float64
	}
	var ts []trial
	for i := 0; i < trials; i++ {
		before, after := nextDay(t, gridDay, 2*i), nextDay(t, gridDay, 2*i+1)
		// Trial 0 is exact by construction: the others average 20.0, the victim is 31, so the
		// mean of 11 is 21.0 and nothing is lost to rounding.
		victim := 31.0
		vals := []float64{11, 13, 15, 17, 19, 21, 23, 25, 27, 29}
		if i > 0 {
			victim = 15 + math.Round(rng.Float64()*150)/10
			for j := range vals {
				vals[j] = 15 + math.Round(rng.Float64()*150)/10
			}
		}
		for j, w := range others {
			// The attacker knows these values; they are the same on both days.
			e.contribute(w, before, readings(t, before, "n-north", vals[j]))
			e.contribute(w, after, readings(t, after, "n-north", vals[j]))
		}
		v := e.register(true)
		e.contribute(v, after, readings(t, after, "n-north", victim))
		ts = append(ts, trial{before, after, victim})
	}
	e.closeDay(ts[len(ts)-1].after)
	require.Equal(t, 2*trials+3, e.runDue(), "24 days from Monday 10 March, and the three weeks closed by then")

	successes := 0
	for i, tr := range ts {
		b := cellOf(t, e.released(tr.before), "n-north")
		a := cellOf(t, e.released(tr.after), "n-north")
		require.NotNil(t, b.PM25)
		require.NotNil(t, a.PM25)
		// The attack: the after-sum minus the before-sum is the victim's value.
		estimate := float64(a.Contributors)*(*a.PM25) - float64(b.Contributors)*(*b.PM25)
		// Rounding to 0.1 is the only protection: at most 0.05 per published mean.
		bound := 0.05*float64(a.Contributors+b.Contributors) + 1e-9
		assert.LessOrEqual(t, math.Abs(estimate-tr.victim), bound, "trial %d", i)
		if i == 0 {
			assert.InDelta(t, tr.victim, estimate, 1e-9, "the exact trial recovers the victim exactly")
		}
		if math.Abs(estimate-tr.victim) <= 5 {
			successes++
		}
	}
	// The harness works: the attack succeeds far above the 10 % the noisy arm must stay under.
	assert.Equal(t, trials, successes)
	assert.Greater(t, float64(successes)/trials, 0.10)
}

// A ledger that refuses the release's append (closed) fails RunDue and stores nothing: a
// release is never stored without being logged.
func TestReleaseIsNotStoredWhenTheLedgerRefuses(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.residents(k, gridDay, "n-north", 20)
	e.closeDay(gridDay)
	require.NoError(t, e.log.Close())
	n, err := e.engine.RunDue(context.Background())
	assert.Zero(t, n)
	assert.ErrorIs(t, err, ledger.ErrClosed)
	_, err = e.store.Release(purposeID, gridDay)
	assert.ErrorIs(t, err, store.ErrNotFound)
	epochs, err := e.store.Epochs(purposeID)
	require.NoError(t, err)
	assert.Empty(t, epochs)
}
