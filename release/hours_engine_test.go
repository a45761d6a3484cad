package release_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/release"
)

// withHours defines a new version of the purpose that gives the city × hour release a share
// of the day's ε.
func (e *env) withHours(day, hour float64) {
	e.t.Helper()
	p := e.purpose
	p.Version++
	p.Release.Epsilon, p.Release.HourEpsilon = day, hour
	e.purpose = p
	e.definePurpose(p)
}

// hourly returns the parsed hourly release of day.
func (e *env) hourly(day string) release.AirHours {
	e.t.Helper()
	b, err := e.store.HourlyRelease(purposeID, day)
	require.NoError(e.t, err)
	h, err := release.ParseAirHours(b)
	require.NoError(e.t, err)
	return h
}

// atHour returns one PM2.5 reading per value, all within hour h of day, in cell.
func atHour(t testing.TB, day, cell string, h int, pm25 ...float64) []reading.Reading {
	rs := make([]reading.Reading, len(pm25))
	for i, v := range pm25 {
		rs[i] = reading.Reading{Sensor: "s1", Cell: cell,
			RecordedAt: mustDay(t, day).Add(time.Duration(h)*time.Hour + time.Duration(i)*time.Millisecond),
			Values:     reading.Values{PM2_5: reading.F(v)}}
	}
	return rs
}

// The hourly release is published at the same epoch close as the daily one, from the same
// residents, one clamped value per resident per hour city-wide; hours with fewer than k
// residents are suppressed; it is stored once, logged under its own epoch with its hash, and
// each resident is charged the daily and the hourly ε once.
func TestHourlyReleaseOneValuePerResidentPerHour(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withHours(0.8, 0.2)
	var perResident [][]float64
	for i := 0; i < k+1; i++ {
		w := e.register(true)
		// Two neighbourhoods: the hourly cell is the whole city. Hour 7 has two readings per
		// resident (their mean counts once); hour 8 only k-1 residents.
		vs := []float64{float64(10 + i), float64(30 + i)}
		rs := append(atHour(t, gridDay, cells[i%2], 7, vs...), atHour(t, gridDay, "n-south", 9, 150)...)
		if i < k-1 {
			rs = append(rs, atHour(t, gridDay, "n-north", 8, 12)...)
		}
		e.contribute(w, gridDay, rs)
		perResident = append(perResident, vs)
	}
	e.closeDay(gridDay)
	size := e.log.Size()
	require.Equal(t, 1, e.runDue(), "one day released (its hours with it)")
	assert.Equal(t, size+2, e.log.Size(), "two ledger entries: the hours and the day")

	h := e.hourly(gridDay)
	assert.Equal(t, release.GridCityHour, h.Grid)
	assert.Equal(t, 0.2, h.Epsilon)
	require.Len(t, h.Hours, release.HoursPerDay)
	for i, c := range h.Hours {
		assert.Equal(t, i, c.Hour)
		assert.Equal(t, mustDay(t, gridDay).Add(time.Duration(i)*time.Hour).Format(time.RFC3339), c.Start)
		switch i {
		case 7:
			require.False(t, c.Suppressed)
			assert.Equal(t, k+1, c.Contributors)
			assertCell(t, perResident, 0, 100, c.PM25, "hour 7")
		case 9:
			require.False(t, c.Suppressed)
			require.NotNil(t, c.PM25)
			assert.Equal(t, 100.0, *c.PM25, "each resident's hour mean is clamped")
		default:
			assert.True(t, c.Suppressed, "hour %d has fewer than k residents", i)
			assert.Zero(t, c.Contributors, "a suppressed hour carries no count")
			assert.Nil(t, c.PM25)
		}
	}

	entries := e.releaseEntries()
	require.Len(t, entries, 2)
	hourBody, err := e.store.HourlyRelease(purposeID, gridDay)
	require.NoError(t, err)
	dayBody, err := e.store.Release(purposeID, gridDay)
	require.NoError(t, err)
	assert.Equal(t, release.HourlyEpoch(gridDay), entries[0].Epoch)
	assert.Equal(t, state.Hash(hourBody), entries[0].Hash)
	assert.Equal(t, gridDay, entries[1].Epoch)
	assert.Equal(t, state.Hash(dayBody), entries[1].Hash)
	days, err := e.store.HourlyDays(purposeID)
	require.NoError(t, err)
	assert.Equal(t, []string{gridDay}, days)

	assert.Zero(t, e.runDue(), "published once")
	again, err := e.store.HourlyRelease(purposeID, gridDay)
	require.NoError(t, err)
	assert.Equal(t, hourBody, again)
}

// Bounding for hours: one resident with 10,000 readings of 999 in one hour moves that hour's
// mean by at most the clamp range / n.
func TestHourlyBounding(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withHours(0.8, 0.2)
	for i := 0; i < k; i++ {
		w := e.register(true)
		e.contribute(w, gridDay, atHour(t, gridDay, "n-east", 17, 20))
	}
	big := make([]float64, 10000)
	for i := range big {
		big[i] = 999
	}
	attacker := e.register(true)
	e.contribute(attacker, gridDay, atHour(t, gridDay, "n-east", 17, big...))
	e.closeDay(gridDay)
	require.Equal(t, 1, e.runDue())
	c := e.hourly(gridDay).Hours[17]
	require.NotNil(t, c.PM25)
	assert.LessOrEqual(t, *c.PM25, 20+(100-20)/float64(k+1)+0.05)
}

// A purpose without an hourly share publishes no hourly release, and one whose daily and
// hourly shares exceed MaxEpsilon is refused.
func TestHourlyReleaseNeedsABudgetWithinTheDay(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	for i := 0; i < k; i++ {
		e.resident(gridDay, "n-north", 20)
	}
	e.closeDay(gridDay)
	require.Equal(t, 1, e.runDue())
	days, err := e.store.HourlyDays(purposeID)
	require.NoError(t, err)
	assert.Empty(t, days)

	next := nextDay(t, gridDay, 1)
	e.withHours(0.9, 0.2)
	for i := 0; i < k; i++ {
		e.resident(next, "n-north", 20)
	}
	e.closeDay(next)
	assert.Zero(t, e.runDue())
	assert.Contains(t, e.logs.String(), "above the maximum")
}

// A resident over the weekly budget is left out of both releases of the day, and the engine
// logs how many were left out — never who.
func TestOverBudgetIsLoggedWithoutResidentIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withHours(0.8, 0.2)
	p := e.purpose
	p.Version++
	p.Release.WeekEpsilon = 1.5 // one day (0.8 + 0.2) fits, the second does not
	e.purpose = p
	e.definePurpose(p)
	days := []string{gridDay, nextDay(t, gridDay, 1)}
	var ids []string
	for i := 0; i < k; i++ {
		w := e.register(true)
		ids = append(ids, w.CitizenID())
		for _, d := range days {
			e.contribute(w, d, atHour(t, d, "n-north", 6, 20))
		}
	}
	e.closeDay(days[1])
	require.Equal(t, 2, e.runDue())
	assert.False(t, e.hourly(days[0]).Hours[6].Suppressed)
	assert.True(t, e.hourly(days[1]).Hours[6].Suppressed, "every resident's budget is spent")
	assert.True(t, cellOf(t, e.released(days[1]), "n-north").Suppressed)
	logs := e.logs.String()
	assert.Contains(t, logs, `"msg":"release: residents left out, their weekly ε budget is spent"`)
	assert.Contains(t, logs, `"residents":10`)
	for _, id := range ids {
		assert.False(t, strings.Contains(logs, id), "the log names no resident")
	}
	spent, err := e.store.Spent(ids[0], "2025-W11")
	require.NoError(t, err)
	assert.Equal(t, 1.0, spent, "the day and the hours charged once each")
}
