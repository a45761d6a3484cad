package release

import (
	"encoding/json"
	"fmt"
	"time"
)

// GridCityHour is the grid name of the city-wide hourly release a purpose publishes beside its
// neighbourhood × day release when its policy gives it a share of the day's ε (HourEpsilon).
const GridCityHour = "city×hour"

// HoursPerDay is the number of cells of a city × hour release: the UTC hours of the day.
const HoursPerDay = 24

// hourShare splits a resident's ε for the hourly release across its statistics. A resident
// contributes to every hour of the day, so each cell gets 1/24 of it (the library divides by
// MaxPartitionsContributed).
var hourShare = struct{ count, pm25 float64 }{count: 0.25, pm25: 0.75}

// AirHours is the city × hour release of one purpose for one day: one city-wide cell per UTC
// hour, PM2.5 only. Each resident contributes at most one value per hour (their own mean of
// that hour, clamped). Its JSON is stored once and served byte-identically.
type AirHours struct {
	Purpose        string     `json:"purpose"`
	PurposeVersion int        `json:"purpose_version"`
	Grid           string     `json:"grid"`
	Epoch          string     `json:"epoch"`
	K              int        `json:"k"`
	Noise          string     `json:"noise"`
	Epsilon        float64    `json:"epsilon"`
	Hours          []HourCell `json:"hours"`
	Clamp          [2]float64 `json:"clamp_pm2_5"`
	Units          string     `json:"units"`
	Version        int        `json:"format"`
	Rounding       float64    `json:"rounding"`
}

// HourCell is the city's statistics for one hour. A suppressed cell carries no statistic,
// not even its number of contributors.
type HourCell struct {
	Hour         int         `json:"hour"`
	Start        string      `json:"start"`
	Suppressed   bool        `json:"suppressed"`
	Contributors int         `json:"contributors,omitempty"` // noisy
	PM25         *float64    `json:"pm2_5,omitempty"`
	PM25CI       *[2]float64 `json:"pm2_5_ci95,omitempty"`
	PM25Band     string      `json:"pm2_5_band,omitempty"`
}

// HourlyEpoch is the epoch a day's city × hour release is logged under in the ledger.
func HourlyEpoch(day string) string { return day + "/hours" }

// ParseAirHours decodes a stored hourly release.
func ParseAirHours(b []byte) (AirHours, error) {
	var h AirHours
	if err := json.Unmarshal(b, &h); err != nil {
		return AirHours{}, fmt.Errorf("release: parse hours: %w", err)
	}
	return h, nil
}

// aggregateHours builds the city × hour release: for each hour, the residents who measured
// PM2.5 in it, suppressed unless the raw and the noisy count reach k, then a noisy mean with
// its interval, or only its band when not precise enough. p.Epsilon is the hourly release's ε.
func aggregateHours(p Params, cs []contribution) (AirHours, error) {
	day, err := time.Parse(time.DateOnly, p.Epoch)
	if err != nil {
		return AirHours{}, fmt.Errorf("release: hours: %w", err)
	}
	h := AirHours{
		Purpose: p.Purpose, PurposeVersion: p.Version, Grid: GridCityHour, Epoch: p.Epoch, K: p.K,
		Noise: noiseName(p.Noise), Epsilon: p.Epsilon, Clamp: p.Clamp.PM25, Units: "µg/m³",
		Version: FormatVersion, Rounding: p.Resolution,
	}
	for hour := range HoursPerDay {
		cell := HourCell{Hour: hour, Start: day.Add(time.Duration(hour) * time.Hour).Format(time.RFC3339), Suppressed: true}
		var vs []float64
		for _, c := range cs {
			if c.hasHour[hour] {
				vs = append(vs, c.hourPM25[hour])
			}
		}
		if len(vs) >= p.K {
			if err := publishHour(p, &cell, vs); err != nil {
				return AirHours{}, fmt.Errorf("release: hour %d: %w", hour, err)
			}
		}
		h.Hours = append(h.Hours, cell)
	}
	return h, nil
}

// publishHour fills an hour's cell from at least k residents' values, unless its noisy count
// falls below k.
func publishHour(p Params, cell *HourCell, vs []float64) error {
	noisy, ok, err := noisyCount(len(vs), p.K, p.Epsilon*hourShare.count, HoursPerDay, p.Noise)
	if err != nil || !ok {
		return err
	}
	e, err := estimate(p, vs, p.Clamp.PM25, p.Epsilon*hourShare.pm25, HoursPerDay, noisy, references.pm25)
	if err != nil {
		return err
	}
	cell.Suppressed, cell.Contributors = false, noisy
	if e.accurate {
		cell.PM25, cell.PM25CI = e.mean, e.ci
	} else if e.mean != nil {
		cell.PM25Band = Band(*e.mean)
	}
	return nil
}
