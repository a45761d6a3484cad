package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

// TestPurposeEndToEnd runs a second purpose through its whole life with the real binary: an
// organiser proposes a weekly PM10 study of old-town and riverside; old-town's residents
// approve it, riverside's do not reach the threshold; the operator activates it; old-town's
// residents consent and contribute, riverside's cannot consent; a consent that would take a
// resident past the daily ε cap across purposes is refused; its weekly release shows
// old-town alone and PM10 alone; the operator retires it, and its share copies and key are
// gone from the data folder, its consents lapsed, a new consent refused.
func TestPurposeEndToEnd(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n, clock, _ := startClockedNode(t)
	home := t.TempDir()
	token := filepath.Join(n.data, "admin.token")
	invites := n.invites(17)
	organiser := cliOrganiser(t, n, n.data, filepath.Join(home, "organiser", "wallet"), invites[16])

	day := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	proposal := api.PurposeProposal{ID: "pm10-study", Version: 1,
		Title:       api.Text{EN: "Weekly PM10 study", FR: "Étude hebdomadaire des PM10"},
		Description: api.Text{EN: "The university publishes the weekly mean PM10 of each neighbourhood that agrees.", FR: "L'université publie la moyenne hebdomadaire des PM10 de chaque quartier qui accepte."},
		Requester:   "University of the demo city", Readings: []string{"pm10"}, Statistics: []string{"mean"},
		Grid: release.GridNeighbourhoodWeek, EpsilonRelease: 0.35, EpsilonMonth: 1.75, RetentionDays: 14,
		Start: day.AddDate(0, 0, -7).Format(time.DateOnly), End: day.AddDate(1, 0, 0).Format(time.DateOnly),
		Scope: []string{"old-town", "riverside"}, ApprovalsNeeded: 10, Deadline: day.AddDate(0, 0, 9).Format(time.DateOnly)}
	file := filepath.Join(home, "pm10.json")
	require.NoError(t, os.WriteFile(file, must(json.MarshalIndent(proposal, "", "  ")), 0o600))
	out, err := n.cli(organiser, "purpose", "propose", "--file", file)
	require.NoError(t, err, out)
	assert.Contains(t, out, "purpose pm10-study proposed: ledger entry")

	// Twelve residents of old-town approve, and three of riverside, where a fourth objects.
	type res struct {
		wallet string
		hood   string
		lat    float64
		lon    float64
	}
	var rs []res
	count := map[string]int{}
	for _, r := range fixtures.Residents() {
		if want := map[string]int{"old-town": 12, "riverside": 4}[r.Neighbourhood]; count[r.Neighbourhood] < want {
			count[r.Neighbourhood]++
			rs = append(rs, res{filepath.Join(home, fmt.Sprintf("r%d", len(rs)), "wallet"), r.Neighbourhood, r.Lat, r.Lon})
		}
	}
	require.Len(t, rs, 16)
	for i, r := range rs {
		_, err := n.cli(r.wallet, "wallet", "init")
		require.NoError(t, err)
		_, err = n.cli(r.wallet, "register", "--invite", invites[i], "--neighbourhood", r.hood)
		require.NoError(t, err)
		verb := "approve"
		if i == len(rs)-1 {
			verb = "object"
		}
		out, err := n.cli(r.wallet, "purpose", verb, "pm10-study")
		require.NoError(t, err, out)
	}
	_, err = n.cli(rs[0].wallet, "purpose", "approve", "pm10-study")
	assert.ErrorContains(t, err, "already_approved")
	_, err = n.cli(rs[0].wallet, "consent", "grant", "--purpose", "pm10-study")
	assert.ErrorContains(t, err, "purpose_not_active", "no consent before the operator activates it")

	out, err = n.cli("", "purpose", "show", "pm10-study")
	require.NoError(t, err, out)
	assert.Contains(t, out, "pm10-study (version 1): proposed")
	assert.Regexp(t, `old-town\s+12 approve\s+0 object\s+met`, out)
	assert.Regexp(t, `riverside\s+3 approve\s+1 object\s+not met`, out)

	out, err = n.cli("", "purpose", "verify", "pm10-study")
	require.NoError(t, err, out)
	assert.Contains(t, out, "ok  recount: 16 choices, the last under each nullifier counted, all from its scope")
	assert.Contains(t, out, "ok  the published approvals and status equal the recount")

	out, err = n.cli("", "admin", "purpose", "activate", "pm10-study", "--admin-token-file", token)
	require.NoError(t, err, out)
	assert.Contains(t, out, "pm10-study (version 1): active")
	assert.Regexp(t, `old-town\s+12 approve\s+0 object\s+runs here`, out)
	keyFile := filepath.Join(n.data, "keys", "purposes", "pm10-study.v1.age")
	require.FileExists(t, keyFile)

	out, err = n.cli("", "purpose", "list")
	require.NoError(t, err, out)
	assert.Regexp(t, `air-quality/daily\s+version 1\s+active\s+ε 1 per day`, out)
	assert.Regexp(t, `pm10-study\s+version 1\s+active\s+ε 0.05 per day`, out)

	// Old-town's residents consent, seeing what it costs, and contribute; riverside's cannot.
	for i, r := range rs {
		out, err := n.cli(r.wallet, "consent", "grant", "--purpose", "pm10-study")
		if r.hood == "riverside" {
			assert.ErrorContains(t, err, "outside_scope", "riverside did not approve")
			continue
		}
		require.NoError(t, err, out)
		assert.Contains(t, out, "costs ε 0.05 per day of your privacy budget")
		var csv strings.Builder
		csv.WriteString("sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n")
		for h := 0; h < 24; h++ {
			fmt.Fprintf(&csv, "balcony,%s,%.6f,%.6f,%.2f,%.2f,14.5,70\n",
				day.Add(time.Duration(h)*time.Hour+17*time.Minute).Format(time.RFC3339), r.lat, r.lon, 20+float64(i), 9.5)
		}
		readings := filepath.Join(home, fmt.Sprintf("r%d.csv", i))
		require.NoError(t, os.WriteFile(readings, []byte(csv.String()), 0o600))
		out, err = n.cli(r.wallet, "contribute", readings, "--json")
		require.NoError(t, err, out)
		assert.Contains(t, out, `"imported": 24`)
	}

	// One budget across purposes: with the air purpose (ε 1 a day) and the study (0.05), a
	// daily PM2.5 purpose at 0.6 would take a resident past the node's cap of 1.5.
	daily := proposal
	daily.ID, daily.Grid, daily.Readings, daily.EpsilonRelease, daily.EpsilonMonth = "pm25-daily", "neighbourhood×day", []string{"pm2_5"}, 0.6, 18
	daily.Scope, daily.ApprovalsNeeded, daily.RetentionDays = []string{"old-town"}, 1, 3
	require.NoError(t, os.WriteFile(file, must(json.Marshal(daily)), 0o600))
	out, err = n.cli(organiser, "purpose", "propose", "--file", file)
	require.NoError(t, err, out)
	_, err = n.cli(rs[0].wallet, "purpose", "approve", "pm25-daily")
	require.NoError(t, err)
	_, err = n.cli("", "admin", "purpose", "activate", "pm25-daily", "--admin-token-file", token)
	require.NoError(t, err)
	out, err = n.cli(rs[0].wallet, "consent", "grant", "--purpose", "air-quality/daily")
	require.NoError(t, err, out)
	_, err = n.cli(rs[0].wallet, "consent", "grant", "--purpose", "pm25-daily")
	assert.ErrorContains(t, err, "budget_exceeded")
	assert.ErrorContains(t, err, "cap of ε = 1.5 per day")
	_, err = n.cli(rs[0].wallet, "consent", "revoke", "--purpose", "air-quality/daily")
	require.NoError(t, err)
	_, err = n.cli(rs[0].wallet, "consent", "grant", "--purpose", "pm25-daily")
	require.NoError(t, err, "0.05 + 0.6 fits")

	// The study's week closes: its release shows old-town alone, and PM10 alone.
	week, err := release.ISOWeek(day.Format(time.DateOnly))
	require.NoError(t, err)
	closes, err := release.WeekCloses(week, 2)
	require.NoError(t, err)
	clock.Set(max(time.Until(closes)+time.Second, 0))
	_, err = n.cli("", "admin", "release", "--admin-token-file", token)
	require.NoError(t, err)
	var view api.PublicPurpose
	fetchJSON(t, n.url+"/api/v1/purposes/pm10-study", &view)
	assert.Equal(t, []string{week}, view.Releases, "one weekly release, no daily one")
	var w release.AirWeek
	fetchJSON(t, n.url+"/api/v1/purposes/pm10-study?release="+week, &w)
	require.Len(t, w.Cells, 1, "only the neighbourhood that approved")
	assert.Equal(t, "old-town", w.Cells[0].Neighbourhood)
	for _, c := range append(w.Cells, w.City) {
		assert.Nil(t, c.PM25, "PM2.5 was not asked for")
		assert.Nil(t, c.Temperature)
		assert.Nil(t, c.Humidity)
	}
	assert.Empty(t, w.Hours)
	page := string(httpGet(t, n.url+"/purposes/pm10-study?lang=en"))
	assert.Contains(t, page, "Budget used so far: at most ε 0.35 per resident (releases: 1).")
	assert.Contains(t, page, `href="/api/v1/purposes/pm10-study?release=`+week+`"`)
	clock.Set(0)

	// The operator retires it: share copies deleted, key destroyed, both logged.
	out, err = n.cli("", "admin", "purpose", "retire", "pm10-study", "--reason", "the study is over", "--admin-token-file", token)
	require.NoError(t, err, out)
	assert.Contains(t, out, "pm10-study (version 1): retired")
	assert.Contains(t, out, "decided by the operator: the study is over")
	assert.Contains(t, out, "its share copies are deleted and its key destroyed (logged)")
	assert.NoFileExists(t, keyFile, "the key is destroyed")
	_, err = n.cli(rs[1].wallet, "consent", "revoke", "--purpose", "pm10-study")
	assert.ErrorContains(t, err, "no_consent", "the consents lapsed with the purpose")
	_, err = n.cli(rs[0].wallet, "consent", "grant", "--purpose", "pm10-study")
	assert.ErrorContains(t, err, "purpose_not_active")
	_, err = n.cli(organiser, "purpose", "retire", "pm10-study")
	assert.ErrorContains(t, err, "purpose_not_active")

	// The data folder holds no share copy of it; the node restarts, the purpose still retired.
	n.stop()
	db, err := store.OpenBadger(store.Options{Dir: filepath.Join(n.data, "badger"), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	require.NoError(t, err)
	copies, err := store.New(db, nil).ShareCopyCount("pm10-study")
	require.NoError(t, db.Close())
	require.NoError(t, err)
	assert.Zero(t, copies, "every share copy of the retired purpose is deleted")
	n = startNodeWithClock(t, n.data, n.logs, clock)
	fetchJSON(t, n.url+"/api/v1/purposes/pm10-study", &view)
	assert.Equal(t, api.StatusRetired, view.Status)
	assert.True(t, view.KeyDestroyed)
	assert.Equal(t, []string{week}, view.Releases, "its published release stays")
}
