package dashboards

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/purpose"
	"github.com/commons-city/commons/release"
)

const (
	studyID   = "pm10-study"
	proposer  = "c-proposer-secret"
	requester = "Harbour University"
)

// study is a weekly PM10 proposal over the test map, open until 2026-10-20 (the seeded clock
// reads 2026-10-15), needing 2 approvals per neighbourhood.
func study(id string) api.PurposeProposal {
	return api.PurposeProposal{ID: id, Version: 1,
		Title:       api.Text{EN: "Coarse dust by the docks", FR: "Les poussières grossières près des quais"},
		Description: api.Text{EN: "A weekly mean of PM10 for the lab.", FR: "Une moyenne hebdomadaire des PM10 pour le laboratoire."},
		Requester:   requester, Readings: []string{"pm10"}, Statistics: []string{"mean"},
		Grid: release.GridNeighbourhoodWeek, EpsilonRelease: 1, EpsilonMonth: 5, RetentionDays: 14,
		Start: "2026-09-01", End: "2027-08-31", Scope: []string{"north", "south", "east"},
		ApprovalsNeeded: 2, Deadline: "2026-10-20"}
}

// propose logs a proposal and the residents' choices on it: for each neighbourhood, how many
// approve and how many object, each under a nullifier of their own.
func (h *harness) propose(t *testing.T, doc api.PurposeProposal, choices map[string][2]int) {
	t.Helper()
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	h.append(t, api.Entry{Type: api.EntryPurposePropose, Purpose: doc.ID, PurposeVersion: doc.Version, Body: body,
		Hash: state.Hash(body), Citizen: proposer})
	for n, c := range choices {
		for i := range c[0] + c[1] {
			typ := api.EntryPurposeApprove
			if i >= c[0] {
				typ = api.EntryPurposeObject
			}
			h.append(t, api.Entry{Type: typ, Purpose: doc.ID, PurposeVersion: doc.Version,
				Nullifier: fmt.Sprintf("nullifier-secret-%s-%d", n, i), Neighbourhood: n, Epoch: "2026-10-10"})
		}
	}
}

// activate logs the purpose the operator defines from a proposal, running in neighbourhoods.
func (h *harness) activate(t *testing.T, id string, neighbourhoods ...string) {
	t.Helper()
	prop, ok := h.State.Proposal(id)
	require.True(t, ok)
	e, err := purpose.ActivationEntry(purpose.Define(prop, "age1recipient", neighbourhoods))
	require.NoError(t, err)
	_, err = h.Ledger.Append(context.Background(), e)
	require.NoError(t, err)
}

// decide logs a refusal or retirement of a proposal, and the destruction of its key.
func (h *harness) decide(t *testing.T, id, typ string, d api.PurposeDecision, destroy bool) {
	t.Helper()
	prop, ok := h.State.Proposal(id)
	require.True(t, ok)
	e, err := purpose.DecisionEntry(typ, prop, d)
	require.NoError(t, err)
	_, err = h.Ledger.Append(context.Background(), e)
	require.NoError(t, err)
	if destroy {
		h.append(t, api.Entry{Type: api.EntryPurposeDestroy, Purpose: id, PurposeVersion: prop.Version})
	}
}

// section returns the part of a page from the section headed id to its end.
func section(t *testing.T, page, id string) string {
	t.Helper()
	start := strings.Index(page, `<section aria-labelledby="`+id+`">`)
	require.GreaterOrEqual(t, start, 0, "no section %s", id)
	s := page[start:]
	return s[:strings.Index(s, "</section>")]
}

// withStudies is the seeded harness with a proposed study (north met, south short, east
// objecting) and an active one running in north with two weekly releases.
func withStudies(t *testing.T) *harness {
	t.Helper()
	h := seeded(t)
	h.propose(t, study(studyID), map[string][2]int{"north": {3, 1}, "south": {1, 0}, "east": {2, 3}})
	h.propose(t, study("active-study"), map[string][2]int{"north": {2, 0}})
	h.activate(t, "active-study", "north")
	for _, epoch := range []string{"2026-W40", "2026-W41"} {
		w := airWeek()
		// As the engine publishes it (release.onlyReadings): PM10 only, no hour profile.
		w.Purpose, w.Epoch, w.Contributors, w.City, w.Hours = "active-study", epoch, 30, release.Cell{}, nil
		w.Cells = []release.Cell{{Neighbourhood: "north", Contributors: 30, PM10: ptr(21.3), PM10CI: &[2]float64{15.2, 27.4}}}
		if epoch == "2026-W41" {
			w.Contributors, w.Cells[0].PM10, w.Cells[0].Contributors = 33, ptr(24.6), 33
		}
		h.publishWeek(t, w)
	}
	return h
}

// A proposed purpose's page says who asks, what it costs, and what each neighbourhood decided,
// counted from the ledger, and how to approve; it names no resident and no nullifier.
func TestProposedPurposeShowsItsApprovalsPerNeighbourhood(t *testing.T) {
	t.Parallel()
	h := withStudies(t)
	body := h.get(t, "/purposes/"+studyID, http.StatusOK)
	assert.Contains(t, body, "<h1>Coarse dust by the docks</h1>")
	assert.Contains(t, body, `<span class="status open">proposed: the neighbourhoods decide</span>`)
	assert.Contains(t, body, "<dd>"+requester+"</dd>")
	assert.Contains(t, body, "<dd>PM10</dd>")
	assert.Contains(t, body, "each neighbourhood, each week")
	assert.Contains(t, body, "ε 1 per resident per release, 5 per month at most (0.143 per day)")
	assert.Contains(t, body, "14 days")

	approvals := section(t, body, "approvals-heading")
	assert.Contains(t, approvals, "until Tuesday 20 October 2026")
	assert.Contains(t, approvals, "only where 2 residents approve")
	for _, row := range []string{
		`<tr><th scope="row">North Hill</th><td>3</td><td>1</td><td>threshold met</td></tr>`,
		`<tr><th scope="row">South Docks</th><td>1</td><td>0</td><td>not approved</td></tr>`,
		`<tr><th scope="row">East &lt;Island&gt;</th><td>2</td><td>3</td><td>not approved</td></tr>`,
	} {
		assert.Contains(t, approvals, row)
	}
	assert.Contains(t, approvals, "<code>commons purpose approve "+studyID+"</code>", "open: the page says how to approve")
	releases := section(t, body, "releases-heading")
	assert.Contains(t, releases, "Nothing published yet.")
	assert.Contains(t, releases, "Budget used so far: at most ε 0 per resident (releases: 0).")
	assert.NotContains(t, body, "figures-heading")
	for _, secret := range []string{"nullifier-secret", proposer, "age1"} {
		assert.NotContains(t, body, secret)
	}
}

// An active purpose's page shows where it runs and its latest release as a table of the
// readings it asked for, and lists every release.
func TestActivePurposeShowsItsLatestRelease(t *testing.T) {
	t.Parallel()
	h := withStudies(t)
	body := h.get(t, "/purposes/active-study", http.StatusOK)
	assert.Contains(t, body, `<span class="status open">active</span>`)
	approvals := section(t, body, "approvals-heading")
	assert.Contains(t, approvals, `<tr><th scope="row">North Hill</th><td>2</td><td>0</td><td>runs here</td></tr>`)
	assert.Contains(t, approvals, `<tr><th scope="row">South Docks</th><td>0</td><td>0</td><td>not approved</td></tr>`)
	assert.NotContains(t, approvals, "commons purpose approve", "an active purpose takes no more approvals")

	figures := section(t, body, "figures-heading")
	assert.Contains(t, figures, "Release 2026-W41")
	assert.Contains(t, figures, "33 residents counted in all")
	assert.Contains(t, figures, `<th scope="col">Neighbourhood</th><th scope="col">PM10 (µg/m³)</th><th scope="col">Contributors</th>`)
	assert.Contains(t, figures, `<th scope="row">North Hill</th>`)
	assert.Contains(t, figures, `<td class="num">24.6 (15.2–27.4)</td><td class="num">33</td>`)
	assert.NotContains(t, figures, "21.3", "the latest release only")
	assert.NotContains(t, figures, "South Docks", "only where the purpose runs")

	releases := section(t, body, "releases-heading")
	assert.Contains(t, releases, "at most ε 2 per resident (releases: 2)")
	for _, e := range []string{"2026-W40", "2026-W41"} {
		assert.Contains(t, releases, `<a href="/api/v1/purposes/active-study?release=`+e+`">`+e+`</a>`)
	}
}

// A decided purpose says its status and who decided, in words; a destroyed key is said.
func TestDecidedPurposesSayWhoDecided(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	for _, c := range []struct {
		id, typ, by, status, who string
		destroy                  bool
	}{
		{"refused-study", api.EntryPurposeRefuse, purpose.ByOperator, "refused by the operator", "the operator", false},
		{"retired-study", api.EntryPurposeRetire, purpose.ByProposer, "retired", "its proposer", true},
		{"ended-study", api.EntryPurposeRetire, purpose.ByEnd, "ended", "its end date", true},
	} {
		h.propose(t, study(c.id), nil)
		h.decide(t, c.id, c.typ, api.PurposeDecision{By: c.by, Reason: "reason of " + c.id}, c.destroy)
		body := h.get(t, "/purposes/"+c.id, http.StatusOK)
		assert.Contains(t, body, `<span class="status closed">`+c.status+`</span>`, c.id)
		decision := section(t, body, "decision-heading")
		assert.Contains(t, decision, "Decided by "+c.who+": reason of "+c.id, c.id)
		assert.Equal(t, c.destroy, strings.Contains(decision, "its key destroyed"), c.id)
		assert.NotContains(t, body, "commons purpose approve", "%s takes no approvals", c.id)
	}
}

// The list shows the built-in purpose, then every proposal, each with its status.
func TestPurposesListsBuiltInThenProposals(t *testing.T) {
	t.Parallel()
	h := withStudies(t)
	body := h.get(t, "/purposes", http.StatusOK)
	builtIn := strings.Index(body, `<a href="/purposes/`+airPurpose+`">Air quality per neighbourhood</a>`)
	proposed := strings.Index(body, `<a href="/purposes/`+studyID+`">Coarse dust by the docks</a>`)
	active := strings.Index(body, `<a href="/purposes/active-study">`)
	require.GreaterOrEqual(t, builtIn, 0, body)
	assert.Greater(t, proposed, builtIn)
	assert.Greater(t, active, builtIn)
	assert.Equal(t, 2, strings.Count(body, "<dd>"+requester+"</dd>"))
	assert.Contains(t, body, "ε 0.143 per resident per day")
	builtInPage := h.get(t, "/purposes/"+airPurpose, http.StatusOK)
	assert.Contains(t, builtInPage, `<span class="status open">active</span>`)
	assert.NotContains(t, builtInPage, "approvals-heading", "a built-in purpose asks no neighbourhood")
	missing := h.get(t, "/purposes/nope", http.StatusNotFound)
	assert.Contains(t, missing, "There is no purpose with that id.")
}

// The French purpose pages give the proposal's French text and the statuses in French.
func TestPurposePagesInFrench(t *testing.T) {
	t.Parallel()
	h := withStudies(t)
	body := h.get(t, "/purposes/"+studyID+"?lang=fr", http.StatusOK)
	assert.Contains(t, body, "<h1>Les poussières grossières près des quais</h1>")
	assert.Contains(t, body, "proposé : les quartiers décident")
	assert.Contains(t, body, "seuil atteint")
	assert.Contains(t, body, "20 octobre 2026")
	active := h.get(t, "/purposes/active-study?lang=fr", http.StatusOK)
	assert.Contains(t, active, "s&#39;applique ici")
	assert.Contains(t, active, "Derniers chiffres")
}

// A purpose published each day shows its latest day's release: PM2.5, the one reading a daily
// release publishes (purpose.CheckProposal).
func TestDailyPurposeShowsItsLatestDay(t *testing.T) {
	t.Parallel()
	h := seeded(t)
	doc := study("daily-study")
	doc.Grid, doc.Readings, doc.EpsilonRelease, doc.EpsilonMonth = release.GridNeighbourhoodDay, []string{"pm2_5"}, 0.2, 6
	h.propose(t, doc, map[string][2]int{"south": {2, 0}, "north": {3, 1}})
	h.activate(t, doc.ID, "south", "north")
	d := airDay("2026-10-03",
		release.Cell{Neighbourhood: "south", Contributors: 12, PM25: ptr(8.2), Humidity: ptr(61.5)},
		release.Cell{Neighbourhood: "north", Suppressed: true})
	d.Purpose = doc.ID
	h.publish(t, d)
	body := h.get(t, "/purposes/"+doc.ID, http.StatusOK)
	assert.Contains(t, body, "each neighbourhood, each day")
	assert.Contains(t, body, "ε 0.2 per resident per release, 6 per month at most (0.2 per day)")
	figures := section(t, body, "figures-heading")
	assert.Contains(t, figures, "Release 2026-10-03")
	assert.Contains(t, figures, `<th scope="col">PM2.5 (µg/m³)</th><th scope="col">Contributors</th>`)
	assert.Contains(t, figures, `<th scope="row">South Docks</th><td class="num"><span class="swatch b-good" aria-hidden="true"></span>8.2 <span class="band">good</span></td><td class="num">12</td>`)
	assert.Contains(t, figures, `<th scope="row">North Hill</th><td colspan="2" class="suppressed">`)
	assert.NotContains(t, figures, "61.5", "a reading the purpose did not ask for")
	assert.Contains(t, section(t, body, "releases-heading"), `<a href="/api/v1/purposes/daily-study?release=2026-10-03">2026-10-03</a>`)
}
