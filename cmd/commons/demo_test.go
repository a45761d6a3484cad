package main

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/dashboards/release"
	"github.com/commons-city/commons/fixtures"
)

// TestDemoCity is `make run` on a fresh machine: serve --demo loads the demo city through the
// real client paths, publishes the month, and the public answers match what the fixtures
// predict.
func TestDemoCity(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the whole demo city; skipped with -short")
	}
	start := time.Now()
	n := startNode(t, t.TempDir(), &syncBuffer{}, "--demo")
	t.Logf("demo city loaded and released in %s", time.Since(start).Round(time.Millisecond))
	seen := &responses{bodies: map[string][]byte{}}

	status, body := seen.get(t, n.url+"/api/v1/stats/air")
	require.Equal(t, http.StatusOK, status)
	var idx struct{ Epochs []string }
	require.NoError(t, json.Unmarshal(body, &idx))
	require.Len(t, idx.Epochs, len(fixtures.Days()), "a month of releases")

	// Expected contributors per neighbourhood and day, from the fixtures' own plaintext.
	residents := fixtures.Residents()
	for _, day := range fixtures.Days() {
		want := map[string]int{}
		for _, r := range residents {
			if len(fixtures.Readings(r, day)) > 0 {
				want[r.Neighbourhood]++
			}
		}
		status, body := seen.get(t, n.url+"/api/v1/stats/air?day="+day.Format(time.DateOnly))
		require.Equal(t, http.StatusOK, status)
		d, err := release.ParseAirDay(body)
		require.NoError(t, err)
		require.Len(t, d.Cells, len(fixtures.Neighbourhoods()))
		for _, c := range d.Cells {
			if want[c.Neighbourhood] < d.K {
				assert.True(t, c.Suppressed, "%s on %s has %d contributors", c.Neighbourhood, day, want[c.Neighbourhood])
				continue
			}
			assert.False(t, c.Suppressed, "%s on %s", c.Neighbourhood, day)
			assert.Equal(t, want[c.Neighbourhood], c.Contributors, "%s on %s", c.Neighbourhood, day)
		}
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
	}
	for _, page := range []string{"/", "/air", "/petitions", "/ledger"} {
		status, _ := seen.get(t, n.url+page)
		assert.Equal(t, http.StatusOK, status, page)
	}
}
