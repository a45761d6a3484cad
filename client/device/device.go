// Package device reads what residents' own sensors send, unchanged, so that they work with
// Commons without new firmware.
//
// Two bodies are understood, both JSON documents with a "sensordatavalues" array of
// {"value_type", "value"} pairs whose values are strings:
//
//   - the Sensor.Community "airrohr" firmware's custom API: one post per measuring cycle with
//     every sensor's values, each value type prefixed by the sensor family (SDS_P1,
//     BME280_pressure, …), plus the device id in "esp8266id" and the X-Sensor header;
//   - the Sensor.Community push API, used by Raspberry-Pi and other scripts: one post per sensor,
//     with X-Sensor and X-PIN headers and unprefixed value types (P1, temperature, …).
//
// ParseAirrohr maps the value types to reading.Values (P1 is PM10, P2 is PM2.5, pressure is
// converted from Pa to hPa). Quantities Commons does not keep — PM1, PM4, particle counts, CO₂,
// noise minimum and maximum, the firmware's diagnostics — are recognised and ignored. GPS
// values are ignored too: a reading never carries a location, the gateway assigns the
// neighbourhood from its own configuration. A value of an unknown type, or one that is not a
// finite number, is dropped and counted; the rest of the reading is kept.
//
// Errors are fixed texts that never quote the body, so they are safe to log.
package device

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"strconv"
	"strings"

	"github.com/commons-city/commons/reading"
)

// Headers are the request headers ParseAirrohr uses.
type Headers struct {
	// Sensor is the X-Sensor header, e.g. "esp8266-14907210" or "esp32-2318431". When empty,
	// the label is built from the body's esp8266id. X-PIN is not needed: the value types say
	// what was measured.
	Sensor string
}

// Parsed is one decoded post.
type Parsed struct {
	// Reading has Sensor and Values set, and SensorType when the particles' value type names
	// the sensor's model (SDS_P2: an SDS011; PMS_P2: a Plantower); Cell and RecordedAt are
	// left for the caller.
	Reading reading.Reading
	// Unknown counts values of a type this package does not know. They are dropped.
	Unknown int
	// Dropped counts values of a stored type that were dropped: not a finite number, or a
	// second value for a quantity that an earlier value of the same post already set.
	Dropped int
}

// Errors of ParseAirrohr. They never contain any part of the body.
var (
	// ErrMalformed means the body is not a Sensor.Community JSON document.
	ErrMalformed = errors.New("device: the body is not a Sensor.Community JSON document")
	// ErrNoSensor means neither the X-Sensor header nor the body names the device.
	ErrNoSensor = errors.New("device: no sensor id (X-Sensor header or esp8266id)")
	// ErrNoValues means no value of a stored quantity remained.
	ErrNoValues = errors.New("device: no usable value")
)

// target is what a value type becomes.
type target int

const (
	ignored target = iota // known, deliberately not stored
	pm10
	pm25
	temperature
	humidity
	pressurePa
	noiseLAeq
)

// valueTypes maps every known value type to its target.
var valueTypes = buildValueTypes()

func buildValueTypes() map[string]target {
	m := map[string]target{}
	// Particulate matter: P1 = PM10, P2 = PM2.5; P0 = PM1 and P4 = PM4 are not kept, nor are
	// the particle counts (N…) and typical particle size (TS) of the SPS30 and NextPM.
	// The empty prefix is the push API's.
	for _, p := range []string{"", "SDS_", "PMS_", "HPM_", "NPM_", "SPS30_"} {
		m[p+"P1"], m[p+"P2"] = pm10, pm25
		m[p+"P0"], m[p+"P4"] = ignored, ignored
	}
	for _, p := range []string{"", "SPS30_", "NPM_"} {
		for _, n := range []string{"N05", "N1", "N25", "N4", "N10", "TS"} {
			m[p+n] = ignored
		}
	}
	// Temperature and humidity; bare names are the DHT22's and the push API's.
	for _, p := range []string{"", "BME280_", "BMP280_", "BMP_", "SHT3X_", "HTU21D_", "SCD30_", "DS18B20_"} {
		m[p+"temperature"], m[p+"humidity"] = temperature, humidity
	}
	// Pressure, sent in Pa by every firmware sensor and by the push API.
	for _, p := range []string{"", "BME280_", "BMP280_", "BMP_"} {
		m[p+"pressure"] = pressurePa
	}
	for _, p := range []string{"", "DNMS_"} {
		m[p+"noise_LAeq"] = noiseLAeq
		m[p+"noise_LA_min"], m[p+"noise_LA_max"] = ignored, ignored
	}
	for _, t := range []string{
		"SCD30_co2_ppm", "co2_ppm",
		// Location: never stored, whatever the sensor says.
		"GPS_lat", "GPS_lon", "GPS_height", "GPS_timestamp", "lat", "lon", "height", "timestamp",
		// The firmware's diagnostics.
		"samples", "min_micro", "max_micro", "interval", "signal",
	} {
		m[t] = ignored
	}
	return m
}

// sensorTypes are the particulate sensor families whose model the firmware's value-type
// prefix names; the push API's bare P1 and P2, and the other families, leave it unknown.
var sensorTypes = map[string]string{"SDS": reading.SensorSDS011, "PMS": reading.SensorPlantower}

// body is the JSON document both formats post.
type body struct {
	ESP8266ID        json.RawMessage `json:"esp8266id"`
	SensorDataValues *[]struct {
		ValueType string          `json:"value_type"`
		Value     json.RawMessage `json:"value"`
	} `json:"sensordatavalues"`
}

// ParseAirrohr decodes one post of the airrohr custom API or the Sensor.Community push API.
// The sensor label is the X-Sensor header, or "esp8266-" followed by the body's esp8266id.
//
// On ErrNoSensor and ErrNoValues the returned Parsed still carries the counters, so that the
// caller can count what was dropped.
func ParseAirrohr(b []byte, h Headers) (Parsed, error) {
	var doc body
	if err := json.Unmarshal(b, &doc); err != nil || doc.SensorDataValues == nil {
		return Parsed{}, ErrMalformed
	}
	var p Parsed
	v := &p.Reading.Values
	for _, sv := range *doc.SensorDataValues {
		t, known := valueTypes[sv.ValueType]
		if !known {
			p.Unknown++
			continue
		}
		if t == ignored {
			continue
		}
		x, ok := number(sv.Value)
		dst := slot(v, t)
		if !ok || *dst != nil {
			p.Dropped++
			continue
		}
		if t == pressurePa {
			x /= 100
		}
		*dst = &x
		if (t == pm10 || t == pm25) && p.Reading.SensorType == "" {
			p.Reading.SensorType = sensorTypes[strings.SplitN(sv.ValueType, "_", 2)[0]]
		}
	}
	p.Reading.Sensor = strings.TrimSpace(h.Sensor)
	if p.Reading.Sensor == "" {
		id, ok := deviceID(doc.ESP8266ID)
		if !ok {
			return p, ErrNoSensor
		}
		p.Reading.Sensor = "esp8266-" + id
	}
	if v.PM10 == nil && v.PM2_5 == nil && v.Temperature == nil && v.Humidity == nil &&
		v.Pressure == nil && v.NoiseLAeq == nil {
		return p, ErrNoValues
	}
	return p, nil
}

// slot returns the field of v that t fills; t is not ignored.
func slot(v *reading.Values, t target) **float64 {
	switch t {
	case pm10:
		return &v.PM10
	case pm25:
		return &v.PM2_5
	case temperature:
		return &v.Temperature
	case humidity:
		return &v.Humidity
	case pressurePa:
		return &v.Pressure
	default:
		return &v.NoiseLAeq
	}
}

// number decodes a value sent as a JSON string (as the firmware does) or a JSON number (as
// some scripts do). It reports false for anything else, and for NaN and infinities.
func number(raw json.RawMessage) (float64, bool) {
	raw = bytes.TrimSpace(raw)
	s := string(raw)
	if len(raw) > 0 && raw[0] == '"' {
		if err := json.Unmarshal(raw, &s); err != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	} else if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, false
	}
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, false
	}
	return x, true
}

// deviceID decodes esp8266id, a JSON string or number.
func deviceID(raw json.RawMessage) (string, bool) {
	raw = bytes.TrimSpace(raw)
	var s string
	switch {
	case len(raw) == 0:
		return "", false
	case raw[0] == '"':
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", false
		}
	default:
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return "", false
		}
		s = n.String()
	}
	s = strings.TrimSpace(s)
	return s, s != ""
}
