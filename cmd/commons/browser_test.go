package main

import (
	"context"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/release"
)

// Neighbourhoods of the test data: oldTown has at least k contributors and is published,
// island has fewer and is suppressed.
const (
	oldTown          = "old-town"
	island           = "island"
	oldTownResidents = 60 // well above k, so the noisy count (Gaussian, σ about 13) keeps it published
	islandResidents  = 3
)

// testPetition is the petition every test resident signs.
const testPetition = "clean-air-at-schools"

// TestBrowserDashboards renders every public dashboard in headless chromium against the real
// `commons serve` binary, holding a released day of 15 residents. It checks what a
// visitor sees (the map, the suppressed neighbourhood, the published figures, the petition's
// signing command, the stylesheet applied under the CSP), that no page runs a script or
// reaches beyond loopback, and saves a full-page screenshot of each page.
func TestBrowserDashboards(t *testing.T) {
	t.Parallel()
	chromiumPath(t) // skip before the node starts when there is no browser
	ctx := testContext(t)

	n := startFreshNode(t)
	day, published := releaseDay(ctx, t, n)
	week, weekClosed := weekOf(t, day)
	if weekClosed {
		require.Equal(t, 2, published, "the test day and its week are closed: two releases")
	} else {
		require.Equal(t, 1, published, "the test day is closed and has share copies: one release")
	}
	dayText := day.Format(time.DateOnly)
	released := fetchRelease(t, n.url, dayText)
	checkSecurityHeaders(t, n.url+"/air")

	artifacts := artifactsDir(t)
	font := stylesheetFont(t)
	names := map[string]string{}
	for _, nb := range fixtures.Neighbourhoods() {
		names[nb.ID] = nb.Name
	}

	bctx := headless(t, ctx, chromedp.WindowSize(1280, 900))

	var mu sync.Mutex
	var requests []network.EventRequestWillBeSent
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok {
			mu.Lock()
			requests = append(requests, *e)
			mu.Unlock()
		}
	}), "start chromium")
	_, err := chromedp.Call(bctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)

	pages := []struct {
		name, path string
		check      func(t *testing.T, v pageView)
	}{
		{"home", "/", func(t *testing.T, v pageView) {
			// The residents, and the organiser of the petition.
			assert.Equal(t, strconv.Itoa(oldTownResidents+islandResidents+1), v.Figures["Residents registered"])
			assert.Equal(t, "1", v.Figures["Days of air quality released"])
		}},
		{"air", "/air", func(t *testing.T, v pageView) {
			checkAir(bctx, t, dayText, released, names)
			checkCharts(bctx, t, names, weekClosed)
			checkFocus(bctx, t)
			assert.Contains(t, v.Text, "differential privacy with ε = 1 per day and ε = 6.8 over any 30 days, δ = 10⁻⁶", "the guarantee, in numbers")
			assert.Contains(t, v.Text, "change by at most a factor of 2.7", "and in words")
			if weekClosed {
				assert.Contains(t, v.Text, "Weekly figures of the week of this day ("+week+")")
			} else {
				assert.Contains(t, v.Text, "No week is released yet by this day.")
			}
		}},
		{"air-day", "/air?day=" + dayText, func(t *testing.T, _ pageView) { checkAir(bctx, t, dayText, released, names) }},
		{"petitions", "/petitions", func(t *testing.T, v pageView) {
			assert.Contains(t, v.Text, "Clean air at the school gates")
			assert.Contains(t, v.Text, strconv.Itoa(oldTownResidents+islandResidents)+" of 20 signatures")
		}},
		{"petition", "/petitions/" + testPetition, func(t *testing.T, v pageView) {
			assert.Contains(t, v.Text, "commons petition sign "+testPetition)
			assert.Contains(t, v.Text, strconv.Itoa(oldTownResidents+islandResidents)+" signatures of the 20")
		}},
		{"accuracy", "/about/accuracy", func(t *testing.T, v pageView) {
			assert.Contains(t, v.Text, "How accurate the figures are")
			assert.Contains(t, v.Text, "ε = 1 per day, ε = 2.9 per week and ε = 6.8 over any 30 days")
			assert.Contains(t, v.Text, "Barkjohn et al. 2021")
		}},
		{"ledger", "/ledger", func(t *testing.T, v pageView) {
			assert.Equal(t, strconv.Itoa(int(ledgerSize(t, n))), v.Figures["Entries"])
			require.NotEmpty(t, v.Entries, "the ledger page lists the latest entries")
			newest := dayText
			if weekClosed {
				newest = week // released after its days
			}
			assert.Equal(t, []string{api.EntryRelease, newest}, []string{v.Entries[0].Type, v.Entries[0].Epoch},
				"the newest entry is the latest release")
		}},
	}
	// Last, the language: a link switches to French and a cookie keeps it on the next page;
	// the switcher's link comes back to English.
	pages = append(pages, []struct {
		name, path string
		check      func(t *testing.T, v pageView)
	}{
		{"air-fr", "/air?lang=fr", func(t *testing.T, v pageView) {
			assert.Equal(t, "fr", v.Lang)
			assert.Contains(t, v.Text, "Particules fines (PM2,5) par quartier")
			assert.Contains(t, v.Text, "confidentialité différentielle avec ε = 1 par jour et ε = 6,8 sur 30 jours quelconques, δ = 10⁻⁶")
			if weekClosed {
				assert.Contains(t, v.Text, "La ville heure par heure")
			}
			checkCharts(bctx, t, names, weekClosed)
		}},
		{"ledger-fr", "/ledger", func(t *testing.T, v pageView) {
			assert.Equal(t, "fr", v.Lang, "the choice is remembered")
			assert.Contains(t, v.Text, "Dernier point de contrôle signé")
			assert.NotContains(t, v.Text, "Latest signed checkpoint")
			require.NoError(t, chromedp.Do(bctx, chromedp.Click(`nav.langs a[hreflang="en"]`),
				chromedp.WaitVisible(`html[lang="en"] main`)))
			lang, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.lang`))
			require.NoError(t, err)
			assert.Equal(t, "en", lang, "the switcher's link goes back to English")
		}},
	}...)
	for _, p := range pages {
		t.Run(p.name, func(t *testing.T) {
			resp, err := chromedp.Run(bctx, chromedp.NavigateResponse(n.url+p.path))
			require.NoError(t, err)
			assert.EqualValues(t, http.StatusOK, resp.Status)
			v, err := chromedp.Run(bctx, chromedp.Evaluate[pageView](pageJS))
			require.NoError(t, err)
			assert.True(t, strings.HasSuffix(v.Title, " · Commons"), "title %q", v.Title)
			assert.Zero(t, v.Scripts, "the dashboards are pages without JavaScript")
			assert.Equal(t, font, v.Font, "body font-family comes from style.css: the CSP let the stylesheet load")
			p.check(t, v)

			png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			require.NoError(t, err)
			path := filepath.Join(artifacts, p.name+".png")
			require.NoError(t, os.WriteFile(path, png, 0o644))
			t.Logf("screenshot of %s: %s", p.path, path)
		})
	}

	mu.Lock()
	sent := slices.Clone(requests)
	mu.Unlock()
	seen := map[string]bool{}
	for _, r := range sent {
		u, err := url.Parse(r.Request.URL)
		require.NoError(t, err)
		if u.Scheme == "data" {
			continue // chromium's own icons (the date input's calendar): no network at all
		}
		assert.Equal(t, "127.0.0.1", u.Hostname(), "request left loopback: %s", r.Request.URL)
		assert.NotEqual(t, network.ResourceTypeScript, r.Type, "a page loaded a script: %s", r.Request.URL)
		seen[string(r.Type)] = true
	}
	assert.True(t, seen[string(network.ResourceTypeDocument)] && seen[string(network.ResourceTypeStylesheet)],
		"the recorder saw the pages and the stylesheet: %v", seen)
}

// headless starts headless chromium with a fresh profile and no background traffic, plus
// extra options, and returns its browser context, closed when t ends.
func headless(t *testing.T, ctx context.Context, extra ...chromedp.ExecAllocatorOption) context.Context {
	t.Helper()
	opts := append([]chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath(t)),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true), // CI containers have a small /dev/shm
		chromedp.UserDataDir(t.TempDir()),
	}, extra...)
	actx, acancel := chromedp.NewExecAllocator(ctx, opts...)
	t.Cleanup(acancel)
	bctx, bcancel := chromedp.NewContext(actx)
	t.Cleanup(bcancel)
	return bctx
}

// chromiumPath finds the chromium binary. Without one the test is skipped, except on CI
// (CI=true), where a missing browser is a failure.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no chromium or chromium-browser on PATH, and CI=true: install it (apt-get install chromium)")
	}
	t.Skip("skipping the headless-browser test of the dashboards: no chromium or chromium-browser on PATH (apt-get install chromium)")
	return ""
}

// artifactsDir is where screenshots go: $COMMONS_ARTIFACTS, or a temporary directory.
func artifactsDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("COMMONS_ARTIFACTS")
	if dir == "" {
		return t.TempDir()
	}
	require.NoError(t, os.MkdirAll(dir, 0o755))
	return dir
}

// stylesheetFont is the body font-family that dashboards/static/style.css declares.
func stylesheetFont(t *testing.T) string {
	t.Helper()
	css, err := os.ReadFile(filepath.Join("..", "..", "dashboards", "static", "style.css"))
	require.NoError(t, err)
	m := regexp.MustCompile(`(?m)^body\s*\{[^}]*?font-family:\s*([^;]+);`).FindSubmatch(css)
	require.NotNil(t, m, "style.css sets no body font-family")
	return strings.TrimSpace(string(m[1]))
}

// checkSecurityHeaders fetches an HTML page and checks its security headers.
func checkSecurityHeaders(t *testing.T, pageURL string) {
	t.Helper()
	resp, err := http.Get(pageURL)
	require.NoError(t, err)
	defer resp.Body.Close()
	_, err = io.Copy(io.Discard, resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.True(t, strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html"), resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "default-src 'self'")
	assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
}

// pageView is what every page is read for.
type pageView struct {
	Title   string            `json:"title"`
	Lang    string            `json:"lang"`
	Scripts int               `json:"scripts"`
	Font    string            `json:"font"`
	Text    string            `json:"text"`
	Figures map[string]string `json:"figures"` // dl.figures, term to value
	Entries []struct {
		Type  string `json:"type"`
		Epoch string `json:"epoch"`
	} `json:"entries"` // the ledger page's table, newest first
}

// pageJS reads a pageView from the current page.
const pageJS = `({
	title: document.title,
	lang: document.documentElement.lang,
	scripts: document.scripts.length,
	font: getComputedStyle(document.body).fontFamily,
	text: document.body.innerText,
	figures: Object.fromEntries([...document.querySelectorAll('dl.figures > div')].map(d =>
		[d.querySelector('dt').textContent.trim(), d.querySelector('dd').textContent.trim()])),
	entries: [...document.querySelectorAll('table.entries tbody tr')].map(tr => {
		const td = tr.querySelectorAll('td');
		return {type: td[0].textContent.trim(), epoch: td[4].textContent.trim()};
	}),
})`

// airView is what the air page is read for: its day, its map and its day table.
type airView struct {
	Day   string `json:"day"`
	Areas []struct {
		Title string `json:"title"`
		Class string `json:"class"`
		Fill  string `json:"fill"` // computed
	} `json:"areas"`
	Rows []struct {
		Name  string   `json:"name"`
		Cells []string `json:"cells"`
	} `json:"rows"`
}

// airJS reads an airView from the air page.
const airJS = `({
	day: document.querySelector('p.lead time')?.getAttribute('datetime') ?? '',
	areas: [...document.querySelectorAll('figure.map svg path.area')].map(p => ({
		title: p.querySelector('title')?.textContent ?? '',
		class: p.getAttribute('class'),
		fill: getComputedStyle(p).fill,
	})),
	rows: [...document.querySelectorAll('table.day tbody tr')].map(tr => ({
		name: tr.querySelector('th').textContent.trim(),
		cells: [...tr.querySelectorAll('td')].map(td => td.textContent.trim()),
	})),
})`

// checkAir checks the air page the browser shows against the release served by the API.
func checkAir(ctx context.Context, t *testing.T, day string, d release.AirDay, names map[string]string) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[airView](airJS))
	require.NoError(t, err)
	assert.Equal(t, day, v.Day)
	require.Len(t, v.Areas, len(names), "one map shape per neighbourhood")

	var cell release.Cell
	for _, c := range d.Cells {
		if c.Neighbourhood == oldTown {
			cell = c
		}
	}
	require.False(t, cell.Suppressed, "old-town has %d contributors", oldTownResidents)
	var islandCell release.Cell
	for _, c := range d.Cells {
		if c.Neighbourhood == island {
			islandCell = c
		}
	}
	assert.Nil(t, islandCell.PM25, "island's %d contributors never give a mean", islandResidents)

	shapes := map[string]int{}
	for i, a := range v.Areas {
		name, _, _ := strings.Cut(a.Title, ": ")
		shapes[name] = i
	}
	// Island's noisy count usually stays below k (suppressed, hatched); when noise lifts it,
	// the cell shows that there is not enough data, never a figure.
	if i, ok := shapes[names[island]]; assert.True(t, ok, "no map shape titled %q", names[island]) {
		a := v.Areas[i]
		if islandCell.Suppressed {
			assert.Contains(t, strings.Fields(a.Class), "hatch", "island is suppressed")
			assert.Contains(t, a.Fill, "#hatch", "island's shape is filled with the hatch pattern")
			assert.Contains(t, a.Title, "suppressed")
		} else {
			assert.NotContains(t, a.Title, "µg/m³", "island shows no figure: %q", a.Title)
		}
	}
	if i, ok := shapes[names[oldTown]]; assert.True(t, ok, "no map shape titled %q", names[oldTown]) {
		a := v.Areas[i]
		switch {
		case cell.PM25 != nil || cell.PM25Band != "":
			assert.True(t, slices.ContainsFunc(strings.Fields(a.Class), func(c string) bool { return strings.HasPrefix(c, "b-") }),
				"old-town is coloured by its AQI band: class %q", a.Class)
			assert.NotContains(t, []string{"", "none", "rgb(0, 0, 0)"}, a.Fill, "the band's fill comes from style.css")
			_, shown, found := strings.Cut(a.Title, "PM2.5 ")
			require.True(t, found, "old-town's shape titles its PM2.5: %q", a.Title)
			if cell.PM25 != nil {
				assert.InDelta(t, *cell.PM25, number(t, shown), 1e-9, "old-town PM2.5 on the map %q", a.Title)
			} else {
				assert.Contains(t, shown, "band "+cell.PM25Band, "old-town's band on the map")
			}
		default: // a first week's figure, too imprecise for a band when noise lowered the count
			assert.Contains(t, a.Title, "not enough data")
		}
	}

	rows := map[string][]string{}
	for _, r := range v.Rows {
		rows[r.Name] = r.Cells
	}
	require.Contains(t, rows, names[island])
	if islandCell.Suppressed {
		require.Len(t, rows[names[island]], 1, "a suppressed row is one cell")
		assert.Contains(t, rows[names[island]][0], "noisy count below")
	}
	require.Contains(t, rows, names[oldTown])
	ot := rows[names[oldTown]]
	require.Len(t, ot, 2, "a day publishes PM2.5 only: PM2.5, contributors")
	switch {
	case cell.PM25 != nil:
		assert.InDelta(t, *cell.PM25, number(t, ot[0]), 1e-9, "old-town PM2.5 shown %q", ot[0])
	case cell.PM25Band != "":
		assert.Contains(t, ot[0], cell.PM25Band, "old-town's band shown instead of a mean")
	default:
		assert.Equal(t, "—", ot[0], "not enough data is a dash")
	}
	assert.Equal(t, strconv.Itoa(cell.Contributors), ot[1], "the noisy count as released")
	require.Contains(t, rows, "The whole city", "the city-wide figure heads the table")
}

// chartsView is what the air page's charts are read for.
type chartsView struct {
	Charts []struct {
		Name     string `json:"name"`
		Who      int    `json:"who"`
		Marks    int    `json:"marks"`
		Suppress int    `json:"suppressed"`
	} `json:"charts"`
	HourBars int `json:"hourBars"`
	HourRows int `json:"hourRows"`
}

const chartsJS = `({
	charts: [...document.querySelectorAll('figure.spark')].map(f => ({
		name: f.querySelector('figcaption').textContent.trim(),
		who: f.querySelectorAll('line.who').length,
		marks: f.querySelectorAll('rect').length,
		suppressed: f.querySelectorAll('rect.supmark').length,
	})),
	hourBars: document.querySelectorAll('figure.hours rect').length,
	hourRows: document.querySelectorAll('table.hours tbody tr').length,
})`

// checkCharts checks the 30-day chart has one chart per neighbourhood, each with the WHO line,
// and, when the week is released, the hour-of-day profile's 24 hours with their table.
func checkCharts(ctx context.Context, t *testing.T, names map[string]string, week bool) {
	t.Helper()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[chartsView](chartsJS))
	require.NoError(t, err)
	require.Len(t, v.Charts, len(names), "one 30-day chart per neighbourhood")
	for _, c := range v.Charts {
		assert.Equal(t, 1, c.Who, "%s: the WHO guideline line", c.Name)
		if c.Name == names[oldTown] {
			assert.Zero(t, c.Suppress, "old-town's day is not suppressed")
		}
	}
	if week {
		assert.LessOrEqual(t, v.HourBars, 24, "the hour-of-day profile draws each hour with a figure, or suppressed")
		assert.Equal(t, 24, v.HourRows, "and lists every hour in its table")
	} else {
		assert.Zero(t, v.HourBars)
	}
}

// focusView is the focused element after a key press.
type focusView struct {
	Class   string `json:"class"`
	Outline string `json:"outline"`
}

// checkFocus presses Tab and checks the focused link (the skip link) shows a focus outline.
func checkFocus(ctx context.Context, t *testing.T) {
	t.Helper()
	require.NoError(t, chromedp.Do(ctx, chromedp.KeyEvent("\t")))
	focus, err := chromedp.Run(ctx, chromedp.Evaluate[focusView](
		`({class: document.activeElement.className, outline: getComputedStyle(document.activeElement).outlineStyle})`))
	require.NoError(t, err)
	assert.Equal(t, "skip", focus.Class, "Tab reaches the skip link first")
	assert.Equal(t, "solid", focus.Outline, "keyboard focus is visible")
}

// number parses the figure that starts a table cell's text, e.g. "14.3" in "14.3 fair".
func number(t *testing.T, text string) float64 {
	t.Helper()
	figure, _, _ := strings.Cut(strings.TrimSpace(text), " ")
	f, err := strconv.ParseFloat(figure, 64)
	require.NoError(t, err, "cell %q", text)
	return f
}

// releaseDay populates n for the day two days ago — closed, past its grace hours — and has the
// operator run the releases now: it returns that day and how many releases were published.
func releaseDay(ctx context.Context, t testing.TB, n *node) (time.Time, int) {
	t.Helper()
	admin := adminTokenOf(t, n.data)
	day := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -2)
	populate(ctx, t, n.url, admin, day)
	published, _, err := client.New(n.url).RunReleases(ctx, admin)
	require.NoError(t, err)
	return day, published
}

// populate drives the node through the real client, as residents and the operator would: a
// petition, then 12 residents of old-town and 3 of island who register, consent, upload a
// day of hourly readings and sign the petition.
func populate(ctx context.Context, t testing.TB, url, adminToken string, day time.Time) {
	t.Helper()
	c := client.New(url)
	now := time.Now().UTC()
	organiser := newOrganiser(ctx, t, c, adminToken)
	_, err := c.CreatePetition(ctx, organiser, api.Petition{
		ID: testPetition, Title: "Clean air at the school gates",
		Text:  "We ask the council to close the streets outside primary schools to through traffic at drop-off and pick-up times.\n\nThe daily figures on this site show the morning peak.",
		Opens: now.Add(-time.Hour), Closes: now.AddDate(0, 0, 14), Threshold: 20,
	})
	require.NoError(t, err)
	air, err := c.Purpose(ctx, fixtures.AirPurpose)
	require.NoError(t, err)
	homes := append(slices.Repeat([]string{oldTown}, oldTownResidents), slices.Repeat([]string{island}, islandResidents)...)
	invites, err := c.Invites(ctx, adminToken, len(homes))
	require.NoError(t, err)
	for i, home := range homes {
		w, err := crypto.NewWallet()
		require.NoError(t, err)
		_, err = c.Register(ctx, w, invites[i], home)
		require.NoError(t, err)
		_, err = c.Grant(ctx, w, air)
		require.NoError(t, err)
		_, err = c.Contribute(ctx, w, dayReadings(home, day, i), []client.Purpose{air}, nil)
		require.NoError(t, err)
		_, err = c.SignPetition(ctx, w, testPetition, false, nil)
		require.NoError(t, err)
	}
}

// dayReadings are 24 hourly readings of one resident's sensor in cell on day: a background
// that differs a little per resident, with a morning and an evening traffic peak.
func dayReadings(cell string, day time.Time, resident int) []reading.Reading {
	rs := make([]reading.Reading, 24)
	for h := range rs {
		peaks := math.Exp(-math.Pow(float64(h)-8, 2)/4.5) + 0.8*math.Exp(-math.Pow(float64(h)-19, 2)/4.5)
		pm25 := round1(11 + 0.4*float64(resident) + 9*peaks)
		rs[h] = reading.Reading{
			Sensor:     "sds011-balcony",
			RecordedAt: day.Add(time.Duration(h)*time.Hour + 7*time.Minute),
			Cell:       cell,
			Values: reading.Values{
				PM2_5: reading.F(pm25), PM10: reading.F(round1(1.6 * pm25)),
				Temperature: reading.F(round1(14 + 6*math.Sin(math.Pi*float64(h-6)/12))),
				Humidity:    reading.F(round1(70 - 15*math.Sin(math.Pi*float64(h-6)/12))),
			},
		}
	}
	return rs
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// fetchRelease fetches a day's release from the public API, as a visitor's download would.
func fetchRelease(t *testing.T, url, day string) release.AirDay {
	t.Helper()
	d, err := release.ParseAirDay(httpGet(t, url+"/api/v1/stats/air?day="+day))
	require.NoError(t, err)
	return d
}

// TestMapLabelsOnAPhone opens /air on a phone-sized chromium (390 × 844): every neighbourhood
// of the demo city carries its letter on the map, inside the screen, large enough to read,
// no two overlapping, and the key under the map names each one in text.
func TestMapLabelsOnAPhone(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	n := startFreshNode(t)
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
