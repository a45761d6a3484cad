package server

import (
	"encoding/json"
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
	assert.Equal(t, map[string]any{"avg": 14.2, "ci95": []any{12.1, 16.3}}, r["summary"])
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
