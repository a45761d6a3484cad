// Package geo maps coordinates to the neighbourhoods of the public grid, using the GeoJSON
// FeatureCollection the server publishes at /api/v1/neighbourhoods.
//
// It lets a resident's client turn a precise location into a neighbourhood id locally, so that
// the location itself never has to leave the resident's side.
package geo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"unicode"
)

// point is one GeoJSON position: x is the longitude, y the latitude.
type point struct{ x, y float64 }

// box is an axis-aligned bounding box, used to skip features quickly.
type box struct{ minX, minY, maxX, maxY float64 }

func (b box) contains(x, y float64) bool {
	return x >= b.minX && x <= b.maxX && y >= b.minY && y <= b.maxY
}

func (b *box) extend(o box) {
	b.minX, b.minY = math.Min(b.minX, o.minX), math.Min(b.minY, o.minY)
	b.maxX, b.maxY = math.Max(b.maxX, o.maxX), math.Max(b.maxY, o.maxY)
}

// emptyBox is the identity of extend.
var emptyBox = box{math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)}

// polygon is an outer ring followed by its holes; all rings are closed.
type polygon struct {
	rings [][]point
	bbox  box
}

// contains applies the even-odd rule over every ring, so points inside a hole are outside.
func (p *polygon) contains(x, y float64) bool {
	if !p.bbox.contains(x, y) {
		return false
	}
	in := false
	for _, ring := range p.rings {
		for i, j := 0, len(ring)-1; i < len(ring); j, i = i, i+1 {
			a, b := ring[i], ring[j]
			if (a.y > y) != (b.y > y) && x < (b.x-a.x)*(y-a.y)/(b.y-a.y)+a.x {
				in = !in
			}
		}
	}
	return in
}

// MaxPopulation bounds a neighbourhood's population property: more than the largest cities.
const MaxPopulation = 100_000_000

type feature struct {
	id, name   string
	population int // residents, from the city's census; 0: not given
	polygons   []polygon
	bbox       box
}

// Map is a parsed set of neighbourhoods. It is immutable and safe for concurrent use.
type Map struct {
	features []feature
	index    map[string]int
}

// Parse reads a GeoJSON FeatureCollection whose features have Polygon or MultiPolygon
// geometries (holes allowed) and the properties "id" (a non-empty string, unique), "name" and,
// optionally, "population": the neighbourhood's number of residents from the city's census, a
// whole number from 1 to MaxPopulation, which bounds the paper signatures of a petition.
// Rings must be closed and hold at least four positions of finite [lon, lat] coordinates.
func Parse(geojson []byte) (*Map, error) {
	m, err := parse(geojson)
	if err != nil {
		return nil, fmt.Errorf("geo: parse: %w", err)
	}
	return m, nil
}

type rawCollection struct {
	Type     string       `json:"type"`
	Features []rawFeature `json:"features"`
}

type rawFeature struct {
	Type       string `json:"type"`
	Properties struct {
		ID         *string  `json:"id"`
		Name       string   `json:"name"`
		Population *float64 `json:"population"`
	} `json:"properties"`
	Geometry *struct {
		Type        string          `json:"type"`
		Coordinates json.RawMessage `json:"coordinates"`
	} `json:"geometry"`
}

func parse(geojson []byte) (*Map, error) {
	var c rawCollection
	if err := json.Unmarshal(geojson, &c); err != nil {
		return nil, err
	}
	if c.Type != "FeatureCollection" {
		return nil, errors.New("not a FeatureCollection")
	}
	if len(c.Features) == 0 {
		return nil, errors.New("no features")
	}
	m := &Map{index: make(map[string]int, len(c.Features))}
	for i, rf := range c.Features {
		f, err := parseFeature(rf)
		if err != nil {
			return nil, fmt.Errorf("feature %d: %w", i, err)
		}
		if _, dup := m.index[f.id]; dup {
			return nil, fmt.Errorf("feature %d: duplicate id %q", i, f.id)
		}
		m.index[f.id] = len(m.features)
		m.features = append(m.features, f)
	}
	return m, nil
}

func parseFeature(rf rawFeature) (feature, error) {
	if rf.Type != "Feature" {
		return feature{}, errors.New("not a Feature")
	}
	if rf.Properties.ID == nil || *rf.Properties.ID == "" {
		return feature{}, errors.New("missing properties.id")
	}
	if rf.Geometry == nil {
		return feature{}, errors.New("missing geometry")
	}
	var polys [][][][]float64
	switch rf.Geometry.Type {
	case "Polygon":
		var p [][][]float64
		if err := json.Unmarshal(rf.Geometry.Coordinates, &p); err != nil {
			return feature{}, fmt.Errorf("coordinates: %w", err)
		}
		polys = [][][][]float64{p}
	case "MultiPolygon":
		if err := json.Unmarshal(rf.Geometry.Coordinates, &polys); err != nil {
			return feature{}, fmt.Errorf("coordinates: %w", err)
		}
		if len(polys) == 0 {
			return feature{}, errors.New("empty MultiPolygon")
		}
	default:
		return feature{}, fmt.Errorf("unsupported geometry type %q", rf.Geometry.Type)
	}
	f := feature{id: *rf.Properties.ID, name: rf.Properties.Name, bbox: emptyBox}
	if p := rf.Properties.Population; p != nil {
		if *p != math.Trunc(*p) || *p < 1 || *p > MaxPopulation {
			return feature{}, fmt.Errorf("properties.population: a whole number from 1 to %d", MaxPopulation)
		}
		f.population = int(*p)
	}
	for i, raw := range polys {
		p, err := parsePolygon(raw)
		if err != nil {
			return feature{}, fmt.Errorf("polygon %d: %w", i, err)
		}
		f.bbox.extend(p.bbox)
		f.polygons = append(f.polygons, p)
	}
	return f, nil
}

func parsePolygon(raw [][][]float64) (polygon, error) {
	if len(raw) == 0 {
		return polygon{}, errors.New("no rings")
	}
	p := polygon{bbox: emptyBox}
	for i, rr := range raw {
		ring, b, err := parseRing(rr)
		if err != nil {
			return polygon{}, fmt.Errorf("ring %d: %w", i, err)
		}
		if i == 0 {
			p.bbox = b
		}
		p.rings = append(p.rings, ring)
	}
	return p, nil
}

func parseRing(raw [][]float64) ([]point, box, error) {
	if len(raw) < 4 {
		return nil, box{}, errors.New("fewer than 4 positions")
	}
	ring := make([]point, len(raw))
	b := emptyBox
	for i, pos := range raw {
		if len(pos) < 2 {
			return nil, box{}, fmt.Errorf("position %d: fewer than 2 coordinates", i)
		}
		x, y := pos[0], pos[1]
		if !(x >= -180 && x <= 180 && y >= -90 && y <= 90) {
			return nil, box{}, fmt.Errorf("position %d: coordinates out of range", i)
		}
		ring[i] = point{x, y}
		b.extend(box{x, y, x, y})
	}
	if ring[0] != ring[len(ring)-1] {
		return nil, box{}, errors.New("not closed")
	}
	return ring, b, nil
}

// Locate returns the id of the first neighbourhood, in document order, that contains the point.
// Points inside a hole are not contained, and a point on a border between two neighbourhoods
// is in exactly one of them. The antimeridian is not handled.
func (m *Map) Locate(lat, lon float64) (id string, ok bool) {
	for i := range m.features {
		f := &m.features[i]
		if !f.bbox.contains(lon, lat) {
			continue
		}
		for j := range f.polygons {
			if f.polygons[j].contains(lon, lat) {
				return f.id, true
			}
		}
	}
	return "", false
}

// IDs returns the neighbourhood ids in document order.
func (m *Map) IDs() []string {
	ids := make([]string, len(m.features))
	for i, f := range m.features {
		ids[i] = f.id
	}
	return ids
}

// Name returns the name of the neighbourhood id, or "" if there is none.
func (m *Map) Name(id string) string {
	if i, ok := m.index[id]; ok {
		return m.features[i].name
	}
	return ""
}

// Has reports whether id is a neighbourhood of the map.
func (m *Map) Has(id string) bool {
	_, ok := m.index[id]
	return ok
}

// Polygons returns the neighbourhood's polygons, each an outer ring followed by its holes,
// every ring a closed list of [lon, lat] positions; nil for an unknown id. Maps draw from it.
func (m *Map) Polygons(id string) [][][][2]float64 {
	i, ok := m.index[id]
	if !ok {
		return nil
	}
	out := make([][][][2]float64, len(m.features[i].polygons))
	for j, p := range m.features[i].polygons {
		for _, ring := range p.rings {
			r := make([][2]float64, len(ring))
			for k, pt := range ring {
				r[k] = [2]float64{pt.x, pt.y}
			}
			out[j] = append(out[j], r)
		}
	}
	return out
}

// Lookup finds a neighbourhood by what a person types: its id, or its id or name written
// without regard to case, accents, spaces or punctuation ("Ciutat Vella", "ciutat vella",
// "oldtown" and "OLD TOWN" all find old-town; "el turo" finds "El Turó"). It reports false
// if nothing matches, or if the text matches more than one neighbourhood.
func (m *Map) Lookup(text string) (id string, ok bool) {
	if m.Has(text) {
		return text, true
	}
	key := fold(text)
	if key == "" {
		return "", false
	}
	for _, f := range m.features {
		if fold(f.id) == key || fold(f.name) == key {
			if ok && id != f.id {
				return "", false
			}
			id, ok = f.id, true
		}
	}
	return id, ok
}

// fold keeps the letters and digits of s, lower-cased and without their accents.
func fold(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if base, accented := unaccented[r]; accented {
			r = base
		}
		if unicode.IsLetter(r) || unicode.IsDigit(r) {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// unaccented maps the accented lower-case Latin letters to their base letter.
var unaccented = func() map[rune]rune {
	m := map[rune]rune{}
	for base, accented := range map[rune]string{
		'a': "àáâãäåāăą", 'c': "çćĉċč", 'd': "ď", 'e': "èéêëēĕėęě", 'g': "ĝğġģ", 'h': "ĥ",
		'i': "ìíîïĩīĭįı", 'j': "ĵ", 'k': "ķ", 'l': "ĺļľŀł", 'n': "ñńņňŉ", 'o': "òóôõöøōŏő",
		'r': "ŕŗř", 's': "śŝşš", 't': "ţťŧ", 'u': "ùúûüũūŭůűų", 'w': "ŵ", 'y': "ýÿŷ", 'z': "źżž",
	} {
		for _, r := range accented {
			m[r] = base
		}
	}
	return m
}()

// Population returns the population of the neighbourhoods of scope, all of them when scope is
// empty (a petition's scope: empty is the whole city), and whether every one of them gives
// its population. Unknown ids count nothing, and an id named twice counts once.
func (m *Map) Population(scope []string) (int, bool) {
	ids := scope
	if len(ids) == 0 {
		ids = m.IDs()
	}
	total, known := 0, true
	seen := map[string]bool{}
	for _, id := range ids {
		i, ok := m.index[id]
		if !ok || seen[id] {
			continue
		}
		seen[id] = true
		if m.features[i].population == 0 {
			known = false
		}
		total += m.features[i].population
	}
	return total, known
}
