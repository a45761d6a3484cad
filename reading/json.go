package reading

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"
)

// jsonReading is a Reading as it arrives, before its timestamp is checked.
type jsonReading struct {
	Sensor     string `json:"sensor"`
	SensorType string `json:"sensor_type"`
	RecordedAt string `json:"recorded_at"`
	Cell       string `json:"cell"`
	Values     Values `json:"values"`
}

// ParseJSON reads readings that already carry their cell: a JSON array of Reading objects, or
// an object whose "readings" member is such an array (as in a Batch). Unknown members, a
// location among them, are dropped.
//
// Readings that are malformed or fail Validate are returned in rejected, with Line set to their
// 1-based position in the array, and do not affect the others. err is only set, with no
// readings, when the input is not such a document or cannot be read.
func ParseJSON(r io.Reader, opt Options) ([]Reading, []RowError, error) {
	return wrap(parseJSON(r, opt))
}

func parseJSON(r io.Reader, opt Options) ([]Reading, []RowError, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, nil, fmt.Errorf("json: %w", err)
	}
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	var elems []json.RawMessage
	switch trimmed := bytes.TrimLeft(data, " \t\r\n"); {
	case bytes.HasPrefix(trimmed, []byte("[")):
		err = json.Unmarshal(data, &elems)
	case bytes.HasPrefix(trimmed, []byte("{")):
		var doc struct {
			Readings *[]json.RawMessage `json:"readings"`
		}
		if err = json.Unmarshal(data, &doc); err == nil {
			if doc.Readings == nil {
				err = errors.New(`no "readings" array`)
			} else {
				elems = *doc.Readings
			}
		}
	default:
		err = errors.New("want an array of readings or an object with a readings array")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("json: %w", err)
	}
	now := opt.now()
	var rs []Reading
	var rejected []RowError
	for i, elem := range elems {
		rd, reason := decodeJSONReading(elem)
		if reason == "" {
			reason = check(&rd, now, opt.MaxAge)
		}
		if reason != "" {
			rejected = append(rejected, RowError{Line: i + 1, Reason: reason})
			continue
		}
		rs = append(rs, rd)
	}
	return rs, rejected, nil
}

// decodeJSONReading decodes one element of the array, or says why it cannot. The reason is
// built from fixed names only, never from the decoder's message, which may quote the input.
func decodeJSONReading(elem json.RawMessage) (Reading, string) {
	var jr jsonReading
	if err := json.Unmarshal(elem, &jr); err != nil {
		var ute *json.UnmarshalTypeError
		if !errors.As(err, &ute) {
			return Reading{}, "reading: malformed"
		}
		switch name, isValue := strings.CutPrefix(ute.Field, "values."); {
		case ute.Field == "":
			return Reading{}, "reading: not an object"
		case isValue:
			for _, q := range quantities {
				if q.name == name {
					return Reading{}, q.reason(notANumber)
				}
			}
		case ute.Field == "sensor", ute.Field == "sensor_type", ute.Field == "recorded_at", ute.Field == "cell", ute.Field == "values":
			return Reading{}, ute.Field + ": wrong type"
		}
		return Reading{}, "reading: malformed"
	}
	rd := Reading{Sensor: jr.Sensor, SensorType: jr.SensorType, Cell: jr.Cell, Values: jr.Values}
	if jr.RecordedAt != "" {
		t, err := time.Parse(time.RFC3339, jr.RecordedAt)
		if err != nil {
			return rd, "recorded_at: not a timestamp"
		}
		rd.RecordedAt = t.UTC()
	}
	return rd, ""
}
