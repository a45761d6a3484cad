package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"
	"time"

	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/release"
)

func num(v *float64) string {
	if v == nil {
		return ""
	}
	return strconv.FormatFloat(*v, 'f', -1, 64)
}

// releaseCSV renders a stored daily release as CSV, one row per neighbourhood.
func releaseCSV(body []byte, grid *geo.Map) ([]byte, error) {
	d, err := release.ParseAirDay(body)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"day", "neighbourhood", "name", "suppressed", "contributors", "pm2_5", "pm10", "temperature", "humidity", "k", "noise"})
	for _, cell := range d.Cells {
		n := ""
		if !cell.Suppressed {
			n = strconv.Itoa(cell.Contributors)
		}
		w.Write([]string{d.Epoch, cell.Neighbourhood, grid.Name(cell.Neighbourhood), strconv.FormatBool(cell.Suppressed), n,
			num(cell.PM25), num(cell.PM10), num(cell.Temperature), num(cell.Humidity), strconv.Itoa(d.K), d.Noise})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("server: release csv: %w", err)
	}
	return b.Bytes(), nil
}

// releaseGeoJSON returns the neighbourhood polygons with the release's values as properties.
func releaseGeoJSON(body, grid []byte) ([]byte, error) {
	d, err := release.ParseAirDay(body)
	if err != nil {
		return nil, err
	}
	cells := map[string]release.Cell{}
	for _, c := range d.Cells {
		cells[c.Neighbourhood] = c
	}
	var fc struct {
		Type     string `json:"type"`
		Features []struct {
			Type       string          `json:"type"`
			Geometry   json.RawMessage `json:"geometry"`
			Properties map[string]any  `json:"properties"`
		} `json:"features"`
	}
	if err := json.Unmarshal(grid, &fc); err != nil {
		return nil, fmt.Errorf("server: release geojson: %w", err)
	}
	for i := range fc.Features {
		p := fc.Features[i].Properties
		id, _ := p["id"].(string)
		cell, ok := cells[id]
		p["day"], p["k"], p["suppressed"] = d.Epoch, d.K, !ok || cell.Suppressed
		if ok && !cell.Suppressed {
			p["contributors"], p["pm2_5"], p["pm10"] = cell.Contributors, cell.PM25, cell.PM10
			p["temperature"], p["humidity"] = cell.Temperature, cell.Humidity
		}
	}
	out, err := json.Marshal(fc)
	if err != nil {
		return nil, fmt.Errorf("server: release geojson: %w", err)
	}
	return out, nil
}

// hourlyCSV renders a stored city × hour release as CSV, one row per hour.
func hourlyCSV(body []byte) ([]byte, error) {
	h, err := release.ParseAirHours(body)
	if err != nil {
		return nil, err
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write([]string{"day", "hour", "start", "suppressed", "contributors", "pm2_5", "pm2_5_band", "k", "noise"})
	for _, cell := range h.Hours {
		n := ""
		if !cell.Suppressed {
			n = strconv.Itoa(cell.Contributors)
		}
		w.Write([]string{h.Epoch, strconv.Itoa(cell.Hour), cell.Start, strconv.FormatBool(cell.Suppressed), n,
			num(cell.PM25), cell.PM25Band, strconv.Itoa(h.K), h.Noise})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("server: hourly csv: %w", err)
	}
	return b.Bytes(), nil
}

// OpenAQ v3-like answers (CLIENTS.md §5): one result per published mean, so tools that read
// OpenAQ's /days and /hours measurements read ours. Suppressed cells and band-only figures
// have no value and are left out; meta says how the release was made.
type openAQ struct {
	Meta    openAQMeta     `json:"meta"`
	Results []openAQResult `json:"results"`
}

type openAQMeta struct {
	Name     string  `json:"name"`
	Website  string  `json:"website"`
	Page     int     `json:"page"`
	Limit    int     `json:"limit"`
	Found    int     `json:"found"`
	Purpose  string  `json:"purpose"`
	Grid     string  `json:"grid"`
	Epoch    string  `json:"epoch"`
	K        int     `json:"k"`
	Epsilon  float64 `json:"epsilon"`
	Noise    string  `json:"noise"`
	Rounding float64 `json:"rounding"`
}

type openAQResult struct {
	Location  openAQLocation  `json:"location"`
	Value     float64         `json:"value"`
	Parameter openAQParameter `json:"parameter"`
	Period    openAQPeriod    `json:"period"`
	Summary   openAQSummary   `json:"summary"`
	Coverage  openAQCoverage  `json:"coverage"`
}

type openAQLocation struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type openAQParameter struct {
	Name  string `json:"name"`
	Units string `json:"units"`
}

type openAQPeriod struct {
	Label        string     `json:"label"`
	Interval     string     `json:"interval"`
	DatetimeFrom openAQTime `json:"datetimeFrom"`
	DatetimeTo   openAQTime `json:"datetimeTo"`
}

type openAQTime struct {
	UTC string `json:"utc"`
}

// openAQSummary carries the mean and its 95 % interval (OpenAQ's min/max/quantiles are not
// released: they would describe single residents).
type openAQSummary struct {
	Avg  float64     `json:"avg"`
	CI95 *[2]float64 `json:"ci95,omitempty"`
}

// openAQCoverage counts contributors (noisy), not readings.
type openAQCoverage struct {
	ObservedCount int    `json:"observedCount"`
	Unit          string `json:"observedUnit"`
}

func openAQPeriodOf(from time.Time, d time.Duration, label, interval string) openAQPeriod {
	return openAQPeriod{Label: label, Interval: interval,
		DatetimeFrom: openAQTime{from.UTC().Format(time.RFC3339)},
		DatetimeTo:   openAQTime{from.Add(d).UTC().Format(time.RFC3339)}}
}

func marshalOpenAQ(out openAQ) ([]byte, error) {
	out.Meta.Name, out.Meta.Website, out.Meta.Page = "commons", "/", 1
	out.Meta.Limit, out.Meta.Found = len(out.Results), len(out.Results)
	if out.Results == nil {
		out.Results = []openAQResult{}
	}
	b, err := json.Marshal(out)
	if err != nil {
		return nil, fmt.Errorf("server: openaq: %w", err)
	}
	return b, nil
}

// releaseOpenAQ renders a daily release as OpenAQ v3-like daily measurements.
func releaseOpenAQ(body []byte, grid *geo.Map) ([]byte, error) {
	d, err := release.ParseAirDay(body)
	if err != nil {
		return nil, err
	}
	from, err := time.Parse(time.DateOnly, d.Epoch)
	if err != nil {
		return nil, fmt.Errorf("server: openaq: %w", err)
	}
	period := openAQPeriodOf(from, 24*time.Hour, "1day", "24:00:00")
	out := openAQ{Meta: openAQMeta{Purpose: d.Purpose, Grid: release.GridNeighbourhoodDay, Epoch: d.Epoch,
		K: d.K, Epsilon: d.Epsilon, Noise: d.Noise, Rounding: d.Rounding}}
	for _, cell := range d.Cells {
		if cell.Suppressed {
			continue
		}
		loc := openAQLocation{ID: cell.Neighbourhood, Name: grid.Name(cell.Neighbourhood)}
		for _, s := range []struct {
			name, units string
			v           *float64
			ci          *[2]float64
		}{
			{"pm25", d.Units.PM, cell.PM25, cell.PM25CI},
			{"pm10", d.Units.PM, cell.PM10, cell.PM10CI},
			{"temperature", d.Units.Temperature, cell.Temperature, cell.TemperatureCI},
			{"relativehumidity", d.Units.Humidity, cell.Humidity, cell.HumidityCI},
		} {
			if s.v == nil {
				continue
			}
			out.Results = append(out.Results, openAQResult{Location: loc, Value: *s.v,
				Parameter: openAQParameter{s.name, s.units}, Period: period,
				Summary:  openAQSummary{Avg: *s.v, CI95: s.ci},
				Coverage: openAQCoverage{ObservedCount: cell.Contributors, Unit: "contributors"}})
		}
	}
	return marshalOpenAQ(out)
}

// hourlyOpenAQ renders a city × hour release as OpenAQ v3-like hourly measurements.
func hourlyOpenAQ(body []byte) ([]byte, error) {
	h, err := release.ParseAirHours(body)
	if err != nil {
		return nil, err
	}
	out := openAQ{Meta: openAQMeta{Purpose: h.Purpose, Grid: release.GridCityHour, Epoch: h.Epoch,
		K: h.K, Epsilon: h.Epsilon, Noise: h.Noise, Rounding: h.Rounding}}
	for _, cell := range h.Hours {
		if cell.Suppressed || cell.PM25 == nil {
			continue
		}
		from, err := time.Parse(time.RFC3339, cell.Start)
		if err != nil {
			return nil, fmt.Errorf("server: openaq: %w", err)
		}
		out.Results = append(out.Results, openAQResult{Location: openAQLocation{ID: "city", Name: "city-wide"},
			Value: *cell.PM25, Parameter: openAQParameter{"pm25", h.Units},
			Period:   openAQPeriodOf(from, time.Hour, "1hour", "01:00:00"),
			Summary:  openAQSummary{Avg: *cell.PM25, CI95: cell.PM25CI},
			Coverage: openAQCoverage{ObservedCount: cell.Contributors, Unit: "contributors"}})
	}
	return marshalOpenAQ(out)
}
