package release

import (
	"math"
	"slices"
	"time"

	"github.com/commons-city/commons/reading"
)

// Readings worth averaging: low-cost optical sensors count the water that particles take up in
// humid air as particle mass, and a sensor can freeze on one value. Before a resident's
// readings are reduced, clean drops what cannot be corrected and corrects what can.
const (
	// maxHumidity is the relative humidity (%) above which a reading is dropped: in fog and
	// near saturation no correction holds.
	maxHumidity = 95
	// stuckFor is how long a sensor may report one particle value before its day is dropped.
	stuckFor = 6 * time.Hour
	// sds011Kappa is the bulk hygroscopicity κ of the κ-Köhler correction for the SDS011, and
	// sds011Density the dry particles' density relative to water it is divided by (Crilley
	// et al. 2018, AMT 11:709; Di Antonio et al. 2018, Sensors 18:2790).
	sds011Kappa, sds011Density = 0.4, 1.65
)

// clean returns a resident's readings fit to average: a sensor whose PM2.5 (else PM10) stays
// on one value for stuckFor or longer in a UTC day is left out for that day; readings above
// maxHumidity are dropped; and the particle values of a known sensor type that carries its
// relative humidity are corrected for it.
func clean(rs []reading.Reading) []reading.Reading {
	type sensorDay struct{ sensor, day string }
	stuck := map[sensorDay]bool{}
	bySensorDay := map[sensorDay][]reading.Reading{}
	for _, r := range rs {
		k := sensorDay{r.Sensor, reading.Day(r.RecordedAt)}
		bySensorDay[k] = append(bySensorDay[k], r)
	}
	for k, day := range bySensorDay {
		stuck[k] = isStuck(day)
	}
	out := make([]reading.Reading, 0, len(rs))
	for _, r := range rs {
		if stuck[sensorDay{r.Sensor, reading.Day(r.RecordedAt)}] {
			continue
		}
		if h := r.Values.Humidity; h != nil && *h > maxHumidity {
			continue
		}
		out = append(out, corrected(r))
	}
	return out
}

// particle returns a reading's PM2.5, else its PM10.
func particle(r reading.Reading) *float64 {
	if r.Values.PM2_5 != nil {
		return r.Values.PM2_5
	}
	return r.Values.PM10
}

// isStuck reports whether one sensor's readings of a day hold a particle value unchanged over
// stuckFor or longer: consecutive readings, in time order, with the same value.
func isStuck(day []reading.Reading) bool {
	day = slices.Clone(day)
	slices.SortFunc(day, func(a, b reading.Reading) int { return a.RecordedAt.Compare(b.RecordedAt) })
	var from time.Time
	var value *float64
	for _, r := range day {
		v := particle(r)
		if v == nil {
			continue
		}
		if value == nil || *v != *value {
			from, value = r.RecordedAt, v
			continue
		}
		if r.RecordedAt.Sub(from) >= stuckFor {
			return true
		}
	}
	return false
}

// corrected returns a reading with its particle values corrected for humidity, when its
// sensor type is known and it carries its relative humidity:
//   - SDS011: divided by the κ-Köhler mass growth factor 1 + (κ/ρ)·a/(1 − a), a = RH/100;
//   - Plantower: PM2.5 by the US EPA's correction for PurpleAir sensors (Barkjohn et al.
//     2021, AMT 14:4617): 0.524·PM2.5 − 0.0862·RH + 5.75, never below 0; PM10 is left as it is.
//
// Values are never changed in place: the readings' values are shared with the caller.
func corrected(r reading.Reading) reading.Reading {
	h := r.Values.Humidity
	if h == nil {
		return r
	}
	switch r.SensorType {
	case reading.SensorSDS011:
		a := *h / 100
		growth := 1 + sds011Kappa/sds011Density*a/(1-a)
		r.Values.PM2_5, r.Values.PM10 = scaled(r.Values.PM2_5, 1/growth), scaled(r.Values.PM10, 1/growth)
	case reading.SensorPlantower:
		if v := r.Values.PM2_5; v != nil {
			r.Values.PM2_5 = reading.F(math.Max(0, 0.524**v-0.0862**h+5.75))
		}
	}
	return r
}

func scaled(v *float64, f float64) *float64 {
	if v == nil {
		return nil
	}
	return reading.F(*v * f)
}
