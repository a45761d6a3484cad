package reading

import (
	"bytes"
	"errors"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
)

func TestParseJSONTestdata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file    string
		sensors []string
	}{
		{"readings.json", []string{"balcony", "street-mic"}},
		{"batch.json", []string{"SDS011-12345"}},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rs, rejected, err := ParseJSON(bytes.NewReader(readTestdata(t, tt.file)), testOpt)
			if err != nil || len(rejected) != 0 {
				t.Fatalf("ParseJSON: %v, rejected %v", err, rejected)
			}
			checkParsed(t, rs, rejected, testOpt)
			var sensors []string
			for _, r := range rs {
				sensors = append(sensors, r.Sensor)
			}
			if !slices.Equal(sensors, tt.sensors) {
				t.Errorf("sensors = %v, want %v", sensors, tt.sensors)
			}
		})
	}
}

func TestParseJSONKeepsGoodReadings(t *testing.T) {
	t.Parallel()
	input := `{"readings":[
 {"sensor":"a","recorded_at":"2024-03-01T08:00:00+01:00","cell":"n-mitte","values":{"pm10":16.85},"lat":48.7765,"lon":9.1731},
 {"sensor":"a","recorded_at":"2024-03-01T08:00:00Z","cell":"n-mitte","values":{"pm10":"16.85"}},
 {"sensor":"a","recorded_at":"8 o'clock","cell":"n-mitte","values":{"pm10":16.85}},
 {"sensor":"a","recorded_at":"2024-03-01T08:00:00Z","values":{"pm10":16.85}},
 {"sensor":"a","recorded_at":"2024-03-01T08:00:00Z","cell":"n-mitte","values":{"pm2_5":1e400}},
 {"sensor":17,"recorded_at":"2024-03-01T08:00:00Z","cell":"n-mitte","values":{"pm10":16.85}},
 {"sensor":"a","recorded_at":"2024-03-01T08:00:00Z","cell":"n-mitte","values":[16.85]},
 "16.85",
 {"sensor":"a","cell":"n-mitte","values":{"pm10":16.85}},
 {"sensor":"b","recorded_at":"2024-03-01T09:00:00Z","cell":"n-west","values":{"humidity":71.2}}
]}`
	rs, rejected, err := ParseJSON(strings.NewReader(input), testOpt)
	checkRejected(t, rs, rejected, err, `
2: pm10: not a number
3: recorded_at: not a timestamp
4: cell: missing
5: pm2_5: not a number
6: sensor: wrong type
7: values: wrong type
8: reading: not an object
9: recorded_at: missing`)
	if len(rs) != 2 || rs[0].RecordedAt.Format("15:04Z07:00") != "07:00Z" || rs[1].Sensor != "b" {
		t.Errorf("kept %+v", rs)
	}
	for _, e := range rejected {
		if text := e.Error(); strings.Contains(text, "16.85") || strings.Contains(text, "o'clock") || strings.Contains(text, "1e400") {
			t.Errorf("%q reveals a value", text)
		}
	}
}

func TestParseJSONErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, input, want string
	}{
		{"empty", "", "reading: json: want an array"},
		{"number", "42", "reading: json: want an array"},
		{"object without readings", `{"v":1}`, `reading: json: no "readings" array`},
		{"readings not an array", `{"readings":{}}`, "reading: json: json: cannot unmarshal"},
		{"truncated", `[{"sensor":"a"`, "reading: json: unexpected end"},
		{"trailing data", `[] []`, "reading: json: invalid character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, rejected, err := ParseJSON(strings.NewReader(tt.input), testOpt)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || rs != nil || rejected != nil {
				t.Errorf("ParseJSON = %v, %v, %v; want error %q", rs, rejected, err, tt.want)
			}
		})
	}
	broken := errors.New("disk on fire")
	if _, _, err := ParseJSON(iotest.ErrReader(broken), testOpt); !errors.Is(err, broken) {
		t.Errorf("err = %v, want the read error", err)
	}
}
