package reading

import (
	"errors"
	"math"
	"strings"
	"testing"
	"time"
)

func TestValidate(t *testing.T) {
	t.Parallel()
	good := Reading{
		Sensor:     "balcony",
		RecordedAt: testNow.Add(-time.Hour),
		Cell:       "n-mitte",
		Values:     Values{PM10: F(16.85), PM2_5: F(4.35)},
	}
	tests := []struct {
		name   string
		edit   func(r *Reading)
		opt    Options
		reason string
	}{
		{"good", func(r *Reading) {}, testOpt, ""},
		{"every quantity at its limits", func(r *Reading) {
			r.Values = Values{PM10: F(0), PM2_5: F(1000), Temperature: F(-60), Humidity: F(100), Pressure: F(300), NoiseLAeq: F(200)}
		}, testOpt, ""},
		{"no sensor", func(r *Reading) { r.Sensor = "" }, testOpt, "sensor: missing"},
		{"64-byte sensor", func(r *Reading) { r.Sensor = strings.Repeat("s", 64) }, testOpt, ""},
		{"65-byte sensor", func(r *Reading) { r.Sensor = strings.Repeat("s", 65) }, testOpt, "sensor: too long"},
		{"sensor with a newline", func(r *Reading) { r.Sensor = "a\nb" }, testOpt, "sensor: invalid characters"},
		{"sensor not UTF-8", func(r *Reading) { r.Sensor = "\xff" }, testOpt, "sensor: invalid characters"},
		{"no cell", func(r *Reading) { r.Cell = "" }, testOpt, "cell: missing"},
		{"no time", func(r *Reading) { r.RecordedAt = time.Time{} }, testOpt, "recorded_at: missing"},
		{"before 1970", func(r *Reading) { r.RecordedAt = time.Date(1969, 12, 31, 0, 0, 0, 0, time.UTC) }, testOpt, "recorded_at: before 1970"},
		{"within the clock skew", func(r *Reading) { r.RecordedAt = testNow.Add(FutureSkew) }, testOpt, ""},
		{"future", func(r *Reading) { r.RecordedAt = testNow.Add(FutureSkew + time.Second) }, testOpt, "recorded_at: in the future"},
		{"within MaxAge", func(r *Reading) {}, Options{Now: testNow, MaxAge: 2 * time.Hour}, ""},
		{"older than MaxAge", func(r *Reading) {}, Options{Now: testNow, MaxAge: time.Minute}, "recorded_at: too old"},
		{"no values", func(r *Reading) { r.Values = Values{} }, testOpt, "values: none"},
		{"NaN", func(r *Reading) { r.Values.PM2_5 = F(math.NaN()) }, testOpt, "pm2_5: not finite"},
		{"infinite", func(r *Reading) { r.Values.Humidity = F(math.Inf(1)) }, testOpt, "humidity: not finite"},
		{"negative pm10", func(r *Reading) { r.Values.PM10 = F(-0.1) }, testOpt, "pm10: out of range"},
		{"pm2_5 too high", func(r *Reading) { r.Values.PM2_5 = F(1000.1) }, testOpt, "pm2_5: out of range"},
		{"too cold", func(r *Reading) { r.Values.Temperature = F(-60.5) }, testOpt, "temperature: out of range"},
		{"too hot", func(r *Reading) { r.Values.Temperature = F(70.5) }, testOpt, "temperature: out of range"},
		{"humidity over 100", func(r *Reading) { r.Values.Humidity = F(101) }, testOpt, "humidity: out of range"},
		{"pressure in Pa", func(r *Reading) { r.Values.Pressure = F(98562.66) }, testOpt, "pressure: out of range"},
		{"noise too loud", func(r *Reading) { r.Values.NoiseLAeq = F(201) }, testOpt, "noise_laeq: out of range"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := good
			tt.edit(&r)
			err := Validate(r, tt.opt)
			if tt.reason == "" {
				if err != nil {
					t.Fatalf("Validate = %v, want nil", err)
				}
				return
			}
			var re *RowError
			if !errors.As(err, &re) || re.Reason != tt.reason || re.Line != 0 {
				t.Fatalf("Validate = %#v, want reason %q", err, tt.reason)
			}
			if err.Error() != "reading: "+tt.reason {
				t.Errorf("Error() = %q", err.Error())
			}
		})
	}
}

func TestValidateDefaultsToNow(t *testing.T) {
	t.Parallel()
	r := Reading{Sensor: "s", Cell: "c", RecordedAt: time.Now().Add(time.Hour), Values: Values{PM10: F(1)}}
	if err := Validate(r, Options{}); err == nil {
		t.Error("a reading an hour ahead of the clock passed")
	}
	r.RecordedAt = time.Now()
	if err := Validate(r, Options{}); err != nil {
		t.Errorf("a reading from now failed: %v", err)
	}
}

func TestRowErrorText(t *testing.T) {
	t.Parallel()
	e := &RowError{Line: 7, Reason: "pm2_5: not a number"}
	if got := e.Error(); got != "reading: line 7: pm2_5: not a number" {
		t.Errorf("Error() = %q", got)
	}
}
