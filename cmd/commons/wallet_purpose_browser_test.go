package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/release"
)

// TestWalletPurposes is a resident deciding on a proposed purpose in the browser wallet, on
// a phone-sized chromium against the real binary: she approves, changes her mind and objects,
// approves again (the public counts follow each time, and the CLI with her wallet's backup
// finds her say already counted: the browser derives the same nullifier as Go); once the
// operator activates the purpose, the wallet lists it with its cost and she consents to it.
func TestWalletPurposes(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	data, home, downloads := t.TempDir(), t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	token := filepath.Join(data, "admin.token")
	invites := n.invites(2)
	organiser := cliOrganiser(t, n, data, filepath.Join(home, "organiser", "wallet"), invites[1])
	proposal := api.PurposeProposal{ID: "pm10-study", Version: 1,
		Title:       api.Text{EN: "Weekly PM10 study", FR: "Étude hebdomadaire des PM10"},
		Description: api.Text{EN: "The university publishes the weekly mean PM10 of each neighbourhood that agrees.", FR: "L'université publie la moyenne hebdomadaire des PM10 de chaque quartier qui accepte."},
		Requester:   "University of the demo city", Readings: []string{"pm10"}, Statistics: []string{"mean"},
		Grid: release.GridNeighbourhoodWeek, EpsilonRelease: 0.35, EpsilonMonth: 1.75, RetentionDays: 14,
		Start: "2026-01-05", End: "2036-01-04", Scope: []string{"old-town", "riverside"}, ApprovalsNeeded: 1, Deadline: "2035-12-31"}
	file := filepath.Join(home, "pm10.json")
	require.NoError(t, os.WriteFile(file, must(json.Marshal(proposal)), 0o600))
	_, err := n.cli(organiser, "purpose", "propose", "--file", file)
	require.NoError(t, err)

	bctx, requests := walletBrowser(t, ctx, downloads)
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}
	counts := func() api.NeighbourhoodApprovals {
		t.Helper()
		var p api.PublicPurpose
		fetchJSON(t, n.url+"/api/v1/purposes/pm10-study", &p)
		require.NotEmpty(t, p.Approvals)
		return p.Approvals[0]
	}

	openWalletPage(t, bctx, n.url+"/wallet?invite="+url.QueryEscape(invites[0]))
	do(chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")))
	backup := download(t, bctx, downloads, "#backup", "commons-wallet")
	do(chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")))
	card := text("#purpose-pm10-study")
	assert.Contains(t, card, "Weekly PM10 study")
	assert.Contains(t, card, "Asked by University of the demo city")
	assert.Contains(t, card, "proposed — your neighbourhood decides")
	assert.Contains(t, card, "costs ε 0.05 per day of your privacy budget")
	assert.NotContains(t, card, "Share", "no consent before the neighbourhood and the operator decide")

	do(chromedp.Click(chromedp.CSS("#approve-pm10-study")), chromedp.WaitNotPresent(chromedp.CSS("#approve-pm10-study")))
	assert.Equal(t, "Your say: you approve", text("#say-pm10-study"))
	assert.Equal(t, "Ciutat Vella: 1 approve, 0 object", text("#approvals-pm10-study-old-town"))
	assert.Equal(t, api.NeighbourhoodApprovals{Neighbourhood: "old-town", Approve: 1, Met: true}, counts())
	_, err = n.cli(backup, "purpose", "approve", "pm10-study")
	assert.ErrorContains(t, err, "already_approved", "the CLI derives the browser's nullifier")

	do(chromedp.Click(chromedp.CSS("#object-pm10-study")), chromedp.WaitNotPresent(chromedp.CSS("#object-pm10-study")))
	assert.Equal(t, "Your say: you object", text("#say-pm10-study"))
	assert.Equal(t, api.NeighbourhoodApprovals{Neighbourhood: "old-town", Object: 1}, counts(), "a change of mind, counted once")
	do(chromedp.Click(chromedp.CSS("#approve-pm10-study")), chromedp.WaitNotPresent(chromedp.CSS("#approve-pm10-study")))
	assert.Equal(t, api.NeighbourhoodApprovals{Neighbourhood: "old-town", Approve: 1, Met: true}, counts())

	_, err = n.cli("", "admin", "purpose", "activate", "pm10-study", "--admin-token-file", token)
	require.NoError(t, err)
	openWalletPage(t, bctx, n.url+"/wallet")
	card = text("#purpose-pm10-study")
	assert.Contains(t, card, "Status: active")
	do(chromedp.Click(chromedp.CSS("#grant-pm10-study")), chromedp.WaitVisible(chromedp.CSS("#revoke-pm10-study")))
	out, err := n.cli(backup, "consent", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "pm10-study (version 1): Weekly PM10 study")
	assert.Regexp(t, `status: active; costs ε 0.05 per day`, out)
	assert.Empty(t, requests.errors(), "no script error, no CSP violation")
}
