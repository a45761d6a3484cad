package release

import (
	"encoding/json"
	"fmt"
)

// GridCityHour is the grid of the city-wide hourly releases that format 1 published beside
// each daily release. The engine no longer makes them (their ε spread over 24 hours gave
// figures too noisy to use; the weekly release's hour-of-day profile replaces them), but the
// ones already stored are still served.
const GridCityHour = "city×hour"

// HoursPerDay is the number of hours of a day: the cells of the hour-of-day profile.
const HoursPerDay = 24

// AirHours is a stored city × hour release of format 1: one city-wide cell per UTC hour of
// one day, PM2.5 only.
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

// HourCell is the city's statistics for one hour of a format-1 hourly release. A suppressed
// cell carries no statistic, not even its number of contributors.
type HourCell struct {
	Hour         int         `json:"hour"`
	Start        string      `json:"start"`
	Suppressed   bool        `json:"suppressed"`
	Contributors int         `json:"contributors,omitempty"` // noisy
	PM25         *float64    `json:"pm2_5,omitempty"`
	PM25CI       *[2]float64 `json:"pm2_5_ci95,omitempty"`
	PM25Band     string      `json:"pm2_5_band,omitempty"`
}

// ParseAirHours decodes a stored format-1 hourly release.
func ParseAirHours(b []byte) (AirHours, error) {
	var h AirHours
	if err := json.Unmarshal(b, &h); err != nil {
		return AirHours{}, fmt.Errorf("release: parse hours: %w", err)
	}
	return h, nil
}
