package dashboards

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

func (h *harness) publishHours(t *testing.T, hs release.AirHours) {
	t.Helper()
	body, err := json.Marshal(hs)
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryRelease, Purpose: hs.Purpose, PurposeVersion: hs.PurposeVersion,
		Epoch: release.HourlyEpoch(hs.Epoch), Hash: state.Hash(body)},
		store.HourlyReleaseRecord(hs.Purpose, hs.Epoch, body))
}

// airHours is an hourly release: hour 3 suppressed but carrying a value it must not show, hours
// 7 and 8 with means, the others band-only.
func airHours(day string) release.AirHours {
	h := release.AirHours{Purpose: airPurpose, PurposeVersion: 1, Grid: release.GridCityHour, Epoch: day, K: 10,
		Noise: "Laplace", Epsilon: 0.2, Clamp: [2]float64{0, 100}, Units: "µg/m³", Version: release.FormatVersion, Rounding: 0.1}
	start, _ := time.Parse(time.DateOnly, day)
	for i := range release.HoursPerDay {
		c := release.HourCell{Hour: i, Start: start.Add(time.Duration(i) * time.Hour).Format(time.RFC3339), Contributors: 600 + i, PM25Band: "fair"}
		switch i {
		case 3:
			c = release.HourCell{Hour: i, Start: c.Start, Suppressed: true, Contributors: 4, PM25: ptr(77.7)}
		case 7, 8:
			c.PM25Band, c.PM25, c.PM25CI = "", ptr(21.4+float64(i)), &[2]float64{18, 30}
		}
		h.Hours = append(h.Hours, c)
	}
	return h
}

func fetch(t *testing.T, h *harness, path string, header ...string) (*http.Response, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := h.app.Test(req, -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

var (
	sparkRE = regexp.MustCompile(`(?s)<figure class="spark">\n<figcaption>([^<]*)</figcaption>(.*?)</figure>`)
	rectRE  = regexp.MustCompile(`<rect class="([a-z -]+)"( fill="url\(#hatch\)")? x="([0-9.]+)" y="([0-9.]+)" width="[0-9.]+" height="([0-9.]+)"/>`)
)

// /air states the release's contributors, parameters and ledger entries, draws a 30-day
// chart per neighbourhood with the WHO line and the city's hourly profile, and offers every
// download.
func TestAirChartsFactsAndDownloads(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	h.publishHours(t, airHours("2026-10-02"))
	body := h.get(t, "/air", http.StatusOK)

	// The day's release is ledger entry 9 of the seeded log, its hours entry 10.
	assert.Contains(t, body, `Its hash is <a href="/api/v1/ledger/entries/9">ledger entry 9</a>.`)
	assert.Contains(t, body, `<a href="/api/v1/ledger/entries/10">ledger entry 10</a>`)
	assert.Contains(t, body, "at least k = 10 contributors per published figure; no noise was added.")
	assert.Contains(t, body, "differential-privacy noise with ε = 0.2 per resident for this release.")
	assert.Contains(t, body, "36 residents contributed")
	for _, d := range []string{"", "&amp;format=csv", "&amp;format=geojson", "&amp;format=openaq"} {
		assert.Contains(t, body, `href="/api/v1/stats/air?day=2026-10-02`+d+`"`)
	}
	for _, d := range []string{"", "&amp;format=csv", "&amp;format=openaq"} {
		assert.Contains(t, body, `href="/api/v1/stats/air?grid=city-hour&amp;day=2026-10-02`+d+`"`)
	}
	assert.Contains(t, body, `<input type="date" id="day-input" name="day" value="2026-10-02" min="2026-10-01" max="2026-10-02" required>`)
	assert.Contains(t, body, `<label for="day-input">`)

	// One chart per neighbourhood, each with the WHO line; the suppressed days are hatched
	// marks on the baseline, the published ones bars of their band.
	charts := sparkRE.FindAllStringSubmatch(body, -1)
	require.Len(t, charts, 3)
	names := []string{charts[0][1], charts[1][1], charts[2][1]}
	assert.Equal(t, []string{"North Hill", "South Docks", "East &lt;Island&gt;"}, names)
	for _, c := range charts {
		assert.Equal(t, 1, strings.Count(c[2], `<line class="who"`), c[1])
		// scale 0..60 (the largest figure, 55.5, rounded up), 74 units tall: 15 µg/m³ at y=61.5
		assert.Contains(t, c[2], `y1="61.5" y2="61.5"`, c[1])
	}
	south := rectRE.FindAllStringSubmatch(charts[1][2], -1)
	require.Len(t, south, 2)
	assert.Equal(t, "supmark", south[0][1], "south is suppressed on day 1")
	assert.NotEmpty(t, south[0][2], "hatched")
	assert.Equal(t, "b-poor", south[1][1], "31.7 on day 2")
	east := rectRE.FindAllStringSubmatch(charts[2][2], -1)
	require.Len(t, east, 2)
	assert.Equal(t, "b-very-poor", east[0][1])
	assert.Equal(t, "supmark", east[1][1], "east is suppressed on day 2, whatever its cell carries")

	// The hourly profile: 24 hours in the chart and in the table; the suppressed hour shows
	// nothing of its value.
	hours := body[strings.Index(body, `<figure class="hours">`):]
	hours = hours[:strings.Index(hours, "</section>")]
	bars := rectRE.FindAllStringSubmatch(hours, -1)
	require.Len(t, bars, 24)
	assert.Equal(t, "supmark", bars[3][1])
	assert.Equal(t, "b-poor", bars[7][1], "28.4")
	assert.Equal(t, "bandonly b-fair", bars[0][1])
	assert.Equal(t, 24, strings.Count(hours, `<tr><th scope="row">`))
	assert.Contains(t, hours, `<tr><th scope="row">03:00–04:00</th><td colspan="2" class="suppressed">— (fewer than 10 contributors)</td>`)
	assert.Contains(t, hours, "28.4 (18.0–30.0)")
	assert.Contains(t, body, "Up to 623 residents per hour")
	for _, leak := range []string{"77.7", ">4<"} {
		assert.NotContains(t, body, leak, "a suppressed hour's value leaked")
	}
}

func TestAirWithoutHours(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	body := h.get(t, "/air", http.StatusOK)
	assert.Contains(t, body, "No hourly figures were released for this day.")
	assert.NotContains(t, body, `<figure class="hours">`)
}

// A release page's ETag is known from the release hashes and the language: a client that
// has the page gets 304; another language, another day, or a new released day changes it.
func TestAirETags(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	resp, body := fetch(t, h, "/air")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	etag := resp.Header.Get("ETag")
	require.NotEmpty(t, etag)
	assert.Contains(t, resp.Header.Get("Vary"), "Accept-Language")

	resp, again := fetch(t, h, "/air")
	assert.Equal(t, etag, resp.Header.Get("ETag"))
	assert.Equal(t, body, again, "byte-identical")

	resp, empty := fetch(t, h, "/air", "If-None-Match", etag)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	assert.Empty(t, empty)

	resp, _ = fetch(t, h, "/air", "If-None-Match", etag, "Accept-Language", "fr")
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the French page is another page")
	fr := resp.Header.Get("ETag")
	assert.NotEqual(t, etag, fr)

	resp, _ = fetch(t, h, "/air?day=2026-10-02", "If-None-Match", etag)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the same day at another address links differently")
	day2 := resp.Header.Get("ETag")

	h.publishHours(t, airHours("2026-10-02"))
	resp, _ = fetch(t, h, "/air?day=2026-10-02", "If-None-Match", day2)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the day's hours were released since")

	h.publish(t, airDay("2026-10-03", release.Cell{Neighbourhood: "north", Contributors: 12, PM25: ptr(9)}))
	resp, _ = fetch(t, h, "/air", "If-None-Match", etag)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "a new latest day")

	// Other pages carry an ETag of their bytes.
	resp, _ = fetch(t, h, "/petitions")
	tag := resp.Header.Get("ETag")
	require.NotEmpty(t, tag)
	resp, _ = fetch(t, h, "/petitions", "If-None-Match", tag)
	assert.Equal(t, http.StatusNotModified, resp.StatusCode)
	h.createPetition(t, api.Petition{ID: "new", Title: "New", Opens: time.Now(), Closes: time.Now().Add(time.Hour)}, 1)
	resp, _ = fetch(t, h, "/petitions", "If-None-Match", tag)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
}

// Every page of a month of the demo city, with its hours, weighs under 100 KB with its
// stylesheet, in both languages.
func TestPagesUnder100KBWithTheirCSS(t *testing.T) {
	t.Parallel()
	geojson := fixtures.GeoJSON()
	h := newHarness(t, string(geojson), time.Now())
	city, err := parseMap(geojson)
	require.NoError(t, err)
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for i := range 45 {
		var cells []release.Cell
		for j, id := range city.ids() {
			cells = append(cells, release.Cell{Neighbourhood: id, Contributors: 100 + j, PM25: ptr(10.5 + float64(i*j%40)),
				PM25CI: &[2]float64{9.1, 12.3}, PM10: ptr(30.1), PM10CI: &[2]float64{28.1, 33.3}, Temperature: ptr(-1.5),
				TemperatureCI: &[2]float64{-3.1, 0.2}, Humidity: ptr(55.5), HumidityCI: &[2]float64{50.5, 60.5}})
		}
		day := start.AddDate(0, 0, i).Format(time.DateOnly)
		h.publish(t, airDay(day, cells...))
		h.publishHours(t, airHours(day))
	}
	resp, err := h.app.Test(httptest.NewRequest(http.MethodGet, "/", nil), -1)
	require.NoError(t, err)
	resp.Body.Close()
	css, err := assets.ReadFile("static/style.css")
	require.NoError(t, err)
	for _, l := range []string{"en", "fr"} {
		for _, path := range []string{"/", "/air", "/air?day=2026-09-20", "/petitions", "/ledger"} {
			resp, body := fetch(t, h, path, "Accept-Language", l)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			total := len(body) + len(css)
			assert.Less(t, total, 100<<10, "%s (%s): %d bytes with its CSS", path, l, total)
			t.Logf("%s (%s): %d bytes + %d of CSS", path, l, len(body), len(css))
		}
	}
}
