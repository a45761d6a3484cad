package reading

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseArchiveCSVTestdata(t *testing.T) {
	t.Parallel()
	tests := []struct {
		file, sensor, cell string
		n                  int
		first              Values
	}{
		{"archive_sds011.csv", "SDS011-12345", "n-west", 5, Values{PM10: F(312.47), PM2_5: F(201.15)}},
		{"archive_bme280.csv", "BME280-12346", "n-west", 3, Values{Pressure: F(985.6266), Temperature: F(7.73), Humidity: F(81.74)}},
		{"archive_dht22.csv", "DHT22-8421", "n-nord", 3, Values{Temperature: F(6.90), Humidity: F(88.40)}},
		{"archive_pms.csv", "PMS7003-30211", "n-mitte", 2, Values{PM10: F(24), PM2_5: F(15)}},
	}
	loc := testLocator(t)
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			rs, rejected, err := ParseArchiveCSV(bytes.NewReader(readTestdata(t, tt.file)), loc, testOpt)
			if err != nil || len(rejected) != 0 || len(rs) != tt.n {
				t.Fatalf("ParseArchiveCSV = %d readings, %v, %v", len(rs), rejected, err)
			}
			checkParsed(t, rs, rejected, testOpt)
			for _, r := range rs {
				if r.Sensor != tt.sensor || r.Cell != tt.cell {
					t.Errorf("reading %s in %s, want %s in %s", r.Sensor, r.Cell, tt.sensor, tt.cell)
				}
			}
			if got, want := formatValues(rs[0].Values), formatValues(tt.first); got != want {
				t.Errorf("first values = %s, want %s", got, want)
			}
		})
	}
}

func formatValues(v Values) string {
	var parts []string
	for i, p := range v.slots() {
		if *p != nil {
			parts = append(parts, fmt.Sprintf("%s=%.4f", quantities[i].name, **p))
		}
	}
	return strings.Join(parts, " ")
}

func TestParseArchiveCSVTimestamps(t *testing.T) {
	t.Parallel()
	rs, _, err := ParseArchiveCSV(bytes.NewReader(readTestdata(t, "archive_pms.csv")), testLocator(t), testOpt)
	if err != nil {
		t.Fatal(err)
	}
	rs2, _, err := ParseArchiveCSV(bytes.NewReader(readTestdata(t, "archive_sds011.csv")), testLocator(t), testOpt)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"2023-01-01T12:00:14Z", "2023-01-01T12:02:43Z", "2023-01-01T00:02:38Z"}
	got := []string{rs[0].RecordedAt.Format(time.RFC3339), rs[1].RecordedAt.Format(time.RFC3339), rs2[0].RecordedAt.Format(time.RFC3339)}
	if !slices.Equal(got, want) {
		t.Errorf("timestamps = %v, want %v (zoneless is UTC)", got, want)
	}
}

func TestParseArchiveCSVKeepsGoodRows(t *testing.T) {
	t.Parallel()
	input := "sensor_id;sensor_type;location;lat;lon;timestamp;pressure;altitude;pressure_sealevel;temperature;humidity;noise_LAeq\n" +
		"12346;BME280;6231;48.778;9.150;2023-01-01T00:02:40;98562.66;;;7.73;81.74;\n" + // 2 good, Pa
		"12346;BME280;6231;48.778;9.150;2023-01-01 00:05:08;985.60;;;7.70;81.92;\n" + // 3 good, hPa
		"12346;BME280;6231;48.778;9.150;2023-01-01T00:07:37;98558.91;;;7.66;182.05;\n" + // 4
		";BME280;6231;48.778;9.150;2023-01-01T00:10:05;98558.91;;;7.66;82.05;\n" + // 5
		"12346;BME280;6231;48.778;9.150;01/01/2023 00:12;98558.91;;;7.66;82.05;\n" + // 6
		"12346;BME280;6231;48.778;9.150;2023-01-01T00:15:02;985,58;;;7.66;82.05;\n" + // 7
		"12346;BME280;6231;;;2023-01-01T00:17:30;98558.91;;;7.66;82.05;\n" + // 8
		"12346;BME280;6231;48.778;9.150;2023-01-01T00:20:00;;;;;;\n" + // 9
		"12346;BME280;6231;48.778;9.150;2023-01-01T00:22:28;98558.91;;;7.66\n" + // 10
		"12346;BME280;6231;48.778;9.150;2023-01-01T00:24:56;1500;;;7.66;82.05;\n" + // 11 hPa, implausible
		"12346;BME280;6231;48.778;9.150;2023-01-01T00:27:24;;;;;;64.1\n" // 12 good, noise
	rs, rejected, err := ParseArchiveCSV(strings.NewReader(input), testLocator(t), testOpt)
	checkRejected(t, rs, rejected, err, `
4: humidity: out of range
5: sensor: missing
6: recorded_at: not a timestamp
7: pressure: not a number
8: location: missing
9: values: none
10: row: wrong number of fields
11: pressure: out of range`)
	if len(rs) != 3 {
		t.Fatalf("kept %d readings, want 3", len(rs))
	}
	if p0, p1 := *rs[0].Values.Pressure, *rs[1].Values.Pressure; p0 != 985.6266 || p1 != 985.60 {
		t.Errorf("pressures = %v, %v hPa; want 985.6266 (from Pa) and 985.6", p0, p1)
	}
	if got := formatValues(rs[2].Values); got != "noise_laeq=64.1000" {
		t.Errorf("noise reading = %s", got)
	}
}

func TestParseArchiveCSVHeader(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, header, want string
	}{
		{"no timestamp", "sensor_id;sensor_type;location;lat;lon;P1;P2", "reading: archive csv: header: no timestamp column"},
		{"no supported values", "sensor_id;sensor_type;location;lat;lon;timestamp;co2_ppm", "reading: archive csv: header: no supported value column"},
		{"repeated column", "sensor_id;sensor_type;location;lat;lon;timestamp;P1;P1", `reading: archive csv: header: repeated column 8 ("P1")`},
		{"empty", "", "reading: archive csv: no header"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseArchiveCSV(strings.NewReader(tt.header), testLocator(t), testOpt)
			if err == nil || err.Error() != tt.want {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, _, err := ParseArchiveCSV(strings.NewReader(""), nil, testOpt); err == nil {
		t.Error("no error without a locator")
	}
}

func FuzzParseArchiveCSV(f *testing.F) {
	for _, name := range []string{"archive_sds011.csv", "archive_bme280.csv", "archive_dht22.csv", "archive_pms.csv"} {
		f.Add(readTestdata(f, name))
	}
	fuzzParser(f, ParseArchiveCSV)
}

// archiveDay returns n rows of an SDS011 archive file, 2.5 minutes apart from 2023-01-01.
func archiveDay(n int) []byte {
	var b bytes.Buffer
	b.WriteString("sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n")
	start := time.Date(2023, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range n {
		at := start.Add(time.Duration(i) * 150 * time.Second).Format("2006-01-02T15:04:05")
		fmt.Fprintf(&b, "12345;SDS011;6231;48.778;9.150;%s;%.2f;;;%.2f;;\n", at, 10+float64(i%500)/10, 5+float64(i%300)/10)
	}
	return b.Bytes()
}

func BenchmarkParseArchiveCSV(b *testing.B) {
	const rows = 200_000
	data := archiveDay(rows)
	loc := testLocator(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		rs, rejected, err := ParseArchiveCSV(bytes.NewReader(data), loc, testOpt)
		if err != nil || len(rs) != rows || len(rejected) != 0 {
			b.Fatalf("ParseArchiveCSV = %d readings, %d rejected, %v", len(rs), len(rejected), err)
		}
	}
}
