// Package reading holds the plaintext a resident seals into an envelope: air-quality readings
// mapped to a neighbourhood, and the parsers for the formats residents already have.
//
// A Reading never carries a precise location: the resident's side maps coordinates to a
// neighbourhood id (the public grid's "cell") before anything is encrypted or sent.
package reading

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// Values are the measured quantities of one reading. A nil field is absent.
// Units: µg/m³ for particulate matter, °C, %, hPa, dB(A).
type Values struct {
	PM10        *float64 `json:"pm10,omitempty"`
	PM2_5       *float64 `json:"pm2_5,omitempty"`
	Temperature *float64 `json:"temperature,omitempty"`
	Humidity    *float64 `json:"humidity,omitempty"`
	Pressure    *float64 `json:"pressure,omitempty"`
	NoiseLAeq   *float64 `json:"noise_laeq,omitempty"`
}

// Reading is one measurement of one sensor at one time, in one neighbourhood. Sensor is a
// local label the resident chose; SensorType, when known, is the particulate sensor's model
// (SensorSDS011, SensorPlantower), which the release engine uses to correct particle readings
// for humidity.
type Reading struct {
	Sensor     string    `json:"sensor"`
	SensorType string    `json:"sensor_type,omitempty"`
	RecordedAt time.Time `json:"recorded_at"`
	Cell       string    `json:"cell"`
	Values     Values    `json:"values"`
}

// The particulate sensor types a reading may name.
const (
	// SensorSDS011 is the Nova Fitness SDS011, the airrohr kit's sensor.
	SensorSDS011 = "sds011"
	// SensorPlantower is a Plantower PMS sensor (PMS1003 to PMS7003, PMSA003).
	SensorPlantower = "pms"
)

// knownSensorType reports whether t is empty or a sensor type this package names.
func knownSensorType(t string) bool {
	return t == "" || t == SensorSDS011 || t == SensorPlantower
}

// Batch is the plaintext of one sealed envelope: the readings of one resident for one UTC day.
type Batch struct {
	Version  int       `json:"v"`
	Readings []Reading `json:"readings"`
}

// BatchVersion is the current plaintext format version.
const BatchVersion = 1

// Bounds on one envelope's plaintext, a day of one resident's readings, derived from the
// format so that the server can refuse an envelope too large to be one (crypto.CheckSealed).
const (
	// MaxReadingBytes bounds one valid reading's JSON in a batch, with its comma: a sensor
	// label and a cell of MaxLabel bytes each, which JSON may escape to six bytes a byte
	// ("\u003c"), a known sensor type, an RFC 3339 time with nanoseconds and a zone offset,
	// and all six values, each at most 23 characters, with their names and punctuation
	// (TestMaxReadingBytes marshals one, 1,089 bytes).
	MaxReadingBytes = 1100
	// MaxBatchReadings bounds the readings of one day: one every ten seconds for 24 hours,
	// fourteen sensors at the airrohr's 145-second interval.
	MaxBatchReadings = 24 * 60 * 6
	// MaxBatchBytes bounds one envelope's plaintext: MaxBatchReadings readings and the
	// batch's own 21 bytes ({"v":1,"readings":[]}), about 9 MiB.
	MaxBatchBytes = MaxBatchReadings*MaxReadingBytes + 21
)

// Day returns the UTC calendar day of t as YYYY-MM-DD, the epoch an envelope belongs to.
func Day(t time.Time) string { return t.UTC().Format(time.DateOnly) }

// ErrEmptyBatch is returned when a batch holds no readings.
var ErrEmptyBatch = errors.New("reading: empty batch")

// MarshalBatch encodes readings as the plaintext of one envelope.
func MarshalBatch(rs []Reading) ([]byte, error) {
	if len(rs) == 0 {
		return nil, ErrEmptyBatch
	}
	b, err := json.Marshal(Batch{Version: BatchVersion, Readings: rs})
	if err != nil {
		return nil, fmt.Errorf("reading: marshal batch: %w", err)
	}
	return b, nil
}

// UnmarshalBatch decodes the plaintext of one envelope.
func UnmarshalBatch(b []byte) (Batch, error) {
	var batch Batch
	if err := json.Unmarshal(b, &batch); err != nil {
		return Batch{}, fmt.Errorf("reading: unmarshal batch: %w", err)
	}
	if batch.Version != BatchVersion {
		return Batch{}, fmt.Errorf("reading: unsupported batch version %d", batch.Version)
	}
	return batch, nil
}

// F returns a pointer to v, for building Values.
func F(v float64) *float64 { return &v }
