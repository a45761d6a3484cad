package release

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/reading"
)

// hourly returns one reading per hour of a day from a sensor, with PM2.5 pm(h) and relative
// humidity rh(h).
func hourly(sensor, kind string, day time.Time, pm, rh func(h int) float64) []reading.Reading {
	rs := make([]reading.Reading, 24)
	for h := range rs {
		rs[h] = reading.Reading{Sensor: sensor, SensorType: kind, Cell: "c", RecordedAt: day.Add(time.Duration(h) * time.Hour),
			Values: reading.Values{PM2_5: reading.F(pm(h)), PM10: reading.F(2 * pm(h)), Humidity: reading.F(rh(h))}}
	}
	return rs
}

var day = time.Date(2026, 10, 12, 0, 0, 0, 0, time.UTC)

// An SDS011 in humid air is divided by the κ-Köhler growth factor; a Plantower gets the EPA's
// correction; a sensor of unknown type, or a reading without humidity, is left as it is.
func TestHumidityCorrection(t *testing.T) {
	t.Parallel()
	pm := func(h int) float64 { return 20 + float64(h%3) }
	rh := func(int) float64 { return 80 }
	got := clean(hourly("sds", reading.SensorSDS011, day, pm, rh))
	require.Len(t, got, 24)
	growth := 1 + 0.4/1.65*0.8/0.2 // ≈ 1.97 at 80 %
	assert.InDelta(t, 20/growth, *got[0].Values.PM2_5, 1e-9)
	assert.InDelta(t, 40/growth, *got[0].Values.PM10, 1e-9)
	got = clean(hourly("pms", reading.SensorPlantower, day, pm, rh))
	assert.InDelta(t, 0.524*20-0.0862*80+5.75, *got[0].Values.PM2_5, 1e-9)
	assert.Equal(t, 40.0, *got[0].Values.PM10, "the EPA's correction is for PM2.5 only")
	got = clean(hourly("pms", reading.SensorPlantower, day, func(h int) float64 { return 0.5 + float64(h)/100 }, func(int) float64 { return 94 }))
	assert.Zero(t, *got[0].Values.PM2_5, "never below 0")
	got = clean(hourly("unknown", "", day, pm, rh))
	assert.Equal(t, 20.0, *got[0].Values.PM2_5)
	dry := hourly("sds", reading.SensorSDS011, day, pm, rh)
	for i := range dry {
		dry[i].Values.Humidity = nil
	}
	assert.Equal(t, 20.0, *clean(dry)[0].Values.PM2_5, "no humidity, no correction")
	in := hourly("sds", reading.SensorSDS011, day, pm, rh)
	clean(in)
	assert.Equal(t, 20.0, *in[0].Values.PM2_5, "the caller's readings are not changed")
}

// Readings above 95 % humidity are dropped, the others kept.
func TestFogIsDropped(t *testing.T) {
	t.Parallel()
	got := clean(hourly("s", "", day, func(h int) float64 { return 10 + float64(h) }, func(h int) float64 { return 90 + float64(h%8) }))
	for _, r := range got {
		assert.LessOrEqual(t, *r.Values.Humidity, 95.0)
	}
	assert.Len(t, got, 24-3*2, "96, 97 and 98 % in each 8 hours, three times")
}

// A sensor stuck on one value for six hours or more is left out for that day, not the others;
// five hours of one value is not stuck.
func TestStuckSensorIsLeftOutForTheDay(t *testing.T) {
	t.Parallel()
	stuck := func(from, to int) func(int) float64 {
		return func(h int) float64 {
			if h >= from && h <= to {
				return 42
			}
			return 10 + float64(h)
		}
	}
	rh := func(int) float64 { return 50 }
	rs := append(hourly("a", "", day, stuck(3, 9), rh), hourly("b", "", day, stuck(3, 8), rh)...)
	rs = append(rs, hourly("a", "", day.AddDate(0, 0, 1), stuck(-1, -1), rh)...)
	got := clean(rs)
	perSensorDay := map[string]int{}
	for _, r := range got {
		perSensorDay[r.Sensor+" "+reading.Day(r.RecordedAt)]++
	}
	assert.Equal(t, map[string]int{"b 2026-10-12": 24, "a 2026-10-13": 24}, perSensorDay,
		"a held 42 from 03:00 to 09:00, six hours: its day is out; b held it five hours")
	assert.False(t, math.IsNaN(*got[0].Values.PM2_5))
}
