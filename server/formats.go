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

// stat is one statistic of a release's cells, for the downloads.
type stat struct {
	name, units string // the download's name ("pm2_5") and OpenAQ's ("pm25")
	openaq      string
	get         func(release.Cell) (*float64, *[2]float64, string)
}

// stats returns the statistics some cell (or the city) of a release publishes, PM2.5 always:
// a statistic never published gets no column.
func stats(u release.Units, cells []release.Cell) []stat {
	all := []stat{
		{"pm2_5", u.PM, "pm25", func(c release.Cell) (*float64, *[2]float64, string) {
			if c.PM25 != nil {
				return c.PM25, c.PM25CI, release.Band(*c.PM25) // a mean's band, for readers of bands
			}
			return nil, nil, c.PM25Band
		}},
		{"pm10", u.PM, "pm10", func(c release.Cell) (*float64, *[2]float64, string) { return c.PM10, c.PM10CI, "" }},
		{"temperature", u.Temperature, "temperature", func(c release.Cell) (*float64, *[2]float64, string) {
			return c.Temperature, c.TemperatureCI, ""
		}},
		{"humidity", u.Humidity, "relativehumidity", func(c release.Cell) (*float64, *[2]float64, string) {
			return c.Humidity, c.HumidityCI, ""
		}},
	}
	out := all[:1]
	for _, s := range all[1:] {
		for _, c := range cells {
			if v, _, _ := s.get(c); v != nil && !c.Suppressed {
				out = append(out, s)
				break
			}
		}
	}
	return out
}

// table is what the CSV and GeoJSON downloads of a daily or a weekly release render.
type table struct {
	period string    // the day or the ISO week
	from   time.Time // its first day
	city   *release.Cell
	cells  []release.Cell
	stats  []stat
	k      int
	noise  string
	rho    float64
}

// dayTable parses a daily release into its table.
func dayTable(body []byte) (table, release.AirDay, error) {
	d, err := release.ParseAirDay(body)
	if err != nil {
		return table{}, d, err
	}
	t, err := newTable(d.Epoch, d.Epoch, d.City, d.Cells, d.Units)
	t.k, t.noise, t.rho = d.K, d.Noise, d.Rho
	return t, d, err
}

// weekTable parses a weekly release into its table.
func weekTable(body []byte) (table, release.AirWeek, error) {
	w, err := release.ParseAirWeek(body)
	if err != nil {
		return table{}, w, err
	}
	t, err := newTable(w.Epoch, w.From, &w.City, w.Cells, w.Units)
	t.k, t.noise, t.rho = w.K, w.Noise, w.Rho
	return t, w, err
}

// newTable is the table of a period starting on the date from, with the statistics its city
// and cells publish.
func newTable(period, from string, city *release.Cell, cells []release.Cell, units release.Units) (table, error) {
	start, err := time.Parse(time.DateOnly, from)
	if err != nil {
		return table{}, fmt.Errorf("server: release %s: %w", period, err)
	}
	all := cells
	if city != nil {
		all = append([]release.Cell{*city}, cells...)
	}
	return table{period: period, from: start, city: city, cells: cells, stats: stats(units, all)}, nil
}

// tableCSV renders a release as CSV, the city first (neighbourhood empty), one row per
// neighbourhood: for each statistic its mean and 95 % interval, and PM2.5's band; extra rows
// (the hour-of-day profile) follow, with their hour.
func tableCSV(t table, grid *geo.Map, hours []release.HourOfDay) ([]byte, error) {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	head := []string{"period", "neighbourhood", "name", "hour", "suppressed", "contributors"}
	for _, s := range t.stats {
		head = append(head, s.name, s.name+"_ci95_low", s.name+"_ci95_high")
		if s.name == "pm2_5" {
			head = append(head, "pm2_5_band")
		}
	}
	w.Write(append(head, "k", "noise", "rho"))
	row := func(id, name, hour string, c release.Cell) {
		n := ""
		if !c.Suppressed {
			n = strconv.Itoa(c.Contributors)
		}
		r := []string{t.period, id, name, hour, strconv.FormatBool(c.Suppressed), n}
		if c.Suppressed {
			c = release.Cell{Suppressed: true} // a suppressed cell carries no figure
		}
		for _, s := range t.stats {
			v, ci, band := s.get(c)
			lo, hi := "", ""
			if ci != nil {
				lo, hi = num(&ci[0]), num(&ci[1])
			}
			r = append(r, num(v), lo, hi)
			if s.name == "pm2_5" {
				r = append(r, band)
			}
		}
		w.Write(append(r, strconv.Itoa(t.k), t.noise, strconv.FormatFloat(t.rho, 'g', -1, 64)))
	}
	if t.city != nil {
		row("", "city-wide", "", *t.city)
	}
	for _, c := range t.cells {
		row(c.Neighbourhood, grid.Name(c.Neighbourhood), "", c)
	}
	for _, h := range hours {
		row("", "city-wide", strconv.Itoa(h.Hour), release.Cell{Suppressed: h.Suppressed, Contributors: h.Contributors,
			PM25: h.PM25, PM25CI: h.PM25CI, PM25Band: h.PM25Band})
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return nil, fmt.Errorf("server: release csv: %w", err)
	}
	return b.Bytes(), nil
}

// releaseCSV renders a stored daily release as CSV.
func releaseCSV(body []byte, grid *geo.Map) ([]byte, error) {
	t, _, err := dayTable(body)
	if err != nil {
		return nil, err
	}
	return tableCSV(t, grid, nil)
}

// weekCSV renders a stored weekly release as CSV, with its hour-of-day profile.
func weekCSV(body []byte, grid *geo.Map) ([]byte, error) {
	t, w, err := weekTable(body)
	if err != nil {
		return nil, err
	}
	return tableCSV(t, grid, w.Hours)
}

// tableGeoJSON returns the neighbourhood polygons with a release's figures as properties.
func tableGeoJSON(t table, grid []byte) ([]byte, error) {
	cells := map[string]release.Cell{}
	for _, c := range t.cells {
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
		p["period"], p["k"], p["suppressed"] = t.period, t.k, !ok || cell.Suppressed
		if !ok || cell.Suppressed {
			continue
		}
		p["contributors"] = cell.Contributors
		for _, s := range t.stats {
			v, ci, band := s.get(cell)
			p[s.name], p[s.name+"_ci95"] = v, ci
			if s.name == "pm2_5" && band != "" {
				p["pm2_5_band"] = band
			}
		}
	}
	out, err := json.Marshal(fc)
	if err != nil {
		return nil, fmt.Errorf("server: release geojson: %w", err)
	}
	return out, nil
}

// releaseGeoJSON returns the neighbourhood polygons with a daily release's figures.
func releaseGeoJSON(body, grid []byte) ([]byte, error) {
	t, _, err := dayTable(body)
	if err != nil {
		return nil, err
	}
	return tableGeoJSON(t, grid)
}

// weekGeoJSON returns the neighbourhood polygons with a weekly release's figures.
func weekGeoJSON(body, grid []byte) ([]byte, error) {
	t, _, err := weekTable(body)
	if err != nil {
		return nil, err
	}
	return tableGeoJSON(t, grid)
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
	Epsilon  float64 `json:"epsilon,omitempty"`
	Rho      float64 `json:"rho,omitempty"`
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

// openAQSummary carries the mean, its 95 % interval and, for PM2.5, its European AQI band
// (OpenAQ's min/max/quantiles are not released: they would describe single residents).
type openAQSummary struct {
	Avg  float64     `json:"avg"`
	CI95 *[2]float64 `json:"ci95,omitempty"`
	Band string      `json:"band,omitempty"`
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

// openAQResults appends one result per published mean of a table's city and cells; band-only
// figures have no value and are left out.
func openAQResults(out *openAQ, t table, grid *geo.Map, period openAQPeriod) {
	add := func(loc openAQLocation, c release.Cell) {
		if c.Suppressed {
			return
		}
		for _, s := range t.stats {
			v, ci, band := s.get(c)
			if v == nil {
				continue
			}
			out.Results = append(out.Results, openAQResult{Location: loc, Value: *v,
				Parameter: openAQParameter{s.openaq, s.units}, Period: period,
				Summary:  openAQSummary{Avg: *v, CI95: ci, Band: band},
				Coverage: openAQCoverage{ObservedCount: c.Contributors, Unit: "contributors"}})
		}
	}
	if t.city != nil {
		add(openAQLocation{ID: "city", Name: "city-wide"}, *t.city)
	}
	for _, c := range t.cells {
		add(openAQLocation{ID: c.Neighbourhood, Name: grid.Name(c.Neighbourhood)}, c)
	}
}

// releaseOpenAQ renders a daily release as OpenAQ v3-like daily measurements.
func releaseOpenAQ(body []byte, grid *geo.Map) ([]byte, error) {
	t, d, err := dayTable(body)
	if err != nil {
		return nil, err
	}
	out := openAQ{Meta: openAQMeta{Purpose: d.Purpose, Grid: release.GridNeighbourhoodDay, Epoch: d.Epoch,
		K: d.K, Epsilon: d.Epsilon, Rho: d.Rho, Noise: d.Noise, Rounding: d.Rounding}}
	openAQResults(&out, t, grid, openAQPeriodOf(t.from, 24*time.Hour, "1day", "24:00:00"))
	return marshalOpenAQ(out)
}

// weekOpenAQ renders a weekly release as OpenAQ v3-like weekly measurements of the city and
// the neighbourhoods, and the city's hour-of-day profile as OpenAQ's "hourofday" aggregates.
func weekOpenAQ(body []byte, grid *geo.Map) ([]byte, error) {
	t, w, err := weekTable(body)
	if err != nil {
		return nil, err
	}
	out := openAQ{Meta: openAQMeta{Purpose: w.Purpose, Grid: release.GridNeighbourhoodWeek, Epoch: w.Epoch,
		K: w.K, Rho: w.Rho, Noise: w.Noise, Rounding: w.Rounding}}
	openAQResults(&out, t, grid, openAQPeriodOf(t.from, 7*24*time.Hour, "1week", "168:00:00"))
	for _, h := range w.Hours {
		if h.Suppressed || h.PM25 == nil {
			continue
		}
		period := openAQPeriodOf(t.from.Add(time.Duration(h.Hour)*time.Hour), time.Hour, "hourofday", "01:00:00")
		out.Results = append(out.Results, openAQResult{Location: openAQLocation{ID: "city", Name: "city-wide"},
			Value: *h.PM25, Parameter: openAQParameter{"pm25", w.Units.PM}, Period: period,
			Summary:  openAQSummary{Avg: *h.PM25, CI95: h.PM25CI, Band: release.Band(*h.PM25)},
			Coverage: openAQCoverage{ObservedCount: h.Contributors, Unit: "contributors"}})
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
