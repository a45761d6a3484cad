// Package release is the aggregator: at each epoch close it opens the share copies of
// residents who still consent, reduces each resident to one bounded value per cell and
// statistic, adds noise, and stores the release once, atomically with its hash in the ledger.
// It is the only code that holds purpose identities; it keeps no plaintext after a release is
// computed.
//
// Two releases are published: each day, the PM2.5 of every neighbourhood and of the city
// (release.go); each ISO week, the PM2.5, PM10, temperature and humidity of every neighbourhood
// and of the city, and the city's PM2.5 per hour of the day (week.go). A resident's readings
// are first cleaned (quality.go), attributed to one neighbourhood (where most of their readings
// are), and reduced to the resident's own mean per statistic.
//
// Every published figure is differentially private with the Gaussian mechanism of Google's
// differential-privacy library, accounted in zero-concentrated differential privacy
// (accountant.go): the privacy unit is the resident, whose budget per day is shared among the
// statistics by a Plan (plan.go). No decision depends on a raw count: every cell of the public
// grid is computed with noise, and whether a cell, a mean or a band is shown is decided from
// the noisy figures alone (stat.go).
package release

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/noise"
)

// AirDay is the release of one purpose for one day over the neighbourhood grid. Its JSON is
// stored once and served byte-identically.
type AirDay struct {
	Purpose        string `json:"purpose"`
	PurposeVersion int    `json:"purpose_version"`
	Epoch          string `json:"epoch"`
	K              int    `json:"k"`
	Noise          string `json:"noise"`
	// Epsilon is the ε a format-1 release was computed with (Laplace noise); format 2 states
	// Rho and Guarantee instead.
	Epsilon float64 `json:"epsilon,omitempty"`
	// Rho is the zCDP budget this release cost each resident in it.
	Rho float64 `json:"rho,omitempty"`
	// Guarantee is the purpose's guarantee per day, week and 30 days.
	Guarantee *Guarantee `json:"guarantee,omitempty"`
	// Contributors is the city's noisy count of contributors.
	Contributors int `json:"contributors"`
	// City is the city-wide figure; format 1 has none.
	City     *Cell   `json:"city,omitempty"`
	Cells    []Cell  `json:"cells"`
	Clamp    Clamps  `json:"clamp"`
	Units    Units   `json:"units"`
	Version  int     `json:"format"`
	Rounding float64 `json:"rounding"`
}

// Clamps are the policy's bounds of a resident's value of each statistic.
type Clamps struct {
	PM25        [2]float64 `json:"pm2_5"`
	PM10        [2]float64 `json:"pm10"`
	Temperature [2]float64 `json:"temperature"`
	Humidity    [2]float64 `json:"humidity"`
}

// Physical bounds for the statistics a purpose's policy does not bound.
var (
	temperatureRange = [2]float64{-40, 50}
	humidityRange    = [2]float64{0, 100}
)

// Units name the unit of every statistic.
type Units struct {
	PM          string `json:"pm"`
	Temperature string `json:"temperature"`
	Humidity    string `json:"humidity"`
}

// Cell is one neighbourhood's figures (or the city's, without a neighbourhood). A suppressed
// cell, whose noisy count of contributors is below k, carries no figure at all, not even that
// count. A statistic has a mean with its 95 % interval, or (PM2.5) only its AQI band, or
// nothing. A daily release carries PM2.5 only; format 1 carried every statistic daily.
type Cell struct {
	Neighbourhood string `json:"neighbourhood,omitempty"`
	Suppressed    bool   `json:"suppressed"`
	Contributors  int    `json:"contributors,omitempty"` // noisy
	// ClampPM25 is the window each resident's PM2.5 was clamped to, around a public centre.
	ClampPM25     *[2]float64 `json:"clamp_pm2_5,omitempty"`
	PM25          *float64    `json:"pm2_5,omitempty"`
	PM25CI        *[2]float64 `json:"pm2_5_ci95,omitempty"`
	PM25Band      string      `json:"pm2_5_band,omitempty"`
	PM10          *float64    `json:"pm10,omitempty"`
	PM10CI        *[2]float64 `json:"pm10_ci95,omitempty"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TemperatureCI *[2]float64 `json:"temperature_ci95,omitempty"`
	Humidity      *float64    `json:"humidity,omitempty"`
	HumidityCI    *[2]float64 `json:"humidity_ci95,omitempty"`
	// Reference (the weekly city) and Ratio (weekly cells) centre the next week's windows:
	// per statistic ("pm2_5", "pm10", "temperature", "humidity"), the city's noisy mean, and a
	// cell's noisy mean over the city's, published whenever the figure's interval is within
	// its stage's window, shown or not. They are too coarse to read as figures.
	Reference map[string]float64 `json:"reference,omitempty"`
	Ratio     map[string]float64 `json:"ratio,omitempty"`
	// The windows of the weekly statistics, as ClampPM25.
	ClampPM10        *[2]float64 `json:"clamp_pm10,omitempty"`
	ClampTemperature *[2]float64 `json:"clamp_temperature,omitempty"`
	ClampHumidity    *[2]float64 `json:"clamp_humidity,omitempty"`
}

// Band returns the European Air Quality Index band of a daily PM2.5 value in µg/m³.
func Band(pm25 float64) string {
	switch {
	case pm25 <= 10:
		return "good"
	case pm25 <= 20:
		return "fair"
	case pm25 <= 25:
		return "moderate"
	case pm25 <= 50:
		return "poor"
	case pm25 <= 75:
		return "very poor"
	default:
		return "extremely poor"
	}
}

// FormatVersion is the version of the AirDay and AirWeek JSON: 2 since releases are Gaussian
// and accounted in zCDP.
const FormatVersion = 2

// ParseAirDay decodes a stored release.
func ParseAirDay(b []byte) (AirDay, error) {
	var d AirDay
	if err := json.Unmarshal(b, &d); err != nil {
		return AirDay{}, fmt.Errorf("release: parse: %w", err)
	}
	return d, nil
}

// contribution is one resident's bounded means over an epoch (a day or a week): in one
// neighbourhood for the neighbourhood grid, and per UTC hour of the day city-wide for the
// hour-of-day profile.
type contribution struct {
	citizen                   string
	cell                      string
	pm25, pm10, temp, humid   float64
	hasPM25, hasPM10, hasTemp bool
	hasHumid                  bool
	hourPM25                  [HoursPerDay]float64
	hasHour                   [HoursPerDay]bool
}

// Params are the release parameters taken from the purpose's policy and the public record.
type Params struct {
	K          int
	Clamp      Clamps
	Cells      []string // the grid's neighbourhood ids, in display order
	Purpose    string
	Version    int
	Epoch      string
	Resolution float64 // values are rounded to this step
	Plan       Plan
	Noise      noise.Noise
	// Population is the public number of registered residents, the most any count may say.
	Population int
	// Previous is the previous week's release, whose published figures centre the clamps;
	// nil when there is none.
	Previous *AirWeek
}

func (p Params) estimator() estimator {
	return estimator{m: mechanism{p.Noise}, plan: p.Plan, population: p.Population}
}

// units are the units of every release.
func (p Params) units() Units { return Units{PM: "µg/m³", Temperature: "°C", Humidity: "%"} }

// aggregateDay builds a day's release: the PM2.5 of every cell and of the city.
func aggregateDay(p Params, cs []contribution) (AirDay, error) {
	g := p.Plan.Guarantee()
	d := AirDay{
		Purpose: p.Purpose, PurposeVersion: p.Version, Epoch: p.Epoch, K: p.K, Noise: noiseName(p.Noise),
		Rho: p.Plan.Daily, Guarantee: &g, Clamp: p.Clamp, Units: p.units(), Version: FormatVersion,
		Rounding: p.Resolution,
	}
	city, cells, err := dayFigures(p, cs)
	if err != nil {
		return AirDay{}, err
	}
	d.City = p.cell("", dayPM25, city)
	d.Contributors = d.City.Contributors
	for i, id := range p.Cells {
		d.Cells = append(d.Cells, *p.cell(id, dayPM25, cells[i]))
	}
	return d, nil
}

// dayFigures computes a day's noisy PM2.5 of the city and of every cell.
func dayFigures(p Params, cs []contribution) (figure, []figure, error) {
	vals := byCell(p.Cells, cs, func(c contribution) (float64, bool) { return c.pm25, c.hasPM25 })
	city, cells, err := p.estimator().stat(dayPM25, p.Clamp.PM25, p.Cells, vals, p.Previous.reference(statPM25), 0)
	if err != nil {
		return figure{}, nil, fmt.Errorf("release: %s: %w", p.Epoch, err)
	}
	return city, cells, nil
}

// cell is the published PM2.5 of a figure: suppressed below k.
func (p Params) cell(id string, s statSpec, f figure) *Cell {
	if f.n < p.K {
		return &Cell{Neighbourhood: id, Suppressed: true}
	}
	c := &Cell{Neighbourhood: id, Contributors: f.n, ClampPM25: &f.clamp}
	c.PM25, c.PM25CI, c.PM25Band = s.shown(f, p.K, p.Resolution)
	return c
}

// byCell returns, per cell of ids, the values of the residents attributed to it.
func byCell(ids []string, cs []contribution, get func(contribution) (float64, bool)) [][]float64 {
	index := make(map[string]int, len(ids))
	for i, id := range ids {
		index[id] = i
	}
	vals := make([][]float64, len(ids))
	for _, c := range cs {
		if i, ok := index[c.cell]; ok {
			if v, has := get(c); has {
				vals[i] = append(vals[i], v)
			}
		}
	}
	return vals
}

func noiseName(n noise.Noise) string {
	if n == nil {
		return "none"
	}
	return fmt.Sprint(n)
}

// round rounds v to the resolution step, dropping binary noise such as 12.300000000000001.
func round(v, step float64) float64 {
	r := math.Round(v/step) * step
	return math.Round(r*1e6) / 1e6
}

func clamp(v float64, r [2]float64) float64 { return math.Min(math.Max(v, r[0]), r[1]) }
