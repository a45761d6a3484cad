package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/server"
)

// The tests of this file replay issue 16's attacks of a hostile resident or organiser against
// the real binary: each attack is refused with its precise 4xx and stores nothing.

// uploadEnvelopes signs envelopes as w's resident and posts them; it returns the status and
// the error code ("" when accepted).
func uploadEnvelopes(t *testing.T, n *node, w *crypto.Wallet, envs []crypto.Envelope) (int, string) {
	t.Helper()
	signed, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(), Envelopes: envs})
	require.NoError(t, err)
	b, err := json.Marshal(signed)
	require.NoError(t, err)
	status, body := post(t, n.url+"/api/v1/contributions", "application/json", b)
	return status, errCode(body)
}

// fetchJSON decodes a GET answer of the node into out.
func fetchJSON(t *testing.T, url string, out any) {
	t.Helper()
	b := httpGet(t, url)
	require.NoError(t, json.Unmarshal(b, out), "%s", b)
}

// airRecipient reads the air purpose's recipient and the oldest day it accepts share copies for.
func airRecipient(t *testing.T, n *node) (age.Recipient, string) {
	t.Helper()
	var purposes []struct {
		ID          string `json:"id"`
		Recipient   string `json:"recipient"`
		AcceptsFrom string `json:"accepts_from"`
	}
	fetchJSON(t, n.url+"/api/v1/purposes", &purposes)
	require.Len(t, purposes, 1)
	require.Equal(t, fixtures.AirPurpose, purposes[0].ID)
	r, err := age.ParseX25519Recipient(purposes[0].Recipient)
	require.NoError(t, err)
	return r, purposes[0].AcceptsFrom
}

// TestShareCopiesOnlyForRecentDays replays finding 1: one upload of share copies dated from
// 1900 on, or from day 0001-01-01, made the node publish a release for each. Share copies are
// now accepted for the last --share-days days only: an upload holding an older one is refused
// whole (422 share_day_too_old) and stores nothing, the same day may still go to the
// resident's vault, and `commons contribute` keeps older days in the vault and names them.
func TestShareCopiesOnlyForRecentDays(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir(), &nodetest.Logs{})
	wallet, _ := gatewayResident(t, n)
	w, err := crypto.LoadWallet(wallet)
	require.NoError(t, err)
	air, acceptsFrom := airRecipient(t, n)

	today := time.Now().UTC().Truncate(24 * time.Hour)
	from := today.AddDate(0, 0, -server.DefaultShareDays).Format(time.DateOnly)
	assert.Equal(t, from, acceptsFrom, "the purpose list says from which day share copies are accepted")

	seal := func(day, purpose string) crypto.Envelope {
		t.Helper()
		var recipient age.Recipient = w.Recipient()
		if purpose != crypto.VaultPurpose {
			recipient = air
		}
		c, err := crypto.Seal([]byte(`{"version":1,"readings":[]}`), recipient)
		require.NoError(t, err)
		return crypto.Envelope{Day: day, Purpose: purpose, Ciphertext: c}
	}
	before := ledgerSize(t, n)
	var ancient []crypto.Envelope
	for y := 1900; y < 1900+40; y++ {
		day := time.Date(y, 3, 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
		ancient = append(ancient, seal(day, crypto.VaultPurpose), seal(day, fixtures.AirPurpose))
	}
	for name, envs := range map[string][]crypto.Envelope{
		"forty years from 1900":        ancient,
		"day one":                      {seal("0001-01-01", fixtures.AirPurpose)},
		"the day before the look-back": {seal(today.AddDate(0, 0, -server.DefaultShareDays-1).Format(time.DateOnly), fixtures.AirPurpose)},
		"a recent day and an old one":  {seal(today.Format(time.DateOnly), fixtures.AirPurpose), seal("2001-01-01", fixtures.AirPurpose)},
	} {
		status, code := uploadEnvelopes(t, n, w, envs)
		assert.Equal(t, http.StatusUnprocessableEntity, status, name)
		assert.Equal(t, "share_day_too_old", code, name)
	}
	assert.Equal(t, before, ledgerSize(t, n), "nothing refused is logged")

	// The first day of the look-back is shared; a day of 1900 is kept in the vault.
	status, code := uploadEnvelopes(t, n, w, []crypto.Envelope{seal(from, fixtures.AirPurpose)})
	assert.Equal(t, http.StatusCreated, status, code)
	status, code = uploadEnvelopes(t, n, w, []crypto.Envelope{seal("1900-03-01", crypto.VaultPurpose)})
	assert.Equal(t, http.StatusCreated, status, code)

	// Twenty days of a sensor's archive: the six before the look-back go to the vault only,
	// and the summary names them.
	archive := filepath.Join(t.TempDir(), "archive")
	require.NoError(t, os.MkdirAll(archive, 0o700))
	var older []string
	for d := 20; d >= 1; d-- {
		day := today.AddDate(0, 0, -d)
		archiveDay(t, archive, day)
		if day.Format(time.DateOnly) < from {
			older = append(older, day.Format(time.DateOnly))
		}
	}
	require.Len(t, older, 20-server.DefaultShareDays)
	out, err := n.cli(wallet, "contribute", archive, "--json")
	require.NoError(t, err, out)
	s := decodeSummary(t, out)
	assert.Equal(t, 20*24, s.Imported, "every reading is stored, in the vault at least")
	assert.Equal(t, older, s.VaultOnly)
	assert.Equal(t, len(older), s.VaultOnlyDays)

	// The releases published cover the look-back only.
	_, err = n.cli("", "admin", "release", "--admin-token-file", filepath.Join(n.data, "admin.token"))
	require.NoError(t, err)
	var released struct {
		Epochs []string `json:"epochs"`
	}
	fetchJSON(t, n.url+"/api/v1/stats/air", &released)
	require.NotEmpty(t, released.Epochs)
	for _, day := range released.Epochs {
		assert.GreaterOrEqual(t, day, from, "no release before the look-back")
	}
	assert.LessOrEqual(t, len(released.Epochs), server.DefaultShareDays+1)

	out, err = n.cli(wallet, "export", "--out", filepath.Join(t.TempDir(), "export"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 21 vault copies", "the twenty archive days and the day of 1900")
}

// TestEnvelopesAreSealedAndWithinQuota replays finding 2: envelopes that only started like
// age were stored, without bound per resident. The node now refuses, with not_sealed, bytes
// after age's first line that are no age header and a payload sealed to several recipients;
// with quota_exceeded an upload past the resident's --envelope-quota; each stores nothing,
// and the resident's export, streamed, holds what was accepted.
func TestEnvelopesAreSealedAndWithinQuota(t *testing.T) {
	t.Parallel()
	n := startNode(t, t.TempDir(), &nodetest.Logs{}, "--envelope-quota", "1")
	wallet, _ := gatewayResident(t, n)
	w, err := crypto.LoadWallet(wallet)
	require.NoError(t, err)
	air, _ := airRecipient(t, n)
	today := time.Now().UTC().Format(time.DateOnly)
	sealed := func(size int, rs ...age.Recipient) []byte {
		t.Helper()
		b, err := crypto.Seal(make([]byte, size), rs...)
		require.NoError(t, err)
		return b
	}

	for name, ct := range map[string][]byte{
		"the first line of age, then anything": []byte("age-encryption.org/v1\n" + `{"pm2_5":12}`),
		"sealed to two recipients":             sealed(100, w.Recipient(), air),
	} {
		status, code := uploadEnvelopes(t, n, w, []crypto.Envelope{{Day: today, Purpose: crypto.VaultPurpose, Ciphertext: ct}})
		assert.Equal(t, http.StatusUnprocessableEntity, status, name)
		assert.Equal(t, "not_sealed", code, name)
	}

	status, code := uploadEnvelopes(t, n, w, []crypto.Envelope{
		{Day: today, Purpose: crypto.VaultPurpose, Ciphertext: sealed(400<<10, w.Recipient())},
		{Day: today, Purpose: fixtures.AirPurpose, Ciphertext: sealed(400<<10, air)}})
	require.Equal(t, http.StatusCreated, status, code)
	status, code = uploadEnvelopes(t, n, w, []crypto.Envelope{
		{Day: time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly), Purpose: crypto.VaultPurpose, Ciphertext: sealed(300<<10, w.Recipient())}})
	assert.Equal(t, http.StatusForbidden, status)
	assert.Equal(t, "quota_exceeded", code, "800 KiB stored and 300 more are past 1 MiB")

	out, err := n.cli(wallet, "export", "--out", filepath.Join(t.TempDir(), "export"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 1 vault copy (", "the refused uploads stored nothing")
}

// TestPaperSignaturesWithinTheScopesPopulation replays finding 4: a petition with a threshold
// of 10 showed 3,000,000 paper signatures and 30,000,000 %. The node now refuses a paper count
// that would take the petition's paper total past the population of its scope (the grid's
// population property: 900 on the island, 24,000 in riverside), logs nothing for it, and
// publishes the paper share and a progress capped at 1000 %.
func TestPaperSignaturesWithinTheScopesPopulation(t *testing.T) {
	t.Parallel()
	data, home := t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	organiser := cliOrganiser(t, n, data, filepath.Join(home, "organiser", "wallet"), n.invites(1)[0])
	text := filepath.Join(home, "text.md")
	require.NoError(t, os.WriteFile(text, []byte("A ferry every hour."), 0o600))
	out, err := n.cli(organiser, "petition", "create", "--id", "ferry", "--title", "Ferry", "--text-file", text,
		"--scope", "island,riverside", "--threshold", "10")
	require.NoError(t, err, out)

	for _, count := range []string{"1000000", "1000000", "1000000"} {
		_, err = n.cli(organiser, "petition", "paper", "ferry", "--count", count)
		require.Error(t, err, "three million on paper in a scope of 24,900 residents")
		assert.Contains(t, err.Error(), "paper_exceeds_population")
	}
	before := ledgerSize(t, n)
	_, err = n.cli(organiser, "petition", "paper", "ferry", "--count", "24900")
	require.NoError(t, err, "up to the whole population of the scope")
	_, err = n.cli(organiser, "petition", "paper", "ferry", "--count", "1")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "paper_exceeds_population")
	assert.Equal(t, before+1, ledgerSize(t, n), "the refused counts logged nothing")

	var p struct {
		Paper           int `json:"paper"`
		Total           int `json:"total"`
		PaperPercent    int `json:"paper_percent"`
		ProgressPercent int `json:"progress_percent"`
	}
	fetchJSON(t, n.url+"/api/v1/petitions/ferry", &p)
	assert.Equal(t, 24900, p.Paper)
	assert.Equal(t, 24900, p.Total)
	assert.Equal(t, 100, p.PaperPercent)
	assert.Equal(t, 1000, p.ProgressPercent, "capped at ten times the threshold, not 249,000 %")
	resp, err := http.Get(n.url + "/petitions/ferry")
	require.NoError(t, err)
	page, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	assert.Contains(t, string(page), "Of them, 24900 on paper (100 %).")
}
