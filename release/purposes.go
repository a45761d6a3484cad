package release

import (
	"fmt"
	"slices"

	"filippo.io/age"

	"github.com/commons-city/commons/ledger/state"
)

// identity returns the identity of a purpose: a built-in one's from Identities, a proposed
// one's from PurposeIdentity; nil when the engine holds no key for it.
func (e *Engine) identity(p *state.Purpose) age.Identity {
	if id := e.cfg.Identities[p.ID]; id != nil {
		return id
	}
	if e.cfg.PurposeIdentity == nil || p.Proposal == "" {
		return nil
	}
	id, err := e.cfg.PurposeIdentity(p.ID, p.Version)
	if err != nil {
		e.cfg.Logger.Error("release: purpose key unreadable", "purpose", p.ID, "version", p.Version, "err", err)
		return nil
	}
	return id
}

// runs reports whether the engine releases a purpose: one of its grids, a key it holds, and
// not retired (a retired purpose's key is destroyed and its share copies deleted).
func (e *Engine) runs(p *state.Purpose) bool {
	if p.Release.Grid != GridNeighbourhoodDay && p.Release.Grid != GridNeighbourhoodWeek {
		return false
	}
	return !e.cfg.State.Retired(p.ID, p.Version) && e.identity(p) != nil
}

// weeklyOnly reports whether a purpose publishes weekly releases only.
func weeklyOnly(p *state.Purpose) bool { return p.Release.Grid == GridNeighbourhoodWeek }

// inScope reports whether a purpose runs in a neighbourhood: a built-in one everywhere, a
// proposed one where its residents approved it.
func inScope(p *state.Purpose, cell string) bool {
	return len(p.Neighbourhoods) == 0 || slices.Contains(p.Neighbourhoods, cell)
}

// cellsOf are the cells a purpose's releases show, in the grid's order.
func (e *Engine) cellsOf(p *state.Purpose) []string {
	if len(p.Neighbourhoods) == 0 {
		return e.cfg.Cells
	}
	var out []string
	for _, c := range e.cfg.Cells {
		if inScope(p, c) {
			out = append(out, c)
		}
	}
	return out
}

// weeklyPlan is the plan of a weekly-only purpose: each resident's whole ε per release
// (the policy's epsilon) is spent on the weekly release's statistics of the readings it asked
// for (every statistic when readings is empty), and on nothing else.
func weeklyPlan(eps float64, readings []string) Plan {
	var stats []int
	for stat, name := range statNames {
		if slices.Contains(readings, name) {
			stats = append(stats, stat)
		}
	}
	var weekly float64
	for stat, s := range weekStats {
		if stats == nil || slices.Contains(stats, stat) {
			weekly += s.spec.weight()
		}
	}
	rho := RhoFor(eps, Delta)
	return Plan{EpsilonDay: eps / 7, Weekly: rho, Stats: stats, unit: rho / weekly}
}

// onlyReadings removes from a weekly release the statistics a proposed purpose did not ask
// for, and the hour-of-day profile. A weekly-only purpose does not compute them (its plan's
// Stats); a daily one computes its weekly release whole and publishes its readings only.
func onlyReadings(w AirWeek, readings []string) AirWeek {
	if len(readings) == 0 {
		return w
	}
	strip := func(c *Cell) {
		if !slices.Contains(readings, "pm2_5") {
			c.PM25, c.PM25CI, c.PM25Band, c.ClampPM25 = nil, nil, "", nil
		}
		if !slices.Contains(readings, "pm10") {
			c.PM10, c.PM10CI, c.ClampPM10 = nil, nil, nil
		}
		if !slices.Contains(readings, "temperature") {
			c.Temperature, c.TemperatureCI, c.ClampTemperature = nil, nil, nil
		}
		if !slices.Contains(readings, "humidity") {
			c.Humidity, c.HumidityCI, c.ClampHumidity = nil, nil, nil
		}
		for _, m := range []map[string]float64{c.Reference, c.Ratio} {
			for k := range m {
				if !slices.Contains(readings, k) {
					delete(m, k)
				}
			}
		}
	}
	strip(&w.City)
	for i := range w.Cells {
		strip(&w.Cells[i])
	}
	w.Hours = nil
	return w
}

// readings are the readings a proposed purpose publishes, from its proposal.
func (e *Engine) readings(p *state.Purpose) ([]string, error) {
	prop, ok := e.cfg.State.ProposalVersion(p.ID, p.Version)
	if !ok {
		return nil, fmt.Errorf("release: %s v%d: no proposal logged", p.ID, p.Version)
	}
	return prop.Readings, nil
}
