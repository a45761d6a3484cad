package purpose

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

func study() api.PurposeProposal {
	return api.PurposeProposal{ID: "pm10-study", Version: 1, Title: api.Text{EN: "PM10", FR: "PM10"},
		Description: api.Text{EN: "Weekly PM10.", FR: "Les PM10 de la semaine."}, Requester: "University",
		Readings: []string{"pm10"}, Statistics: []string{"mean"}, Grid: GridNeighbourhoodWeek, EpsilonRelease: 0.35,
		EpsilonMonth: 1.75, RetentionDays: 14, Start: "2026-05-11", End: "2027-05-10", Scope: []string{"a", "b"},
		ApprovalsNeeded: 2, Deadline: "2026-05-10"}
}

// TestCheckProposal: each rule of a proposal refuses what breaks it, naming the field or with
// its own error, and a proposal that keeps them all passes.
func TestCheckProposal(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	has := func(n string) bool { return n == "a" || n == "b" }
	require.NoError(t, CheckProposal(study(), has, now))
	daily := study()
	daily.Readings, daily.Grid, daily.EpsilonRelease, daily.EpsilonMonth = []string{"pm2_5"}, "neighbourhood×day", 0.1, 3
	require.NoError(t, CheckProposal(daily, has, now), "a daily PM2.5 release")
	assert.InDelta(t, 0.1, EpsilonPerDay(daily), 1e-12, "a daily release costs its ε every day")
	deadlineDay := study()
	deadlineDay.Deadline = "2026-05-04"
	require.NoError(t, CheckProposal(deadlineDay, has, now), "open through its deadline day")
	retention := study()
	retention.RetentionDays = 0
	assert.EqualError(t, CheckProposal(retention, has, now), "purpose: retention_days: 1 to 366 days",
		"the rule is named, never the value")
	for name, tc := range map[string]struct {
		edit func(*api.PurposeProposal)
		want error
		rule string
	}{
		"ε per release above 1":      {func(p *api.PurposeProposal) { p.EpsilonRelease = 1.01 }, ErrEpsilonCap, ""},
		"ε per month above 45":       {func(p *api.PurposeProposal) { p.EpsilonMonth = 46 }, ErrEpsilonCap, ""},
		"an end before the start":    {func(p *api.PurposeProposal) { p.End = "2026-05-01"; p.Deadline = "2026-04-30" }, ErrEndBeforeStart, ""},
		"an unknown neighbourhood":   {func(p *api.PurposeProposal) { p.Scope = []string{"a", "z"} }, ErrUnknownNeighbourhood, ""},
		"a neighbourhood twice":      {func(p *api.PurposeProposal) { p.Scope = []string{"a", "a"} }, nil, "scope"},
		"a past deadline":            {func(p *api.PurposeProposal) { p.Deadline = "2026-05-03" }, nil, "deadline"},
		"an unknown reading":         {func(p *api.PurposeProposal) { p.Readings = []string{"noise"} }, nil, "readings"},
		"a reading twice":            {func(p *api.PurposeProposal) { p.Readings = []string{"pm10", "pm10"} }, nil, "readings"},
		"an unknown grid":            {func(p *api.PurposeProposal) { p.Grid = "city×hour" }, nil, "grid"},
		"a month below its releases": {func(p *api.PurposeProposal) { p.EpsilonMonth = 1.7 }, nil, "epsilon_month"},
		"a daily PM10 release":       {func(p *api.PurposeProposal) { p.Grid = "neighbourhood×day"; p.EpsilonMonth = 10.5 }, nil, "readings"},
		"a week kept 7 days":         {func(p *api.PurposeProposal) { p.RetentionDays = 7 }, nil, "retention_days"},
		"no approvals needed":        {func(p *api.PurposeProposal) { p.ApprovalsNeeded = 0 }, nil, "approvals_needed"},
		"an id with capitals":        {func(p *api.PurposeProposal) { p.ID = "PM10" }, nil, "id"},
		"a petition's id":            {func(p *api.PurposeProposal) { p.ID = "petition/trees" }, nil, "id"},
		"no French title":            {func(p *api.PurposeProposal) { p.Title.FR = " " }, nil, "title"},
		"an id of 65 characters":     {func(p *api.PurposeProposal) { p.ID = strings.Repeat("a", 65) }, nil, "id"},
		"the air purpose's id":       {func(p *api.PurposeProposal) { p.ID = Air }, nil, "id"},
		"version 0":                  {func(p *api.PurposeProposal) { p.Version = 0 }, nil, "version"},
		"no English description":     {func(p *api.PurposeProposal) { p.Description.EN = "" }, nil, "description"},
		"no requester":               {func(p *api.PurposeProposal) { p.Requester = "\t" }, nil, "requester"},
		"no statistic":               {func(p *api.PurposeProposal) { p.Statistics = nil }, nil, "statistics"},
		"a median":                   {func(p *api.PurposeProposal) { p.Statistics = []string{"median"} }, nil, "statistics"},
		"ε per release of 0":         {func(p *api.PurposeProposal) { p.EpsilonRelease = 0 }, nil, "epsilon_release"},
		"a retention of 367 days":    {func(p *api.PurposeProposal) { p.RetentionDays = 367 }, nil, "retention_days"},
		"no scope":                   {func(p *api.PurposeProposal) { p.Scope = nil }, nil, "scope"},
		"a start that is no day":     {func(p *api.PurposeProposal) { p.Start = "11/05/2026" }, nil, "start"},
		"a deadline after the end":   {func(p *api.PurposeProposal) { p.Deadline = "2027-05-11" }, nil, "deadline"},
	} {
		p := study()
		tc.edit(&p)
		err := CheckProposal(p, has, now)
		if tc.want != nil {
			assert.ErrorIs(t, err, tc.want, name)
			continue
		}
		var inv *InvalidError
		if assert.True(t, errors.As(err, &inv), "%s: %v", name, err) {
			assert.Equal(t, tc.rule, inv.Field, name)
		}
	}
}

func TestParseProposalRefusesUnknownFieldsAndOtherEncodings(t *testing.T) {
	t.Parallel()
	b, err := CanonicalProposal(study())
	require.NoError(t, err)
	p, err := ParseProposal(b)
	require.NoError(t, err)
	assert.Equal(t, study(), p)
	_, err = ParseProposal(append([]byte(`{"budget":1,`), b[1:]...))
	assert.ErrorIs(t, err, ErrUnknownField)
	_, err = ParseProposal(append([]byte(`{ `), b[1:]...))
	assert.ErrorIs(t, err, api.ErrNotCanonical)
	_, err = ParseProposal([]byte(`[1]`))
	assert.ErrorIs(t, err, api.ErrMalformed)
}

// TestMetStatusAndCost: the threshold per neighbourhood (approvals reach it and outnumber the
// objections), the status a proposal's history gives, and a purpose's cost per day.
func TestMetStatusAndCost(t *testing.T) {
	t.Parallel()
	p := &state.Proposal{PurposeProposal: study(), Approve: map[string]int{"a": 2, "b": 3}, Object: map[string]int{"b": 3}}
	assert.Equal(t, []string{"a"}, Met(p), "b's objections are as many as its approvals")
	assert.Equal(t, api.StatusProposed, Status(p))
	assert.True(t, OpenOn(p, time.Date(2026, 5, 10, 23, 59, 0, 0, time.UTC)))
	assert.False(t, OpenOn(p, time.Date(2026, 5, 11, 0, 0, 0, 0, time.UTC)), "closed once its deadline day is over")
	p.Activated = true
	assert.Equal(t, api.StatusActive, Status(p))
	assert.False(t, OpenOn(p, time.Date(2026, 5, 5, 0, 0, 0, 0, time.UTC)), "closed once decided")
	p.Retired = &api.PurposeDecision{By: ByEnd}
	assert.Equal(t, api.StatusExpired, Status(p))
	p.Retired.By = ByProposer
	assert.Equal(t, api.StatusRetired, Status(p))
	p.Refused = &api.PurposeDecision{By: ByOperator}
	assert.Equal(t, api.StatusRefused, Status(p))

	assert.InDelta(t, 0.05, EpsilonPerDay(study()), 1e-12)
	assert.InDelta(t, 1, PolicyEpsilonPerDay(AirDaily("age1x")), 1e-12, "the built-in purpose: 0.8 + 0.2")
	d := Define(p, "age1x", []string{"a"})
	assert.InDelta(t, 0.05, PolicyEpsilonPerDay(d), 1e-12)
	assert.Equal(t, []string{"a"}, d.Neighbourhoods)
	assert.Equal(t, "2027-05-10", d.End)
}
