package dashboards

import (
	"encoding/json"
	"fmt"
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
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

func (h *harness) publishWeek(t *testing.T, w release.AirWeek) {
	t.Helper()
	body, err := json.Marshal(w)
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryRelease, Purpose: w.Purpose, PurposeVersion: w.PurposeVersion,
		Epoch: w.Epoch, Hash: state.Hash(body)},
		store.ReleaseRecord(release.WeekPurpose(w.Purpose), w.Epoch, body))
}

// airWeek is a weekly release of the week of 2026-10-01: north with every statistic, south
// with PM2.5 and temperature only, east suppressed but carrying a value it must not show;
// nobody's humidity is published. Its hour-of-day profile: hour 3 suppressed with a value, hours
// 7 and 8 with means, the others band-only.
func airWeek() release.AirWeek {
	w := release.AirWeek{Purpose: airPurpose, PurposeVersion: 1, Grid: release.GridNeighbourhoodWeek, Epoch: "2026-W40",
		From: "2026-09-28", To: "2026-10-04", K: 10, Noise: "Gaussian Noise", Rho: 0.0785, Contributors: 70,
		City:  release.Cell{Contributors: 70, PM25: ptr(14.2), PM25CI: &[2]float64{13.1, 15.3}, Temperature: ptr(17.2), TemperatureCI: &[2]float64{16.9, 17.5}},
		Units: release.Units{PM: "µg/m³", Temperature: "°C", Humidity: "%"}, Version: release.FormatVersion, Rounding: 0.1,
		Cells: []release.Cell{
			{Neighbourhood: "north", Contributors: 40, PM25: ptr(9.4), PM25CI: &[2]float64{8.1, 10.7}, PM10: ptr(21.3), PM10CI: &[2]float64{15.2, 27.4},
				Temperature: ptr(16.8), TemperatureCI: &[2]float64{15.9, 17.7}},
			{Neighbourhood: "south", Contributors: 25, PM25Band: "fair", Temperature: ptr(17.7), TemperatureCI: &[2]float64{16.1, 19.3}},
			{Neighbourhood: "east", Suppressed: true, PM25: ptr(44.4), Humidity: ptr(88.8)},
		}}
	for i := range release.HoursPerDay {
		c := release.HourOfDay{Hour: i, Contributors: 600 + i, PM25Band: "fair"}
		switch i {
		case 3:
			c = release.HourOfDay{Hour: i, Suppressed: true, Contributors: 4, PM25: ptr(77.7)}
		case 7, 8:
			c.PM25Band, c.PM25, c.PM25CI = "", ptr(21.4+float64(i)), &[2]float64{18, 30}
		}
		w.Hours = append(w.Hours, c)
	}
	return w
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
// chart per neighbourhood with the WHO line, shows the week of the day with its hour-of-day
// profile, and offers every download.
func TestAirChartsFactsAndDownloads(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	h.publishWeek(t, airWeek())
	body := h.get(t, "/air", http.StatusOK)

	// The day's release is ledger entry 9 of the seeded log, the week's entry 10.
	assert.Contains(t, body, `Its hash is <a href="/api/v1/ledger/entries/9">ledger entry 9</a>.`)
	assert.Contains(t, body, `<a href="/api/v1/ledger/entries/10">ledger entry 10</a>`)
	assert.Contains(t, body, "at least k = 10 contributors per published figure; no noise was added.")
	assert.Contains(t, body, "Gaussian noise on every figure, ρ = 0.0785 per resident for this release")
	assert.Contains(t, body, "About 36 residents contributed")
	for _, d := range []string{"", "&amp;format=csv", "&amp;format=geojson", "&amp;format=openaq"} {
		assert.Contains(t, body, `href="/api/v1/stats/air?day=2026-10-02`+d+`"`)
		assert.Contains(t, body, `href="/api/v1/stats/air?week=2026-W40`+d+`"`)
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

	// The week: a column for each statistic published, none for humidity.
	week := body[strings.Index(body, `<section aria-labelledby="week-heading">`):]
	week = week[:strings.Index(week, "</section>")]
	assert.Contains(t, week, "The week of Monday 28 September 2026 to Sunday 4 October 2026")
	assert.Contains(t, week, "Weekly figures of the week of this day (2026-W40)")
	assert.Contains(t, week, `<th scope="col">PM2.5 (µg/m³)</th><th scope="col">PM10 (µg/m³)</th><th scope="col">Temperature (°C)</th><th scope="col">Contributors</th>`)
	assert.NotContains(t, week, "Humidity (%)")
	assert.Contains(t, week, "9.4 (8.1–10.7)")
	assert.Contains(t, week, "21.3 (15.2–27.4)")
	assert.Contains(t, week, `<tr class="city"><th scope="row">The whole city</th>`)
	assert.Contains(t, week, `<th scope="row">East &lt;Island&gt;</th><td colspan="4" class="suppressed">— (noisy count below 10)</td>`)

	// The hour-of-day profile: 24 hours in the chart and in the table; the suppressed hour
	// shows nothing of its value.
	hours := week[strings.Index(week, `<figure class="hours">`):]
	bars := rectRE.FindAllStringSubmatch(hours, -1)
	require.Len(t, bars, 24)
	assert.Equal(t, "supmark", bars[3][1])
	assert.Equal(t, "b-poor", bars[7][1], "28.4")
	assert.Equal(t, "bandonly b-fair", bars[0][1])
	assert.Equal(t, 24, strings.Count(hours, `<tr><th scope="row">`))
	assert.Contains(t, hours, `<tr><th scope="row">03:00–04:00</th><td colspan="2" class="suppressed">— (noisy count below 10)</td>`)
	assert.Contains(t, hours, "28.4 (18.0–30.0)")
	assert.Contains(t, body, "Up to 623 residents per hour")
	for _, leak := range []string{"77.7", ">4<", "44.4", "88.8"} {
		assert.NotContains(t, body, leak, "a suppressed figure's value leaked")
	}
}

func TestAirWithoutWeek(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	body := h.get(t, "/air", http.StatusOK)
	assert.Contains(t, body, "No week is released yet by this day.")
	assert.NotContains(t, body, `<figure class="hours">`)
}

// A day after the latest released week shows that week, saying so.
func TestAirShowsTheLatestWeekBeforeTheDay(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	h.publishWeek(t, airWeek())
	h.publish(t, airDay("2026-10-06", release.Cell{Neighbourhood: "north", Contributors: 12, PM25: ptr(9)}))
	body := h.get(t, "/air", http.StatusOK)
	assert.Contains(t, body, "This day&#39;s week is not released yet")
	assert.Contains(t, body, "(2026-W40)")
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

	h.publishWeek(t, airWeek())
	resp, _ = fetch(t, h, "/air?day=2026-10-02", "If-None-Match", day2)
	assert.Equal(t, http.StatusOK, resp.StatusCode, "the day's week was released since")

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

// Every page of a month of the demo city, with its weeks, weighs under 100 KB with its
// stylesheet, in both languages.
func TestPagesUnder100KBWithTheirCSS(t *testing.T) {
	t.Parallel()
	h := demoMonth(t, true, func(i, j int, id string) release.Cell {
		return release.Cell{Neighbourhood: id, Contributors: 100 + j, PM25: ptr(10.5 + float64(i*j%40)),
			PM25CI: &[2]float64{9.1, 12.3}, PM10: ptr(30.1), PM10CI: &[2]float64{28.1, 33.3}, Temperature: ptr(-1.5),
			TemperatureCI: &[2]float64{-3.1, 0.2}, Humidity: ptr(55.5), HumidityCI: &[2]float64{50.5, 60.5}}
	})
	resp, err := h.app.Test(httptest.NewRequest(http.MethodGet, "/", nil), -1)
	require.NoError(t, err)
	resp.Body.Close()
	css, err := assets.ReadFile("static/style.css")
	require.NoError(t, err)
	for _, l := range []string{"en", "fr"} {
		for _, path := range []string{"/", "/air", "/air?day=2026-09-20", "/about/accuracy", "/petitions", "/ledger"} {
			resp, body := fetch(t, h, path, "Accept-Language", l)
			require.Equal(t, http.StatusOK, resp.StatusCode)
			total := len(body) + len(css)
			assert.Less(t, total, 100<<10, "%s (%s): %d bytes with its CSS", path, l, total)
			t.Logf("%s (%s): %d bytes + %d of CSS", path, l, len(body), len(css))
		}
	}
}

// /about/accuracy shows the harness's checked-in numbers, the guarantee and what is done to
// the readings, in both languages.
func TestAccuracyPage(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	a, err := release.LoadAccuracy()
	require.NoError(t, err)
	body := h.get(t, "/about/accuracy", http.StatusOK)
	assert.Contains(t, body, "<h1>How accurate the figures are</h1>")
	assert.Contains(t, body, "ε = 1 per day, ε = 2.9 per week and ε = 6.8 over any 30 days, each with δ = 10⁻⁶")
	assert.Contains(t, body, "Barkjohn et al. 2021")
	assert.Contains(t, body, "κ = 0.4")
	for _, r := range a.Sweep {
		if r.Statistic == release.AccuracyPM25Day && r.Contributors > 100 {
			row := fmt.Sprintf(`<tr><th scope="row">%d</th><td class="num">%.2f</td><td class="num">±%.2f</td>`, r.Contributors, r.MedianAbsError, r.HalfWidth)
			assert.Contains(t, body, row)
		}
	}
	assert.Contains(t, body, "Daily PM2.5 per neighbourhood is within ±3 µg/m³ from ")
	fr := h.get(t, "/about/accuracy?lang=fr", http.StatusOK)
	assert.Contains(t, fr, "<h1>La précision des chiffres</h1>")
	assert.Contains(t, fr, "ε = 6,8 sur 30 jours quelconques")
}
