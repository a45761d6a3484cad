package dashboards

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
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
	Rows         []cellRow
	Month        monthView
	Charts       dayCharts
	Hours        *hoursView // nil when the day has no hourly release
	Bands        []band
	K            int
	Contributors int
	Units        release.Units
	Params       []param
	Facts        releaseFacts
	Downloads    []download
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
}

// cellRow is one neighbourhood of the day table. A suppressed row carries only its name.
type cellRow struct {
	Name                              string
	Suppressed                        bool
	PM25, PM10, Temperature, Humidity string
	Band                              band
	Contributors                      int
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
	Epsilon      string // empty when no noise was added
	Logged       bool
	Entry        uint64
	EntryURL     string
}

// facts states a daily release's contributors, parameters and ledger entry.
func (p *Pages) facts(c *fiber.Ctx, l lang, d release.AirDay) (releaseFacts, error) {
	f := releaseFacts{Contributors: d.Contributors, K: d.K}
	if d.Noise != "none" && d.Epsilon > 0 {
		f.Epsilon = l.num(d.Epsilon, -1)
	}
	i, ok, err := p.entries.find(c.UserContext(), p.src.Ledger, d.Epoch)
	if err != nil {
		return releaseFacts{}, err
	}
	f.Logged, f.Entry, f.EntryURL = ok, i, entryURL(i)
	return f, nil
}

// Air answers the air-quality page of the latest released day, or of ?day=YYYY-MM-DD.
func (p *Pages) Air(c *fiber.Ctx) error {
	l := pickLang(c)
	epochs, hourlyDays, err := p.released()
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
	var hourly *release.AirHours
	if hourlyDays[day] {
		if hourly, err = p.hourly(day); err != nil {
			return fmt.Errorf("dashboards: air: %w", err)
		}
	}
	// A release page is a function of the released days (the date picker, the 30-day window)
	// and of the releases it shows, which never change: its ETag is known before rendering,
	// and the rendered bytes are kept under it.
	self := "/air"
	if c.Query("day") != "" {
		self += "?day=" + day
	}
	logged, err := p.logged(c, day, hourly != nil)
	if err != nil {
		return fmt.Errorf("dashboards: air: %w", err)
	}
	etag, err := p.airETag(l, self, day, epochs, hourly != nil, logged)
	if err != nil {
		return fmt.Errorf("dashboards: air: %w", err)
	}
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return send(c, fiber.StatusOK, etag, nil)
	}
	if body, ok := p.cached(etag); ok {
		return send(c, fiber.StatusOK, etag, body)
	}
	v, err := p.airView(c, l, epochs, i, hourly)
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

// airView builds the page of epochs[i].
func (p *Pages) airView(c *fiber.Ctx, l lang, epochs []string, i int, hourly *release.AirHours) (airView, error) {
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
	if v.Facts, err = p.facts(c, l, d); err != nil {
		return airView{}, err
	}
	if i > 0 {
		v.Prev = epochs[i-1]
	}
	if i < len(epochs)-1 {
		v.Next = epochs[i+1]
	}
	v.Map, v.Rows = p.dayFigures(l, d)
	v.Month = p.monthFigures(l, window, days)
	v.Charts = p.dayCharts(l, window, days)
	if hourly != nil {
		h, err := p.hoursView(c, l, *hourly)
		if err != nil {
			return airView{}, err
		}
		v.Hours = &h
	}
	return v, nil
}

// logged reports whether the ledger entries of day's releases are visible yet: a release is
// stored in the transaction that logs it, but the log's size moves just after, and a page
// rendered in between lacks its ledger links (it is then neither kept nor named as final).
func (p *Pages) logged(c *fiber.Ctx, day string, hourly bool) (bool, error) {
	_, ok, err := p.entries.find(c.UserContext(), p.src.Ledger, day)
	if err != nil || !ok || !hourly {
		return ok, err
	}
	_, ok, err = p.entries.find(c.UserContext(), p.src.Ledger, release.HourlyEpoch(day))
	return ok, err
}

// airETag names the /air page of day in language l, reached at self.
func (p *Pages) airETag(l lang, self, day string, epochs []string, hourly, logged bool) (string, error) {
	h := sha256.New()
	fmt.Fprintf(h, "%s\n%s\n%s\n%s\n%s\n%t\n", p.version, l, self, day, strings.Join(epochs, ","), logged)
	sum, err := p.hash(day, func() ([]byte, error) { return p.src.Store.Release(p.src.AirPurpose, day) })
	if err != nil {
		return "", err
	}
	h.Write([]byte(sum))
	if hourly {
		sum, err := p.hash(release.HourlyEpoch(day), func() ([]byte, error) { return p.src.Store.HourlyRelease(p.src.AirPurpose, day) })
		if err != nil {
			return "", err
		}
		h.Write([]byte(sum))
	}
	return `"` + hex.EncodeToString(h.Sum(nil)[:16]) + `"`, nil
}

// hash returns the hash of a stored release (as logged in the ledger), reading it once.
func (p *Pages) hash(epoch string, read func() ([]byte, error)) (string, error) {
	p.mu.RLock()
	sum, ok := p.hashes[epoch]
	p.mu.RUnlock()
	if ok {
		return sum, nil
	}
	b, err := read()
	if err != nil {
		return "", fmt.Errorf("release %s: %w", epoch, err)
	}
	sum = state.Hash(b)
	p.mu.Lock()
	p.hashes[epoch] = sum
	p.mu.Unlock()
	return sum, nil
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

// release returns a parsed release. Releases are never recomputed, so they are cached.
func (p *Pages) release(epoch string) (release.AirDay, error) {
	p.mu.RLock()
	d, ok := p.releases[epoch]
	p.mu.RUnlock()
	if ok {
		return d, nil
	}
	b, err := p.src.Store.Release(p.src.AirPurpose, epoch)
	if err != nil {
		return release.AirDay{}, fmt.Errorf("release %s: %w", epoch, err)
	}
	if d, err = release.ParseAirDay(b); err != nil {
		return release.AirDay{}, fmt.Errorf("release %s: %w", epoch, err)
	}
	p.mu.Lock()
	p.releases[epoch] = d
	p.mu.Unlock()
	return d, nil
}

// hourly returns a day's parsed hourly release. Releases are never recomputed, so they are
// cached.
func (p *Pages) hourly(day string) (*release.AirHours, error) {
	p.mu.RLock()
	h, ok := p.hours[day]
	p.mu.RUnlock()
	if ok {
		return &h, nil
	}
	b, err := p.src.Store.HourlyRelease(p.src.AirPurpose, day)
	if err != nil {
		return nil, fmt.Errorf("hourly release %s: %w", day, err)
	}
	if h, err = release.ParseAirHours(b); err != nil {
		return nil, fmt.Errorf("hourly release %s: %w", day, err)
	}
	p.mu.Lock()
	p.hours[day] = h
	p.mu.Unlock()
	return &h, nil
}

// neighbourhoods lists the map's neighbourhoods in document order, then any other cell the
// releases name, so that no released figure is left out.
func (p *Pages) neighbourhoods(days ...release.AirDay) []string {
	ids := p.city.ids()
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
	}
	for _, d := range days {
		for _, cell := range d.Cells {
			if !seen[cell.Neighbourhood] {
				seen[cell.Neighbourhood] = true
				ids = append(ids, cell.Neighbourhood)
			}
		}
	}
	return ids
}

func cellsByID(d release.AirDay) map[string]release.Cell {
	m := make(map[string]release.Cell, len(d.Cells))
	for _, c := range d.Cells {
		m[c.Neighbourhood] = c
	}
	return m
}

// dayFigures builds the map and the table of one day. Of a suppressed cell only the fact that
// it is suppressed is used.
func (p *Pages) dayFigures(l lang, d release.AirDay) (mapView, []cellRow) {
	cells := cellsByID(d)
	dec := decimals(d.Rounding)
	mv := mapView{Width: formatNumber(p.city.width, 0), Height: formatNumber(p.city.height, 0)}
	for _, a := range p.city.areas {
		name := p.city.name(a.id)
		ma := mapArea{Path: a.path, Class: classNoData, Title: l.t("%s: no data", name)}
		cell, ok := cells[a.id]
		switch {
		case ok && cell.Suppressed:
			ma.Class, ma.Hatch, ma.Title = classSuppressed, true, l.t("%s: suppressed (fewer than %d contributors)", name, d.K)
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
			ma.Title = l.t("%s: no PM2.5 figure published", name)
		}
		mv.Areas = append(mv.Areas, ma)
	}
	var rows []cellRow
	for _, id := range p.neighbourhoods(d) {
		row := cellRow{Name: p.city.name(id)}
		cell, ok := cells[id]
		switch {
		case !ok:
			row.PM25, row.PM10, row.Temperature, row.Humidity = "—", "—", "—", "—"
		case cell.Suppressed:
			row.Suppressed = true
		default:
			row.PM25, row.PM10 = l.withCI(cell.PM25, cell.PM25CI, dec), l.withCI(cell.PM10, cell.PM10CI, dec)
			row.Temperature = l.withCI(cell.Temperature, cell.TemperatureCI, dec)
			row.Humidity = l.withCI(cell.Humidity, cell.HumidityCI, dec)
			row.Contributors = cell.Contributors
			if cell.PM25 != nil {
				row.Band = bandOf(*cell.PM25)
			} else if b, known := bandNamed(cell.PM25Band); known {
				row.Band = b
			}
		}
		rows = append(rows, row)
	}
	return mv, rows
}

// monthFigures builds the table of PM2.5 means over a window of released days.
func (p *Pages) monthFigures(l lang, window []string, days []release.AirDay) monthView {
	var mv monthView
	byDay := make([]map[string]release.Cell, len(days))
	for j, d := range days {
		byDay[j] = cellsByID(d)
		head := dayHead{Day: window[j], Date: window[j], Current: j == len(days)-1}
		if t, err := time.Parse(time.DateOnly, window[j]); err == nil {
			head.Month, head.Date = l.shortMonth(t), strconv.Itoa(t.Day())
		}
		mv.Days = append(mv.Days, head)
		mv.Totals = append(mv.Totals, d.Contributors)
	}
	for _, id := range p.neighbourhoods(days...) {
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
	if d.Noise != "none" && d.Epsilon > 0 {
		noise = l.t("%s, ε = %s per resident for this day's release; contributor counts are noisy too", d.Noise, l.num(d.Epsilon, -1))
	}
	return []param{
		{l.t("Purpose"), l.t("%s, version %d", d.Purpose, d.PurposeVersion)},
		{l.t("Least contributors per published cell (k)"), strconv.Itoa(d.K)},
		{l.t("PM2.5 clamp, per resident daily mean"), clampRange(l, d.Clamp.PM25, d.Units.PM)},
		{l.t("PM10 clamp, per resident daily mean"), clampRange(l, d.Clamp.PM10, d.Units.PM)},
		{l.t("Temperature clamp"), clampRange(l, d.Clamp.Temperature, d.Units.Temperature)},
		{l.t("Humidity clamp"), clampRange(l, d.Clamp.Humidity, d.Units.Humidity)},
		{l.t("Noise"), noise},
		{l.t("Values rounded to"), l.num(d.Rounding, decimals(d.Rounding))},
	}
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
