package reading

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// A reading may name its particulate sensor's type, which must be one this package knows.
func TestSensorType(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 10, 2, 12, 0, 0, 0, time.UTC)
	rs, rejected, err := ParseJSON(strings.NewReader(`[
{"sensor":"a","sensor_type":"sds011","recorded_at":"2026-10-02T10:00:00Z","cell":"c","values":{"pm2_5":4}},
{"sensor":"b","sensor_type":"pms","recorded_at":"2026-10-02T10:00:00Z","cell":"c","values":{"pm2_5":4}},
{"sensor":"c","recorded_at":"2026-10-02T10:00:00Z","cell":"c","values":{"pm2_5":4}},
{"sensor":"d","sensor_type":"bme280","recorded_at":"2026-10-02T10:00:00Z","cell":"c","values":{"pm2_5":4}},
{"sensor":"e","sensor_type":7,"recorded_at":"2026-10-02T10:00:00Z","cell":"c","values":{"pm2_5":4}}]`), Options{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, r := range rs {
		types = append(types, r.SensorType)
	}
	if want := []string{SensorSDS011, SensorPlantower, ""}; !slices.Equal(types, want) {
		t.Errorf("types %q, want %q", types, want)
	}
	if want := []RowError{{Line: 4, Reason: "sensor_type: unknown"}, {Line: 5, Reason: "sensor_type: wrong type"}}; !slices.Equal(rejected, want) {
		t.Errorf("rejected %+v, want %+v", rejected, want)
	}
	b, err := MarshalBatch(rs[2:])
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "sensor_type") {
		t.Errorf("a reading without a type carries none: %s", b)
	}
}
