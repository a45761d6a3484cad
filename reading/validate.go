package reading

import (
	"math"
	"strconv"
	"time"
	"unicode"
	"unicode/utf8"
)

// FutureSkew is how far past Options.Now a reading may be recorded, for clocks running ahead.
const FutureSkew = 10 * time.Minute

// MaxLabel is the longest sensor label or cell id, in bytes.
const MaxLabel = 64

// earliest is the earliest accepted recorded_at; it keeps timestamps encodable.
var earliest = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)

// Options tune the checks applied to every reading.
type Options struct {
	// Now is the current time; the zero value means time.Now().
	Now time.Time
	// MaxAge rejects readings recorded longer than MaxAge before Now; 0 means no limit.
	MaxAge time.Duration
}

func (o Options) now() time.Time {
	if o.Now.IsZero() {
		return time.Now()
	}
	return o.Now
}

// RowError explains why one row of input was rejected. Reason is a short, stable text such as
// "pm2_5: not a number", "recorded_at: in the future" or "location: outside every
// neighbourhood". It never contains the rejected value or a coordinate, so it is safe to log.
type RowError struct {
	// Line is the 1-based line of the row in CSV input, the 1-based position of the reading in
	// JSON input, and 0 for a reading checked on its own by Validate.
	Line   int
	Reason string
}

// Error returns the reason, prefixed by the line when known.
func (e RowError) Error() string {
	if e.Line <= 0 {
		return "reading: " + e.Reason
	}
	return "reading: line " + strconv.Itoa(e.Line) + ": " + e.Reason
}

// Problems with a value; a reason is "<name>: <problem>".
const (
	notANumber = "not a number"
	notFinite  = "not finite"
	outOfRange = "out of range"
)

// quantity is one field of Values: its JSON name and its physically plausible range.
type quantity struct {
	name     string
	min, max float64
}

func (q quantity) reason(problem string) string { return q.name + ": " + problem }

// Indexes into quantities and into the array returned by Values.slots.
const (
	qPM10 = iota
	qPM2_5
	qTemperature
	qHumidity
	qPressure
	qNoiseLAeq
	numQuantities
)

var quantities = [numQuantities]quantity{
	qPM10:        {"pm10", 0, 1000},
	qPM2_5:       {"pm2_5", 0, 1000},
	qTemperature: {"temperature", -60, 70},
	qHumidity:    {"humidity", 0, 100},
	qPressure:    {"pressure", 300, 1200},
	qNoiseLAeq:   {"noise_laeq", 0, 200},
}

// slots returns pointers to the fields of v, indexed like quantities.
func (v *Values) slots() [numQuantities]**float64 {
	return [numQuantities]**float64{
		qPM10:        &v.PM10,
		qPM2_5:       &v.PM2_5,
		qTemperature: &v.Temperature,
		qHumidity:    &v.Humidity,
		qPressure:    &v.Pressure,
		qNoiseLAeq:   &v.NoiseLAeq,
	}
}

// Validate checks that r is complete and plausible: a sensor label and a cell of at most
// MaxLabel printable bytes, a sensor type that is empty or known, a recorded_at that is set, not before 1970, not more than
// FutureSkew after opt.Now and not older than opt.MaxAge, and at least one value, each finite
// and within its physical range. A failure is a *RowError with Line 0.
func Validate(r Reading, opt Options) error {
	if reason := check(&r, opt.now(), opt.MaxAge); reason != "" {
		return &RowError{Reason: reason}
	}
	return nil
}

// check returns why r is invalid, or "" if it is valid.
func check(r *Reading, now time.Time, maxAge time.Duration) string {
	if reason := checkLabel("sensor", r.Sensor); reason != "" {
		return reason
	}
	if reason := checkLabel("cell", r.Cell); reason != "" {
		return reason
	}
	if !knownSensorType(r.SensorType) {
		return "sensor_type: unknown"
	}
	switch t := r.RecordedAt; {
	case t.IsZero():
		return "recorded_at: missing"
	case t.Before(earliest):
		return "recorded_at: before 1970"
	case t.After(now.Add(FutureSkew)):
		return "recorded_at: in the future"
	case maxAge > 0 && t.Before(now.Add(-maxAge)):
		return "recorded_at: too old"
	}
	present := false
	for i, p := range r.Values.slots() {
		if *p == nil {
			continue
		}
		present = true
		v, q := **p, quantities[i]
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return q.reason(notFinite)
		}
		if v < q.min || v > q.max {
			return q.reason(outOfRange)
		}
	}
	if !present {
		return "values: none"
	}
	return ""
}

func checkLabel(name, s string) string {
	switch {
	case s == "":
		return name + ": missing"
	case len(s) > MaxLabel:
		return name + ": too long"
	case !utf8.ValidString(s):
		return name + ": invalid characters"
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return name + ": invalid characters"
		}
	}
	return ""
}
