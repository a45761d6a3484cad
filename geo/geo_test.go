package geo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
)

// testMap is a 2×1 grid of unit squares, a square with a hole, and a MultiPolygon of two
// separate squares, all in document order.
const testMap = `{"type":"FeatureCollection","features":[
 {"type":"Feature","properties":{"id":"west","name":"West End"},
  "geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1],[0,0]]]}},
 {"type":"Feature","properties":{"id":"east","name":"East End"},
  "geometry":{"type":"Polygon","coordinates":[[[1,0],[2,0],[2,1],[1,1],[1,0]]]}},
 {"type":"Feature","properties":{"id":"ring","name":"Ring Park"},
  "geometry":{"type":"Polygon","coordinates":[
   [[10,10],[14,10],[14,14],[10,14],[10,10]],
   [[11,11],[11,13],[13,13],[13,11],[11,11]]]}},
 {"type":"Feature","properties":{"id":"islands","name":"Islands"},
  "geometry":{"type":"MultiPolygon","coordinates":[
   [[[20,20],[21,20],[21,21],[20,21],[20,20]]],
   [[[30,30],[31,30],[31,31],[30,31],[30,30]]]]}},
 {"type":"Feature","properties":{"id":"overlap","name":"Overlap"},
  "geometry":{"type":"Polygon","coordinates":[[[0,0],[2,0],[2,1],[0,1],[0,0]]]}}
]}`

func mustParse(t testing.TB, s string) *Map {
	t.Helper()
	m, err := Parse([]byte(s))
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return m
}

func TestLocate(t *testing.T) {
	t.Parallel()
	m := mustParse(t, testMap)
	tests := []struct {
		name     string
		lat, lon float64
		want     string
	}{
		{"west square, before the overlapping feature", 0.5, 0.5, "west"},
		{"east square", 0.5, 1.5, "east"},
		{"outer ring of a holed polygon", 10.5, 10.5, "ring"},
		{"inside the hole", 12, 12, ""},
		{"first part of a multipolygon", 20.5, 20.5, "islands"},
		{"second part of a multipolygon", 30.5, 30.5, "islands"},
		{"between multipolygon parts", 25, 25, ""},
		{"south of everything", -1, 0.5, ""},
		{"east of everything", 0.5, 50, ""},
		{"between neighbourhoods", 5, 5, ""},
		{"NaN", math.NaN(), 0.5, ""},
		{"infinite", math.Inf(1), 0.5, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			id, ok := m.Locate(tt.lat, tt.lon)
			if id != tt.want || ok != (tt.want != "") {
				t.Errorf("Locate(%v, %v) = %q, %v; want %q", tt.lat, tt.lon, id, ok, tt.want)
			}
		})
	}
}

// TestSharedBorders checks that a point on a border between grid squares is contained in
// exactly one of them, so that neither order nor overlap decides where it goes.
func TestSharedBorders(t *testing.T) {
	t.Parallel()
	square := func(id string, x, y int) string {
		return fmt.Sprintf(`{"type":"Feature","properties":{"id":%q},"geometry":{"type":"Polygon",`+
			`"coordinates":[[[%d,%d],[%d,%d],[%d,%d],[%d,%d],[%d,%d]]]}}`,
			id, x, y, x+1, y, x+1, y+1, x, y+1, x, y)
	}
	m := mustParse(t, `{"type":"FeatureCollection","features":[`+
		square("sw", 0, 0)+","+square("se", 1, 0)+","+square("nw", 0, 1)+","+square("ne", 1, 1)+`]}`)
	for _, p := range [][2]float64{{0.5, 1}, {1.5, 1}, {1, 0.5}, {1, 1.5}, {1, 1}} {
		lat, lon := p[0], p[1]
		var in []string
		for _, f := range m.features {
			if f.polygons[0].contains(lon, lat) {
				in = append(in, f.id)
			}
		}
		if len(in) != 1 {
			t.Errorf("(%v, %v) is in %v", lat, lon, in)
		}
	}
}

func TestIDsNameHas(t *testing.T) {
	t.Parallel()
	m := mustParse(t, testMap)
	if got, want := m.IDs(), []string{"west", "east", "ring", "islands", "overlap"}; !slices.Equal(got, want) {
		t.Errorf("IDs() = %v, want %v", got, want)
	}
	if got := m.Name("ring"); got != "Ring Park" {
		t.Errorf("Name(ring) = %q", got)
	}
	if got := m.Name("nowhere"); got != "" {
		t.Errorf("Name(nowhere) = %q, want empty", got)
	}
	if !m.Has("islands") || m.Has("nowhere") {
		t.Error("Has disagrees with the map")
	}
	ids := m.IDs()
	ids[0] = "changed"
	if m.IDs()[0] != "west" {
		t.Error("IDs exposes the map's internals")
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	square := `[[[0,0],[1,0],[1,1],[0,1],[0,0]]]`
	feature := func(props, geomType, coords string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":{"type":"` + geomType +
			`","coordinates":` + coords + `}}`
	}
	collection := func(features ...string) string {
		return `{"type":"FeatureCollection","features":[` + strings.Join(features, ",") + `]}`
	}
	ok := feature(`{"id":"a","name":"A"}`, "Polygon", square)
	tests := []struct {
		name, input, want string
	}{
		{"not JSON", `{`, "unexpected end"},
		{"not a collection", `{"type":"Feature"}`, "not a FeatureCollection"},
		{"no features", collection(), "no features"},
		{"not a feature", `{"type":"FeatureCollection","features":[{"type":"Point"}]}`, "not a Feature"},
		{"missing id", collection(feature(`{"name":"A"}`, "Polygon", square)), "missing properties.id"},
		{"empty id", collection(feature(`{"id":""}`, "Polygon", square)), "missing properties.id"},
		{"numeric id", collection(feature(`{"id":7}`, "Polygon", square)), "cannot unmarshal"},
		{"duplicate id", collection(ok, ok), `duplicate id "a"`},
		{"null geometry", collection(`{"type":"Feature","properties":{"id":"a"},"geometry":null}`), "missing geometry"},
		{"point geometry", collection(feature(`{"id":"a"}`, "Point", `[0,0]`)), "unsupported geometry"},
		{"no rings", collection(feature(`{"id":"a"}`, "Polygon", `[]`)), "no rings"},
		{"empty ring", collection(feature(`{"id":"a"}`, "Polygon", `[[]]`)), "fewer than 4 positions"},
		{"open ring", collection(feature(`{"id":"a"}`, "Polygon", `[[[0,0],[1,0],[1,1],[0,1]]]`)), "not closed"},
		{"short position", collection(feature(`{"id":"a"}`, "Polygon", `[[[0],[1,0],[1,1],[0]]]`)), "fewer than 2"},
		{"latitude out of range", collection(feature(`{"id":"a"}`, "Polygon", `[[[0,0],[1,0],[1,91],[0,0]]]`)), "out of range"},
		{"bad hole", collection(feature(`{"id":"a"}`, "Polygon", `[[[0,0],[1,0],[1,1],[0,0]],[[0,0]]]`)), "ring 1"},
		{"empty multipolygon", collection(feature(`{"id":"a"}`, "MultiPolygon", `[]`)), "empty MultiPolygon"},
		{"bad multipolygon part", collection(feature(`{"id":"a"}`, "MultiPolygon", `[`+square+`,[]]`)), "polygon 1"},
		{"wrong nesting", collection(feature(`{"id":"a"}`, "MultiPolygon", square)), "coordinates"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := Parse([]byte(tt.input))
			if err == nil {
				t.Fatalf("Parse succeeded: %v", m.IDs())
			}
			if !strings.HasPrefix(err.Error(), "geo: parse: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestParseWrapsJSONErrors(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte(`[1,2]`))
	var ute *json.UnmarshalTypeError
	if !errors.As(err, &ute) {
		t.Errorf("error %v does not wrap the JSON error", err)
	}
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(testMap))
	f.Add([]byte(`{"type":"FeatureCollection","features":[]}`))
	f.Add([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},` +
		`"geometry":{"type":"Polygon","coordinates":[[[0,0],[0,0],[0,0],[0,0]]]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := Parse(data)
		if err != nil {
			return
		}
		for _, id := range m.IDs() {
			if id == "" || !m.Has(id) {
				t.Fatalf("IDs() holds %q, which the map does not have", id)
			}
		}
		for _, p := range [][2]float64{{0, 0}, {0.5, 0.5}, {12, 12}, {-90, 180}, {math.NaN(), 0}} {
			if id, ok := m.Locate(p[0], p[1]); ok != m.Has(id) {
				t.Fatalf("Locate(%v) = %q, %v", p, id, ok)
			}
		}
	})
}

func TestPolygonsReturnsTheRingsAsParsed(t *testing.T) {
	t.Parallel()
	m, err := Parse([]byte(`{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a","name":"A"},
		"geometry":{"type":"MultiPolygon","coordinates":[[[[0,0],[4,0],[4,4],[0,4],[0,0]],[[1,1],[2,1],[2,2],[1,1]]],[[[5,5],[6,5],[6,6],[5,5]]]]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	ps := m.Polygons("a")
	if len(ps) != 2 || len(ps[0]) != 2 || len(ps[1]) != 1 {
		t.Fatalf("got %d polygons, want 2 (the first with a hole)", len(ps))
	}
	if ps[0][1][1] != [2]float64{2, 1} || ps[1][0][2] != [2]float64{6, 6} {
		t.Fatalf("positions changed: %v", ps)
	}
	if m.Polygons("b") != nil {
		t.Fatal("an unknown id has no polygons")
	}
}

// The default grid is what a node publishes when its operator names none: its bytes change
// only on purpose.
func TestDefault(t *testing.T) {
	t.Parallel()
	sum := sha256.Sum256(Default())
	if got := hex.EncodeToString(sum[:]); got != "0d804eb6476e33f58432043476c547629331db6228df776e96c1254659347fc9" {
		t.Errorf("the default grid's SHA-256 is %s", got)
	}
	m, err := Parse(Default())
	if err != nil {
		t.Fatal(err)
	}
	if n := len(m.IDs()); n != 10 {
		t.Errorf("%d neighbourhoods, want 10", n)
	}
	if pop, ok := m.Population(nil); !ok || pop != 161900 {
		t.Errorf("the city's population is %d (all given: %v), want 161900", pop, ok)
	}
	b := Default()
	b[0] = 'x'
	if Default()[0] == 'x' {
		t.Error("Default returns the embedded bytes, not a copy")
	}
}

// TestLookup: a neighbourhood by its id, or by its id or name in any case, with or without
// accents, spaces and punctuation; nothing for an unknown or ambiguous text.
func TestLookup(t *testing.T) {
	t.Parallel()
	m, err := Parse(Default())
	if err != nil {
		t.Fatal(err)
	}
	for text, want := range map[string]string{
		"old-town": "old-town", "oldtown": "old-town", "OLD TOWN": "old-town", "Ciutat Vella": "old-town",
		"ciutat vella": "old-town", "ciutat-vella": "old-town", "El Turó": "hilltop", "el turo": "hilltop",
		"L'Illa": "island", "lilla": "island", "l illa": "island",
	} {
		if got, ok := m.Lookup(text); !ok || got != want {
			t.Errorf("Lookup(%q) = %q, %v; want %q", text, got, ok, want)
		}
	}
	for _, text := range []string{"", "   ", "nowhere", "old", "--"} {
		if got, ok := m.Lookup(text); ok {
			t.Errorf("Lookup(%q) = %q; want no match", text, got)
		}
	}
	twins, err := Parse([]byte(`{"type":"FeatureCollection","features":[
	 {"type":"Feature","properties":{"id":"a","name":"Sant Martí"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},
	 {"type":"Feature","properties":{"id":"b","name":"Sant Marti"},"geometry":{"type":"Polygon","coordinates":[[[2,0],[3,0],[3,1],[2,0]]]}}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if got, ok := twins.Lookup("sant marti"); ok {
		t.Errorf("an ambiguous name matched %q", got)
	}
	if got, ok := twins.Lookup("b"); !ok || got != "b" {
		t.Errorf("an exact id matches: got %q, %v", got, ok)
	}
}

// TestPopulation checks the optional population property: a whole number from 1 to
// MaxPopulation, summed over a scope (the whole map when empty, each id once), and known only
// when every neighbourhood of the scope gives it.
func TestPopulation(t *testing.T) {
	t.Parallel()
	square := `[[[0,0],[1,0],[1,1],[0,1],[0,0]]]`
	feature := func(props string) string {
		return `{"type":"Feature","properties":` + props + `,"geometry":{"type":"Polygon","coordinates":` + square + `}}`
	}
	m, err := Parse([]byte(`{"type":"FeatureCollection","features":[` + feature(`{"id":"a","population":120}`) + `,` +
		feature(`{"id":"b","population":30}`) + `,` + feature(`{"id":"c"}`) + `]}`))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		scope []string
		want  int
		known bool
	}{
		{[]string{"a"}, 120, true},
		{[]string{"a", "b", "a"}, 150, true},
		{[]string{"a", "c"}, 120, false},
		{nil, 150, false},
	} {
		if got, known := m.Population(tt.scope); got != tt.want || known != tt.known {
			t.Errorf("Population(%v) = %d, %v; want %d, %v", tt.scope, got, known, tt.want, tt.known)
		}
	}
	for _, bad := range []string{`0`, `-5`, `1.5`, `"12"`, `1e9`} {
		_, err := Parse([]byte(`{"type":"FeatureCollection","features":[` + feature(`{"id":"a","population":`+bad+`}`) + `]}`))
		if err == nil || !strings.Contains(err.Error(), "population") {
			t.Errorf("population %s: %v", bad, err)
		}
	}
}
