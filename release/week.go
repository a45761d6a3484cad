package release

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"time"
)

// GridNeighbourhoodWeek is the grid of the weekly release: neighbourhood × ISO week, with the
// city's hour-of-day profile of the week.
const GridNeighbourhoodWeek = "neighbourhood×week"

// AirWeek is the release of one purpose for one ISO week: the PM2.5, PM10, temperature and
// humidity of every neighbourhood and of the city, each resident counted once with their own
// mean of the week, and the city's PM2.5 per hour of the day. Its JSON is stored once and
// served byte-identically.
type AirWeek struct {
	Purpose        string      `json:"purpose"`
	PurposeVersion int         `json:"purpose_version"`
	Grid           string      `json:"grid"`
	Epoch          string      `json:"epoch"` // the ISO week, "2026-W44"
	From           string      `json:"from"`  // its Monday
	To             string      `json:"to"`    // its Sunday
	K              int         `json:"k"`
	Noise          string      `json:"noise"`
	Rho            float64     `json:"rho"`
	Guarantee      Guarantee   `json:"guarantee"`
	Contributors   int         `json:"contributors"`
	City           Cell        `json:"city"`
	Cells          []Cell      `json:"cells"`
	Hours          []HourOfDay `json:"hours,omitempty"`
	Clamp          Clamps      `json:"clamp"`
	Units          Units       `json:"units"`
	Version        int         `json:"format"`
	Rounding       float64     `json:"rounding"`
}

// HourOfDay is the city's PM2.5 in one UTC hour of the day over a week: each resident counts
// once, with their own mean of that hour over the week's days.
type HourOfDay struct {
	Hour         int         `json:"hour"`
	Suppressed   bool        `json:"suppressed"`
	Contributors int         `json:"contributors,omitempty"` // noisy
	PM25         *float64    `json:"pm2_5,omitempty"`
	PM25CI       *[2]float64 `json:"pm2_5_ci95,omitempty"`
	PM25Band     string      `json:"pm2_5_band,omitempty"`
	// Ratio is the hour's noisy mean over the week's city PM2.5, as Cell.Ratio.
	Ratio *float64 `json:"ratio,omitempty"`
}

// ParseAirWeek decodes a stored weekly release.
func ParseAirWeek(b []byte) (AirWeek, error) {
	var w AirWeek
	if err := json.Unmarshal(b, &w); err != nil {
		return AirWeek{}, fmt.Errorf("release: parse week: %w", err)
	}
	return w, nil
}

// WeekPurpose is the store's name for the weekly releases of a purpose: they are kept apart
// from its daily ones. Their ledger entries name the purpose itself, with the week as epoch.
func WeekPurpose(purpose string) string { return purpose + "@week" }

// ISOWeek returns the ISO week of a day (YYYY-MM-DD), as "2026-W44".
func ISOWeek(day string) (string, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return "", fmt.Errorf("release: day %q: %w", day, err)
	}
	y, w := d.ISOWeek()
	return fmt.Sprintf("%d-W%02d", y, w), nil
}

// WeekDays returns the Monday to Sunday of an ISO week ("2026-W44").
func WeekDays(week string) ([7]string, error) {
	var days [7]string
	y, w, ok := parseWeek(week)
	if !ok {
		return days, fmt.Errorf("release: week %q: want YYYY-Www", week)
	}
	// 4 January is always in week 1.
	jan4 := time.Date(y, time.January, 4, 0, 0, 0, 0, time.UTC)
	monday := jan4.AddDate(0, 0, -((int(jan4.Weekday())+6)%7)+7*(w-1))
	for i := range days {
		days[i] = monday.AddDate(0, 0, i).Format(time.DateOnly)
	}
	if got, _ := ISOWeek(days[0]); got != week {
		return days, fmt.Errorf("release: week %q does not exist", week)
	}
	return days, nil
}

func parseWeek(s string) (year, week int, ok bool) {
	if len(s) != 8 || s[4:6] != "-W" {
		return 0, 0, false
	}
	y, err1 := strconv.Atoi(s[:4])
	w, err2 := strconv.Atoi(s[6:])
	return y, w, err1 == nil && err2 == nil && w >= 1 && w <= 53
}

// WeekCloses returns when an ISO week's epoch closes: the end of its Sunday plus the grace
// period, the moment its last day closes.
func WeekCloses(week string, graceHours int) (time.Time, error) {
	days, err := WeekDays(week)
	if err != nil {
		return time.Time{}, err
	}
	return Closes(days[6], graceHours)
}

// The statistics a reference is taken for.
const (
	statPM25 = iota
	statPM10
	statTemperature
	statHumidity
	statHours
)

// statNames are the statistics' names in Cell.Reference and Cell.Ratio.
var statNames = [...]string{statPM25: "pm2_5", statPM10: "pm10", statTemperature: "temperature", statHumidity: "humidity"}

// reference returns what the week's release says of a statistic, to centre the next
// release's clamps: the city's reference level and each cell's (or hour's) ratio to it. A nil
// week, or one without a city reference, gives no reference.
func (w *AirWeek) reference(stat int) reference {
	var ref reference
	if w == nil {
		return ref
	}
	name := statNames[statPM25]
	if stat != statHours {
		name = statNames[stat]
	}
	city, ok := w.City.Reference[name]
	if !ok {
		return ref
	}
	ref.city, ref.hasCity, ref.ratio = city, true, map[string]float64{}
	if stat == statHours {
		for _, h := range w.Hours {
			if h.Ratio != nil {
				ref.ratio[hourID(h.Hour)] = *h.Ratio
			}
		}
		return ref
	}
	for _, c := range w.Cells {
		if r, ok := c.Ratio[name]; ok {
			ref.ratio[c.Neighbourhood] = r
		}
	}
	return ref
}

// ratio is what a relative statistic's cell figure publishes to centre the next week: its
// mean over the city's, when both counts reach k and its interval is within the wide window.
func ratio(s statSpec, f, city figure, k int) (float64, bool) {
	if !s.relative || f.n < k || city.n < k || f.hw > s.wide || city.mean <= 0 {
		return 0, false
	}
	return round(math.Min(math.Max(f.mean/city.mean, 0.2), 5), 0.05), true
}

// cityReference is what the city's figure publishes to centre the next week's city stage:
// its mean, when its count reaches k and its interval is within the stage's window.
func cityReference(s statSpec, city figure, k int) (float64, bool) {
	if city.n < k || city.hw > s.cityWidth {
		return 0, false
	}
	return round(city.mean, 0.1), true
}

func hourID(h int) string { return fmt.Sprintf("%02d", h) }

// weekStats are the statistics of a weekly release, in the order of weekFigures.
var weekStats = [...]struct {
	spec statSpec
	stat int
	get  func(contribution) (float64, bool)
}{
	{weekPM25, statPM25, func(c contribution) (float64, bool) { return c.pm25, c.hasPM25 }},
	{weekPM10, statPM10, func(c contribution) (float64, bool) { return c.pm10, c.hasPM10 }},
	{weekTemperature, statTemperature, func(c contribution) (float64, bool) { return c.temp, c.hasTemp }},
	{weekHumidity, statHumidity, func(c contribution) (float64, bool) { return c.humid, c.hasHumid }},
}

// weekFigures are a week's noisy figures: per statistic (weekStats' order) the city's and
// every cell's, and the hours of the day's when the plan has them.
type weekFigures struct {
	city  [len(weekStats)]figure
	cells [len(weekStats)][]figure
	hours []figure
}

// policy returns the policy range of a statistic.
func (c Clamps) policy(stat int) [2]float64 {
	switch stat {
	case statPM10:
		return c.PM10
	case statTemperature:
		return c.Temperature
	case statHumidity:
		return c.Humidity
	default:
		return c.PM25
	}
}

// computeWeek computes a week's noisy figures from each resident's means of the week.
func computeWeek(p Params, cs []contribution) (weekFigures, error) {
	var f weekFigures
	e := p.estimator()
	for i, s := range weekStats {
		if !p.Plan.computes(i) {
			f.cells[i] = make([]figure, len(p.Cells)) // not computed: a count of 0 shows nothing
			continue
		}
		var err error
		f.city[i], f.cells[i], err = e.stat(s.spec, p.Clamp.policy(s.stat), p.Cells, byCell(p.Cells, cs, s.get), p.Previous.reference(s.stat), 0)
		if err != nil {
			return weekFigures{}, fmt.Errorf("release: %s: %w", p.Epoch, err)
		}
	}
	if !p.Plan.Hours {
		return f, nil
	}
	ids := make([]string, HoursPerDay)
	vals := make([][]float64, HoursPerDay)
	for h := range HoursPerDay {
		ids[h] = hourID(h)
		for _, c := range cs {
			if c.hasHour[h] {
				vals[h] = append(vals[h], c.hourPM25[h])
			}
		}
	}
	// The profile is centred on the week's city PM2.5, scaled by each hour's ratio to it in
	// the previous week.
	var err error
	if _, f.hours, err = e.stat(weekHours, p.Clamp.PM25, ids, vals, p.Previous.reference(statHours), f.city[0].mean); err != nil {
		return weekFigures{}, fmt.Errorf("release: %s: %w", p.Epoch, err)
	}
	return f, nil
}

// set stores what the rules show of a statistic's figure in a cell, and its ratio to the
// city figure, which centres the next week.
func set(c *Cell, stat int, f, city figure, k int, step float64) {
	s := weekStats[stat].spec
	m, ci, band := s.shown(f, k, step)
	switch stat {
	case statPM25:
		c.PM25, c.PM25CI, c.PM25Band, c.ClampPM25 = m, ci, band, &f.clamp
	case statPM10:
		c.PM10, c.PM10CI, c.ClampPM10 = m, ci, &f.clamp
	case statTemperature:
		c.Temperature, c.TemperatureCI, c.ClampTemperature = m, ci, &f.clamp
	case statHumidity:
		c.Humidity, c.HumidityCI, c.ClampHumidity = m, ci, &f.clamp
	}
	if r, ok := ratio(s, f, city, k); ok {
		if c.Ratio == nil {
			c.Ratio = map[string]float64{}
		}
		c.Ratio[statNames[stat]] = r
	}
}

// aggregateWeek builds a week's release. A cell's (and the city's) contributors are its noisy
// PM2.5 count (or that of the plan's lead statistic); a cell below k is suppressed whole.
func aggregateWeek(p Params, cs []contribution) (AirWeek, error) {
	days, err := WeekDays(p.Epoch)
	if err != nil {
		return AirWeek{}, err
	}
	f, err := computeWeek(p, cs)
	if err != nil {
		return AirWeek{}, err
	}
	w := AirWeek{
		Purpose: p.Purpose, PurposeVersion: p.Version, Grid: GridNeighbourhoodWeek, Epoch: p.Epoch,
		From: days[0], To: days[6], K: p.K, Noise: noiseName(p.Noise), Rho: p.Plan.Weekly,
		Guarantee: p.Plan.Guarantee(), Clamp: p.Clamp, Units: p.units(), Version: FormatVersion,
		Rounding: p.Resolution, City: Cell{Suppressed: true}, Cells: make([]Cell, len(p.Cells)),
	}
	lead := p.Plan.lead()
	if n := f.city[lead].n; n >= p.K {
		w.City, w.Contributors = Cell{Contributors: n}, n
		w.City.Reference = map[string]float64{}
		for stat := range weekStats {
			if !p.Plan.computes(stat) {
				continue
			}
			set(&w.City, stat, f.city[stat], figure{}, p.K, p.Resolution) // the city has no ratio
			if r, ok := cityReference(weekStats[stat].spec, f.city[stat], p.K); ok {
				w.City.Reference[statNames[stat]] = r
			}
		}
	}
	for i, id := range p.Cells {
		w.Cells[i] = Cell{Neighbourhood: id, Suppressed: true}
		if n := f.cells[lead][i].n; n >= p.K {
			w.Cells[i] = Cell{Neighbourhood: id, Contributors: n}
			for stat := range weekStats {
				if !p.Plan.computes(stat) {
					continue
				}
				set(&w.Cells[i], stat, f.cells[stat][i], f.city[stat], p.K, p.Resolution)
			}
		}
	}
	for h, fig := range f.hours {
		hour := HourOfDay{Hour: h, Suppressed: fig.n < p.K}
		if !hour.Suppressed {
			hour.Contributors = fig.n
			hour.PM25, hour.PM25CI, hour.PM25Band = weekHours.shown(fig, p.K, p.Resolution)
			if r, ok := ratio(weekHours, fig, f.city[statPM25], p.K); ok {
				hour.Ratio = &r
			}
		}
		w.Hours = append(w.Hours, hour)
	}
	return w, nil
}
