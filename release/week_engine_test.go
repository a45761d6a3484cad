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

// withHours defines a new version of the purpose whose policy asks for the hour-of-day
// profile (hour_epsilon), with ε = day + hour per day in all.
func (e *env) withHours(day, hour float64) {
	e.t.Helper()
	p := e.purpose
	p.Version++
	p.Release.Epsilon, p.Release.HourEpsilon = day, hour
	e.purpose = p
	e.definePurpose(p)
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

// The weekly release is published once its Sunday closes, after that Sunday's daily release,
// from every consenting resident's share copies of the week: each resident counted once, with
// their mean of the week, and once per hour of the day. It is stored once, logged under the
// ISO week with its hash, and each resident is charged the daily and the weekly ρ.
func TestWeeklyReleaseOncePerWeek(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.withHours(0.8, 0.2)
	week := "2025-W11"
	days, err := release.WeekDays(week)
	require.NoError(t, err)
	var means [][]float64
	var ids []string
	for i := 0; i < k+1; i++ {
		w := e.register(true)
		ids = append(ids, w.CitizenID())
		// Three days of the week, two neighbourhoods (the resident counts where most of
		// their readings are), hour 7 every day and hour 9 once.
		var all []float64
		for j, d := range []string{days[0], days[3], days[6]} {
			vs := []float64{float64(10 + i + j), float64(20 + i)}
			rs := atHour(t, d, "n-north", 7, vs...)
			if j == 0 {
				rs = append(rs, atHour(t, d, "n-south", 9, 30)...)
			}
			e.contribute(w, d, rs)
			all = append(all, vs...)
		}
		means = append(means, all)
	}
	closes, err := release.WeekCloses(week, grace)
	require.NoError(t, err)
	e.clock.Set(closes.Add(-time.Nanosecond))
	require.Equal(t, 2, e.runDue(), "Monday and Thursday; not yet Sunday nor the week")
	_, err = e.store.Release(release.WeekPurpose(purposeID), week)
	require.Error(t, err)

	e.clock.Set(closes)
	size := e.log.Size()
	require.Equal(t, 2, e.runDue(), "Sunday, then the week")
	assert.Equal(t, size+2, e.log.Size())
	entries := e.releaseEntries()
	require.Len(t, entries, 4)
	assert.Equal(t, days[6], entries[2].Epoch)
	assert.Equal(t, week, entries[3].Epoch)
	body, err := e.store.Release(release.WeekPurpose(purposeID), week)
	require.NoError(t, err)
	assert.Equal(t, state.Hash(body), entries[3].Hash)
	assert.Equal(t, purposeID, entries[3].Purpose)
	assert.Empty(t, entries[3].Citizen)

	w := e.week(week)
	assert.Equal(t, release.GridNeighbourhoodWeek, w.Grid)
	assert.Equal(t, days[0], w.From)
	assert.Equal(t, k+1, w.Contributors)
	north := weekCell(t, w, "n-north")
	assert.Equal(t, k+1, north.Contributors, "each resident once, in the week")
	assertPM25(t, means, north, "north, the mean of each resident's week")
	assert.True(t, weekCell(t, w, "n-south").Suppressed, "their south readings are not theirs to count there")
	require.Len(t, w.Hours, release.HoursPerDay)
	for _, h := range w.Hours {
		switch h.Hour {
		case 7:
			assert.Equal(t, k+1, h.Contributors, "one value per resident for the hour over the week")
			require.NotNil(t, h.PM25)
		case 9:
			require.NotNil(t, h.PM25)
			assert.Equal(t, 30.0, *h.PM25)
		default:
			assert.Equal(t, release.HourOfDay{Hour: h.Hour, Suppressed: true}, h)
		}
	}
	plan := release.NewPlan(1, true)
	spent, err := e.store.Spent(ids[0], "rho/"+week)
	require.NoError(t, err)
	assert.InDelta(t, 3*plan.Daily+plan.Weekly, spent, 1e-12, "three days and the week")
	assert.InDelta(t, plan.Weekly, w.Rho, 1e-12)
	assert.InDelta(t, 1, w.Guarantee.EpsilonDay, 1e-6)

	assert.Zero(t, e.runDue(), "published once")
	again, err := e.store.Release(release.WeekPurpose(purposeID), week)
	require.NoError(t, err)
	assert.Equal(t, body, again)
	for _, id := range ids {
		assert.NotContains(t, string(body), id)
	}
}

// The next week's releases are centred on this week's published figures: a day of the next
// week clamps each cell around the city's mean scaled by the cell's published ratio, with the
// narrow window. The order of releases makes that the same whenever the engine runs: here
// one run publishes both weeks.
func TestNextWeekIsCentredOnThePublishedWeek(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	first, next := gridDay, nextDay(t, gridDay, 7)
	for i := 0; i < 2*k; i++ {
		w := e.register(true)
		cell, v := "n-north", 12.0
		if i%2 == 1 {
			cell, v = "n-south", 36
		}
		e.contribute(w, first, readings(t, first, cell, v))
		e.contribute(w, next, readings(t, next, cell, v))
	}
	e.closeDay(next)
	require.Equal(t, 3, e.runDue(), "the first Monday, its week, the next Monday")
	cold := e.released(first)
	warm := e.released(next)
	require.NotNil(t, cold.City.PM25)
	assert.Equal(t, 24.0, *cold.City.PM25)
	assert.Equal(t, [2]float64{0, 49}, *cellOf(t, cold, "n-south").ClampPM25, "no previous week: the city mean ± 25")
	assert.Equal(t, [2]float64{21, 51}, *cellOf(t, warm, "n-south").ClampPM25, "24 × 36/24 ± 15")
	assert.Equal(t, [2]float64{0, 27}, *cellOf(t, warm, "n-north").ClampPM25, "24 × 12/24 ± 15")
	assert.Equal(t, 36.0, *cellOf(t, warm, "n-south").PM25)
}

// A purpose without hour_epsilon publishes no hour-of-day profile.
func TestNoHourProfileWithoutHourEpsilon(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.residents(k, gridDay, "n-north", 20)
	closes, err := release.WeekCloses("2025-W11", grace)
	require.NoError(t, err)
	e.clock.Set(closes)
	require.Equal(t, 2, e.runDue())
	assert.Empty(t, e.week("2025-W11").Hours)
}

// A resident over the weekly budget is left out of the day's release, and the engine logs
// how many were left out — never who.
func TestOverBudgetIsLoggedWithoutResidentIDs(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	p := e.purpose
	p.Version++
	p.Release.WeekEpsilon = release.EpsilonOf(1.5*release.NewPlan(1, false).Daily, release.Delta) // one day fits, the second does not
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
	assert.False(t, cellOf(t, e.released(days[0]), "n-north").Suppressed)
	assert.True(t, cellOf(t, e.released(days[1]), "n-north").Suppressed, "every resident's budget is spent")
	logs := e.logs.String()
	assert.Contains(t, logs, `"msg":"release: residents left out, their weekly budget is spent"`)
	assert.Contains(t, logs, `"residents":10`)
	for _, id := range ids {
		assert.False(t, strings.Contains(logs, id), "the log names no resident")
	}
}

func TestWeekDays(t *testing.T) {
	t.Parallel()
	for week, monday := range map[string]string{"2025-W11": "2025-03-10", "2026-W01": "2025-12-29",
		"2026-W53": "2026-12-28", "2021-W01": "2021-01-04"} {
		days, err := release.WeekDays(week)
		require.NoError(t, err, week)
		assert.Equal(t, monday, days[0], week)
		got, err := release.ISOWeek(days[6])
		require.NoError(t, err)
		assert.Equal(t, week, got)
	}
	for _, bad := range []string{"", "2025-11", "2025-W00", "2025-W54", "2025-W53", "20x5-W10", "2025-w10"} {
		_, err := release.WeekDays(bad)
		assert.Error(t, err, bad)
	}
}
