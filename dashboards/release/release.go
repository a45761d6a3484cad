// Package release is the aggregator: at each epoch close it opens the share copies of
// residents who still consent, reduces each resident to one bounded value per cell, suppresses
// cells with fewer than k contributors, and stores the release once, atomically with its hash
// in the ledger. It is the only code that holds purpose identities; it keeps no plaintext
// after a release is computed.
//
// The public grid is fixed: neighbourhood × day. A resident's readings of a day are first
// attributed to one neighbourhood (where most of their readings are), reduced to the
// resident's own mean per statistic, and clamped to the purpose's range; a cell's value is the
// mean of its residents' means. Differential-privacy noise is not applied yet: the release
// says so in its "noise" field, and docs/privacy.md explains what that leaves open.
package release

import (
	"encoding/json"
	"fmt"
	"math"
)

// AirDay is the release of one purpose for one day over the neighbourhood grid. Its JSON is
// stored once and served byte-identically.
type AirDay struct {
	Purpose        string  `json:"purpose"`
	PurposeVersion int     `json:"purpose_version"`
	Epoch          string  `json:"epoch"`
	K              int     `json:"k"`
	Noise          string  `json:"noise"`
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
	Neighbourhood string   `json:"neighbourhood"`
	Suppressed    bool     `json:"suppressed"`
	Contributors  int      `json:"contributors,omitempty"`
	PM25          *float64 `json:"pm2_5,omitempty"`
	PM10          *float64 `json:"pm10,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	Humidity      *float64 `json:"humidity,omitempty"`
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

// contribution is one resident's bounded means for one day, in one neighbourhood.
type contribution struct {
	cell                      string
	pm25, pm10, temp, humid   float64
	hasPM25, hasPM10, hasTemp bool
	hasHumid                  bool
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
}

// aggregate builds the release from per-resident contributions.
func aggregate(p Params, cs []contribution) AirDay {
	byCell := map[string][]contribution{}
	for _, c := range cs {
		byCell[c.cell] = append(byCell[c.cell], c)
	}
	d := AirDay{
		Purpose: p.Purpose, PurposeVersion: p.Version, Epoch: p.Epoch, K: p.K, Noise: "none",
		Clamp: p.Clamp, Units: Units{PM: "µg/m³", Temperature: "°C", Humidity: "%"},
		Version: FormatVersion, Rounding: p.Resolution,
	}
	for _, id := range p.Cells {
		in := byCell[id]
		if len(in) < p.K {
			d.Cells = append(d.Cells, Cell{Neighbourhood: id, Suppressed: true})
			continue
		}
		cell := Cell{Neighbourhood: id, Contributors: len(in)}
		cell.PM25 = meanOf(in, func(c contribution) (float64, bool) { return c.pm25, c.hasPM25 }, p)
		cell.PM10 = meanOf(in, func(c contribution) (float64, bool) { return c.pm10, c.hasPM10 }, p)
		cell.Temperature = meanOf(in, func(c contribution) (float64, bool) { return c.temp, c.hasTemp }, p)
		cell.Humidity = meanOf(in, func(c contribution) (float64, bool) { return c.humid, c.hasHumid }, p)
		d.Contributors += len(in)
		d.Cells = append(d.Cells, cell)
	}
	return d
}

// meanOf averages one statistic over the residents who measured it; fewer than k of them
// and the statistic is withheld, like a suppressed cell.
func meanOf(in []contribution, get func(contribution) (float64, bool), p Params) *float64 {
	var sum float64
	n := 0
	for _, c := range in {
		if v, ok := get(c); ok {
			sum += v
			n++
		}
	}
	if n < p.K {
		return nil
	}
	m := math.Round(sum/float64(n)/p.Resolution) * p.Resolution
	m = math.Round(m*1e6) / 1e6 // drop binary noise such as 12.300000000000001
	return &m
}

func clamp(v float64, r [2]float64) float64 { return math.Min(math.Max(v, r[0]), r[1]) }
