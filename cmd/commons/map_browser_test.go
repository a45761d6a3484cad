package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
)

// TestMapLabelsOnAPhone opens /air on a phone-sized chromium (390 × 844): every neighbourhood
// of the demo city carries its letter on the map, inside the screen, large enough to read,
// no two overlapping, and the key under the map names each one in text.
func TestMapLabelsOnAPhone(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	releaseDay(ctx, t, n)

	bctx, _ := walletBrowser(t, ctx, t.TempDir()) // a phone: 390 × 844, mobile, touch
	resp, err := chromedp.Run(bctx, chromedp.NavigateResponse(n.url+"/air"))
	require.NoError(t, err)
	require.EqualValues(t, 200, resp.Status)
	png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	require.NoError(t, err)
	shot := filepath.Join(artifactsDir(t), "air-map-phone.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s", shot)

	type box struct {
		Key                      string
		Left, Top, Right, Bottom float64
		FontPx                   float64
	}
	labels, err := chromedp.Run(bctx, chromedp.Evaluate[[]box](`[...document.querySelectorAll("svg .label")].map(g => {
		const r = g.getBoundingClientRect(), t = g.querySelector("text").getBoundingClientRect();
		return {key: g.textContent.trim(), left: r.left, top: r.top + scrollY, right: r.right, bottom: r.bottom + scrollY, fontPx: t.height};
	})`))
	require.NoError(t, err)
	width, err := chromedp.Run(bctx, chromedp.Evaluate[float64](`document.documentElement.clientWidth`))
	require.NoError(t, err)
	require.Len(t, labels, len(fixtures.Neighbourhoods()), "one label per neighbourhood")
	for i, a := range labels {
		assert.GreaterOrEqual(t, a.Left, 0.0, a.Key)
		assert.LessOrEqual(t, a.Right, width, "%s: inside the screen", a.Key)
		assert.GreaterOrEqual(t, a.FontPx, 9.0, "%s: large enough to read", a.Key)
		for _, b := range labels[i+1:] {
			overlap := a.Left < b.Right && b.Left < a.Right && a.Top < b.Bottom && b.Top < a.Bottom
			assert.False(t, overlap, "labels %s and %s overlap", a.Key, b.Key)
		}
	}
	key, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("ol.map-key li")].map(li => li.textContent.trim())`))
	require.NoError(t, err)
	require.Len(t, key, len(labels))
	for i, nb := range labels {
		assert.True(t, strings.HasPrefix(key[i], nb.Key+" "), "%q names label %s", key[i], nb.Key)
	}
	var names []string
	for _, nb := range fixtures.Neighbourhoods() {
		names = append(names, nb.Name)
	}
	for _, name := range names {
		assert.Contains(t, strings.Join(key, "\n"), name, "the key names every neighbourhood")
	}
}
