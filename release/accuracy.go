package release

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// The statistics the accuracy harness measures, as named in Accuracy.
const (
	AccuracyPM25Day     = "pm2_5_day"
	AccuracyPM25Week    = "pm2_5_week"
	AccuracyPM10Week    = "pm10_week"
	AccuracyTempWeek    = "temperature_week"
	AccuracyHumWeek     = "humidity_week"
	AccuracyPM25HourDay = "pm2_5_hour_of_day"
)

// Accuracy is what the accuracy harness (accuracy_test.go) measured by running the release
// functions on synthetic cities with known readings, under the built-in purpose's plan.
type Accuracy struct {
	EpsilonDay float64   `json:"epsilon_day"`
	Guarantee  Guarantee `json:"guarantee"`
	// Trials is how many weeks each size of the sweep was released; DemoRuns how many times
	// the demo month was.
	Trials   int `json:"trials"`
	DemoRuns int `json:"demo_runs"`
	// Sweep is one cell of each size in a city of about 600 other contributors (the hours:
	// a city of that size); Demo is every neighbourhood of the demo city over its month.
	Sweep []AccuracyRow `json:"sweep"`
	Demo  []AccuracyRow `json:"demo"`
}

// AccuracyRow is one statistic of one cell size (or demo neighbourhood): the median absolute
// error of the noisy mean against the truth (the mean of the contributors' own means), the
// median half-width of its 95 % interval (-1 when the noisy count was mostly 0), and the
// shares of figures the rules show as a mean and as a band only.
type AccuracyRow struct {
	Statistic      string  `json:"statistic"`
	Neighbourhood  string  `json:"neighbourhood,omitempty"`
	Contributors   int     `json:"contributors"`
	MedianAbsError float64 `json:"median_abs_error"`
	HalfWidth      float64 `json:"half_width"`
	Shown          float64 `json:"shown"`
	Band           float64 `json:"band"`
}

//go:embed accuracy.json
var accuracyJSON []byte

// LoadAccuracy returns the harness's last measurement, as checked in beside the code (a test
// regenerates it and fails when the code's accuracy moves).
func LoadAccuracy() (Accuracy, error) {
	var a Accuracy
	if err := json.Unmarshal(accuracyJSON, &a); err != nil {
		return Accuracy{}, fmt.Errorf("release: accuracy: %w", err)
	}
	return a, nil
}
