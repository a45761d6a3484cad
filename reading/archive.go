package reading

import (
	"io"
	"strings"
	"time"
)

// archiveColumns maps the Sensor.Community archive's value columns to quantities; the
// other columns (durP1, ratioP1, P0, altitude, pressure_sealevel, ...) are ignored.
var archiveColumns = map[string]int{
	"P1":          qPM10,
	"P2":          qPM2_5,
	"temperature": qTemperature,
	"humidity":    qHumidity,
	"pressure":    qPressure,
	"noise_LAeq":  qNoiseLAeq,
}

// archiveTimeLayouts are tried in order; a timestamp without a zone is UTC.
var archiveTimeLayouts = []string{"2006-01-02T15:04:05", time.RFC3339, "2006-01-02 15:04:05"}

// ParseArchiveCSV reads a Sensor.Community archive file: ';'-separated, with the header
// sensor_id;sensor_type;location;lat;lon;timestamp followed by the sensor type's columns.
// P1 becomes pm10, P2 pm2_5, noise_LAeq noise_laeq; temperature, humidity and pressure keep
// their names, pressure converted from Pa to hPa unless it is already below 2000. The sensor
// label is "<sensor_type>-<sensor_id>". Timestamps without a zone are UTC. The location is
// mapped to a cell with loc and dropped, and so is the archive's location id.
//
// Rejected rows and errors are as for ParseCSV.
func ParseArchiveCSV(r io.Reader, loc Locator, opt Options) ([]Reading, []RowError, error) {
	return wrap(parseArchiveCSV(r, loc, opt))
}

// archiveCSV is the layout of a Sensor.Community archive file, whose columns beyond the
// ones Commons reads are ignored.
var archiveCSV = csvFormat{name: "archive csv", comma: ';', ignoreUnknown: true,
	required: []string{"sensor_id", "sensor_type", "lat", "lon", "timestamp"}}

func parseArchiveCSV(r io.Reader, loc Locator, opt Options) ([]Reading, []RowError, error) {
	var cols struct {
		id, typ, lat, lon, timestamp int
		values                       [numQuantities]int
	}
	named := map[string]*int{"sensor_id": &cols.id, "sensor_type": &cols.typ, "lat": &cols.lat, "lon": &cols.lon, "timestamp": &cols.timestamp}
	for name, q := range archiveColumns {
		named[name] = &cols.values[q]
	}
	cr, err := archiveCSV.open(r, loc, named, cols.values[:])
	if err != nil {
		return nil, nil, err
	}
	var id, typ, label string
	locate := locationCache{loc: loc}
	return readRows(cr, archiveCSV.name, opt, func(rec []string) (Reading, string) {
		var rd Reading
		// Build each label once: an archive file usually holds a single sensor.
		if i, t := strings.TrimSpace(rec[cols.id]), strings.TrimSpace(rec[cols.typ]); i != id || t != typ {
			id, typ, label = i, t, ""
			if i != "" && t != "" {
				label = t + "-" + i
			}
		}
		rd.Sensor = label
		t, ok := parseArchiveTime(strings.TrimSpace(rec[cols.timestamp]))
		if !ok {
			return rd, "recorded_at: not a timestamp"
		}
		rd.RecordedAt = t
		if reason := parseValues(rec, &cols.values, &rd.Values); reason != "" {
			return rd, reason
		}
		if p := rd.Values.Pressure; p != nil && *p >= 2000 {
			*p /= 100
		}
		var reason string
		rd.Cell, reason = locate.cell(rec[cols.lat], rec[cols.lon])
		return rd, reason
	})
}

func parseArchiveTime(s string) (time.Time, bool) {
	for _, layout := range archiveTimeLayouts {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), true
		}
	}
	return time.Time{}, false
}
