package dashboards

import (
	"fmt"
	"math"
	"strconv"

	"github.com/commons-city/commons/release"
)

// WHOGuideline is the WHO 2021 air-quality guideline for the daily mean of PM2.5, in µg/m³,
// drawn as a reference line on the daily charts.
const WHOGuideline = 15

// bar is one mark of a chart, in SVG user units. Class is a band class, "bandonly <band>"
// for a band-only figure (drawn over the band's range), or "supmark" for a suppressed cell.
type bar struct {
	X, Y, W, H string
	Class      string
	Hatch      bool
}

// tick is an axis label; Anchor is its SVG text-anchor.
type tick struct {
	X, Y, Label, Anchor string
}

// Sizes of the charts' viewBoxes.
const (
	sparkWidth, sparkHeight = 300, 80
	hourWidth, hourHeight   = 640, 220
	hourLeft, hourBottom    = 36, 22 // room for the axis labels
	supmarkHeight           = 6
)

// dayCharts is the daily PM2.5 chart of every neighbourhood over the window of released days,
// on one shared scale, with the WHO guideline.
type dayCharts struct {
	Width, Height int
	Top           string // the scale's top, µg/m³
	WHOY          string // the guideline's height
	Days          int
	Charts        []dayChart
}

type dayChart struct {
	Name string
	Bars []bar
}

// scaleTop is the top of a chart's scale: the largest figure rounded up to 10, at least 30
// (so the guideline always shows), at most the clamp.
func scaleTop(largest float64) float64 {
	return math.Min(math.Max(30, math.Ceil(largest/10)*10), 100)
}

// bandRange is the range of a band, for drawing a band-only figure.
func bandRange(b band) (lo, hi float64) {
	lo = 0
	for _, x := range bands {
		if x.Class == b.Class {
			return lo, x.max
		}
		lo = x.max
	}
	return 0, 0
}

func fmt1(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// column draws one figure in a slot: a bar for a mean, the band's range for a band-only figure,
// a hatched mark on the baseline for a suppressed cell, nothing when nothing is published.
func column(x, w, base, height, top float64, mean *float64, bandName string, suppressed bool) (bar, bool) {
	y := func(v float64) float64 { return base - math.Min(v, top)/top*height }
	b := bar{X: fmt1(x), W: fmt1(w)}
	switch {
	case suppressed:
		b.Y, b.H, b.Class, b.Hatch = fmt1(base-supmarkHeight), fmt1(supmarkHeight), "supmark", true
	case mean != nil:
		b.Y, b.H, b.Class = fmt1(y(*mean)), fmt1(base-y(*mean)), bandOf(*mean).Class
	case bandName != "":
		bd, ok := bandNamed(bandName)
		if !ok {
			return bar{}, false
		}
		lo, hi := bandRange(bd)
		b.Y, b.H, b.Class = fmt1(y(hi)), fmt1(y(lo)-y(hi)), "bandonly "+bd.Class
	default:
		return bar{}, false
	}
	return b, true
}

// dayCharts draws the window's daily PM2.5 of every neighbourhood, the latest day on the right.
func (p *Pages) dayCharts(l lang, window []string, days []release.AirDay) dayCharts {
	largest := 0.0
	for _, d := range days {
		for _, c := range d.Cells {
			if !c.Suppressed && c.PM25 != nil {
				largest = math.Max(largest, *c.PM25)
			}
		}
	}
	top := scaleTop(largest)
	dc := dayCharts{Width: sparkWidth, Height: sparkHeight, Top: formatNumber(top, 0), Days: len(window),
		WHOY: fmt1(sparkHeight - WHOGuideline/top*(sparkHeight-supmarkHeight))}
	slot := float64(sparkWidth) / monthDays
	byDay := make([]map[string]release.Cell, len(days))
	for j, d := range days {
		byDay[j] = cellsByID(d.Cells)
	}
	for _, id := range p.neighbourhoods(cellsOf(days)...) {
		ch := dayChart{Name: p.city.name(id)}
		for j := range days {
			cell, ok := byDay[j][id]
			if !ok {
				continue
			}
			x := float64(monthDays-len(days)+j)*slot + 1
			if b, ok := column(x, slot-2, sparkHeight, sparkHeight-supmarkHeight, top, cell.PM25, cell.PM25Band, cell.Suppressed); ok {
				ch.Bars = append(ch.Bars, b)
			}
		}
		dc.Charts = append(dc.Charts, ch)
	}
	return dc
}

// hoursView is the city's hour-of-day profile of a week: a chart and its table.
type hoursView struct {
	Width, Height int
	Bars          []bar
	XTicks        []tick
	YTicks        []tick
	Axis          string // the baseline's y
	Left, Right   string
	Rows          []hourRow
	K             int
	Most          int // the largest noisy count of an hour
	Facts         releaseFacts
}

// hourRow is one hour of the table. A suppressed hour carries only its time.
type hourRow struct {
	Time         string
	Suppressed   bool
	PM25         string
	Band         band
	Contributors int
}

func (p *Pages) hoursView(l lang, w release.AirWeek, facts releaseFacts) hoursView {
	largest := 0.0
	for _, cell := range w.Hours {
		if !cell.Suppressed && cell.PM25 != nil {
			largest = math.Max(largest, *cell.PM25)
		}
	}
	top := scaleTop(largest)
	base, height := float64(hourHeight-hourBottom), float64(hourHeight-hourBottom-10)
	slot := float64(hourWidth-hourLeft) / release.HoursPerDay
	v := hoursView{Width: hourWidth, Height: hourHeight, K: w.K, Axis: fmt1(base),
		Left: strconv.Itoa(hourLeft), Right: strconv.Itoa(hourWidth), Facts: facts}
	for _, y := range []float64{0, top / 2, top} {
		v.YTicks = append(v.YTicks, tick{X: strconv.Itoa(hourLeft - 4), Y: fmt1(base - y/top*height + 4), Label: formatNumber(y, 0), Anchor: "end"})
	}
	for hr := 0; hr <= release.HoursPerDay; hr += 6 {
		anchor := "middle"
		switch hr {
		case 0:
			anchor = "start"
		case release.HoursPerDay:
			anchor = "end"
		}
		v.XTicks = append(v.XTicks, tick{X: fmt1(hourLeft + float64(hr)*slot), Y: strconv.Itoa(hourHeight - 6), Label: fmt.Sprintf("%02d:00", hr), Anchor: anchor})
	}
	dec := decimals(w.Rounding)
	for _, cell := range w.Hours {
		x := hourLeft + float64(cell.Hour)*slot + 2
		if b, ok := column(x, slot-4, base, height, top, cell.PM25, cell.PM25Band, cell.Suppressed); ok {
			v.Bars = append(v.Bars, b)
		}
		row := hourRow{Time: fmt.Sprintf("%02d:00–%02d:00", cell.Hour, (cell.Hour+1)%24), Suppressed: cell.Suppressed}
		if !cell.Suppressed {
			row.Contributors = cell.Contributors
			v.Most = max(v.Most, cell.Contributors)
			row.PM25 = l.withCI(cell.PM25, cell.PM25CI, dec)
			if cell.PM25 != nil {
				row.Band = bandOf(*cell.PM25)
			} else if b, ok := bandNamed(cell.PM25Band); ok {
				row.Band = b
			}
		}
		v.Rows = append(v.Rows, row)
	}
	return v
}
