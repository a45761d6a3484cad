package release

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"filippo.io/age"
	"github.com/google/differential-privacy/go/v3/noise"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/store"
)

// GridNeighbourhoodDay is the grid name of daily per-neighbourhood releases.
const GridNeighbourhoodDay = "neighbourhood×day"

// MinK is the least k any purpose may use: a policy may tighten the release rules, never
// loosen them below PRIVACY.md's default.
const MinK = 10

// Config wires the engine to the node.
type Config struct {
	Store  *store.Store
	Ledger *ledger.Log
	State  *state.State
	// Identities are the purpose identities, by purpose id, loaded from their own files.
	Identities map[string]age.Identity
	// PurposeIdentity returns the identity of a purpose the neighbourhoods approved (one whose
	// definition names its proposal), loaded from its own file; nil: none is released.
	PurposeIdentity func(id string, version int) (age.Identity, error)
	// PetitionIdentity returns a petition's tally identity (purpose "petition/<id>"), loaded
	// from its own file; nil: no petition breakdowns are released.
	PetitionIdentity func(petition string) (age.Identity, error)
	// Cells are the grid's neighbourhood ids, in display order.
	Cells []string
	// Now is the clock (time.Now in production; tests move it).
	Now func() time.Time
	// Noise is the differential-privacy mechanism (default: the library's Gaussian noise for
	// the air releases, its Laplace noise for petition breakdowns).
	Noise  noise.Noise
	Logger *slog.Logger
}

// Engine computes releases. RunDue may be called from a ticker; calls are serialised.
type Engine struct {
	cfg   Config
	cells map[string]bool
	mu    sync.Mutex
}

// New returns an engine.
func New(cfg Config) *Engine {
	cells := map[string]bool{}
	for _, c := range cfg.Cells {
		cells[c] = true
	}
	return &Engine{cfg: cfg, cells: cells}
}

// Closes returns when a day's epoch closes: the end of the day plus the grace period.
func Closes(day string, graceHours int) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, fmt.Errorf("release: day %q: %w", day, err)
	}
	return d.AddDate(0, 0, 1).Add(time.Duration(graceHours) * time.Hour), nil
}

// RunDue releases every closed, unreleased day and ISO week of every daily purpose the engine
// holds a key for, in the order they closed (a week after its Sunday), and the breakdown of
// every closed petition that asks questions. It returns how many releases it published.
func (e *Engine) RunDue(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, p := range e.cfg.State.Purposes() {
		if !e.runs(p) {
			continue
		}
		if p.Release.K < MinK {
			e.cfg.Logger.Error("release: purpose refused: k below the minimum", "purpose", p.ID, "k", p.Release.K, "min", MinK)
			continue
		}
		if day, _ := epsilon(p); day+p.Release.HourEpsilon > MaxEpsilon || day < 0 || p.Release.HourEpsilon < 0 {
			e.cfg.Logger.Error("release: purpose refused: ε per day above the maximum", "purpose", p.ID,
				"epsilon", day, "hour_epsilon", p.Release.HourEpsilon, "max", MaxEpsilon)
			continue
		}
		due, err := e.due(p)
		if err != nil {
			return n, err
		}
		for _, d := range due {
			release := e.releaseDay
			if d.week {
				release = e.releaseWeek
			}
			if err := release(ctx, p, d.epoch); err != nil {
				return n, err
			}
			n++
		}
	}
	m, err := e.runPetitions(ctx)
	return n + m, err
}

// dueEpoch is a closed epoch without a release: a day, or an ISO week.
type dueEpoch struct {
	epoch  string
	week   bool
	closes time.Time
}

// due lists a purpose's closed, unreleased days and weeks in the order they closed; a week
// closes with its Sunday and comes after it. A day's release reads the previous week's, so
// this order makes every release the same whenever the engine runs.
func (e *Engine) due(p *state.Purpose) ([]dueEpoch, error) {
	days, err := e.cfg.Store.Days(p.ID)
	if err != nil {
		return nil, err
	}
	released := map[string]bool{}
	for _, purpose := range []string{p.ID, WeekPurpose(p.ID)} {
		epochs, err := e.cfg.Store.Epochs(purpose)
		if err != nil {
			return nil, err
		}
		for _, ep := range epochs {
			released[ep] = true
		}
	}
	now := e.cfg.Now()
	var out []dueEpoch
	weeks := map[string]bool{}
	for _, day := range days {
		closes, err := Closes(day, p.Release.GraceHours)
		if err != nil {
			return nil, err
		}
		if !released[day] && !now.Before(closes) && !weeklyOnly(p) {
			out = append(out, dueEpoch{epoch: day, closes: closes})
		}
		week, err := ISOWeek(day)
		if err != nil {
			return nil, err
		}
		if weeks[week] || released[week] {
			continue
		}
		weeks[week] = true
		if closes, err := WeekCloses(week, p.Release.GraceHours); err != nil {
			return nil, err
		} else if !now.Before(closes) {
			out = append(out, dueEpoch{epoch: week, week: true, closes: closes})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if !out[i].closes.Equal(out[j].closes) {
			return out[i].closes.Before(out[j].closes)
		}
		return !out[i].week && out[j].week
	})
	return out, nil
}

// params are the parameters of a release whose first day is firstDay: the purpose's policy,
// the public population and the release of the week before.
func (e *Engine) params(p *state.Purpose, epoch, firstDay string) (Params, error) {
	previousWeek, err := weekBefore(firstDay)
	if err != nil {
		return Params{}, err
	}
	params := Params{
		K: p.Release.K, Clamp: clamps(p), Cells: e.cellsOf(p), Purpose: p.ID, Version: p.Version,
		Epoch: epoch, Resolution: 0.1, Plan: PlanFor(p.Release),
		Noise: e.noise(), Population: e.cfg.State.CitizenCount(),
	}
	if weeklyOnly(p) {
		var readings []string
		if p.Proposal != "" {
			if readings, err = e.readings(p); err != nil {
				return Params{}, err
			}
		}
		params.Plan = weeklyPlan(p.Release.Epsilon, readings)
	}
	b, err := e.cfg.Store.Release(WeekPurpose(p.ID), previousWeek)
	if errors.Is(err, store.ErrNotFound) {
		return params, nil
	}
	if err != nil {
		return Params{}, fmt.Errorf("release: %s %s: %w", p.ID, epoch, err)
	}
	w, err := ParseAirWeek(b)
	if err != nil {
		return Params{}, fmt.Errorf("release: %s %s: previous week: %w", p.ID, epoch, err)
	}
	params.Previous = &w
	return params, nil
}

// weekBefore returns the ISO week of the day a week before day.
func weekBefore(day string) (string, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return "", fmt.Errorf("release: day %q: %w", day, err)
	}
	return ISOWeek(d.AddDate(0, 0, -7).Format(time.DateOnly))
}

// consenting returns the share copies of the residents whose consent is still active: a
// withdrawal before the epoch closes excludes them.
func (e *Engine) consenting(p *state.Purpose, copies []dayCopy) []dayCopy {
	out := copies[:0]
	for _, c := range copies {
		if e.cfg.State.ActiveConsent(c.Citizen, p.ID) {
			out = append(out, c)
		}
	}
	return out
}

// releaseDay computes, stores and logs one day's release, with every counted resident's
// spent budget.
func (e *Engine) releaseDay(ctx context.Context, p *state.Purpose, day string) error {
	r := run{msg: "release published", start: time.Now()}
	all, err := e.closeEpochs(ctx, p, day)
	if err != nil {
		return err
	}
	r.envelopes = len(all)
	contribs, rejected, took := e.reduce(e.consenting(p, all), p)
	r.rejected, r.took = rejected, took
	// The daily release is PM2.5 only: a resident without a PM2.5 reading is not in it.
	withPM25 := contribs[:0]
	for _, c := range contribs {
		if c.hasPM25 {
			withPM25 = append(withPM25, c)
		}
	}
	params, err := e.params(p, day, day)
	if err != nil {
		return err
	}
	week, err := ISOWeek(day)
	if err != nil {
		return err
	}
	return publish(ctx, e, p, p.ID, day, week, params, params.Plan.Daily, withPM25, aggregateDay, r)
}

// releaseWeek computes, stores and logs one ISO week's release from the share copies of its
// seven days, with every counted resident's spent budget.
func (e *Engine) releaseWeek(ctx context.Context, p *state.Purpose, week string) error {
	r := run{msg: "weekly release published", start: time.Now()}
	days, err := WeekDays(week)
	if err != nil {
		return err
	}
	all, err := e.closeEpochs(ctx, p, days[:]...)
	if err != nil {
		return err
	}
	r.envelopes = len(all)
	contribs, rejected, took := e.reduce(e.consenting(p, all), p)
	r.rejected, r.took = rejected, took
	params, err := e.params(p, week, days[0])
	if err != nil {
		return err
	}
	aggregate := aggregateWeek
	if p.Proposal != "" {
		readings, err := e.readings(p)
		if err != nil {
			return err
		}
		aggregate = func(params Params, cs []contribution) (AirWeek, error) {
			w, err := aggregateWeek(params, cs)
			return onlyReadings(w, readings), err
		}
	}
	return publish(ctx, e, p, WeekPurpose(p.ID), week, week, params, params.Plan.Weekly, contribs, aggregate, r)
}

// closeEpochs closes the days' epochs to new share copies and returns the copies they hold.
func (e *Engine) closeEpochs(ctx context.Context, p *state.Purpose, days ...string) ([]dayCopy, error) {
	var all []dayCopy
	for _, day := range days {
		if err := e.cfg.Store.CloseEpoch(ctx, p.ID, day); err != nil {
			return nil, fmt.Errorf("release: %s %s: %w", p.ID, day, err)
		}
		copies, err := e.cfg.Store.ShareCopies(p.ID, day)
		if err != nil {
			return nil, fmt.Errorf("release: %s %s: %w", p.ID, day, err)
		}
		for _, c := range copies {
			all = append(all, dayCopy{ShareCopy: c, day: day})
		}
	}
	return all, nil
}

// run is what one release run reports in its log line.
type run struct {
	msg                                      string
	start                                    time.Time
	envelopes, counted, overBudget, rejected int
	took                                     phases
}

// publish aggregates the contributions of the residents whose budget for the week still
// holds rho, stores the release's JSON under the purpose id storeAs and epoch and logs its
// hash, with their spent budget in the same transaction; then it logs the run.
func publish[T any](ctx context.Context, e *Engine, p *state.Purpose, storeAs, epoch, week string, params Params, rho float64,
	cs []contribution, aggregate func(Params, []contribution) (T, error), r run) error {
	counted, spend, overBudget, err := e.withinBudget(p, cs, week, rho)
	if err != nil {
		return err
	}
	r.counted, r.overBudget = len(counted), overBudget
	rel, err := aggregate(params, counted)
	if err != nil {
		return err
	}
	body, err := json.Marshal(rel)
	if err != nil {
		return fmt.Errorf("release: marshal %s %s: %w", p.ID, epoch, err)
	}
	entry, err := api.Entry{Type: api.EntryRelease, Purpose: p.ID, PurposeVersion: p.Version,
		Epoch: epoch, Hash: state.Hash(body)}.Marshal()
	if err != nil {
		return err
	}
	rc, err := e.cfg.Ledger.Append(ctx, entry, append(spend, store.ReleaseRecord(storeAs, epoch, body))...)
	if err != nil {
		return fmt.Errorf("release: %s %s: %w", p.ID, epoch, err)
	}
	e.cfg.Logger.Info(r.msg, "purpose", p.ID, "epoch", epoch, "envelopes", r.envelopes,
		"counted", r.counted, "over_budget", r.overBudget, "unreadable", r.rejected,
		"ledger_index", rc.Index, "decrypt_took", r.took.decrypt, "parse_took", r.took.parse, "took", time.Since(r.start))
	return nil
}

// Privacy-budget defaults and limits, per resident.
const (
	// DefaultEpsilon is a resident's ε per day (at δ = Delta) when the policy names none.
	DefaultEpsilon = 1.0
	// MaxEpsilon is the most a policy may spend of a resident's privacy per day: epsilon +
	// hour_epsilon.
	MaxEpsilon = 1.0
	// DefaultWeekEpsilon caps what a resident may lose per ISO week, across purposes, as ε
	// at δ = Delta; the engine tracks the budget in ρ (RhoFor of the cap).
	DefaultWeekEpsilon = 7.0
)

// epsilon returns a purpose's daily ε and weekly cap, with defaults.
func epsilon(p *state.Purpose) (day, week float64) {
	day, week = p.Release.Epsilon, p.Release.WeekEpsilon
	if day == 0 {
		day = DefaultEpsilon
	}
	if week == 0 {
		week = DefaultWeekEpsilon
	}
	return day, week
}

func (e *Engine) noise() noise.Noise {
	if e.cfg.Noise != nil {
		return e.cfg.Noise
	}
	return noise.Gaussian()
}

// budgetWeek is the label under which a resident's spent ρ of an ISO week is recorded: apart
// from the ε that format-1 releases recorded under the bare week.
func budgetWeek(week string) string { return "rho/" + week }

// withinBudget keeps the residents who can still spend rho this ISO week, and returns the
// budget records to write with the release. A resident over budget is left out of the
// release: their data is not used, and they are only counted in the log.
func (e *Engine) withinBudget(p *state.Purpose, cs []contribution, week string, rho float64) ([]contribution, []ledger.Put, int, error) {
	_, capEps := epsilon(p)
	limit := RhoFor(capEps, Delta)
	kept := cs[:0]
	var puts []ledger.Put
	over := 0
	for _, c := range cs {
		spent, err := e.cfg.Store.Spent(c.citizen, budgetWeek(week))
		if err != nil {
			return nil, nil, 0, fmt.Errorf("release: %w", err)
		}
		if spent+rho > limit*(1+1e-9) {
			over++
			continue
		}
		kept = append(kept, c)
		puts = append(puts, store.BudgetRecord(c.citizen, budgetWeek(week), spent+rho))
	}
	if over > 0 {
		e.cfg.Logger.Warn("release: residents left out, their weekly budget is spent", "purpose", p.ID,
			"epoch", week, "residents", over, "rho", rho, "week_epsilon", capEps)
	}
	return kept, puts, over, nil
}

// phases are how long reduce spent opening the share copies and parsing their plaintexts.
type phases struct{ decrypt, parse time.Duration }

// onAllCores calls f(i) for every i in [0, n), on GOMAXPROCS goroutines.
func onAllCores(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		})
	}
	wg.Wait()
}

// dayCopy is a share copy with the day it belongs to.
type dayCopy struct {
	store.ShareCopy
	day string
}

// reduce opens the share copies on every core, then parses them on every core, and reduces
// each resident to one contribution. A share copy contributes only its own day's readings, on
// the grid, cleaned (quality.go). Envelopes that do not open or parse are counted, never logged with their content.
// Each plaintext is wiped once parsed, and the parsed readings are dropped when reduce
// returns: only the bounded means leave it.
func (e *Engine) reduce(copies []dayCopy, p *state.Purpose) ([]contribution, int, phases) {
	id := e.identity(p)
	type opened struct {
		plain []byte
		rs    []reading.Reading
		ok    bool
	}
	out := make([]opened, len(copies))
	start := time.Now()
	onAllCores(len(copies), func(i int) {
		out[i].plain, _ = crypto.Open(copies[i].Ciphertext, id) // nil when it does not open
	})
	var took phases
	took.decrypt = time.Since(start)
	onAllCores(len(out), func(i int) {
		if out[i].plain == nil {
			return
		}
		b, err := reading.UnmarshalBatch(out[i].plain)
		clear(out[i].plain)
		out[i].plain = nil
		if err == nil {
			out[i].rs, out[i].ok = b.Readings, true
		}
	})
	took.parse = time.Since(start) - took.decrypt

	byCitizen := map[string][]reading.Reading{}
	rejected := 0
	for i, o := range out {
		if !o.ok {
			rejected++
			continue
		}
		c := copies[i]
		for _, r := range o.rs {
			if reading.Day(r.RecordedAt) == c.day && e.cells[r.Cell] && inScope(p, r.Cell) {
				byCitizen[c.Citizen] = append(byCitizen[c.Citizen], r)
			}
		}
	}
	citizens := make([]string, 0, len(byCitizen))
	for c := range byCitizen {
		citizens = append(citizens, c)
	}
	sort.Strings(citizens)
	cl := clamps(p)
	contribs := make([]contribution, 0, len(citizens))
	for _, c := range citizens {
		rs := clean(byCitizen[c])
		if len(rs) == 0 {
			continue // nothing fit to average: not in the release, not charged
		}
		r := reduceResident(rs, cl)
		r.citizen = c
		contribs = append(contribs, r)
	}
	return contribs, rejected, took
}

// reduceResident attributes a resident's epoch to the neighbourhood holding most of their
// readings (ties: the smallest id) and averages each statistic there, clamped to the policy's
// range; and averages their PM2.5 per UTC hour of the day over all their readings in the
// grid, clamped the same way, for the hour-of-day profile.
func reduceResident(rs []reading.Reading, cl Clamps) contribution {
	counts := map[string]int{}
	for _, r := range rs {
		counts[r.Cell]++
	}
	cell := ""
	for c, n := range counts {
		if n > counts[cell] || (n == counts[cell] && c < cell) {
			cell = c
		}
	}
	var s [4]float64
	var n [4]int
	var hs [HoursPerDay]float64
	var hn [HoursPerDay]int
	for _, r := range rs {
		if v := r.Values.PM2_5; v != nil {
			h := r.RecordedAt.UTC().Hour()
			hs[h] += *v
			hn[h]++
		}
		if r.Cell != cell {
			continue
		}
		for i, v := range []*float64{r.Values.PM2_5, r.Values.PM10, r.Values.Temperature, r.Values.Humidity} {
			if v != nil {
				s[i] += *v
				n[i]++
			}
		}
	}
	mean := func(i int) float64 { return s[i] / float64(max(n[i], 1)) }
	var c contribution
	for h := range HoursPerDay {
		if hn[h] > 0 {
			c.hourPM25[h], c.hasHour[h] = clamp(hs[h]/float64(hn[h]), cl.PM25), true
		}
	}
	c.cell = cell
	c.pm25, c.hasPM25 = clamp(mean(0), cl.PM25), n[0] > 0
	c.pm10, c.hasPM10 = clamp(mean(1), cl.PM10), n[1] > 0
	c.temp, c.hasTemp = clamp(mean(2), cl.Temperature), n[2] > 0
	c.humid, c.hasHumid = clamp(mean(3), cl.Humidity), n[3] > 0
	return c
}

func clamps(p *state.Purpose) Clamps {
	return Clamps{PM25: p.Release.ClampPM25, PM10: p.Release.ClampPM10,
		Temperature: temperatureRange, Humidity: humidityRange}
}
