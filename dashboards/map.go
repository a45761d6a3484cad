package dashboards

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
)

// mapWidth is the width of the map's SVG viewBox; its height follows the city's shape.
const mapWidth = 640

// mapPadding is the margin kept around the city inside the viewBox.
const mapPadding = 8

// cityMap is the neighbourhood grid, projected once into SVG path data.
type cityMap struct {
	width, height float64
	areas         []area
	names         map[string]string
}

// area is one neighbourhood as drawn: its id, its name and the SVG path of its polygons.
type area struct {
	id, name string
	path     string
}

// name returns the name of a neighbourhood, or its id when the map does not name it.
func (m *cityMap) name(id string) string {
	if n := m.names[id]; n != "" {
		return n
	}
	return id
}

// ids returns the neighbourhood ids in document order.
func (m *cityMap) ids() []string {
	out := make([]string, len(m.areas))
	for i, a := range m.areas {
		out[i] = a.id
	}
	return out
}

type geoCollection struct {
	Type     string       `json:"type"`
	Features []geoFeature `json:"features"`
}

type geoFeature struct {
	Properties struct {
		ID   string `json:"id"`
		Name string `json:"name"`
	} `json:"properties"`
	Geometry *struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
}

// polygons is a list of polygons, each a list of rings of [lon, lat] positions.
type polygons [][][][]float64

// parseMap reads a FeatureCollection of Polygon and MultiPolygon features with properties.id
// and properties.name, and projects it with an equirectangular projection whose horizontal
// scale is the cosine of the city's mean latitude, so shapes keep their proportions.
func parseMap(geojson []byte) (*cityMap, error) {
	var c geoCollection
	if err := json.Unmarshal(geojson, &c); err != nil {
		return nil, fmt.Errorf("dashboards: parse map: %w", err)
	}
	if c.Type != "FeatureCollection" || len(c.Features) == 0 {
		return nil, errors.New("dashboards: parse map: not a non-empty FeatureCollection")
	}
	shapes := make([]polygons, len(c.Features))
	minLon, minLat := math.Inf(1), math.Inf(1)
	maxLon, maxLat := math.Inf(-1), math.Inf(-1)
	names := map[string]string{}
	for i, f := range c.Features {
		ps, err := featurePolygons(f)
		if err != nil {
			return nil, fmt.Errorf("dashboards: parse map: feature %d: %w", i, err)
		}
		if _, dup := names[f.Properties.ID]; dup {
			return nil, fmt.Errorf("dashboards: parse map: feature %d: duplicate id %q", i, f.Properties.ID)
		}
		names[f.Properties.ID] = f.Properties.Name
		for _, p := range ps {
			for _, ring := range p {
				for _, pos := range ring {
					minLon, maxLon = math.Min(minLon, pos[0]), math.Max(maxLon, pos[0])
					minLat, maxLat = math.Min(minLat, pos[1]), math.Max(maxLat, pos[1])
				}
			}
		}
		shapes[i] = ps
	}
	kx := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	w, h := (maxLon-minLon)*kx, maxLat-minLat
	if !(w > 0 && h > 0) {
		return nil, errors.New("dashboards: parse map: the neighbourhoods have no extent")
	}
	scale := (mapWidth - 2*mapPadding) / w
	m := &cityMap{width: mapWidth, height: math.Ceil(h*scale + 2*mapPadding), names: names}
	project := func(pos []float64) (x, y float64) {
		return mapPadding + (pos[0]-minLon)*kx*scale, mapPadding + (maxLat-pos[1])*scale
	}
	for i, f := range c.Features {
		m.areas = append(m.areas, area{id: f.Properties.ID, name: f.Properties.Name, path: svgPath(shapes[i], project)})
	}
	return m, nil
}

// featurePolygons checks a feature and returns its polygons.
func featurePolygons(f geoFeature) (polygons, error) {
	if f.Properties.ID == "" {
		return nil, errors.New("missing properties.id")
	}
	if f.Geometry == nil {
		return nil, errors.New("missing geometry")
	}
	var ps polygons
	switch f.Geometry.Type {
	case "Polygon":
		var p [][][]float64
		if err := json.Unmarshal(f.Geometry.Coordinates, &p); err != nil {
			return nil, fmt.Errorf("coordinates: %w", err)
		}
		ps = polygons{p}
	case "MultiPolygon":
		if err := json.Unmarshal(f.Geometry.Coordinates, &ps); err != nil {
			return nil, fmt.Errorf("coordinates: %w", err)
		}
	default:
		return nil, fmt.Errorf("unsupported geometry type %q", f.Geometry.Type)
	}
	if len(ps) == 0 {
		return nil, errors.New("no polygons")
	}
	for _, p := range ps {
		if len(p) == 0 {
			return nil, errors.New("polygon without rings")
		}
		for _, ring := range p {
			if len(ring) < 4 {
				return nil, errors.New("ring with fewer than 4 positions")
			}
			first, last := ring[0], ring[len(ring)-1]
			if len(first) < 2 || len(last) < 2 || first[0] != last[0] || first[1] != last[1] {
				return nil, errors.New("ring not closed")
			}
			for _, pos := range ring {
				if len(pos) < 2 || !(pos[0] >= -180 && pos[0] <= 180 && pos[1] >= -90 && pos[1] <= 90) {
					return nil, errors.New("position out of range")
				}
			}
		}
	}
	return ps, nil
}

// svgPath draws every ring as a closed subpath; holes are cut by the even-odd fill rule.
func svgPath(ps polygons, project func([]float64) (float64, float64)) string {
	var b strings.Builder
	for _, p := range ps {
		for _, ring := range p {
			for j, pos := range ring[:len(ring)-1] { // the last position repeats the first
				x, y := project(pos)
				if j == 0 {
					b.WriteString("M")
				} else {
					b.WriteString("L")
				}
				b.WriteString(strconv.FormatFloat(x, 'f', 1, 64))
				b.WriteByte(' ')
				b.WriteString(strconv.FormatFloat(y, 'f', 1, 64))
			}
			b.WriteString("Z")
		}
	}
	return b.String()
}
