// Package release is the aggregator: at each epoch close it opens the share copies of
// residents who still consent, reduces each resident to one bounded value per cell, suppresses
// cells with fewer than k contributors, and stores the release once, atomically with its hash
// in the ledger. It is the only code that holds purpose identities; it keeps no plaintext
// after a release is computed.
//
// The public grid is fixed: neighbourhood × day, and city × hour (hours.go). A resident's readings of a day are first
// attributed to one neighbourhood (where most of their readings are), reduced to the
// resident's own mean per statistic, and clamped to the purpose's range; a cell's value is the
// mean of its residents' means.
//
// Every published figure is differentially private with the Laplace mechanism of Google's
// differential-privacy library: the privacy unit is the resident, who contributes to one cell
// per day with one bounded value per statistic (bounds enforced here, before the library sees
// them). A resident's daily ε is split across the cell's statistics (epsilonShare). A cell is
// published only if both its raw and its noisy count reach k. A mean is published, with its
// 95 % confidence interval, only when its median error is within 15 %; otherwise PM2.5 is
// published as the European AQI band of the noisy mean (post-processing: no extra budget), and
// the other statistics are withheld.
package release

import (
	"encoding/json"
	"fmt"
	"math"

	"github.com/google/differential-privacy/go/v3/dpagg"
	"github.com/google/differential-privacy/go/v3/noise"
)

// AirDay is the release of one purpose for one day over the neighbourhood grid. Its JSON is
// stored once and served byte-identically.
type AirDay struct {
	Purpose        string  `json:"purpose"`
	PurposeVersion int     `json:"purpose_version"`
	Epoch          string  `json:"epoch"`
	K              int     `json:"k"`
	Noise          string  `json:"noise"`
	Epsilon        float64 `json:"epsilon"`
	Contributors   int     `json:"contributors"`
	Cells          []Cell  `json:"cells"`
	Clamp          Clamps  `json:"clamp"`
	Units          Units   `json:"units"`
	Version        int     `json:"format"`
	Rounding       float64 `json:"rounding"`
}

// Clamps are the per-resident bounds applied before averaging.
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

// Cell is one neighbourhood's statistics for the day. A suppressed cell carries no statistic
// at all, not even its number of contributors.
type Cell struct {
	Neighbourhood string      `json:"neighbourhood"`
	Suppressed    bool        `json:"suppressed"`
	Contributors  int         `json:"contributors,omitempty"` // noisy
	PM25          *float64    `json:"pm2_5,omitempty"`
	PM25CI        *[2]float64 `json:"pm2_5_ci95,omitempty"`
	PM25Band      string      `json:"pm2_5_band,omitempty"`
	PM10          *float64    `json:"pm10,omitempty"`
	PM10CI        *[2]float64 `json:"pm10_ci95,omitempty"`
	Temperature   *float64    `json:"temperature,omitempty"`
	TemperatureCI *[2]float64 `json:"temperature_ci95,omitempty"`
	Humidity      *float64    `json:"humidity,omitempty"`
	HumidityCI    *[2]float64 `json:"humidity_ci95,omitempty"`
}

// epsilonShare splits a resident's ε for the day across the statistics of their cell.
var epsilonShare = struct{ count, pm25, pm10, temperature, humidity float64 }{
	count: 0.2, pm25: 0.5, pm10: 0.1, temperature: 0.1, humidity: 0.1,
}

// maxMedianError is the largest median error at which a mean is published, relative to the
// statistic's reference level (see references).
const maxMedianError = 0.15

// references are the levels a mean's median error is measured against: the WHO 2021 daily
// guidelines for particles, and typical spreads for the weather. A fixed level, not the noisy
// mean itself: noise that pushed the mean up would otherwise let an imprecise mean through.
var references = struct{ pm25, pm10, temperature, humidity float64 }{pm25: 15, pm10: 45, temperature: 10, humidity: 20}

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

// FormatVersion is the version of the AirDay JSON.
const FormatVersion = 1

// ParseAirDay decodes a stored release.
func ParseAirDay(b []byte) (AirDay, error) {
	var d AirDay
	if err := json.Unmarshal(b, &d); err != nil {
		return AirDay{}, fmt.Errorf("release: parse: %w", err)
	}
	return d, nil
}

// contribution is one resident's bounded means for one day: in one neighbourhood for the
// neighbourhood × day grid, and per UTC hour city-wide for the city × hour grid.
type contribution struct {
	citizen                   string
	cell                      string
	pm25, pm10, temp, humid   float64
	hasPM25, hasPM10, hasTemp bool
	hasHumid                  bool
	hourPM25                  [HoursPerDay]float64
	hasHour                   [HoursPerDay]bool
}

// Params are the release parameters taken from the purpose's policy.
type Params struct {
	K          int
	Clamp      Clamps
	Cells      []string // the grid's neighbourhood ids, in display order
	Purpose    string
	Version    int
	Epoch      string
	Resolution float64 // values are rounded to this step
	Epsilon    float64 // each resident's ε for this release
	Noise      noise.Noise
}

// aggregate builds the release from per-resident contributions.
func aggregate(p Params, cs []contribution) (AirDay, error) {
	byCell := map[string][]contribution{}
	for _, c := range cs {
		byCell[c.cell] = append(byCell[c.cell], c)
	}
	d := AirDay{
		Purpose: p.Purpose, PurposeVersion: p.Version, Epoch: p.Epoch, K: p.K, Noise: noiseName(p.Noise),
		Epsilon: p.Epsilon, Clamp: p.Clamp, Units: Units{PM: "µg/m³", Temperature: "°C", Humidity: "%"},
		Version: FormatVersion, Rounding: p.Resolution,
	}
	for _, id := range p.Cells {
		cell, err := aggregateCell(p, id, byCell[id])
		if err != nil {
			return AirDay{}, fmt.Errorf("release: cell %s: %w", id, err)
		}
		d.Contributors += cell.Contributors
		d.Cells = append(d.Cells, cell)
	}
	return d, nil
}

func noiseName(n noise.Noise) string {
	if n == nil {
		return "none"
	}
	return fmt.Sprint(n)
}

// aggregateCell publishes one cell: suppressed unless both the raw and the noisy count of its
// residents reach k, then each statistic as a noisy mean, a band, or nothing.
func aggregateCell(p Params, id string, in []contribution) (Cell, error) {
	suppressed := Cell{Neighbourhood: id, Suppressed: true}
	noisy, ok, err := noisyCount(len(in), p.K, p.Epsilon*epsilonShare.count, 1, p.Noise)
	if err != nil || !ok {
		return suppressed, err
	}
	cell := Cell{Neighbourhood: id, Contributors: noisy}
	pm25, err := estimate(p, values(in, func(c contribution) (float64, bool) { return c.pm25, c.hasPM25 }),
		p.Clamp.PM25, p.Epsilon*epsilonShare.pm25, 1, noisy, references.pm25)
	if err != nil {
		return Cell{}, err
	}
	if pm25.accurate {
		cell.PM25, cell.PM25CI = pm25.mean, pm25.ci
	} else if pm25.mean != nil {
		cell.PM25Band = Band(*pm25.mean)
	}
	for _, s := range []struct {
		bounds [2]float64
		eps    float64
		ref    float64
		get    func(contribution) (float64, bool)
		mean   **float64
		ci     **[2]float64
	}{
		{p.Clamp.PM10, epsilonShare.pm10, references.pm10, func(c contribution) (float64, bool) { return c.pm10, c.hasPM10 }, &cell.PM10, &cell.PM10CI},
		{p.Clamp.Temperature, epsilonShare.temperature, references.temperature, func(c contribution) (float64, bool) { return c.temp, c.hasTemp }, &cell.Temperature, &cell.TemperatureCI},
		{p.Clamp.Humidity, epsilonShare.humidity, references.humidity, func(c contribution) (float64, bool) { return c.humid, c.hasHumid }, &cell.Humidity, &cell.HumidityCI},
	} {
		e, err := estimate(p, values(in, s.get), s.bounds, p.Epsilon*s.eps, 1, noisy, s.ref)
		if err != nil {
			return Cell{}, err
		}
		if e.accurate {
			*s.mean, *s.ci = e.mean, e.ci
		}
	}
	return cell, nil
}

// noisyCount releases a count of distinct residents, each counted once in this cell and in at
// most partitions cells of the release, with Laplace noise of budget eps: published (ok) only
// when both the raw count and the noisy count reach k.
func noisyCount(n, k int, eps float64, partitions int64, nz noise.Noise) (noisy int, ok bool, err error) {
	if n < k {
		return 0, false, nil
	}
	count, err := dpagg.NewCount(&dpagg.CountOptions{Epsilon: eps, MaxPartitionsContributed: partitions, Noise: nz})
	if err != nil {
		return 0, false, err
	}
	if err := count.IncrementBy(int64(n)); err != nil {
		return 0, false, err
	}
	v, err := count.Result()
	if err != nil {
		return 0, false, err
	}
	if v < int64(k) {
		return 0, false, nil
	}
	return int(v), true, nil
}

// est is one statistic's noisy mean, its 95 % interval, and whether its median error is
// small enough to publish it.
type est struct {
	mean     *float64
	ci       *[2]float64
	accurate bool
}

// values returns the statistic of every resident who measured it.
func values(in []contribution, get func(contribution) (float64, bool)) []float64 {
	var out []float64
	for _, c := range in {
		if v, ok := get(c); ok {
			out = append(out, v)
		}
	}
	return out
}

// estimate computes a bounded noisy mean of one value per resident, each resident contributing
// to at most partitions cells of the release with eps in all; fewer than k values and nothing
// is computed.
func estimate(p Params, values []float64, bounds [2]float64, eps float64, partitions int64, noisyCount int, ref float64) (est, error) {
	if len(values) < p.K {
		return est{}, nil
	}
	bm, err := dpagg.NewBoundedMean(&dpagg.BoundedMeanOptions{Epsilon: eps, MaxPartitionsContributed: partitions,
		MaxContributionsPerPartition: 1, Lower: bounds[0], Upper: bounds[1], Noise: p.Noise})
	if err != nil {
		return est{}, err
	}
	for _, v := range values {
		if err := bm.Add(v); err != nil {
			return est{}, err
		}
	}
	m, err := bm.Result()
	if err != nil {
		return est{}, err
	}
	ci95, err := bm.ComputeConfidenceInterval(0.05)
	if err != nil {
		return est{}, err
	}
	mean := round(m, p.Resolution)
	ci := [2]float64{round(ci95.LowerBound, p.Resolution), round(ci95.UpperBound, p.Resolution)}
	// The mean's error is dominated by the noise on its sum: the library spends half of eps
	// on the sum of values centred in the bounds (sensitivity: half the range, in each of the
	// partitions a resident may reach). The median error is the half-width of that noise's
	// 50 % interval, divided by the cell's noisy count of contributors: a public figure, so the
	// choice between mean and band reveals nothing the release does not.
	sumNoise, err := p.Noise.ComputeConfidenceIntervalFloat64(0, partitions, (bounds[1]-bounds[0])/2, eps/2, 0, 0.5)
	if err != nil {
		return est{}, err
	}
	medianErr := (sumNoise.UpperBound - sumNoise.LowerBound) / 2 / float64(noisyCount)
	return est{mean: &mean, ci: &ci, accurate: medianErr <= maxMedianError*ref}, nil
}

// round rounds v to the resolution step, dropping binary noise such as 12.300000000000001.
func round(v, step float64) float64 {
	r := math.Round(v/step) * step
	return math.Round(r*1e6) / 1e6
}

func clamp(v float64, r [2]float64) float64 { return math.Min(math.Max(v, r[0]), r[1]) }
