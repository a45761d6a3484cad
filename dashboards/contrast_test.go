package dashboards

import (
	"math"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// luminance is the WCAG 2 relative luminance of a #rrggbb or #rgb colour.
func luminance(t *testing.T, hex string) float64 {
	t.Helper()
	if len(hex) == 4 { // #rgb
		hex = string([]byte{'#', hex[1], hex[1], hex[2], hex[2], hex[3], hex[3]})
	}
	require.Len(t, hex, 7, hex)
	var l float64
	for i, w := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(hex[1+2*i:3+2*i], 16, 8)
		require.NoError(t, err)
		c := float64(v) / 255
		if c <= 0.04045 {
			c /= 12.92
		} else {
			c = math.Pow((c+0.055)/1.055, 2.4)
		}
		l += w * c
	}
	return l
}

func contrast(t *testing.T, a, b string) float64 {
	la, lb := luminance(t, a), luminance(t, b)
	return (math.Max(la, lb) + 0.05) / (math.Min(la, lb) + 0.05)
}

// Text on every band colour, and the page's own text colours, meet WCAG AA (4.5:1).
func TestContrast(t *testing.T) {
	t.Parallel()
	css, err := assets.ReadFile("static/style.css")
	require.NoError(t, err)
	bandRule := regexp.MustCompile(`\.(b-[a-z-]+) \{ fill: #[0-9a-f]{6}; background: (#[0-9a-f]{6}); color: (#[0-9a-f]{3}(?:[0-9a-f]{3})?); \}`)
	rules := bandRule.FindAllStringSubmatch(string(css), -1)
	require.Len(t, rules, len(bands), "one rule per band")
	for _, r := range rules {
		assert.GreaterOrEqual(t, contrast(t, r[2], r[3]), 4.5, "%s: %s on %s", r[1], r[3], r[2])
	}
	vars := map[string]string{}
	for _, m := range regexp.MustCompile(`--([a-z-]+): (#[0-9a-f]{6});`).FindAllStringSubmatch(string(css), -1) {
		vars[m[1]] = m[2]
	}
	for _, pair := range [][2]string{
		{"ink", "paper"}, {"muted", "paper"}, {"muted", "panel"}, {"accent", "paper"}, {"accent-dark", "paper"},
	} {
		assert.GreaterOrEqual(t, contrast(t, vars[pair[0]], vars[pair[1]]), 4.5, "%s on %s", pair[0], pair[1])
	}
	for _, bg := range []string{vars["accent"], vars["accent-dark"]} {
		assert.GreaterOrEqual(t, contrast(t, "#ffffff", bg), 4.5, "white on %s (header, buttons)", bg)
	}
}
