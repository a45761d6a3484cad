package dashboards

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/dashboards/release"
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
	Prev, Next   string
	Months       []monthLinks
	Map          mapView
	Rows         []cellRow
	Month        monthView
	Bands        []band
	K            int
	Contributors int
	Units        release.Units
	Params       []param
	JSON, CSV    string
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

func (p *Pages) air(c *fiber.Ctx) error {
	epochs, err := p.src.Store.Epochs(p.src.AirPurpose)
	if err != nil {
		return fmt.Errorf("dashboards: air: %w", err)
	}
	i := len(epochs) - 1
	if q := c.Query("day"); q != "" {
		j, found := slices.BinarySearch(epochs, q)
		if !found {
			return p.notFound(c, "No air-quality figures were released for that day.")
		}
		i = j
	}
	if i < 0 {
		return p.render(c, fiber.StatusOK, "air", "Air quality", "air", airView{})
	}
	window := epochs[max(0, i-monthDays+1) : i+1]
	days := make([]release.AirDay, len(window))
	for j, e := range window {
		if days[j], err = p.release(e); err != nil {
			return fmt.Errorf("dashboards: air: %w", err)
		}
	}
	d := days[len(days)-1]
	day := epochs[i]
	v := airView{
		Day: day, DayLabel: longDate(day), Months: dayLinks(epochs, day),
		Bands: bands, K: d.K, Contributors: d.Contributors, Units: d.Units,
		Params: releaseParams(d),
		JSON:   "/api/v1/stats/air?day=" + day,
		CSV:    "/api/v1/stats/air?day=" + day + "&format=csv",
	}
	if i > 0 {
		v.Prev = epochs[i-1]
	}
	if i < len(epochs)-1 {
		v.Next = epochs[i+1]
	}
	v.Map, v.Rows = p.dayFigures(d)
	v.Month = p.monthFigures(window, days)
	return p.render(c, fiber.StatusOK, "air", "Air quality on "+day, "air", v)
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
func (p *Pages) dayFigures(d release.AirDay) (mapView, []cellRow) {
	cells := cellsByID(d)
	dec := decimals(d.Rounding)
	fewer := fmt.Sprintf("fewer than %d contributors", d.K)
	mv := mapView{Width: formatNumber(p.city.width, 0), Height: formatNumber(p.city.height, 0)}
	for _, a := range p.city.areas {
		name := p.city.name(a.id)
		ma := mapArea{Path: a.path, Class: classNoData, Title: name + ": no data"}
		cell, ok := cells[a.id]
		switch {
		case ok && cell.Suppressed:
			ma.Class, ma.Hatch, ma.Title = classSuppressed, true, name+": suppressed ("+fewer+")"
		case ok && cell.PM25 != nil:
			b := bandOf(*cell.PM25)
			ma.Class = b.Class
			ma.Title = fmt.Sprintf("%s: PM2.5 %s %s (%s), %d contributors",
				name, formatNumber(*cell.PM25, dec), d.Units.PM, b.Label, cell.Contributors)
		case ok && cell.PM25Band != "":
			if b, known := bandNamed(cell.PM25Band); known {
				ma.Class = b.Class
			}
			ma.Title = fmt.Sprintf("%s: PM2.5 band %s (too few contributors for a precise mean)", name, cell.PM25Band)
		case ok:
			ma.Title = name + ": no PM2.5 figure published"
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
			row.PM25, row.PM10 = withCI(cell.PM25, cell.PM25CI, dec), withCI(cell.PM10, cell.PM10CI, dec)
			row.Temperature = withCI(cell.Temperature, cell.TemperatureCI, dec)
			row.Humidity = withCI(cell.Humidity, cell.HumidityCI, dec)
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
func (p *Pages) monthFigures(window []string, days []release.AirDay) monthView {
	var mv monthView
	byDay := make([]map[string]release.Cell, len(days))
	for j, d := range days {
		byDay[j] = cellsByID(d)
		head := dayHead{Day: window[j], Date: window[j], Current: j == len(days)-1}
		if t, err := time.Parse(time.DateOnly, window[j]); err == nil {
			head.Month, head.Date = t.Format("Jan"), t.Format("2")
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
				row.Cells = append(row.Cells, monthCell{Text: "·", Class: "sup", Hidden: "suppressed"})
			case ok && cell.PM25 != nil:
				row.Cells = append(row.Cells, monthCell{
					Text: formatNumber(*cell.PM25, decimals(d.Rounding)), Class: bandOf(*cell.PM25).Class,
				})
			case ok && cell.PM25Band != "":
				b, _ := bandNamed(cell.PM25Band)
				row.Cells = append(row.Cells, monthCell{Text: "◦", Class: b.Class, Hidden: "band " + cell.PM25Band})
			default:
				row.Cells = append(row.Cells, monthCell{Text: "—", Class: classNoData, Hidden: "no figure"})
			}
		}
		mv.Rows = append(mv.Rows, row)
	}
	return mv
}

// dayLinks groups the released days by month, newest month first; the selected day's month is
// open.
func dayLinks(epochs []string, current string) []monthLinks {
	var out []monthLinks
	for i := len(epochs) - 1; i >= 0; i-- {
		e := epochs[i]
		t, err := time.Parse(time.DateOnly, e)
		label, dayLabel := "Other", e
		if err == nil {
			label, dayLabel = t.Format("January 2006"), t.Format("Mon 2")
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

// withCI formats a published mean with its 95 % confidence interval.
func withCI(v *float64, ci *[2]float64, dec int) string {
	s := formatStat(v, dec)
	if v != nil && ci != nil {
		s += " (" + formatNumber(ci[0], dec) + "–" + formatNumber(ci[1], dec) + ")"
	}
	return s
}

// releaseParams states the privacy parameters a release was computed with.
func releaseParams(d release.AirDay) []param {
	noise := d.Noise
	switch {
	case noise == "none":
		noise = "none: no differential-privacy noise was added to this release"
	case d.Epsilon > 0:
		noise = fmt.Sprintf("%s, ε = %s per resident per day; contributor counts are noisy too", noise, formatNumber(d.Epsilon, -1))
	}
	return []param{
		{"Purpose", fmt.Sprintf("%s, version %d", d.Purpose, d.PurposeVersion)},
		{"Least contributors per published cell (k)", strconv.Itoa(d.K)},
		{"PM2.5 clamp, per resident daily mean", clampRange(d.Clamp.PM25, d.Units.PM)},
		{"PM10 clamp, per resident daily mean", clampRange(d.Clamp.PM10, d.Units.PM)},
		{"Temperature clamp", clampRange(d.Clamp.Temperature, d.Units.Temperature)},
		{"Humidity clamp", clampRange(d.Clamp.Humidity, d.Units.Humidity)},
		{"Noise", noise},
		{"Values rounded to", formatNumber(d.Rounding, decimals(d.Rounding))},
	}
}

func clampRange(r [2]float64, unit string) string {
	return formatNumber(r[0], -1) + " to " + formatNumber(r[1], -1) + " " + unit
}

// decimals is how many decimals show a value rounded to step.
func decimals(step float64) int {
	if !(step > 0) {
		return 1
	}
	return min(max(int(math.Ceil(-math.Log10(step)-1e-9)), 0), 3)
}

func formatNumber(v float64, dec int) string { return strconv.FormatFloat(v, 'f', dec, 64) }

func formatStat(v *float64, dec int) string {
	if v == nil {
		return "—"
	}
	return formatNumber(*v, dec)
}

// longDate renders a day as "Friday 2 October 2026", or as given if it is not a date.
func longDate(day string) string {
	t, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return day
	}
	return t.Format("Monday 2 January 2006")
}
