package dashboards

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/release"
)

// guaranteeView is the air purpose's privacy guarantee, as every page states it.
type guaranteeView struct {
	EpsilonDay, EpsilonWeek, Epsilon30Days string
	FactorDay, Factor30Days                string // e^ε
	Delta                                  string
}

// guarantee states the guarantee of the air purpose's current policy in l, or nil before the
// purpose is defined.
func (p *Pages) guarantee(l lang) *guaranteeView {
	purpose, ok := p.src.State.Purpose(p.src.AirPurpose)
	if !ok {
		return nil
	}
	g := release.PlanFor(purpose.Release).Guarantee()
	one := func(v float64) string { return l.num(math.Round(v*10)/10, -1) }
	return &guaranteeView{EpsilonDay: one(g.EpsilonDay), EpsilonWeek: one(g.EpsilonWeek), Epsilon30Days: one(g.Epsilon30Days),
		FactorDay: one(math.Exp(g.EpsilonDay)), Factor30Days: l.num(math.Round(math.Exp(g.Epsilon30Days)), 0),
		Delta: powerOfTen(g.Delta)}
}

// powerOfTen writes a power of ten as 10 with a superscript exponent: "10⁻⁶".
func powerOfTen(v float64) string {
	exp := strconv.Itoa(int(math.Round(math.Log10(v))))
	return "10" + strings.NewReplacer("-", "⁻", "0", "⁰", "1", "¹", "2", "²", "3", "³", "4", "⁴",
		"5", "⁵", "6", "⁶", "7", "⁷", "8", "⁸", "9", "⁹").Replace(exp)
}

// accuracyView is the page /about/accuracy: the guarantee, the plan, and the harness's tables.
type accuracyView struct {
	Guarantee                         guaranteeView
	RhoDay, RhoDaily, RhoWeekly       string
	EpsilonOneDay                     string
	Trials, DemoRuns                  int
	Sweep, Demo                       []accuracyTable
	DayTarget, WeekTarget, HourTarget string // the smallest sizes meeting the targets
}

// accuracyTable is one statistic's rows: one a cell size, or, for the demo city, one a
// neighbourhood with its number of contributors.
type accuracyTable struct {
	Title, Unit string
	Demo        bool
	Rows        []accuracyRow
}

type accuracyRow struct {
	Name             string // a neighbourhood, or a cell size
	Contributors     int
	Error, HalfWidth string
	Shown, Band      string
	Precise          bool // a mean is shown most of the time
}

// statistics are the harness's statistics, in the order the page shows them.
var statistics = []string{release.AccuracyPM25Day, release.AccuracyPM25Week, release.AccuracyPM10Week,
	release.AccuracyTempWeek, release.AccuracyHumWeek, release.AccuracyPM25HourDay}

// statisticTitle names one of the harness's statistics.
func (l lang) statisticTitle(id string) string {
	switch id {
	case release.AccuracyPM25Day:
		return l.t("PM2.5, daily mean per neighbourhood")
	case release.AccuracyPM25Week:
		return l.t("PM2.5, weekly mean per neighbourhood")
	case release.AccuracyPM10Week:
		return l.t("PM10, weekly mean per neighbourhood")
	case release.AccuracyTempWeek:
		return l.t("Temperature, weekly mean per neighbourhood")
	case release.AccuracyHumWeek:
		return l.t("Humidity, weekly mean per neighbourhood")
	default:
		return l.t("PM2.5 per hour of the day, city-wide, over a week")
	}
}

// unitOf is the unit a statistic is measured in.
func unitOf(id string) string {
	switch id {
	case release.AccuracyTempWeek:
		return "°C"
	case release.AccuracyHumWeek:
		return "%"
	}
	return "µg/m³"
}

// Accuracy serves /about/accuracy: how accurate the published figures are, measured by the
// accuracy harness on synthetic cities (release.LoadAccuracy), under which guarantee, and what
// is done to the readings before they are averaged.
func (p *Pages) Accuracy(c *fiber.Ctx) error {
	l := pickLang(c)
	a, err := release.LoadAccuracy()
	if err != nil {
		return fmt.Errorf("dashboards: accuracy: %w", err)
	}
	plan := release.NewPlan(a.EpsilonDay, true)
	if purpose, ok := p.src.State.Purpose(p.src.AirPurpose); ok {
		plan = release.PlanFor(purpose.Release)
	}
	g := plan.Guarantee()
	v := accuracyView{RhoDay: l.num(g.RhoDay, 4), RhoDaily: l.num(plan.Daily, 4), RhoWeekly: l.num(plan.Weekly, 4),
		EpsilonOneDay: l.num(math.Round(g.EpsilonOneDay*10)/10, -1), Trials: a.Trials, DemoRuns: a.DemoRuns}
	if gv := p.guarantee(l); gv != nil {
		v.Guarantee = *gv
	}
	for _, id := range statistics {
		sweep := accuracyTable{Title: l.statisticTitle(id), Unit: unitOf(id)}
		demo := sweep
		demo.Demo = true
		for _, r := range a.Sweep {
			if r.Statistic == id {
				sweep.Rows = append(sweep.Rows, l.accuracyRow(strconv.Itoa(r.Contributors), r))
			}
		}
		for _, r := range a.Demo {
			if r.Statistic == id {
				name := p.city.name(r.Neighbourhood)
				if r.Neighbourhood == "" {
					name = l.t("The whole city")
				}
				demo.Rows = append(demo.Rows, l.accuracyRow(name, r))
			}
		}
		v.Sweep, v.Demo = append(v.Sweep, sweep), append(v.Demo, demo)
	}
	v.DayTarget = smallest(a.Sweep, release.AccuracyPM25Day, 3)
	v.WeekTarget = smallest(a.Sweep, release.AccuracyPM25Week, 5)
	v.HourTarget = smallest(a.Sweep, release.AccuracyPM25HourDay, 5)
	return p.show(c, l, fiber.StatusOK, page{"accuracy", l.t("How accurate the figures are"), "air", v, "/about/accuracy"})
}

func (l lang) accuracyRow(name string, r release.AccuracyRow) accuracyRow {
	out := accuracyRow{Name: name, Contributors: r.Contributors, Error: l.num(r.MedianAbsError, 2), HalfWidth: "—",
		Shown: l.num(100*r.Shown, 0) + " %", Band: l.num(100*r.Band, 0) + " %", Precise: r.Shown >= 0.5}
	if r.HalfWidth >= 0 {
		out.HalfWidth = "±" + l.num(r.HalfWidth, 2)
	}
	return out
}

// smallest returns the smallest cell size of the sweep from which a statistic's 95 %
// half-width stays within limit, or "" when none does.
func smallest(rows []release.AccuracyRow, stat string, limit float64) string {
	from := ""
	for i := len(rows) - 1; i >= 0; i-- {
		r := rows[i]
		if r.Statistic != stat {
			continue
		}
		if r.HalfWidth < 0 || r.HalfWidth > limit {
			break
		}
		from = strconv.Itoa(r.Contributors)
	}
	return from
}
