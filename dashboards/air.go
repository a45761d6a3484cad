package dashboards

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

// monthDays is how many released days the month table shows, ending at the selected day.
const monthDays = 30

// band is one band of the European Air Quality Index for the daily mean of PM2.5.
type band struct {
	Class string  // the CSS class that colours it
	Label string  // its name
	Range string  // its range in µg/m³, for the legend
	max   float64 // its inclusive upper bound
}

// bands are the European AQI bands for daily PM2.5, in increasing order.
var bands = []band{
	{"b-good", "good", "0 to 10", 10},
	{"b-fair", "fair", "over 10 to 20", 20},
	{"b-moderate", "moderate", "over 20 to 25", 25},
	{"b-poor", "poor", "over 25 to 50", 50},
	{"b-very-poor", "very poor", "over 50 to 75", 75},
	{"b-extremely-poor", "extremely poor", "over 75", math.Inf(1)},
}

// bandOf returns the AQI band of a daily PM2.5 mean.
func bandOf(pm25 float64) band {
	for _, b := range bands {
		if pm25 <= b.max {
			return b
		}
	}
	return bands[len(bands)-1]
}

// bandNamed returns the band a release names (release.Band's labels).
func bandNamed(label string) (band, bool) {
	for _, b := range bands {
		if b.Label == label {
			return b, true
		}
	}
	return band{}, false
}

// Map classes beside the bands.
const (
	classSuppressed = "hatch"  // fewer than k contributors
	classNoData     = "nodata" // no cell in the release, or its PM2.5 withheld
)

type airView struct {
	Day          string // empty when nothing is released yet
	DayLabel     string
	First, Last  string // the first and last released days, for the date picker
	Prev, Next   string
	Months       []monthLinks
	Map          mapView
	Heads        []string // the day table's statistic columns
	City         *cellRow // the city-wide figure; nil in format-1 releases
	Rows         []cellRow
	Month        monthView
	Charts       dayCharts
	Week         *weekView // nil until a week is released by the day
	Bands        []band
	K            int
	Contributors int
	Units        release.Units
	Params       []param
	Facts        releaseFacts
	Downloads    []download
}

// weekView is the weekly release shown beside a day: the week of the day when it is
// released, else the latest before it.
type weekView struct {
	Week, From, To string
	Current        bool // the week of the day
	Heads          []string
	City           cellRow
	Rows           []cellRow
	Hours          *hoursView // nil without an hour-of-day profile
	Facts          releaseFacts
	Downloads      []download
}

type monthLinks struct {
	Label string
	Open  bool
	Days  []dayLink
}

type dayLink struct {
	Day, Label string
	Current    bool
}

type mapView struct {
	Width, Height string
	Areas         []mapArea
}

type mapArea struct {
	Path, Class, Title string
	Hatch              bool
	// Key labels the area on the map (A, B, …); the key beside the map gives its Name.
	Key            string
	Name           string
	LabelX, LabelY string
}

// cellRow is one neighbourhood (or the city) of a table: its figures in the table's columns,
// PM2.5 first. A suppressed row carries only its name.
type cellRow struct {
	Name         string
	Suppressed   bool
	Values       []string
	Band         band
	Contributors int
}

// statColumn is one statistic of a table, shown only when the releases shown publish it.
type statColumn struct {
	head func(l lang, u release.Units) string
	get  func(release.Cell) (*float64, *[2]float64)
}

// statColumns are the statistics a table may show, PM2.5 first.
var statColumns = []statColumn{
	{func(_ lang, u release.Units) string { return "PM2.5 (" + u.PM + ")" }, func(c release.Cell) (*float64, *[2]float64) { return c.PM25, c.PM25CI }},
	{func(_ lang, u release.Units) string { return "PM10 (" + u.PM + ")" }, func(c release.Cell) (*float64, *[2]float64) { return c.PM10, c.PM10CI }},
	{func(l lang, u release.Units) string { return l.t("Temperature") + " (" + u.Temperature + ")" },
		func(c release.Cell) (*float64, *[2]float64) { return c.Temperature, c.TemperatureCI }},
	{func(l lang, u release.Units) string { return l.t("Humidity") + " (" + u.Humidity + ")" },
		func(c release.Cell) (*float64, *[2]float64) { return c.Humidity, c.HumidityCI }},
}

// published returns the columns some unsuppressed cell publishes a mean of; PM2.5 always
// (a band is its figure too).
func published(cells ...release.Cell) []statColumn {
	out := []statColumn{statColumns[0]} // a new array: appending to statColumns[:1] would overwrite statColumns
	for _, col := range statColumns[1:] {
		for _, c := range cells {
			if v, _ := col.get(c); v != nil && !c.Suppressed {
				out = append(out, col)
				break
			}
		}
	}
	return out
}

// tableRow is what the "row" template renders: a row, k for its suppressed text, and the
// number of columns a suppressed row spans (its figures and its contributors).
type tableRow struct {
	Row  cellRow
	K    int
	Span int
}

func rowOf(r cellRow, k, figures int) tableRow { return tableRow{Row: r, K: k, Span: figures + 1} }

// row renders a cell's figures in cols.
func (l lang) row(name string, c release.Cell, cols []statColumn, dec int) cellRow {
	r := cellRow{Name: name, Suppressed: c.Suppressed}
	if c.Suppressed {
		return r
	}
	for _, col := range cols {
		v, ci := col.get(c)
		r.Values = append(r.Values, l.withCI(v, ci, dec))
	}
	r.Contributors = c.Contributors
	if c.PM25 != nil {
		r.Band = bandOf(*c.PM25)
	} else if b, known := bandNamed(c.PM25Band); known {
		r.Band = b
	}
	return r
}

type monthView struct {
	Days   []dayHead
	Rows   []monthRow
	Totals []int // residents counted in each day's release
}

type dayHead struct {
	Day, Month, Date string
	Current          bool
}

type monthRow struct {
	Name  string
	Cells []monthCell
}

type monthCell struct {
	Text, Class string
	Hidden      string // read by screen readers only
}

type param struct {
	Name, Value string
}

// download is one format of a release.
type download struct {
	Name, Type, URL string
}

// releaseFacts is what every page that shows a release states about it: how many residents it
// counts, its privacy parameters, and its entry in the ledger.
type releaseFacts struct {
	Contributors int
	K            int
	Rho          string // the zCDP cost per resident of a format-2 release
	Epsilon      string // the ε of a format-1 release; empty when no noise was added
	Logged       bool
	Entry        uint64
	EntryURL     string
}

// facts states a release's contributors, privacy parameters and ledger entry.
func (p *Pages) facts(c *fiber.Ctx, l lang, epoch string, contributors, k int, noise string, rho, eps float64) (releaseFacts, error) {
	f := releaseFacts{Contributors: contributors, K: k}
	switch {
	case noise == "none":
	case rho > 0:
		f.Rho = l.num(rho, 4)
	case eps > 0:
		f.Epsilon = l.num(eps, -1)
	}
	i, ok, err := p.entries.find(c.UserContext(), p.src.Ledger, epoch)
	if err != nil {
		return releaseFacts{}, err
	}
	f.Logged, f.Entry, f.EntryURL = ok, i, entryURL(i)
	return f, nil
}

// dayFacts states a daily release's facts.
func (p *Pages) dayFacts(c *fiber.Ctx, l lang, d release.AirDay) (releaseFacts, error) {
	return p.facts(c, l, d.Epoch, d.Contributors, d.K, d.Noise, d.Rho, d.Epsilon)
}

// Air answers the air-quality page of the latest released day, or of ?day=YYYY-MM-DD.
func (p *Pages) Air(c *fiber.Ctx) error {
	l := pickLang(c)
	epochs, weeks, err := p.released()
	if err != nil {
		return fmt.Errorf("dashboards: air: %w", err)
	}
	i := len(epochs) - 1
	if q := c.Query("day"); q != "" {
		j, found := slices.BinarySearch(epochs, q)
		if !found {
			return p.notFound(c, l, l.t("No air-quality figures were released for that day."))
		}
		i = j
	}
	if i < 0 {
		return p.show(c, l, fiber.StatusOK, page{"air", l.t("Air quality"), "air", airView{}, "/air"})
	}
	day := epochs[i]
	week := weekOf(day, weeks)
	// A release page is a function of the released days (the date picker, the 30-day window),
	// of the week it shows and of the releases it shows, which never change: its ETag is
	// known before rendering, and the rendered bytes are kept under it.
	self := "/air"
	if c.Query("day") != "" {
		self += "?day=" + day
	}
	logged, err := p.logged(c, day, week)
	if err != nil {
		return fmt.Errorf("dashboards: air: %w", err)
	}
	etag, err := p.airETag(l, self, day, epochs, week, logged)
	if err != nil {
		return fmt.Errorf("dashboards: air: %w", err)
	}
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return send(c, fiber.StatusOK, etag, nil)
	}
	if body, ok := p.cached(etag); ok {
		return send(c, fiber.StatusOK, etag, body)
	}
	v, err := p.airView(c, l, epochs, i, week)
	if err != nil {
		return fmt.Errorf("dashboards: air: %w", err)
	}
	body, err := p.render(l, page{"air", l.t("Air quality on %s", day), "air", v, self})
	if err != nil {
		return err
	}
	if logged {
		p.keep(etag, body)
	}
	return send(c, fiber.StatusOK, etag, body)
}

// weekOf returns the released week shown beside day: its own ISO week when released, else
// the latest released week before it, else "".
func weekOf(day string, weeks []string) string {
	own, err := release.ISOWeek(day)
	if err != nil {
		return ""
	}
	i, found := slices.BinarySearch(weeks, own)
	if found {
		return own
	}
	if i > 0 {
		return weeks[i-1]
	}
	return ""
}

// airView builds the page of epochs[i], with the weekly release of week ("" for none).
func (p *Pages) airView(c *fiber.Ctx, l lang, epochs []string, i int, week string) (airView, error) {
	window := epochs[max(0, i-monthDays+1) : i+1]
	days := make([]release.AirDay, len(window))
	for j, e := range window {
		var err error
		if days[j], err = p.release(e); err != nil {
			return airView{}, err
		}
	}
	d := days[len(days)-1]
	day := epochs[i]
	api := "/api/v1/stats/air?day=" + day
	v := airView{
		Day: day, DayLabel: l.longDate(day), First: epochs[0], Last: epochs[len(epochs)-1],
		Months: dayLinks(l, epochs, day),
		Bands:  bands, K: d.K, Contributors: d.Contributors, Units: d.Units,
		Params: releaseParams(l, d),
		Downloads: []download{
			{"JSON", "application/json", api},
			{"CSV", "text/csv", api + "&format=csv"},
			{"GeoJSON", "application/geo+json", api + "&format=geojson"},
			{l.t("OpenAQ v3-like JSON"), "application/json", api + "&format=openaq"},
		},
	}
	var err error
	if v.Facts, err = p.dayFacts(c, l, d); err != nil {
		return airView{}, err
	}
	if i > 0 {
		v.Prev = epochs[i-1]
	}
	if i < len(epochs)-1 {
		v.Next = epochs[i+1]
	}
	v.Map, v.Heads, v.City, v.Rows = p.dayFigures(l, d)
	v.Month = p.monthFigures(l, window, days)
	v.Charts = p.dayCharts(l, window, days)
	if week != "" {
		w, err := p.week(week)
		if err != nil {
			return airView{}, err
		}
		wv, err := p.weekView(c, l, w, day)
		if err != nil {
			return airView{}, err
		}
		v.Week = &wv
	}
	return v, nil
}

// weekView builds the weekly section of a day's page.
func (p *Pages) weekView(c *fiber.Ctx, l lang, w release.AirWeek, day string) (weekView, error) {
	own, _ := release.ISOWeek(day)
	api := "/api/v1/stats/air?week=" + w.Epoch
	v := weekView{Week: w.Epoch, From: l.longDate(w.From), To: l.longDate(w.To), Current: w.Epoch == own,
		Downloads: []download{
			{"JSON", "application/json", api},
			{"CSV", "text/csv", api + "&format=csv"},
			{"GeoJSON", "application/geo+json", api + "&format=geojson"},
			{l.t("OpenAQ v3-like JSON"), "application/json", api + "&format=openaq"},
		}}
	dec := decimals(w.Rounding)
	cells := cellsByID(w.Cells)
	cols := published(append([]release.Cell{w.City}, w.Cells...)...)
	for _, col := range cols {
		v.Heads = append(v.Heads, col.head(l, w.Units))
	}
	v.City = l.row(l.t("The whole city"), w.City, cols, dec)
	for _, id := range p.neighbourhoods(w.Cells) {
		cell, ok := cells[id]
		if !ok {
			v.Rows = append(v.Rows, cellRow{Name: p.city.name(id), Values: dashes(len(cols))})
			continue
		}
		v.Rows = append(v.Rows, l.row(p.city.name(id), cell, cols, dec))
	}
	var err error
	if v.Facts, err = p.facts(c, l, w.Epoch, w.Contributors, w.K, w.Noise, w.Rho, 0); err != nil {
		return weekView{}, err
	}
	if len(w.Hours) > 0 {
		h := p.hoursView(l, w, v.Facts)
		v.Hours = &h
	}
	return v, nil
}

func dashes(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = "—"
	}
	return out
}

// logged reports whether the ledger entries of the releases a page shows are visible yet: a
// release is stored in the transaction that logs it, but the log's size moves just after,
// and a page rendered in between lacks its ledger links (it is then neither kept nor named as
// final).
func (p *Pages) logged(c *fiber.Ctx, day, week string) (bool, error) {
	_, ok, err := p.entries.find(c.UserContext(), p.src.Ledger, day)
	if err != nil || !ok || week == "" {
		return ok, err
	}
	_, ok, err = p.entries.find(c.UserContext(), p.src.Ledger, week)
	return ok, err
}

// airETag names the /air page of day in language l, reached at self.
func (p *Pages) airETag(l lang, self, day string, epochs []string, week string, logged bool) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n%s\n%t\n", p.version, l, self, day, strings.Join(epochs, ","), week, logged)
	if g := p.guarantee(l); g != nil {
		fmt.Fprintf(h, "%+v\n", *g)
	}
	sum, err := p.hash(day, func() ([]byte, error) { return p.src.Store.Release(p.src.AirPurpose, day) })
	if err != nil {
		return "", err
	}
	h.Write([]byte(sum))
	if week != "" {
		sum, err := p.hash(week, func() ([]byte, error) { return p.src.Store.Release(release.WeekPurpose(p.src.AirPurpose), week) })
		if err != nil {
			return "", err
		}
		h.Write([]byte(sum))
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`, nil
}

// hash returns the hash of a stored release (as logged in the ledger), reading it once.
func (p *Pages) hash(epoch string, read func() ([]byte, error)) (string, error) {
	return memo(&p.mu, p.hashes, epoch, func() (string, error) {
		b, err := read()
		if err != nil {
			return "", fmt.Errorf("release %s: %w", epoch, err)
		}
		return state.Hash(b), nil
	})
}

// maxCached bounds the rendered release pages kept in memory (a few hundred kilobytes).
const maxCached = 64

func (p *Pages) cached(etag string) ([]byte, bool) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	b, ok := p.cache[etag]
	return b, ok
}

// keep stores a rendered page under its ETag; when full, the cache starts over (a release
// page is cheap to render again, and old ETags are rarely asked for).
func (p *Pages) keep(etag string, body []byte) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if len(p.cache) >= maxCached {
		clear(p.cache)
	}
	p.cache[etag] = body
}

// release returns a parsed daily release. Releases are never recomputed, so they are cached.
func (p *Pages) release(epoch string) (release.AirDay, error) {
	return memo(&p.mu, p.releases, epoch, func() (release.AirDay, error) {
		return parseStored(p.src.Store, p.src.AirPurpose, epoch, release.ParseAirDay)
	})
}

// week returns a parsed weekly release. Releases are never recomputed, so they are cached.
func (p *Pages) week(week string) (release.AirWeek, error) {
	return memo(&p.mu, p.weeks, week, func() (release.AirWeek, error) {
		return parseStored(p.src.Store, release.WeekPurpose(p.src.AirPurpose), week, release.ParseAirWeek)
	})
}

// memo returns m[key], loading and keeping it on a miss; mu guards m.
func memo[T any](mu *sync.RWMutex, m map[string]T, key string, load func() (T, error)) (T, error) {
	mu.RLock()
	v, ok := m[key]
	mu.RUnlock()
	if ok {
		return v, nil
	}
	v, err := load()
	if err != nil {
		return v, err
	}
	mu.Lock()
	m[key] = v
	mu.Unlock()
	return v, nil
}

// parseStored reads a purpose's stored release of an epoch and parses it.
func parseStored[T any](s *store.Store, purpose, epoch string, parse func([]byte) (T, error)) (T, error) {
	var zero T
	b, err := s.Release(purpose, epoch)
	if err != nil {
		return zero, fmt.Errorf("release %s %s: %w", purpose, epoch, err)
	}
	v, err := parse(b)
	if err != nil {
		return zero, fmt.Errorf("release %s %s: %w", purpose, epoch, err)
	}
	return v, nil
}

// neighbourhoods lists the map's neighbourhoods in document order, then any other cell the
// releases name, so that no released figure is left out.
func (p *Pages) neighbourhoods(releases ...[]release.Cell) []string {
	ids := p.city.ids()
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for _, cells := range releases {
		for _, cell := range cells {
			if !seen[cell.Neighbourhood] {
				seen[cell.Neighbourhood] = true
				ids = append(ids, cell.Neighbourhood)
			}
		}
	}
	return ids
}

func cellsByID(cells []release.Cell) map[string]release.Cell {
	m := make(map[string]release.Cell, len(cells))
	for _, c := range cells {
		m[c.Neighbourhood] = c
	}
	return m
}

// cellsOf returns the cells of each day.
func cellsOf(days []release.AirDay) [][]release.Cell {
	out := make([][]release.Cell, len(days))
	for i, d := range days {
		out[i] = d.Cells
	}
	return out
}

// mapKey labels the i-th area of the map: A to Z, then A27, A28…
func mapKey(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return "A" + strconv.Itoa(i+1)
}

// dayFigures builds the map and the table of one day: the city-wide figure and a row per
// neighbourhood, with a column for each statistic the day publishes. Of a suppressed cell
// only the fact that it is suppressed is used.
func (p *Pages) dayFigures(l lang, d release.AirDay) (mapView, []string, *cellRow, []cellRow) {
	cells := cellsByID(d.Cells)
	dec := decimals(d.Rounding)
	mv := mapView{Width: formatNumber(p.city.width, 0), Height: formatNumber(p.city.height, 0)}
	for i, a := range p.city.areas {
		name := p.city.name(a.id)
		ma := mapArea{Path: a.path, Class: classNoData, Title: l.t("%s: no data", name), Key: mapKey(i), Name: name,
			LabelX: formatNumber(a.labelX, 1), LabelY: formatNumber(a.labelY, 1)}
		cell, ok := cells[a.id]
		switch {
		case ok && cell.Suppressed:
			ma.Class, ma.Hatch, ma.Title = classSuppressed, true, l.t("%s: suppressed (noisy count of contributors below %d)", name, d.K)
		case ok && cell.PM25 != nil:
			b := bandOf(*cell.PM25)
			ma.Class = b.Class
			ma.Title = l.t("%s: PM2.5 %s %s (%s), %d contributors",
				name, l.num(*cell.PM25, dec), d.Units.PM, l.t(b.Label), cell.Contributors)
		case ok && cell.PM25Band != "":
			if b, known := bandNamed(cell.PM25Band); known {
				ma.Class = b.Class
			}
			ma.Title = l.t("%s: PM2.5 band %s (too few contributors for a precise mean)", name, l.t(cell.PM25Band))
		case ok:
			ma.Title = l.t("%s: not enough data for a PM2.5 figure", name)
		}
		mv.Areas = append(mv.Areas, ma)
	}
	cols := published(d.Cells...)
	var heads []string
	for _, col := range cols {
		heads = append(heads, col.head(l, d.Units))
	}
	var city *cellRow
	if d.City != nil {
		r := l.row(l.t("The whole city"), *d.City, cols, dec)
		city = &r
	}
	var rows []cellRow
	for _, id := range p.neighbourhoods(d.Cells) {
		cell, ok := cells[id]
		if !ok {
			rows = append(rows, cellRow{Name: p.city.name(id), Values: dashes(len(cols))})
			continue
		}
		rows = append(rows, l.row(p.city.name(id), cell, cols, dec))
	}
	return mv, heads, city, rows
}

// monthFigures builds the table of PM2.5 means over a window of released days.
func (p *Pages) monthFigures(l lang, window []string, days []release.AirDay) monthView {
	var mv monthView
	byDay := make([]map[string]release.Cell, len(days))
	for j, d := range days {
		byDay[j] = cellsByID(d.Cells)
		head := dayHead{Day: window[j], Date: window[j], Current: j == len(days)-1}
		if t, err := time.Parse(time.DateOnly, window[j]); err == nil {
			head.Month, head.Date = l.shortMonth(t), strconv.Itoa(t.Day())
		}
		mv.Days = append(mv.Days, head)
		mv.Totals = append(mv.Totals, d.Contributors)
	}
	for _, id := range p.neighbourhoods(cellsOf(days)...) {
		row := monthRow{Name: p.city.name(id)}
		for j, d := range days {
			cell, ok := byDay[j][id]
			switch {
			case ok && cell.Suppressed:
				row.Cells = append(row.Cells, monthCell{Text: "·", Class: "sup", Hidden: l.t("suppressed")})
			case ok && cell.PM25 != nil:
				row.Cells = append(row.Cells, monthCell{
					Text: l.num(*cell.PM25, decimals(d.Rounding)), Class: bandOf(*cell.PM25).Class,
				})
			case ok && cell.PM25Band != "":
				b, _ := bandNamed(cell.PM25Band)
				row.Cells = append(row.Cells, monthCell{Text: "◦", Class: b.Class, Hidden: l.t("band %s", l.t(cell.PM25Band))})
			default:
				row.Cells = append(row.Cells, monthCell{Text: "—", Class: classNoData, Hidden: l.t("no figure")})
			}
		}
		mv.Rows = append(mv.Rows, row)
	}
	return mv
}

// dayLinks groups the released days by month, newest month first; the selected day's month is
// open.
func dayLinks(l lang, epochs []string, current string) []monthLinks {
	var out []monthLinks
	for i := len(epochs) - 1; i >= 0; i-- {
		e := epochs[i]
		t, err := time.Parse(time.DateOnly, e)
		label, dayLabel := l.t("Other"), e
		if err == nil {
			label, dayLabel = l.monthYear(t), l.shortDay(t)
		}
		if len(out) == 0 || out[len(out)-1].Label != label {
			out = append(out, monthLinks{Label: label})
		}
		m := &out[len(out)-1]
		m.Days = append(m.Days, dayLink{Day: e, Label: dayLabel, Current: e == current})
		m.Open = m.Open || e == current
	}
	for i := range out {
		slices.Reverse(out[i].Days)
	}
	return out
}

// withCI formats a published mean with its 95 % confidence interval, or a dash.
func (l lang) withCI(v *float64, ci *[2]float64, dec int) string {
	if v == nil {
		return "—"
	}
	s := l.num(*v, dec)
	if ci != nil {
		s += " (" + l.num(ci[0], dec) + "–" + l.num(ci[1], dec) + ")"
	}
	return s
}

// releaseParams states the privacy parameters a release was computed with.
func releaseParams(l lang, d release.AirDay) []param {
	noise := l.t("none: no differential-privacy noise was added to this release")
	switch {
	case d.Noise == "none":
	case d.Rho > 0:
		noise = l.t("%s, ρ = %s per resident for this day's release (zero-concentrated differential privacy); contributor counts are noisy too", d.Noise, l.num(d.Rho, 4))
	case d.Epsilon > 0:
		noise = l.t("%s, ε = %s per resident for this day's release; contributor counts are noisy too", d.Noise, l.num(d.Epsilon, -1))
	}
	ps := []param{
		{l.t("Purpose"), l.t("%s, version %d", d.Purpose, d.PurposeVersion)},
		{l.t("Least noisy count of contributors per published cell (k)"), strconv.Itoa(d.K)},
		{l.t("PM2.5 range, per resident daily mean"), clampRange(l, d.Clamp.PM25, d.Units.PM)},
	}
	if d.City != nil {
		ps = append(ps, param{l.t("PM2.5 window of each neighbourhood"), l.t("a window around the city's noisy mean, scaled by the neighbourhood's ratio to the city in the previous week: one resident moves a neighbourhood's sum by at most its half-width")})
	}
	return append(ps, param{l.t("Noise"), noise}, param{l.t("Values rounded to"), l.num(d.Rounding, decimals(d.Rounding))})
}

func clampRange(l lang, r [2]float64, unit string) string {
	return l.t("%s to %s %s", l.num(r[0], -1), l.num(r[1], -1), unit)
}

// decimals is how many decimals show a value rounded to step.
func decimals(step float64) int {
	if !(step > 0) {
		return 1
	}
	return min(max(int(math.Ceil(-math.Log10(step)-1e-9)), 0), 3)
}

func formatNumber(v float64, dec int) string { return strconv.FormatFloat(v, 'f', dec, 64) }

// num formats a figure for reading: a decimal comma in French.
func (l lang) num(v float64, dec int) string {
	s := formatNumber(v, dec)
	if l == french {
		s = strings.Replace(s, ".", ",", 1)
	}
	return s
}
