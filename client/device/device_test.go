package device

import (
	"errors"
	"math"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/reading"
)

func readTestdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	require.NoError(t, err)
	return b
}

// f is reading.F, short for the tables below.
var f = reading.F

// TestParseAirrohrSensorFamilies parses one real-shaped post per sensor family and checks every
// value type lands in the right quantity and unit, and that nothing else is kept.
func TestParseAirrohrSensorFamilies(t *testing.T) {
	t.Parallel()
	cases := []struct {
		file       string
		headers    Headers
		sensor     string
		want       reading.Values
		sensorType string // from the value types' prefix; unknown for the push API and the rarer families
	}{
		{"sds011_bmp280.json", Headers{Sensor: "esp8266-14907210"}, "esp8266-14907210",
			reading.Values{PM10: f(16.85), PM2_5: f(4.35), Pressure: f(1021.845), Temperature: f(9.27)}, reading.SensorSDS011},
		{"pms_bme280.json", Headers{}, "esp8266-3141592",
			reading.Values{PM10: f(7), PM2_5: f(5), Temperature: f(21.38), Pressure: f(987.6543), Humidity: f(47.91)}, reading.SensorPlantower},
		{"hpm_sht3x.json", Headers{Sensor: "esp32-2718281"}, "esp32-2718281",
			reading.Values{PM10: f(12), PM2_5: f(9), Temperature: f(18.44), Humidity: f(63.2)}, ""},
		{"npm_htu21d.json", Headers{}, "esp8266-1618033",
			reading.Values{PM10: f(11.3), PM2_5: f(6.7), Temperature: f(16.02), Humidity: f(71.55)}, ""},
		{"sps30_scd30.json", Headers{}, "esp8266-1414213",
			reading.Values{PM10: f(3.14), PM2_5: f(3.08), Temperature: f(22.1), Humidity: f(44)}, ""},
		{"bmp180_dnms.json", Headers{}, "esp8266-1732050",
			reading.Values{Pressure: f(1003.25), Temperature: f(12.5), NoiseLAeq: f(54.3)}, ""},
		{"dht22_sds011.json", Headers{}, "esp8266-2236067",
			reading.Values{PM10: f(22.4), PM2_5: f(14.1), Temperature: f(7.8), Humidity: f(88.9)}, reading.SensorSDS011},
		{"ds18b20_gps.json", Headers{}, "esp8266-2645751",
			reading.Values{PM10: f(9.6), PM2_5: f(6.2), Temperature: f(3.25)}, reading.SensorSDS011},
		{"push_sds011.json", Headers{Sensor: "raspi-5551234"}, "raspi-5551234",
			reading.Values{PM10: f(16.85), PM2_5: f(4.35)}, ""},
		{"push_bme280.json", Headers{Sensor: " esp8266-14907210 "}, "esp8266-14907210",
			reading.Values{Temperature: f(9.27), Pressure: f(1021.845), Humidity: f(70.1)}, ""},
	}
	for _, c := range cases {
		t.Run(c.file, func(t *testing.T) {
			p, err := ParseAirrohr(readTestdata(t, c.file), c.headers)
			require.NoError(t, err)
			assert.Equal(t, c.sensor, p.Reading.Sensor)
			assert.Equal(t, c.sensorType, p.Reading.SensorType)
			assertValues(t, c.want, p.Reading.Values)
			require.NoError(t, reading.Validate(reading.Reading{Sensor: p.Reading.Sensor, SensorType: p.Reading.SensorType,
				Cell: "c", RecordedAt: time.Now(), Values: p.Reading.Values}, reading.Options{}), "a parsed reading is valid")
			assert.Zero(t, p.Unknown, "every type of a real post is known")
			assert.Zero(t, p.Dropped)
			assert.Empty(t, p.Reading.Cell, "the cell is the gateway's to set")
			assert.True(t, p.Reading.RecordedAt.IsZero(), "the time is the gateway's to set")
		})
	}
}

// assertValues compares values to 1e-9: pressure is divided by 100.
func assertValues(t *testing.T, want, got reading.Values) {
	t.Helper()
	pairs := []struct {
		name string
		w, g *float64
	}{
		{"pm10", want.PM10, got.PM10}, {"pm2_5", want.PM2_5, got.PM2_5},
		{"temperature", want.Temperature, got.Temperature}, {"humidity", want.Humidity, got.Humidity},
		{"pressure", want.Pressure, got.Pressure}, {"noise_laeq", want.NoiseLAeq, got.NoiseLAeq},
	}
	for _, p := range pairs {
		if p.w == nil {
			assert.Nil(t, p.g, "%s must be absent", p.name)
			continue
		}
		if assert.NotNil(t, p.g, "%s must be present", p.name) {
			assert.InDelta(t, *p.w, *p.g, 1e-9, p.name)
		}
	}
}

// TestParseAirrohrDropsAndCounts checks the counters and the rules for bad, unknown and
// duplicate values.
func TestParseAirrohrDropsAndCounts(t *testing.T) {
	t.Parallel()
	body := `{"esp8266id": 777, "sensordatavalues":[
		{"value_type":"SDS_P1","value":"nan"},
		{"value_type":"SDS_P2","value":"4.5"},
		{"value_type":"PMS_P2","value":"9.9"},
		{"value_type":"BME280_temperature","value":"inf"},
		{"value_type":"BME280_humidity","value":"1e400"},
		{"value_type":"SHT3X_temperature","value":" 12.5 "},
		{"value_type":"BME280_pressure","value":101325},
		{"value_type":"humidity","value":true},
		{"value_type":"noise_LAeq","value":null},
		{"value_type":"SPS30_N05","value":"x"},
		{"value_type":"GPS_lat","value":"48.1"},
		{"value_type":"radiation_cpm","value":"12"},
		{"value_type":"sds_p1","value":"3"}]}`
	p, err := ParseAirrohr([]byte(body), Headers{})
	require.NoError(t, err)
	assert.Equal(t, "esp8266-777", p.Reading.Sensor, "a numeric esp8266id is accepted")
	assertValues(t, reading.Values{PM2_5: f(4.5), Temperature: f(12.5), Pressure: f(1013.25)}, p.Reading.Values)
	// nan, the second PM2.5, inf, 1e400, true and null are dropped; the ignored types are not
	// counted; radiation_cpm and the lower-case sds_p1 are unknown.
	assert.Equal(t, 6, p.Dropped)
	assert.Equal(t, 2, p.Unknown)
}

func TestParseAirrohrErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, body string
		headers    Headers
		want       error
		unknown    int
		dropped    int
	}{
		{"not json", `SDS_P1=16.85&SDS_P2=4.35`, Headers{Sensor: "s"}, ErrMalformed, 0, 0},
		{"truncated", `{"esp8266id": "1", "sensordatavalues":[{"value_type":"SDS_P1","value":"16`, Headers{}, ErrMalformed, 0, 0},
		{"no values array", `{"esp8266id": "1"}`, Headers{}, ErrMalformed, 0, 0},
		{"values not an array", `{"esp8266id": "1", "sensordatavalues": {"SDS_P1": "1"}}`, Headers{}, ErrMalformed, 0, 0},
		{"a json array", `[{"value_type":"SDS_P1","value":"1"}]`, Headers{}, ErrMalformed, 0, 0},
		{"trailing garbage", `{"sensordatavalues":[]} x`, Headers{Sensor: "s"}, ErrMalformed, 0, 0},
		{"no sensor", `{"sensordatavalues":[{"value_type":"SDS_P1","value":"1"}]}`, Headers{}, ErrNoSensor, 0, 0},
		{"empty esp8266id", `{"esp8266id":" ","sensordatavalues":[{"value_type":"SDS_P1","value":"1"}]}`, Headers{}, ErrNoSensor, 0, 0},
		{"only diagnostics", `{"esp8266id":"1","sensordatavalues":[{"value_type":"signal","value":"-70"}]}`, Headers{}, ErrNoValues, 0, 0},
		{"only gps (push pin 9)", `{"sensordatavalues":[{"value_type":"lat","value":"48.1"},{"value_type":"lon","value":"9.1"}]}`, Headers{Sensor: "s"}, ErrNoValues, 0, 0},
		{"only bad values", `{"esp8266id":"1","sensordatavalues":[{"value_type":"SDS_P1","value":"-"},{"value_type":"x","value":"1"}]}`, Headers{}, ErrNoValues, 1, 1},
		{"empty array", `{"esp8266id":"1","sensordatavalues":[]}`, Headers{}, ErrNoValues, 0, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p, err := ParseAirrohr([]byte(c.body), c.headers)
			require.ErrorIs(t, err, c.want)
			assert.Equal(t, c.unknown, p.Unknown)
			assert.Equal(t, c.dropped, p.Dropped)
		})
	}
}

// TestParseAirrohrErrorsNeverQuoteTheBody feeds secrets in every position and checks no error
// text contains them.
func TestParseAirrohrErrorsNeverQuoteTheBody(t *testing.T) {
	t.Parallel()
	const secret = "48.778112"
	for _, body := range []string{
		`{"esp8266id": "` + secret + `", "sensordatavalues": "` + secret + `"}`,
		`{"esp8266id": ` + secret + `x}`,
		`{"sensordatavalues":[{"value_type":"GPS_lat","value":"` + secret + `"}]}`,
		`{"esp8266id":"1","sensordatavalues":[{"value_type":"GPS_lat","value":"` + secret + `"}]}`,
		`{"esp8266id":"1","sensordatavalues":[{"value_type":"` + secret + `","value":"` + secret + `"}]}`,
		secret,
	} {
		_, err := ParseAirrohr([]byte(body), Headers{})
		require.Error(t, err)
		assert.NotContains(t, err.Error(), secret)
	}
}

func FuzzParseAirrohr(f *testing.F) {
	posts, err := filepath.Glob(filepath.Join("testdata", "*.json"))
	require.NoError(f, err)
	for _, post := range posts {
		b := readTestdata(f, filepath.Base(post))
		f.Add(b, "")
		f.Add(b, "esp8266-14907210")
	}
	f.Add([]byte(`{"esp8266id": 1, "sensordatavalues":[{"value_type":"P1","value":1e308},{"value_type":"pressure","value":"-0x1p-2"}]}`), "")
	f.Add([]byte(`{"sensordatavalues":[{"value_type":"SDS_P1","value":"Infinity"},{"value_type":"SDS_P2","value":"\u0031"}]}`), "esp32-1")
	known := []error{ErrMalformed, ErrNoSensor, ErrNoValues}
	f.Fuzz(func(t *testing.T, body []byte, sensor string) {
		p, err := ParseAirrohr(body, Headers{Sensor: sensor})
		if err != nil {
			ok := false
			for _, k := range known {
				ok = ok || errors.Is(err, k)
			}
			require.True(t, ok, "unexpected error %v", err)
			return
		}
		require.NotEmpty(t, p.Reading.Sensor)
		present := 0
		for _, v := range []*float64{p.Reading.Values.PM10, p.Reading.Values.PM2_5, p.Reading.Values.Temperature,
			p.Reading.Values.Humidity, p.Reading.Values.Pressure, p.Reading.Values.NoiseLAeq} {
			if v != nil {
				present++
				require.False(t, math.IsNaN(*v) || math.IsInf(*v, 0), "values are finite")
			}
		}
		require.Positive(t, present)
		require.GreaterOrEqual(t, p.Unknown, 0)
		require.GreaterOrEqual(t, p.Dropped, 0)
		// A reading that passes parsing and gets a cell and a time is either valid or rejected
		// with a RowError, never a panic.
		r := p.Reading
		r.Cell, r.RecordedAt = "old-town", time.Now()
		var re *reading.RowError
		if err := reading.Validate(r, reading.Options{}); err != nil {
			require.ErrorAs(t, err, &re)
		}
	})
}
