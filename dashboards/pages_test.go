package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/purpose"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

const airPurpose = "air-quality/daily"

// testGeoJSON has three neighbourhoods; "south" is a MultiPolygon whose first polygon has a hole.
const testGeoJSON = `{"type":"FeatureCollection","features":[
{"type":"Feature","properties":{"id":"north","name":"North Hill"},
 "geometry":{"type":"Polygon","coordinates":[[[2.10,41.40],[2.20,41.40],[2.20,41.45],[2.10,41.45],[2.10,41.40]]]}},
{"type":"Feature","properties":{"id":"south","name":"South Docks"},
 "geometry":{"type":"MultiPolygon","coordinates":[
  [[[2.10,41.35],[2.20,41.35],[2.20,41.40],[2.10,41.40],[2.10,41.35]],[[2.14,41.37],[2.16,41.37],[2.16,41.38],[2.14,41.38],[2.14,41.37]]],
  [[[2.21,41.35],[2.22,41.35],[2.22,41.36],[2.21,41.35]]]]}},
{"type":"Feature","properties":{"id":"east","name":"East <Island>"},
 "geometry":{"type":"Polygon","coordinates":[[[2.20,41.35],[2.25,41.35],[2.25,41.45],[2.20,41.45],[2.20,41.35]]]}}
]}`

const petitionText = "Plant a hundred trees along the river.\n\nWe ask the council to <script>alert(1)</script> act.\r\n\r\n\r\nThird paragraph,\nover two lines."

func ptr(v float64) *float64 { return &v }

// harness is a node with a real Badger, ledger and read model, and the pages served by a
// fiber app.
type harness struct {
	*nodetest.Core
	app   *fiber.App
	pages *Pages
}

func newHarness(t *testing.T, geojson string, now time.Time) *harness {
	t.Helper()
	core := nodetest.New(t, nodetest.Options{Start: now})
	pages, err := New(Source{
		Store: core.Store, State: core.State, Ledger: core.Ledger, GeoJSON: []byte(geojson), AirPurpose: airPurpose,
		Now: core.Clock.Now,
	})
	require.NoError(t, err)
	// The pages' routes as server/routes.go names them (the server imports this package, so
	// its table cannot be used here).
	app := fiber.New(fiber.Config{Immutable: true})
	app.Get("/", pages.Home)
	app.Get("/air", pages.Air)
	app.Get("/about/accuracy", pages.Accuracy)
	app.Get("/petitions", pages.Petitions)
	app.Get("/petitions/:id", pages.Petition)
	app.Get("/purposes", pages.Purposes)
	app.Get("/purposes/*", pages.Purpose)
	app.Get("/ledger", pages.Ledger)
	app.Get(FeedPath, pages.Feed)
	app.Get(NeighbourhoodFeedPath(":id"), pages.NeighbourhoodFeed)
	app.Get(pages.StylesheetURL(), pages.Stylesheet)
	return &harness{Core: core, app: app, pages: pages}
}

func (h *harness) append(t *testing.T, e api.Entry, puts ...ledger.Put) {
	t.Helper()
	b, err := e.Marshal()
	require.NoError(t, err)
	_, err = h.Ledger.Append(context.Background(), b, puts...)
	require.NoError(t, err)
}

func (h *harness) definePurpose(t *testing.T) {
	t.Helper()
	body, err := json.Marshal(purpose.AirDaily("age1example"))
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryPurpose, Purpose: airPurpose, PurposeVersion: 1, Body: body, Hash: state.Hash(body)})
}

func (h *harness) createPetition(t *testing.T, p api.Petition, signatures int) {
	t.Helper()
	body, err := json.Marshal(p)
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryPetition, Petition: p.ID, Body: body, Hash: state.Hash(body),
		Citizen: "c-organiser", Recipient: "age1tally"})
	for i := range signatures {
		h.append(t, api.Entry{Type: api.EntryPetitionSign, Petition: p.ID, Nullifier: fmt.Sprintf("nullifier-secret-%d", i),
			Epoch: p.Opens.AddDate(0, 0, i).Format(time.DateOnly)})
	}
}

func (h *harness) publish(t *testing.T, d release.AirDay) {
	t.Helper()
	body, err := json.Marshal(d)
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryRelease, Purpose: d.Purpose, PurposeVersion: d.PurposeVersion, Epoch: d.Epoch, Hash: state.Hash(body)},
		store.ReleaseRecord(d.Purpose, d.Epoch, body))
}

func airDay(day string, cells ...release.Cell) release.AirDay {
	d := release.AirDay{
		Purpose: airPurpose, PurposeVersion: 1, Epoch: day, K: 10, Noise: "none",
		Clamp: release.Clamps{PM25: [2]float64{0, 100}, PM10: [2]float64{0, 200}, Temperature: [2]float64{-40, 50}, Humidity: [2]float64{0, 100}},
		Units: release.Units{PM: "µg/m³", Temperature: "°C", Humidity: "%"}, Version: release.FormatVersion, Rounding: 0.1,
		Cells: cells,
	}
	for _, c := range cells {
		if !c.Suppressed {
			d.Contributors += c.Contributors
		}
	}
	return d
}

// demoMonth is a harness over the demo city's map with 45 daily releases from 1 September
// 2026, whose cells cell makes (day i, neighbourhood j), and a weekly release each Sunday
// when weeks is true.
func demoMonth(t *testing.T, weeks bool, cell func(i, j int, id string) release.Cell) *harness {
	t.Helper()
	geojson := fixtures.GeoJSON()
	h := newHarness(t, string(geojson), time.Now())
	city, err := parseMap(geojson)
	require.NoError(t, err)
	start := time.Date(2026, 9, 1, 0, 0, 0, 0, time.UTC)
	for i := range 45 {
		var cells []release.Cell
		for j, id := range city.ids() {
			cells = append(cells, cell(i, j, id))
		}
		day := start.AddDate(0, 0, i).Format(time.DateOnly)
		h.publish(t, airDay(day, cells...))
		if week, _ := release.ISOWeek(day); weeks && i%7 == 6 {
			w := airWeek()
			w.Epoch, w.Cells = week, cells
			h.publishWeek(t, w)
		}
	}
	return h
}

// get fetches a path and checks what every page must satisfy.
func (h *harness) get(t *testing.T, path string, status int) string {
	t.Helper()
	resp, err := h.app.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	body := string(b)
	require.Equal(t, status, resp.StatusCode, "GET %s: %s", path, body)
	assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), path)
	assert.NotContains(t, strings.ToLower(body), "<script", path)
	assert.NotContains(t, body, "style=", path)
	assert.NotContains(t, body, "<style", path)
	assert.Less(t, len(b), 100<<10, "%s is too large", path)
	assert.Contains(t, body, `<main id="main"`, path)
	return body
}

const (
	now        = "2026-10-15T12:00:00Z"
	petitionID = "river-trees"
)

func seeded(t *testing.T) *harness {
	t.Helper()
	at, err := time.Parse(time.RFC3339, now)
	require.NoError(t, err)
	h := newHarness(t, testGeoJSON, at)
	h.definePurpose(t)
	h.createPetition(t, api.Petition{
		ID: petitionID, Title: "Trees for the river", Text: petitionText, Scope: []string{"north", "south"},
		Opens: at.AddDate(0, 0, -14), Closes: at.AddDate(0, 0, 16), Threshold: 100,
	}, 3)
	h.createPetition(t, api.Petition{
		ID: "old-one", Title: "A closed petition", Text: "Done.",
		Opens: at.AddDate(0, -2, 0), Closes: at.AddDate(0, -1, 0), Threshold: 2,
	}, 2)
	h.publish(t, airDay("2026-10-01",
		release.Cell{Neighbourhood: "north", Contributors: 11, PM25: ptr(8.2), PM10: ptr(14.5), Temperature: ptr(19.1), Humidity: ptr(70.3)},
		release.Cell{Neighbourhood: "south", Suppressed: true},
		release.Cell{Neighbourhood: "east", Contributors: 12, PM25: ptr(55.5), PM10: ptr(80.2), Temperature: ptr(19.8), Humidity: ptr(68.4)},
	))
	// The suppressed cell of this day carries values it should not: the pages must ignore them.
	h.publish(t, airDay("2026-10-02",
		release.Cell{Neighbourhood: "north", Contributors: 14, PM25: ptr(12.3), PM10: ptr(20.1), Temperature: ptr(18.4), Humidity: ptr(65.2)},
		release.Cell{Neighbourhood: "south", Contributors: 22, PM25: ptr(31.7), Temperature: ptr(17.9), Humidity: ptr(71.6)},
		release.Cell{Neighbourhood: "east", Suppressed: true, Contributors: 3, PM25: ptr(66.6), PM10: ptr(99.9)},
	))
	return h
}

var pathRE = regexp.MustCompile(`<path class="area ([a-z-]+)"( fill="url\(#hatch\)")? d="[^"]+"><title>([^<]*)</title></path>`)

func TestAirShowsTheLatestDay(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	body := h.get(t, "/air", http.StatusOK)

	paths := pathRE.FindAllStringSubmatch(body, -1)
	require.Len(t, paths, 3, "one path per neighbourhood")
	assert.Equal(t, strings.Count(body, "<path"), 3)
	assert.Equal(t, "b-fair", paths[0][1])
	assert.Contains(t, paths[0][3], "North Hill: PM2.5 12.3 µg/m³ (fair), 14 contributors")
	assert.Equal(t, "b-poor", paths[1][1])
	assert.Equal(t, "hatch", paths[2][1], "the suppressed cell is hatched")
	assert.NotEmpty(t, paths[2][2], "the suppressed cell is filled with the pattern")
	assert.Equal(t, "East &lt;Island&gt;: suppressed (noisy count of contributors below 10)", paths[2][3])
	assert.Contains(t, body, `<pattern id="hatch"`)
	assert.Contains(t, body, "suppressed: noisy count of contributors below 10")

	// The day table: every published value, and nothing of the suppressed cell.
	for _, v := range []string{"12.3", "20.1", "18.4", "65.2", "31.7", "17.9", "71.6", ">14<", ">22<"} {
		assert.Contains(t, body, v)
	}
	// A format-1 day publishes every statistic, so the table has a column for each.
	assert.Contains(t, body, `<th scope="col">PM2.5 (µg/m³)</th><th scope="col">PM10 (µg/m³)</th><th scope="col">Temperature (°C)</th><th scope="col">Humidity (%)</th>`)
	assert.Contains(t, body, `<th scope="row">East &lt;Island&gt;</th><td colspan="5" class="suppressed">— (noisy count below 10)</td>`)
	for _, leak := range []string{"66.6", "99.9", ">3<"} {
		assert.NotContains(t, body, leak, "a suppressed cell's value leaked")
	}

	// Residents, privacy parameters and downloads.
	assert.Contains(t, body, "About 36 residents contributed")
	assert.Contains(t, body, "0 to 100 µg/m³")
	assert.Contains(t, body, "ε = 1 per day and ε = 6.8 over any 30 days, δ = 10⁻⁶", "the guarantee, on every page")
	assert.Contains(t, body, "<dd>none: no differential-privacy noise")
	assert.Contains(t, body, `href="/api/v1/stats/air?day=2026-10-02"`)
	assert.Contains(t, body, `href="/api/v1/stats/air?day=2026-10-02&amp;format=csv"`)

	// Released days are plain links; the month table has a column per released day.
	assert.Contains(t, body, `<a href="/air?day=2026-10-01" rel="prev">`)
	assert.Contains(t, body, `<a href="/air?day=2026-10-02" aria-current="page">`)
	month := body[strings.Index(body, `<table class="month">`):]
	month = month[:strings.Index(month, "</table>")]
	assert.Equal(t, 2, strings.Count(month, `<th scope="col"><a href="/air?day=`)+strings.Count(month, `<th scope="col" class="current">`))
	assert.Equal(t, 2, strings.Count(month, `<td class="sup">·`), "south on day 1, east on day 2")
	assert.Contains(t, month, `<td class="b-very-poor">55.5</td>`)
	assert.Contains(t, month, "<td>23</td><td>36</td>", "residents counted per day")
}

func TestAirSelectsADay(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	body := h.get(t, "/air?day=2026-10-01", http.StatusOK)
	assert.Contains(t, body, "Thursday 1 October 2026")
	assert.Contains(t, body, "8.2")
	assert.Contains(t, body, `<a href="/air?day=2026-10-02" rel="next">`)
	assert.Contains(t, body, `<th scope="row">South Docks</th><td colspan="5" class="suppressed">`)

	for _, day := range []string{"2026-09-30", "yesterday", "<script>alert(1)</script>", "2026-10-02%00"} {
		body := h.get(t, "/air?day="+strings.ReplaceAll(day, "<", "%3C"), http.StatusNotFound)
		assert.Contains(t, body, "No air-quality figures were released for that day.")
		assert.NotContains(t, body, "alert")
	}
}

func TestAirWithoutReleases(t *testing.T) {
	t.Parallel()
	h := newHarness(t, testGeoJSON, time.Now())
	body := h.get(t, "/air", http.StatusOK)
	assert.Contains(t, body, "No day has been released yet")
	h.get(t, "/air?day=2026-10-01", http.StatusNotFound)
}

func TestPetitions(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	body := h.get(t, "/petitions", http.StatusOK)
	assert.Contains(t, body, `<a href="/petitions/river-trees">Trees for the river</a>`)
	assert.Contains(t, body, "residents of North Hill and South Docks")
	assert.Contains(t, body, `<meter id="meter-river-trees" min="0" max="100" value="3">`)
	assert.Contains(t, body, "3 of 100 signatures (3 %)")
	assert.Contains(t, body, `<span class="status open">open</span>`)
	assert.Contains(t, body, "31 October 2026, 12:00 UTC")
	assert.Contains(t, body, "residents of the whole city")
	assert.Contains(t, body, `<span class="status closed">closed</span>`)
	assert.Contains(t, body, "2 of 2 signatures (100 %): threshold reached")
	assert.Less(t, strings.Index(body, "old-one"), strings.Index(body, petitionID), "newest first")
}

func TestPetition(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	body := h.get(t, "/petitions/"+petitionID, http.StatusOK)
	assert.Contains(t, body, "<h1>Trees for the river</h1>")
	assert.Contains(t, body, "<code>commons petition sign river-trees</code>")
	assert.Contains(t, body, `<a href="/wallet?petition=river-trees">sign with your browser wallet</a>`)
	assert.Contains(t, body, "<p>Plant a hundred trees along the river.</p>")
	assert.Contains(t, body, "<p>We ask the council to &lt;script&gt;alert(1)&lt;/script&gt; act.</p>")
	assert.Contains(t, body, "<p>Third paragraph,\nover two lines.</p>")
	assert.Contains(t, body, "<strong>3</strong> signatures of the 100")
	assert.Contains(t, body, "1 October 2026, 12:00 UTC")

	body = h.get(t, "/petitions/%3Cb%3Enope", http.StatusNotFound)
	assert.Contains(t, body, "There is no petition with that id.")
	assert.NotContains(t, body, "nope")
}

// TestErrorPage checks the page the server answers errors with: each kind of status kept, a
// fixed heading and sentence in either language, the site's layout and links, nothing of the
// request.
func TestErrorPage(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	h.app.Get("/status/:code", func(c *fiber.Ctx) error {
		code, err := strconv.Atoi(c.Params("code"))
		require.NoError(t, err)
		return h.pages.Error(c, code)
	})
	for code, want := range map[int][2]string{
		404: {"<h1>Not found</h1>", "<h1>Introuvable</h1>"},
		408: {"<h1>Request refused</h1>", "<h1>Requête refusée</h1>"},
		413: {"<h1>Request refused</h1>", "<h1>Requête refusée</h1>"},
		500: {"<h1>Something went wrong</h1>", "<h1>Un problème est survenu</h1>"},
		503: {"<h1>Something went wrong</h1>", "<h1>Un problème est survenu</h1>"},
	} {
		path := "/status/" + strconv.Itoa(code)
		en := h.get(t, path+"?x=%3Cb%3Esecret", code)
		assert.Contains(t, en, want[0], path)
		assert.Contains(t, en, `<html lang="en">`, path)
		assert.Contains(t, en, `<a href="/">Commons</a>`, path)
		assert.Contains(t, en, `the <a href="/">home page</a>`, path)
		assert.NotContains(t, en, "secret", path)
		assert.NotContains(t, en, "status", path)
		fr := h.get(t, path+"?lang=fr", code)
		assert.Contains(t, fr, want[1], path)
		assert.Contains(t, fr, `<html lang="fr">`, path)
		assert.Contains(t, fr, `href="/?lang=en"`, path)
	}
}

func TestLedger(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	size := h.Ledger.Size()
	require.Equal(t, uint64(10), size)
	body := h.get(t, "/ledger", http.StatusOK)
	assert.Contains(t, body, "<dt>Entries</dt><dd>10</dd>")
	assert.Contains(t, body, "<code>test.commons.local/ledger</code>")
	signed, _ := h.Ledger.Checkpoint()
	first, _, _ := strings.Cut(string(signed), "\n")
	assert.Contains(t, body, `<pre class="checkpoint">`+first+"\n10\n")
	assert.Contains(t, body, `<a href="/api/v1/ledger/entries/9">9</a></th><td><code>release.publish</code>`)
	assert.Contains(t, body, "<code>petition.sign</code>")
	assert.Contains(t, body, `curl "$SERVER/api/v1/ledger/proof/inclusion?index=9&amp;size=10"`)
	assert.Contains(t, body, `curl "$SERVER/api/v1/ledger/checkpoint"`)
	assert.Contains(t, body, `curl "$SERVER/api/v1/ledger/key"`)
	assert.Contains(t, body, "commons ledger verify --server http://example.com")
	assert.NotContains(t, body, "nullifier-secret", "nullifiers are not shown")
	assert.Equal(t, 10, strings.Count(body, "<tr><th scope=\"row\">"))
}

func TestLedgerListsTheLatestTwenty(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	h.createPetition(t, api.Petition{ID: "many", Title: "Many", Opens: time.Now(), Closes: time.Now().Add(time.Hour)}, 20)
	body := h.get(t, "/ledger", http.StatusOK)
	assert.Equal(t, 20, strings.Count(body, "<tr><th scope=\"row\">"))
	assert.Contains(t, body, `/api/v1/ledger/entries/30"`)
	assert.Contains(t, body, `/api/v1/ledger/entries/11"`)
	assert.NotContains(t, body, `/api/v1/ledger/entries/10"`)
}

func TestHomeAndStylesheet(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	body := h.get(t, "/", http.StatusOK)
	assert.Contains(t, body, "<dt>Days of air quality released</dt><dd>2</dd>")
	assert.Contains(t, body, "<dt>Petitions</dt><dd>2 <span class=\"note\">(1 open)</span></dd>")
	assert.Contains(t, body, "<dt>Residents registered</dt><dd>0</dd>")
	assert.Contains(t, body, "<dt>Ledger entries in the latest checkpoint</dt><dd>10</dd>")
	assert.Contains(t, body, `<a href="/" aria-current="page">Home</a>`)
	for _, link := range []string{`href="/air"`, `href="/petitions"`, `href="/ledger"`} {
		assert.Contains(t, body, link)
	}
	assert.Contains(t, body, "<code>air-quality/daily</code>, version 1")

	css := regexp.MustCompile(`href="(/static/[0-9a-f]{16}/style\.css)"`).FindStringSubmatch(body)
	require.NotNil(t, css)
	resp, err := h.app.Test(httptest.NewRequest(http.MethodGet, css[1], nil), -1)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/css; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	want, err := assets.ReadFile("static/style.css")
	require.NoError(t, err)
	assert.Equal(t, want, b)
	for _, colour := range []string{"#50f0e6", "#50ccaa", "#f0e641", "#ff5050", "#960032", "#7d2181"} {
		assert.Contains(t, string(b), colour)
	}

	resp, err = h.app.Test(httptest.NewRequest(http.MethodGet, "/static/0000000000000000/style.css", nil), -1)
	require.NoError(t, err)
	assert.Equal(t, http.StatusNotFound, resp.StatusCode)
}

// A month of releases over the demo city stays small, and the month table keeps 30 days.
func TestAirOverAMonthOfTheDemoCity(t *testing.T) {
	t.Parallel()
	h := demoMonth(t, false, func(i, j int, id string) release.Cell {
		if (i+j)%7 == 0 {
			return release.Cell{Neighbourhood: id, Suppressed: true}
		}
		return release.Cell{Neighbourhood: id, Contributors: 10 + j, PM25: ptr(float64(5 + (i*j)%80)),
			PM10: ptr(30), Temperature: ptr(-1.5), Humidity: ptr(55)}
	})
	body := h.get(t, "/air", http.StatusOK)
	assert.Equal(t, 10, strings.Count(body, "<path"))
	month := body[strings.Index(body, `<table class="month">`):]
	month = month[:strings.Index(month, "</table>")]
	assert.Equal(t, 30, strings.Count(month, "<time datetime="))
	assert.Contains(t, month, `<time datetime="2026-09-16">`)
	assert.NotContains(t, month, `<time datetime="2026-09-15">`)
	assert.Contains(t, body, "<summary>September 2026</summary>")
	assert.Contains(t, body, "<details open>\n<summary>October 2026</summary>")
	assert.Contains(t, body, "-1.5")
	t.Logf("/air is %d bytes", len(body))
}

func TestNewRefusesABadMap(t *testing.T) {
	t.Parallel()
	for name, geojson := range map[string]string{
		"not json":       `{`,
		"empty":          `{"type":"FeatureCollection","features":[]}`,
		"no id":          `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}`,
		"point":          `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Point","coordinates":[0,0]}}]}`,
		"open ring":      `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,1]]]}}]}`,
		"out of range":   `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,99],[0,0]]]}}]}`,
		"duplicate id":   `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}},{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[1,0],[1,1],[0,0]]]}}]}`,
		"no geometry":    `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"}}]}`,
		"no extent":      `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"Polygon","coordinates":[[[0,0],[0,0],[0,0],[0,0]]]}}]}`,
		"empty multi":    `{"type":"FeatureCollection","features":[{"type":"Feature","properties":{"id":"a"},"geometry":{"type":"MultiPolygon","coordinates":[]}}]}`,
		"not collection": `{"type":"Feature"}`,
	} {
		_, err := parseMap([]byte(geojson))
		assert.Error(t, err, name)
	}
}

func TestMapProjection(t *testing.T) {
	t.Parallel()
	m, err := parseMap([]byte(testGeoJSON))
	require.NoError(t, err)
	assert.Equal(t, []string{"north", "south", "east"}, m.ids())
	assert.Equal(t, "East <Island>", m.name("east"))
	assert.Equal(t, "elsewhere", m.name("elsewhere"))
	// 0.15° of longitude by 0.10° of latitude at 41.4°N: width/height = 1.5·cos(41.4°) ≈ 1.125.
	inner := (m.height - 2*mapPadding) / (m.width - 2*mapPadding)
	assert.InDelta(t, 1/1.1251, inner, 0.01)
	// North's south-west corner is on the left, halfway down; its north-east corner at the top.
	assert.Equal(t, "M8.0 285.3L424.0 285.3L424.0 8.0L8.0 8.0Z", m.areas[0].path)
	assert.Equal(t, float64(571), m.height)
	assert.Equal(t, 3, strings.Count(m.areas[1].path, "Z"), "outer ring, hole, second polygon")
}

func TestBands(t *testing.T) {
	t.Parallel()
	for v, want := range map[float64]string{
		0: "good", 10: "good", 10.1: "fair", 20: "fair", 20.1: "moderate", 25: "moderate",
		25.1: "poor", 50: "poor", 50.1: "very poor", 75: "very poor", 75.1: "extremely poor", 500: "extremely poor",
	} {
		assert.Equal(t, want, bandOf(v).Label, "%v µg/m³", v)
	}
}

func TestDecimals(t *testing.T) {
	t.Parallel()
	for step, want := range map[float64]int{0.1: 1, 1: 0, 0.5: 1, 0.05: 2, 0.01: 2, 10: 0, 0: 1, 1e-9: 3} {
		assert.Equal(t, want, decimals(step), "%v", step)
	}
}

// TestPetitionShowsPaperTimelineAndBreakdown checks the parts of a petition page beyond its
// total: paper signatures apart, the day-by-day table, the released breakdown with its
// suppressed groups, and the Markdown text rendered through the allow-list.
func TestPetitionShowsPaperTimelineAndBreakdown(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	paper, err := json.Marshal(api.Paper{Petition: petitionID, Count: 40, Note: "market"})
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryPetitionPaper, Petition: petitionID, Body: paper, Hash: state.Hash(paper), Citizen: "c-organiser"})
	body := h.get(t, "/petitions/"+petitionID, http.StatusOK)
	assert.Contains(t, body, "<strong>43</strong> signatures of the 100 the organisers aim for. Of them, 40 on paper (93 %).")
	assert.Contains(t, body, "<div><dt>Signed online</dt><dd>3</dd></div>")
	assert.Contains(t, body, "<div><dt>Signed on paper</dt><dd>40</dd></div>")
	assert.Contains(t, body, `<time datetime="2026-10-01">Thursday 1 October 2026</time></th><td><meter min="0" max="1" value="1" title="1 signed">1</meter> 1</td><td>0</td><td>1</td>`)
	assert.Contains(t, body, `<time datetime="2026-10-03">Saturday 3 October 2026</time></th><td><meter min="0" max="1" value="1" title="1 signed">1</meter> 1</td><td>0</td><td>3</td>`)
	assert.NotContains(t, body, "Who signed", "the petition asks no questions")
	assert.Contains(t, body, `<a href="/api/v1/petitions/river-trees?format=csv">Signatures day by day (CSV)</a>`)
	list := h.get(t, "/petitions", http.StatusOK)
	assert.Contains(t, list, "43 of 100 (3 online, 40 on paper)")

	at, err := time.Parse(time.RFC3339, now)
	require.NoError(t, err)
	h.createPetition(t, api.Petition{ID: "asks", Title: "Asks", Text: "**Bold** and [a link](https://example.org/x) and <script>x()</script>",
		Opens: at.AddDate(0, 0, -20), Closes: at.AddDate(0, 0, -1), Threshold: 5,
		Ask: []string{api.AskAgeBand, api.AskNeighbourhood}}, 1)
	body = h.get(t, "/petitions/asks", http.StatusOK)
	assert.Contains(t, body, "<p><strong>Bold</strong> and <a href=\"https://example.org/x\" rel=\"nofollow noopener noreferrer\">a link</a> and &lt;script&gt;x()&lt;/script&gt;</p>")
	assert.Contains(t, body, "The answers are released once, after the petition closes.")
	assert.Contains(t, body, "<code>--age-band 16-29|30-44|45-64|65+ --neighbourhood YOUR-NEIGHBOURHOOD-ID</code>")

	d := release.Breakdown{Petition: "asks", Epoch: release.PetitionEpoch, K: 10, Noise: "none", Epsilon: 1, Version: release.FormatVersion,
		Questions: []release.Question{
			{Question: api.AskAgeBand, Groups: []release.Group{{Answer: "16-29", Suppressed: true}, {Answer: "30-44", Signers: 14}}},
			{Question: api.AskNeighbourhood, Groups: []release.Group{{Answer: "north", Signers: 12}, {Answer: "south", Suppressed: true}}},
		}}
	b, err := json.Marshal(d)
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryRelease, Purpose: "petition/asks", PurposeVersion: 1, Epoch: release.PetitionEpoch, Hash: state.Hash(b)},
		store.ReleaseRecord("petition/asks", release.PetitionEpoch, b))
	body = h.get(t, "/petitions/asks", http.StatusOK)
	assert.Contains(t, body, "<caption>By age band</caption>")
	assert.Contains(t, body, `<tr><th scope="row">16-29</th><td class="sup">not shown</td></tr>`)
	assert.Contains(t, body, `<tr><th scope="row">30-44</th><td>14</td></tr>`)
	assert.Contains(t, body, `<tr><th scope="row">North Hill</th><td>12</td></tr>`)
	assert.Contains(t, body, "fewer than 10 signers")
	assert.Contains(t, body, `<a href="/api/v1/petitions/asks?format=breakdown-csv">`)
}
