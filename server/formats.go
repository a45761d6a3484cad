package server

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/commons-city/commons/client/geo"
	"github.com/commons-city/commons/dashboards/release"
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
