package geo

import (
	_ "embed"
	"slices"
)

//go:embed default.geojson
var defaultGrid []byte

// Default returns the grid a node uses when its operator names none: the demo city's ten
// neighbourhoods, as a GeoJSON FeatureCollection of Polygon features with properties id, name
// and population (invented, like the city). The result is a fresh copy.
func Default() []byte { return slices.Clone(defaultGrid) }
