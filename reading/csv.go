package reading

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Locator maps a precise location to the id of the neighbourhood containing it, for example
// (*geo.Map).Locate. It must be deterministic. The location itself is never stored in a Reading.
type Locator func(lat, lon float64) (cell string, ok bool)

var errNoLocator = errors.New("no locator")

// ParseCSV reads the Commons CSV format: a header naming the columns sensor, recorded_at, lat,
// lon and at least one of pm10, pm2_5, temperature, humidity, pressure and noise_laeq, in any
// order, then one reading per row. recorded_at is RFC 3339, converted to UTC; an empty value
// is absent. Each location is mapped to a cell with loc and dropped.
//
// Rows that are malformed or fail Validate are returned in rejected and do not affect the
// other rows. err is only set, with no readings, for a missing or unknown header or an I/O error.
func ParseCSV(r io.Reader, loc Locator, opt Options) (rs []Reading, rejected []RowError, err error) {
	return wrap(parseCSV(r, loc, opt))
}

// wrap passes on the results of a parser, with the package named in its error.
func wrap(rs []Reading, rejected []RowError, err error) ([]Reading, []RowError, error) {
	if err != nil {
		return nil, nil, fmt.Errorf("reading: %w", err)
	}
	return rs, rejected, nil
}

// commonsCSV is the layout of the Commons CSV format.
var commonsCSV = csvFormat{name: "csv", comma: ',', required: []string{"sensor", "recorded_at", "lat", "lon"}}

func parseCSV(r io.Reader, loc Locator, opt Options) ([]Reading, []RowError, error) {
	var cols struct {
		sensor, recordedAt, lat, lon int
		values                       [numQuantities]int
	}
	named := map[string]*int{"sensor": &cols.sensor, "recorded_at": &cols.recordedAt, "lat": &cols.lat, "lon": &cols.lon}
	for i := range quantities {
		named[quantities[i].name] = &cols.values[i]
	}
	cr, err := commonsCSV.open(r, loc, named, cols.values[:])
	if err != nil {
		return nil, nil, err
	}
	var sensor string
	locate := locationCache{loc: loc}
	return readRows(cr, commonsCSV.name, opt, func(rec []string) (Reading, string) {
		var rd Reading
		// Keep one copy of each label, rather than a slice of the row it came from.
		if s := strings.TrimSpace(rec[cols.sensor]); s != sensor {
			sensor = strings.Clone(s)
		}
		rd.Sensor = sensor
		t, err := time.Parse(time.RFC3339, strings.TrimSpace(rec[cols.recordedAt]))
		if err != nil {
			return rd, "recorded_at: not a timestamp"
		}
		rd.RecordedAt = t.UTC()
		if reason := parseValues(rec, &cols.values, &rd.Values); reason != "" {
			return rd, reason
		}
		var reason string
		rd.Cell, reason = locate.cell(rec[cols.lat], rec[cols.lon])
		return rd, reason
	})
}

// csvFormat is the layout of a CSV format: its name in errors, its separator, the columns it
// requires, and whether it ignores columns it does not know.
type csvFormat struct {
	name          string
	comma         rune
	required      []string
	ignoreUnknown bool
}

// open reads the header of a file in the format, after checking there is a locator for its
// rows: it sets *named[name] to the position of each column (see findColumns) and returns the
// reader, at the first row.
func (f csvFormat) open(r io.Reader, loc Locator, named map[string]*int, values []int) (*csv.Reader, error) {
	if loc == nil {
		return nil, fmt.Errorf("%s: %w", f.name, errNoLocator)
	}
	cr := newReader(r, f.comma)
	header, err := readHeader(cr)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f.name, err)
	}
	if err := findColumns(header, named, values, f.ignoreUnknown, f.required...); err != nil {
		return nil, fmt.Errorf("%s: header: %w", f.name, err)
	}
	return cr, nil
}

// newReader returns a csv.Reader that reuses its records and checks that every row has as many
// fields as the header.
func newReader(r io.Reader, comma rune) *csv.Reader {
	cr := csv.NewReader(r)
	cr.Comma = comma
	cr.ReuseRecord = true
	return cr
}

// readHeader reads the first record, trimmed, without a leading byte order mark.
func readHeader(cr *csv.Reader) ([]string, error) {
	header, err := cr.Read()
	if err == io.EOF {
		return nil, errors.New("no header")
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	header[0] = strings.TrimPrefix(header[0], "\ufeff")
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	return header, nil
}

// findColumns sets *named[name] to the position of each column in header, or to -1 if absent.
// The required columns and at least one of the value columns must be present. A repeated known
// column is an error, and so is an unknown one unless ignoreUnknown; columns without a name, as
// spreadsheets leave after a trailing separator, are ignored.
func findColumns(header []string, named map[string]*int, values []int, ignoreUnknown bool, required ...string) error {
	for _, p := range named {
		*p = -1
	}
	for i, name := range header {
		p, ok := named[name]
		switch {
		case !ok && (ignoreUnknown || name == ""):
		case !ok:
			return fmt.Errorf("unknown %s", describeColumn(i, name))
		case *p >= 0:
			return fmt.Errorf("repeated %s", describeColumn(i, name))
		default:
			*p = i
		}
	}
	for _, name := range required {
		if *named[name] < 0 {
			return fmt.Errorf("no %s column", name)
		}
	}
	if !slices.ContainsFunc(values, func(c int) bool { return c >= 0 }) {
		return errors.New("no supported value column")
	}
	return nil
}

// describeColumn names column i by its header only when the header looks like a column name:
// a file without a header would otherwise put its first row, coordinates included, in errors.
func describeColumn(i int, name string) string {
	for j, c := range name {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
		if j >= 32 || !letter && (j == 0 || c < '0' || c > '9') {
			return fmt.Sprintf("column %d", i+1)
		}
	}
	return fmt.Sprintf("column %d (%q)", i+1, name)
}

// readRows decodes every record after the header of the format named format. A record that
// decode rejects, that fails the checks of Validate or that is malformed CSV becomes a
// RowError; reading goes on.
func readRows(cr *csv.Reader, format string, opt Options, decode func(rec []string) (Reading, string)) ([]Reading, []RowError, error) {
	now := opt.now()
	var rs []Reading
	var rejected []RowError
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rs, rejected, nil
		}
		var perr *csv.ParseError
		if errors.As(err, &perr) {
			reason := "row: malformed"
			if errors.Is(perr.Err, csv.ErrFieldCount) {
				reason = "row: wrong number of fields"
			}
			rejected = append(rejected, RowError{Line: perr.StartLine, Reason: reason})
			continue
		}
		if err != nil {
			return nil, nil, fmt.Errorf("%s: %w", format, err)
		}
		rd, reason := decode(rec)
		if reason == "" {
			reason = check(&rd, now, opt.MaxAge)
		}
		if reason != "" {
			line, _ := cr.FieldPos(0)
			rejected = append(rejected, RowError{Line: line, Reason: reason})
			continue
		}
		rs = append(rs, rd)
	}
}

// parseValues sets the fields of v from the columns cols of rec (-1 = no column). An empty
// field leaves its value absent.
func parseValues(rec []string, cols *[numQuantities]int, v *Values) string {
	slots := v.slots()
	for i, c := range cols {
		if c < 0 {
			continue
		}
		s := strings.TrimSpace(rec[c])
		if s == "" {
			continue
		}
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return quantities[i].reason(notANumber)
		}
		*slots[i] = F(f)
	}
	return ""
}

// locationCache maps locations to cells, remembering the last one: the rows of a file usually
// come from a single place.
type locationCache struct {
	loc              Locator
	lat, lon         string
	lastCell, reason string
	used             bool
}

// cell returns the cell of the location given as text, or why there is none.
func (c *locationCache) cell(lat, lon string) (cell, reason string) {
	lat, lon = strings.TrimSpace(lat), strings.TrimSpace(lon)
	if !c.used || lat != c.lat || lon != c.lon {
		c.lat, c.lon, c.used = lat, lon, true
		c.lastCell, c.reason = c.lookup(lat, lon)
	}
	return c.lastCell, c.reason
}

func (c *locationCache) lookup(latText, lonText string) (cell, reason string) {
	if latText == "" || lonText == "" {
		return "", "location: missing"
	}
	lat, err1 := strconv.ParseFloat(latText, 64)
	lon, err2 := strconv.ParseFloat(lonText, 64)
	switch {
	case err1 != nil || err2 != nil:
		return "", "location: not a number"
	case math.IsNaN(lat) || math.IsNaN(lon) || math.Abs(lat) > 90 || math.Abs(lon) > 180:
		return "", "location: out of range"
	}
	cell, ok := c.loc(lat, lon)
	if !ok {
		return "", "location: outside every neighbourhood"
	}
	return cell, ""
}
