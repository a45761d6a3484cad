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
	// PetitionIdentity returns a petition's tally identity (purpose "petition/<id>"), loaded
	// from its own file; nil: no petition breakdowns are released.
	PetitionIdentity func(petition string) (age.Identity, error)
	// Cells are the grid's neighbourhood ids, in display order.
	Cells []string
	// Now is the clock (time.Now in production; tests move it).
	Now func() time.Time
	// Noise is the differential-privacy mechanism (default: the library's Laplace noise).
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

// ErrNotClosed is returned when asked to release an epoch that has not closed yet.
var ErrNotClosed = errors.New("release: epoch not closed yet")

// Closes returns when a day's epoch closes: the end of the day plus the grace period.
func Closes(day string, graceHours int) (time.Time, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return time.Time{}, fmt.Errorf("release: day %q: %w", day, err)
	}
	return d.AddDate(0, 0, 1).Add(time.Duration(graceHours) * time.Hour), nil
}

// RunDue releases every closed, unreleased day of every daily purpose the engine holds a key
// for, and the breakdown of every closed petition that asks questions. It returns how many
// releases it published.
func (e *Engine) RunDue(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, p := range e.cfg.State.Purposes() {
		if p.Release.Grid != GridNeighbourhoodDay || e.cfg.Identities[p.ID] == nil {
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
		days, err := e.cfg.Store.Days(p.ID)
		if err != nil {
			return n, err
		}
		released, err := e.cfg.Store.Epochs(p.ID)
		if err != nil {
			return n, err
		}
		done := map[string]bool{}
		for _, d := range released {
			done[d] = true
		}
		for _, day := range days {
			if done[day] {
				continue
			}
			if err := e.release(ctx, p, day); errors.Is(err, ErrNotClosed) {
				continue
			} else if err != nil {
				return n, err
			}
			n++
		}
	}
	m, err := e.runPetitions(ctx)
	return n + m, err
}

// release computes, stores and logs one day's releases: the neighbourhood × day release and,
// when the policy gives it ε, the city × hour release, from the same residents.
func (e *Engine) release(ctx context.Context, p *state.Purpose, day string) error {
	closes, err := Closes(day, p.Release.GraceHours)
	if err != nil {
		return err
	}
	if e.cfg.Now().Before(closes) {
		return ErrNotClosed
	}
	start := time.Now()
	if err := e.cfg.Store.CloseEpoch(ctx, p.ID, day); err != nil {
		return fmt.Errorf("release: %s %s: %w", p.ID, day, err)
	}
	copies, err := e.cfg.Store.ShareCopies(p.ID, day)
	if err != nil {
		return fmt.Errorf("release: %s %s: %w", p.ID, day, err)
	}
	// Only residents whose consent is still active are counted: a withdrawal before the
	// epoch closes excludes them.
	consenting := copies[:0]
	for _, c := range copies {
		if e.cfg.State.ActiveConsent(c.Citizen, p.ID) {
			consenting = append(consenting, c)
		}
	}
	contribs, rejected, took := e.reduce(consenting, p, day)
	eps, week := epsilon(p)
	hourEps := p.Release.HourEpsilon
	contribs, spend, overBudget, err := e.withinBudget(contribs, day, eps+hourEps, week)
	if err != nil {
		return err
	}
	if overBudget > 0 {
		e.cfg.Logger.Warn("release: residents left out, their weekly ε budget is spent", "purpose", p.ID,
			"epoch", day, "residents", overBudget, "epsilon", eps+hourEps, "week_epsilon", week)
	}
	params := Params{
		K: p.Release.K, Clamp: clamps(p), Cells: e.cfg.Cells, Purpose: p.ID, Version: p.Version,
		Epoch: day, Resolution: 0.1, Epsilon: eps, Noise: e.noise(),
	}
	// The hourly release is logged first and the daily one last, with the spent budget: a
	// crash between them leaves the day unreleased, and the next run publishes the day
	// without publishing a second hourly release (hours are kept if already stored).
	if hourEps > 0 {
		if err := e.releaseHours(ctx, p, params, hourEps, contribs); err != nil {
			return err
		}
	}
	d, err := aggregate(params, contribs)
	if err != nil {
		return err
	}
	body, err := marshal(d)
	if err != nil {
		return err
	}
	// The release, and every counted resident's spent budget, in one transaction.
	puts := append(spend, store.ReleaseRecord(p.ID, day, body))
	r, err := e.publish(ctx, p, day, body, puts)
	if err != nil {
		return err
	}
	e.cfg.Logger.Info("release published", "purpose", p.ID, "epoch", day, "envelopes", len(copies),
		"counted", len(contribs), "over_budget", overBudget, "unreadable", rejected,
		"ledger_index", r.Index, "decrypt_took", took.decrypt, "parse_took", took.parse, "took", time.Since(start))
	return nil
}

// releaseHours publishes a day's city × hour release with ε hourEps, unless it is already
// stored.
func (e *Engine) releaseHours(ctx context.Context, p *state.Purpose, params Params, hourEps float64, contribs []contribution) error {
	if _, err := e.cfg.Store.HourlyRelease(p.ID, params.Epoch); err == nil {
		return nil
	} else if !errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("release: %s %s: %w", p.ID, params.Epoch, err)
	}
	params.Epsilon = hourEps
	h, err := aggregateHours(params, contribs)
	if err != nil {
		return err
	}
	body, err := json.Marshal(h)
	if err != nil {
		return fmt.Errorf("release: marshal hours: %w", err)
	}
	r, err := e.publish(ctx, p, HourlyEpoch(params.Epoch), body,
		[]ledger.Put{store.HourlyReleaseRecord(p.ID, params.Epoch, body)})
	if err != nil {
		return err
	}
	e.cfg.Logger.Info("hourly release published", "purpose", p.ID, "epoch", HourlyEpoch(params.Epoch),
		"ledger_index", r.Index)
	return nil
}

// publish logs a release's hash under epoch, with puts (the release bytes, the budget) in the
// same transaction.
func (e *Engine) publish(ctx context.Context, p *state.Purpose, epoch string, body []byte, puts []ledger.Put) (api.Receipt, error) {
	entry, err := api.Entry{Type: api.EntryRelease, Purpose: p.ID, PurposeVersion: p.Version,
		Epoch: epoch, Hash: state.Hash(body)}.Marshal()
	if err != nil {
		return api.Receipt{}, err
	}
	r, err := e.cfg.Ledger.Append(ctx, entry, puts...)
	if err != nil {
		return api.Receipt{}, fmt.Errorf("release: %s %s: %w", p.ID, epoch, err)
	}
	return r, nil
}

// Privacy-budget defaults and limits, per resident.
const (
	// DefaultEpsilon is a resident's ε for one day's release when the policy names none.
	DefaultEpsilon = 1.0
	// MaxEpsilon is the most a policy may spend of a resident's privacy per day.
	MaxEpsilon = 1.0
	// DefaultWeekEpsilon caps a resident's ε per ISO week, across purposes.
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
	return noise.Laplace()
}

// withinBudget keeps the residents who can still spend eps this ISO week, and returns the
// budget records to write with the release. A resident over budget is left out of the
// release: their data is not used, and they are only counted in the log.
func (e *Engine) withinBudget(cs []contribution, day string, eps, week float64) ([]contribution, []ledger.Put, int, error) {
	d, err := time.Parse(time.DateOnly, day)
	if err != nil {
		return nil, nil, 0, fmt.Errorf("release: %w", err)
	}
	y, w := d.ISOWeek()
	isoWeek := fmt.Sprintf("%d-W%02d", y, w)
	kept := cs[:0]
	var puts []ledger.Put
	over := 0
	for _, c := range cs {
		spent, err := e.cfg.Store.Spent(c.citizen, isoWeek)
		if err != nil {
			return nil, nil, 0, fmt.Errorf("release: %w", err)
		}
		if spent+eps > week+1e-9 {
			over++
			continue
		}
		kept = append(kept, c)
		puts = append(puts, store.BudgetRecord(c.citizen, isoWeek, spent+eps))
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

// reduce opens the share copies on every core, then parses them on every core, and reduces
// each resident to one contribution. Envelopes that do not open or parse are counted, never
// logged with their content. Each plaintext is wiped once parsed, and the parsed readings are
// dropped when reduce returns: only the bounded means leave it.
func (e *Engine) reduce(copies []store.ShareCopy, p *state.Purpose, day string) ([]contribution, int, phases) {
	id := e.cfg.Identities[p.ID]
	type opened struct {
		citizen string
		plain   []byte
		rs      []reading.Reading
		ok      bool
	}
	out := make([]opened, len(copies))
	start := time.Now()
	onAllCores(len(copies), func(i int) {
		out[i].citizen = copies[i].Citizen
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
	for _, o := range out {
		if !o.ok {
			rejected++
			continue
		}
		for _, r := range o.rs {
			if reading.Day(r.RecordedAt) == day && e.cells[r.Cell] {
				byCitizen[o.citizen] = append(byCitizen[o.citizen], r)
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
		r := reduceResident(byCitizen[c], cl)
		r.citizen = c
		contribs = append(contribs, r)
	}
	return contribs, rejected, took
}

// reduceResident attributes a resident's day to the neighbourhood holding most of their
// readings (ties: the smallest id) and averages each statistic there, clamping PM means; and
// averages their PM2.5 per UTC hour over all their readings in the grid, clamped, for the
// city × hour release.
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

func marshal(d AirDay) ([]byte, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("release: marshal: %w", err)
	}
	return b, nil
}
