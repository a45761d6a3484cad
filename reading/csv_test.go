package reading

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"testing/iotest"
	"time"
)

func TestParseCSVTestdata(t *testing.T) {
	t.Parallel()
	rs, rejected, err := ParseCSV(bytes.NewReader(readTestdata(t, "readings.csv")), testLocator(t), testOpt)
	if err != nil || len(rejected) != 0 {
		t.Fatalf("ParseCSV: %v, rejected %v", err, rejected)
	}
	checkParsed(t, rs, rejected, testOpt)
	want := []struct {
		sensor, cell, at string
	}{
		{"balcony", "n-mitte", "2024-03-01T07:55:00Z"},
		{"balcony", "n-mitte", "2024-03-01T08:00:00Z"},
		{"balcony", "n-mitte", "2024-03-01T07:05:00Z"},
		{"garden", "n-west", "2024-03-01T08:00:00Z"},
		{"garden", "n-west", "2024-03-01T08:05:00.25Z"},
		{"school-roof", "n-nord", "2024-03-01T08:00:00Z"},
	}
	if len(rs) != len(want) {
		t.Fatalf("got %d readings, want %d", len(rs), len(want))
	}
	for i, w := range want {
		r := rs[i]
		if r.Sensor != w.sensor || r.Cell != w.cell || r.RecordedAt.Format(time.RFC3339Nano) != w.at {
			t.Errorf("reading %d = %s %s %s, want %v", i, r.Sensor, r.Cell, r.RecordedAt.Format(time.RFC3339Nano), w)
		}
		if r.RecordedAt.Location() != time.UTC {
			t.Errorf("reading %d is not in UTC", i)
		}
	}
	if v := rs[0].Values; *v.PM10 != 16.85 || *v.PM2_5 != 4.35 || *v.Temperature != 9.27 || *v.Humidity != 71.2 || v.Pressure != nil || v.NoiseLAeq != nil {
		t.Errorf("first reading's values = %+v", v)
	}
	if v := rs[2].Values; v.PM2_5 != nil || v.Humidity != nil || *v.PM10 != 17.40 {
		t.Errorf("empty cells are not absent: %+v", v)
	}
}

func TestParseCSVColumnsInAnyOrder(t *testing.T) {
	t.Parallel()
	rs, rejected, err := ParseCSV(bytes.NewReader(readTestdata(t, "readings-extra.csv")), testLocator(t), testOpt)
	if err != nil || len(rejected) != 0 || len(rs) != 2 {
		t.Fatalf("ParseCSV = %d readings, %v, %v", len(rs), rejected, err)
	}
	v := rs[1].Values
	if rs[1].Sensor != "street-mic" || rs[1].Cell != "n-mitte" || *v.NoiseLAeq != 61.9 || *v.Pressure != 985.1 || *v.Temperature != 6.0 || v.PM10 != nil {
		t.Errorf("reading = %+v, values %+v", rs[1], v)
	}
}

func TestParseCSVKeepsGoodRows(t *testing.T) {
	t.Parallel()
	input := "sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n" +
		"balcony,2024-03-01T08:00:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2\n" + // 2 good
		"balcony,2024-03-01T08:05:00Z,48.7765,9.1731,16.85,4.3x,9.27,71.2\n" + // 3
		"balcony,yesterday,48.7765,9.1731,16.85,4.35,9.27,71.2\n" + // 4
		"balcony,2024-03-05T08:00:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2\n" + // 5
		"balcony,2024-03-01T08:10:00Z,52.5200,13.4050,16.85,4.35,9.27,71.2\n" + // 6
		"balcony,2024-03-01T08:15:00Z,,9.1731,16.85,4.35,9.27,71.2\n" + // 7
		"balcony,2024-03-01T08:20:00Z,north,9.1731,16.85,4.35,9.27,71.2\n" + // 8
		"balcony,2024-03-01T08:25:00Z,91,9.1731,16.85,4.35,9.27,71.2\n" + // 9
		"balcony,2024-03-01T08:30:00Z,48.7765,9.1731,16.85,4.35\n" + // 10
		",2024-03-01T08:35:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2\n" + // 11
		"balcony,2024-03-01T08:40:00Z,48.7765,9.1731,,,,\n" + // 12
		"balcony,2024-03-01T08:45:00Z,48.7765,9.1731,16.85,4.35,9.27,171.2\n" + // 13
		"balcony,2024-03-01T08:50:00Z,48.7765,9.1731,16.85,NaN,9.27,71.2\n" + // 14
		"bal\"cony,2024-03-01T08:55:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2\n" + // 15
		"balcony,2024-03-01T09:00:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2\n" + // 16 good
		"garden,2024-03-01T09:00:00Z,48.7712,9.1415,21.30,6.88,,\n" // 17 good
	rs, rejected, err := ParseCSV(strings.NewReader(input), testLocator(t), testOpt)
	checkRejected(t, rs, rejected, err, `
3: pm2_5: not a number
4: recorded_at: not a timestamp
5: recorded_at: in the future
6: location: outside every neighbourhood
7: location: missing
8: location: not a number
9: location: out of range
10: row: wrong number of fields
11: sensor: missing
12: values: none
13: humidity: out of range
14: pm2_5: not finite
15: row: malformed`)
	var got []string
	for _, r := range rs {
		got = append(got, r.Sensor+"@"+r.RecordedAt.Format(time.Kitchen))
	}
	if want := []string{"balcony@8:00AM", "balcony@9:00AM", "garden@9:00AM"}; !slices.Equal(got, want) {
		t.Errorf("kept %v, want %v", got, want)
	}
}

// TestRowErrorsHideValues checks that no rejected value or coordinate reaches the error text.
func TestRowErrorsHideValues(t *testing.T) {
	t.Parallel()
	rows := []string{
		"balcony-48.7765,2024-03-01T08:00:00Z,48.7765,9.1731,16.85,4.35e,9.27,71.2",
		"balcony,2024-13-01T08:00:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2",
		"balcony,2031-05-05T08:00:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2",
		"balcony,2024-03-01T08:00:00Z,52.520008,13.404954,16.85,4.35,9.27,71.2",
		"balcony,2024-03-01T08:00:00Z,48.7765,9.1731x,16.85,4.35,9.27,71.2",
		"balcony,2024-03-01T08:00:00Z,148.7765,9.1731,16.85,4.35,9.27,71.2",
		"balcony,2024-03-01T08:00:00Z,48.7765,9.1731,16.85,4.35,9.27,171.25",
		"balcony,2024-03-01T08:00:00Z,48.7765,9.1731,1016.85,4.35,9.27,71.2",
		"balcony,2024-03-01T08:00:00Z,48.7765,9.1731,16.85,4.35,-93.27,71.2",
		strings.Repeat("private-label-", 5) + ",2024-03-01T08:00:00Z,48.7765,9.1731,16.85,4.35,9.27,71.2",
		"balcony,2024-03-01T08:00:00Z,48.7765,9.1731,16.85,4.35,9.27",
	}
	header := "sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n"
	_, rejected, err := ParseCSV(strings.NewReader(header+strings.Join(rows, "\n")), testLocator(t), testOpt)
	if err != nil {
		t.Fatal(err)
	}
	if len(rejected) != len(rows) {
		t.Fatalf("rejected %d rows, want %d: %v", len(rejected), len(rows), rejected)
	}
	for _, e := range rejected {
		text := e.Error()
		for field := range strings.SplitSeq(rows[e.Line-2], ",") {
			if strings.Contains(text, field) || strings.Contains(text, "48.77") || strings.Contains(text, "9.17") {
				t.Errorf("%q reveals %q", text, field)
			}
		}
	}
}

func TestParseCSVHeader(t *testing.T) {
	t.Parallel()
	row := "\nbalcony,2024-03-01T08:00:00Z,48.7765,9.1731,16.85\n"
	tests := []struct {
		name, input, want string
	}{
		{"empty", "", "reading: csv: no header"},
		{"missing lat", "sensor,recorded_at,lon,pm10" + row, "reading: csv: header: no lat column"},
		{"no values", "sensor,recorded_at,lat,lon" + row, "reading: csv: header: no supported value column"},
		{"unknown column", "sensor,recorded_at,lat,lon,pm1" + row, `reading: csv: header: unknown column 5 ("pm1")`},
		{"repeated column", "sensor,recorded_at,lat,lon,pm10,pm10" + row, `reading: csv: header: repeated column 6 ("pm10")`},
		{"data instead of a header", strings.TrimPrefix(row, "\n") + row, "reading: csv: header: unknown column 1"},
		{"malformed header", "sensor,\"recorded_at" + row, "reading: csv: header: record on line 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rs, rejected, err := ParseCSV(strings.NewReader(tt.input), testLocator(t), testOpt)
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || rs != nil || rejected != nil {
				t.Fatalf("ParseCSV = %d, %v, %v; want error %q", len(rs), rejected, err, tt.want)
			}
			if strings.Contains(err.Error(), "48.77") {
				t.Errorf("header error %q reveals a coordinate", err)
			}
		})
	}
}

func TestParseCSVHeaderTolerance(t *testing.T) {
	t.Parallel()
	input := "\ufeff sensor , recorded_at,lat,lon,pm10,\nbalcony,2024-03-01T08:00:00Z, 48.7765 ,9.1731, 16.85 ,\n"
	rs, rejected, err := ParseCSV(strings.NewReader(input), testLocator(t), testOpt)
	if err != nil || len(rejected) != 0 || len(rs) != 1 || *rs[0].Values.PM10 != 16.85 {
		t.Fatalf("ParseCSV = %v, %v, %v", rs, rejected, err)
	}
}

func TestParseCSVNoLocator(t *testing.T) {
	t.Parallel()
	_, _, err := ParseCSV(bytes.NewReader(readTestdata(t, "readings.csv")), nil, testOpt)
	if !errors.Is(err, errNoLocator) {
		t.Errorf("err = %v", err)
	}
}

func TestParseCSVReadError(t *testing.T) {
	t.Parallel()
	broken := errors.New("disk on fire")
	r := io.MultiReader(bytes.NewReader(readTestdata(t, "readings.csv")), iotest.ErrReader(broken))
	rs, rejected, err := ParseCSV(r, testLocator(t), testOpt)
	if !errors.Is(err, broken) || err.Error() != "reading: csv: disk on fire" || rs != nil || rejected != nil {
		t.Errorf("ParseCSV = %d, %v, %v; want the read error", len(rs), rejected, err)
	}
}

func FuzzParseCSV(f *testing.F) {
	for _, name := range []string{"readings.csv", "readings-extra.csv"} {
		f.Add(readTestdata(f, name))
	}
	f.Add([]byte("sensor,recorded_at,lat,lon,pm10\nx,2024-03-01T08:00:00Z,48.7765,9.1731,1e400\n"))
	fuzzParser(f, ParseCSV)
}
