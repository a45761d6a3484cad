package dashboards

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/commons-city/commons/geo"
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
	// labelX, labelY is where the area's number label goes: the centroid of its largest
	// outer ring, in the map's coordinates.
	labelX, labelY float64
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

// polygons is a list of polygons, each a list of closed rings of [lon, lat] positions.
type polygons = [][][][2]float64

// parseMap reads the neighbourhood grid with client/geo (the same parser and checks residents'
// clients use) and projects it with an equirectangular projection whose horizontal scale is the
// cosine of the city's mean latitude, so shapes keep their proportions.
func parseMap(geojson []byte) (*cityMap, error) {
	grid, err := geo.Parse(geojson)
	if err != nil {
		return nil, fmt.Errorf("dashboards: parse map: %w", err)
	}
	ids := grid.IDs()
	shapes := make([]polygons, len(ids))
	minLon, minLat := math.Inf(1), math.Inf(1)
	maxLon, maxLat := math.Inf(-1), math.Inf(-1)
	names := map[string]string{}
	for i, id := range ids {
		names[id] = grid.Name(id)
		shapes[i] = grid.Polygons(id)
		for _, p := range shapes[i] {
			for _, ring := range p {
				for _, pos := range ring {
					minLon, maxLon = math.Min(minLon, pos[0]), math.Max(maxLon, pos[0])
					minLat, maxLat = math.Min(minLat, pos[1]), math.Max(maxLat, pos[1])
				}
			}
		}
	}
	kx := math.Cos((minLat + maxLat) / 2 * math.Pi / 180)
	w, h := (maxLon-minLon)*kx, maxLat-minLat
	if !(w > 0 && h > 0) {
		return nil, errors.New("dashboards: parse map: the neighbourhoods have no extent")
	}
	scale := (mapWidth - 2*mapPadding) / w
	m := &cityMap{width: mapWidth, height: math.Ceil(h*scale + 2*mapPadding), names: names}
	project := func(pos [2]float64) (x, y float64) {
		return mapPadding + (pos[0]-minLon)*kx*scale, mapPadding + (maxLat-pos[1])*scale
	}
	for i, id := range ids {
		x, y := labelPoint(shapes[i], project)
		m.areas = append(m.areas, area{id: id, name: names[id], path: svgPath(shapes[i], project), labelX: x, labelY: y})
	}
	return m, nil
}

// svgPath draws every ring as a closed subpath; holes are cut by the even-odd fill rule.
func svgPath(ps polygons, project func([2]float64) (float64, float64)) string {
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

// labelPoint is the centroid of the largest outer ring of ps, projected: where a polygon's
// label reads as belonging to it (the demo city's neighbourhoods are near convex).
func labelPoint(ps polygons, project func([2]float64) (float64, float64)) (x, y float64) {
	largest := 0.0
	for _, p := range ps {
		var a, cx, cy float64
		ring := p[0]
		for j := 0; j+1 < len(ring); j++ {
			x0, y0 := project(ring[j])
			x1, y1 := project(ring[j+1])
			cross := x0*y1 - x1*y0
			a += cross
			cx += (x0 + x1) * cross
			cy += (y0 + y1) * cross
		}
		if math.Abs(a) > largest {
			largest = math.Abs(a)
			x, y = cx/(3*a), cy/(3*a)
		}
	}
	return x, y
}
