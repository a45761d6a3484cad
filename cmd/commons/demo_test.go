package main

import (
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/release"
)

// TestDemoCity is `make run` on a fresh machine: serve --demo loads the demo city through the
// real client paths, publishes the month, and the public answers match what the fixtures
// predict.
func TestDemoCity(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("loads the whole demo city; skipped with -short")
	}
	start := time.Now()
	// Without the default soft memory limit (160 MiB): the demo's loader runs in the server
	// process and its heap wants about 1 GB, so under the limit the collector nearly doubles
	// the load's CPU (70 s against 38 s on the test machine). The limit only paces the
	// collector: what is loaded and released is the same.
	logs := &nodetest.Logs{}
	n := startNode(t, t.TempDir(), logs, "--demo", "--memory-limit", "0", "--signature-batch-every", "1h")
	t.Logf("demo city loaded and released in %s", time.Since(start).Round(time.Millisecond))
	seen := &responses{bodies: map[string][]byte{}}
	// Ready means published: the month is there as soon as the node says so.
	status, body := seen.get(t, n.url+"/readyz")
	require.Equal(t, http.StatusOK, status, string(body))
	defer checkOneLineLogs(t, logs)

	status, body = seen.get(t, n.url+"/api/v1/stats/air")
	require.Equal(t, http.StatusOK, status)
	var idx struct{ Epochs, Weeks []string }
	require.NoError(t, json.Unmarshal(body, &idx))
	require.Len(t, idx.Epochs, len(fixtures.Days()), "a month of releases")
	// The month ends on the latest closed day, yesterday: the fixtures' days moved by whole days.
	last, err := time.Parse(time.DateOnly, idx.Epochs[len(idx.Epochs)-1])
	require.NoError(t, err)
	assert.Equal(t, fixtures.LastDay(start), last, "the demo's month ends yesterday")
	offset := last.Sub(fixtures.Days()[len(fixtures.Days())-1])
	assert.GreaterOrEqual(t, len(idx.Weeks), 3, "every closed ISO week of the month has its weekly release")

	// Expected contributors per neighbourhood and day, from the fixtures' own plaintext. The
	// released counts carry Gaussian noise of σ about 13: ±70 is exceeded with probability
	// below 10⁻⁷ per cell.
	const slack = 70
	residents := fixtures.Residents()
	meansOfTheLargest := 0
	for _, day := range fixtures.Days() {
		want := map[string]int{}
		for _, r := range residents {
			if len(fixtures.Readings(r, day)) > 0 {
				want[r.Neighbourhood]++
			}
		}
		status, body := seen.get(t, n.url+"/api/v1/stats/air?day="+day.Add(offset).Format(time.DateOnly))
		require.Equal(t, http.StatusOK, status)
		d, err := release.ParseAirDay(body)
		require.NoError(t, err)
		require.Len(t, d.Cells, len(fixtures.Neighbourhoods()))
		assert.Contains(t, d.Noise, "Gaussian")
		for _, c := range d.Cells {
			n := want[c.Neighbourhood]
			switch {
			case c.Suppressed:
				assert.Less(t, n, d.K+slack, "%s on %s: only a cell near k may fall below it by noise", c.Neighbourhood, day)
			default:
				assert.InDelta(t, n, c.Contributors, slack, "%s on %s", c.Neighbourhood, day)
				if n < d.K {
					assert.Nil(t, c.PM25, "%s on %s: %d contributors never give a mean", c.Neighbourhood, day, n)
				}
				if c.Neighbourhood == "new-town" && c.PM25 != nil {
					meansOfTheLargest++
				}
			}
		}
	}
	assert.Greater(t, meansOfTheLargest, len(fixtures.Days())*9/10, "the largest neighbourhood's mean is precise enough on nearly every day")
	for _, week := range idx.Weeks {
		status, body := seen.get(t, n.url+"/api/v1/stats/air?week="+week)
		require.Equal(t, http.StatusOK, status, week)
		w, err := release.ParseAirWeek(body)
		require.NoError(t, err)
		assert.Len(t, w.Hours, release.HoursPerDay, week)
	}

	var ps []struct {
		ID         string
		Signatures int
	}
	status, body = seen.get(t, n.url+"/api/v1/petitions")
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &ps))
	signers := map[string]int{}
	for _, r := range residents {
		for _, p := range r.Petitions {
			signers[p]++
		}
	}
	require.Len(t, ps, len(fixtures.Petitions()))
	for _, p := range ps {
		assert.Equal(t, signers[p.ID], p.Signatures, p.ID)
		// Its signatures spread over its open days, as the node stamped them, not all today.
		status, body := seen.get(t, n.url+"/api/v1/petitions/"+p.ID)
		require.Equal(t, http.StatusOK, status, p.ID)
		var full api.PublicPetition
		require.NoError(t, json.Unmarshal(body, &full))
		require.NotEmpty(t, full.Timeline, p.ID)
		signed := 0
		for _, d := range full.Timeline {
			signed += d.Signed
		}
		assert.Equal(t, signers[p.ID], signed, p.ID)
		assert.GreaterOrEqual(t, len(full.Timeline), min(5, signers[p.ID]), "%s: its timeline spans several days", p.ID)
		assert.GreaterOrEqual(t, full.Timeline[0].Day, full.Opens.UTC().Format(time.DateOnly), "%s: no signature before it opens", p.ID)
		assert.LessOrEqual(t, full.Timeline[len(full.Timeline)-1].Day, time.Now().UTC().Format(time.DateOnly), p.ID)
	}
	// The second purpose: a university's weekly PM10 study, approved in old-town and riverside
	// only and activated there, with its weekly releases; and a proposal still open.
	var study api.PublicPurpose
	fetchJSON(t, n.url+"/api/v1/purposes/"+fixtures.PM10Study, &study)
	assert.Equal(t, api.StatusActive, study.Status)
	require.NotNil(t, study.Purpose)
	assert.Equal(t, []string{"old-town", "riverside"}, study.Purpose.Neighbourhoods)
	assert.GreaterOrEqual(t, len(study.Releases), 3, "every closed ISO week of the month")
	for _, week := range study.Releases {
		var w release.AirWeek
		fetchJSON(t, n.url+"/api/v1/purposes/"+fixtures.PM10Study+"?release="+week, &w)
		require.Len(t, w.Cells, 2, week)
		for _, c := range w.Cells {
			assert.Nil(t, c.PM25, "%s: the study asked for PM10 only", week)
		}
	}
	// Its page shows the latest week's figures: PM10 only, in its two neighbourhoods only, each
	// a mean or a dash (the noise is not seeded here; release.TestWeeklyPlanSpendsItsBudgetOnTheReadingsAskedFor
	// measures how often a mean is shown).
	page := string(httpGet(t, n.url+"/purposes/"+fixtures.PM10Study))
	from, to := strings.Index(page, `id="figures-heading"`), strings.Index(page, `id="releases-heading"`)
	require.True(t, from > 0 && to > from, "the page has its latest figures")
	figures := page[from:to]
	assert.Contains(t, figures, study.Releases[len(study.Releases)-1])
	assert.Contains(t, figures, "PM10 (µg/m³)")
	assert.NotContains(t, figures, "PM2.5", "the study asked for PM10 only")
	assert.NotContains(t, figures, "L&#39;Eixample", "nor does it run in new-town")
	for _, name := range []string{"Ciutat Vella", "La Ribera"} {
		assert.Regexp(t, `<th scope="row">`+name+`</th><td class="num">(\d+\.\d \(\d+\.\d–\d+\.\d\)|—)</td><td class="num">\d+</td>`, figures, name)
	}
	var heat api.PublicPurpose
	fetchJSON(t, n.url+"/api/v1/purposes/"+fixtures.HeatStudy, &heat)
	assert.Equal(t, api.StatusProposed, heat.Status)
	for _, page := range []string{"/", "/air", "/about/accuracy", "/petitions", "/ledger", "/purposes", "/purposes/" + fixtures.PM10Study} {
		status, _ := seen.get(t, n.url+page)
		assert.Equal(t, http.StatusOK, status, page)
	}

	// Loaded, the node serves with the operator's batches (here an hour): a new resident's
	// signature waits for its batch, though the demo's own were each appended at once.
	ctx := testContext(t)
	c := client.New(n.url)
	w := newResident(ctx, t, c, adminTokenOf(t, n.data), "island")
	all, err := c.Petitions(ctx)
	require.NoError(t, err)
	now := time.Now()
	i := slices.IndexFunc(all, func(p api.PublicPetition) bool {
		return !now.Before(p.Opens) && now.Before(p.Closes) && (len(p.Scope) == 0 || slices.Contains(p.Scope, "island"))
	})
	require.GreaterOrEqual(t, i, 0, "an open demo petition island may sign")
	s, err := c.SignPetition(ctx, w, all[i].ID, false, nil)
	require.NoError(t, err)
	assert.Equal(t, api.SignaturePending, s.Status)
}

// logLine is one line of the node's log: a slog text record, or one of the few lines the
// binary writes for a person ("commons: …").
var logLine = regexp.MustCompile(`^(time=\S+ level=(DEBUG|INFO|WARN|ERROR) msg=|commons: )`)

// checkOneLineLogs checks that every line a node logged is one whole record: no message spans
// lines or carries a literal \n, and Badger said nothing above debug level but on one line.
func checkOneLineLogs(t *testing.T, logs *nodetest.Logs) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		assert.Regexp(t, logLine, line, "one record per line")
		assert.NotContains(t, line, `\n`, "no literal newline in a record")
		assert.NotContains(t, line, "might be too small", "Badger's cache advice is debug only")
	}
}
