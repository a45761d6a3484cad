package server

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/release"
)

func f(v float64) *float64 { return &v }

// The OpenAQ v3-like answers carry one result per published mean, with OpenAQ's field names,
// and nothing of a suppressed cell or of a band-only figure.
func TestOpenAQShapes(t *testing.T) {
	t.Parallel()
	grid, err := geo.Parse(geo.Default())
	require.NoError(t, err)
	day, err := json.Marshal(release.AirDay{Purpose: "air", Epoch: "2026-10-02", K: 10, Noise: "Laplace", Epsilon: 0.8,
		Units: release.Units{PM: "µg/m³", Temperature: "°C", Humidity: "%"}, Cells: []release.Cell{
			{Neighbourhood: "old-town", Contributors: 120, PM25: f(14.2), PM25CI: &[2]float64{12.1, 16.3}, Humidity: f(70)},
			{Neighbourhood: "hilltop", Contributors: 15, PM25Band: "fair"},
			{Neighbourhood: "island", Suppressed: true},
		}})
	require.NoError(t, err)
	out, err := releaseOpenAQ(day, grid)
	require.NoError(t, err)
	var got struct {
		Meta    map[string]any
		Results []map[string]any
	}
	require.NoError(t, json.Unmarshal(out, &got))
	assert.Equal(t, 2.0, got.Meta["found"])
	assert.Equal(t, 10.0, got.Meta["k"])
	require.Len(t, got.Results, 2, "PM2.5 and humidity of old-town; nothing of the band-only or suppressed cells")
	r := got.Results[0]
	assert.Equal(t, 14.2, r["value"])
	assert.Equal(t, map[string]any{"name": "pm25", "units": "µg/m³"}, r["parameter"])
	assert.Equal(t, map[string]any{"label": "1day", "interval": "24:00:00",
		"datetimeFrom": map[string]any{"utc": "2026-10-02T00:00:00Z"}, "datetimeTo": map[string]any{"utc": "2026-10-03T00:00:00Z"}}, r["period"])
	assert.Equal(t, map[string]any{"avg": 14.2, "ci95": []any{12.1, 16.3}, "band": "fair"}, r["summary"])
	assert.Equal(t, map[string]any{"id": "old-town", "name": grid.Name("old-town")}, r["location"])
	assert.Equal(t, "relativehumidity", got.Results[1]["parameter"].(map[string]any)["name"])

	hours, err := json.Marshal(release.AirHours{Purpose: "air", Epoch: "2026-10-02", Grid: release.GridCityHour, K: 10, Units: "µg/m³",
		Hours: []release.HourCell{{Hour: 0, Start: "2026-10-02T00:00:00Z", Suppressed: true},
			{Hour: 1, Start: "2026-10-02T01:00:00Z", Contributors: 600, PM25Band: "good"},
			{Hour: 2, Start: "2026-10-02T02:00:00Z", Contributors: 600, PM25: f(9.5)}}})
	require.NoError(t, err)
	out, err = hourlyOpenAQ(hours)
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got.Results, 1)
	assert.Equal(t, map[string]any{"label": "1hour", "interval": "01:00:00",
		"datetimeFrom": map[string]any{"utc": "2026-10-02T02:00:00Z"}, "datetimeTo": map[string]any{"utc": "2026-10-02T03:00:00Z"}},
		got.Results[0]["period"])
}

// The CSV and GeoJSON downloads carry each mean's 95 % interval and PM2.5's band (of a mean,
// or alone), a column only for a statistic some cell publishes, the city first, and nothing of
// a suppressed cell.
func TestDownloadsCarryBandAndInterval(t *testing.T) {
	t.Parallel()
	grid, err := geo.Parse(geo.Default())
	require.NoError(t, err)
	units := release.Units{PM: "µg/m³", Temperature: "°C", Humidity: "%"}
	day, err := json.Marshal(release.AirDay{Purpose: "air", Epoch: "2026-10-02", K: 10, Noise: "Gaussian Noise", Rho: 0.0124, Units: units,
		City: &release.Cell{Contributors: 600, PM25: f(12.5), PM25CI: &[2]float64{12, 13}},
		Cells: []release.Cell{
			{Neighbourhood: "old-town", Contributors: 120, PM25: f(14.2), PM25CI: &[2]float64{12.1, 16.3}},
			{Neighbourhood: "hilltop", Contributors: 15, PM25Band: "fair"},
			{Neighbourhood: "island", Suppressed: true, PM25: f(99)},
		}})
	require.NoError(t, err)
	out, err := releaseCSV(day, grid)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 5)
	assert.Equal(t, "period,neighbourhood,name,hour,suppressed,contributors,pm2_5,pm2_5_ci95_low,pm2_5_ci95_high,pm2_5_band,k,noise,rho", lines[0])
	assert.Equal(t, "2026-10-02,,city-wide,,false,600,12.5,12,13,fair,10,Gaussian Noise,0.0124", lines[1])
	assert.Contains(t, lines[2], ",old-town,")
	assert.Contains(t, lines[2], ",120,14.2,12.1,16.3,fair,")
	assert.Contains(t, lines[3], ",hilltop,")
	assert.Contains(t, lines[3], ",15,,,,fair,")
	assert.Contains(t, lines[4], ",island,L'Illa,,true,,,,,,10,")

	gj, err := releaseGeoJSON(day, geo.Default())
	require.NoError(t, err)
	assert.Contains(t, string(gj), `"pm2_5_ci95":[12.1,16.3]`)
	assert.Contains(t, string(gj), `"pm2_5_band":"fair"`)

	week, err := json.Marshal(release.AirWeek{Purpose: "air", Epoch: "2026-W40", From: "2026-09-28", To: "2026-10-04", K: 10,
		Units: units, City: release.Cell{Contributors: 600, PM25: f(12.5), Temperature: f(17.1), TemperatureCI: &[2]float64{16.8, 17.4}},
		Cells: []release.Cell{{Neighbourhood: "old-town", Contributors: 130, PM25: f(14), Temperature: f(17), TemperatureCI: &[2]float64{16, 18}}},
		Hours: []release.HourOfDay{{Hour: 7, Contributors: 500, PM25: f(21), PM25CI: &[2]float64{19, 23}}, {Hour: 8, Suppressed: true}}})
	require.NoError(t, err)
	out, err = weekCSV(week, grid)
	require.NoError(t, err)
	lines = strings.Split(strings.TrimSpace(string(out)), "\n")
	require.Len(t, lines, 5, "the city, old-town, two hours")
	assert.Contains(t, lines[0], "pm2_5_band,temperature,temperature_ci95_low,temperature_ci95_high,k")
	assert.NotContains(t, lines[0], "humidity", "no column for a statistic never published")
	assert.Contains(t, lines[3], "2026-W40,,city-wide,7,false,500,21,19,23,moderate")
	out, err = weekOpenAQ(week, grid)
	require.NoError(t, err)
	var got struct{ Results []map[string]any }
	require.NoError(t, json.Unmarshal(out, &got))
	require.Len(t, got.Results, 5, "city PM2.5 and temperature, old-town's two, hour 7")
	assert.Equal(t, "1week", got.Results[0]["period"].(map[string]any)["label"])
	assert.Equal(t, "hourofday", got.Results[4]["period"].(map[string]any)["label"])
}
