package main

import (
	"bufio"
	"bytes"
	"context"
	enc "encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
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
	n := startFreshNode(t)
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
	n := startFreshNode(t, "--envelope-quota", "1")
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
	home := t.TempDir()
	n := startFreshNode(t)
	organiser := cliOrganiser(t, n, n.data, filepath.Join(home, "organiser", "wallet"), n.invites(1)[0])
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

// hostileOrganiser registers a fresh wallet on n and has the operator grant it the organiser
// role, through the API.
func hostileOrganiser(t *testing.T, n *node, token string) *crypto.Wallet {
	t.Helper()
	ctx := testContext(t)
	c := client.New(n.url)
	w := newResident(ctx, t, c, token, "old-town")
	_, err := c.GrantOrganiser(ctx, token, w.CitizenID())
	require.NoError(t, err)
	return w
}

// newResident registers a fresh wallet living in hood, with an invite the operator makes, through
// the API.
func newResident(ctx context.Context, t testing.TB, c *client.Client, token, hood string) *crypto.Wallet {
	t.Helper()
	invites, err := c.Invites(ctx, token, 1)
	require.NoError(t, err)
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	_, err = c.Register(ctx, w, invites[0], hood)
	require.NoError(t, err)
	return w
}

// newOrganiser registers a fresh organiser (fixtures.NewOrganiser), with an invite the operator
// makes, through the API.
func newOrganiser(ctx context.Context, t testing.TB, c *client.Client, token string) *crypto.Wallet {
	t.Helper()
	invites, err := c.Invites(ctx, token, 1)
	require.NoError(t, err)
	w, err := fixtures.NewOrganiser(ctx, c, token, invites[0])
	require.NoError(t, err)
	return w
}

// signedDocument is an organiser's request to path: a statement of type typ about petition,
// signed over the exact bytes doc, sent beside it under key ("petition" or "paper").
func signedDocument(t *testing.T, w *crypto.Wallet, typ, petition, key string, doc []byte) []byte {
	t.Helper()
	s, err := w.SignStatement(crypto.Statement{Type: typ, Petition: petition, Document: crypto.DocumentHash(doc),
		IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	require.NoError(t, err)
	st, err := json.Marshal(s)
	require.NoError(t, err)
	// The document goes in verbatim: json.Marshal would keep its keys, but this says so.
	return []byte(strings.TrimSuffix(string(st), "}") + `,"` + key + `":` + string(doc) + "}")
}

// TestSignedDocumentsReadOneWay: an organiser's signed petition document or paper count that a
// reader could read two ways — a key given twice, a key in another case, a form other than the
// canonical encoding — is refused with its JSON 4xx, and nothing is logged: the paper count
// {"petition":"p","count":1,"COUNT":1000000} no longer counts a million. Statements sent with a
// repeated or differently-cased key are refused the same way. The canonical documents the
// client signs are accepted.
func TestSignedDocumentsReadOneWay(t *testing.T) {
	t.Parallel()
	n, token := startAdminNode(t)
	ctx := testContext(t)
	w := hostileOrganiser(t, n, token)
	c := client.New(n.url)
	now := time.Now().UTC().Truncate(time.Second)
	_, err := c.CreatePetition(ctx, w, api.Petition{ID: "p", Title: "Trees", Text: "More trees.", Scope: []string{"old-town"},
		Opens: now.Add(-time.Hour), Closes: now.Add(30 * 24 * time.Hour), Threshold: 10})
	require.NoError(t, err)

	sizeBefore, cpBefore := ledgerSize(t, n), checkpointOf(t, n)
	window := `"opens":"` + now.Add(-time.Hour).Format(time.RFC3339) + `","closes":"` + now.Add(30*24*time.Hour).Format(time.RFC3339) + `"`
	paper := n.url + "/api/v1/petitions/p/paper"
	cases := []struct {
		name, url, typ, petition, key, doc string
		status                             int
		code                               string
	}{
		{"a count in capitals beside the count", paper, crypto.TypePetitionPaper, "p", "paper",
			`{"petition":"p","count":1,"COUNT":1000000}`, 400, "ambiguous_json"},
		{"a count given twice", paper, crypto.TypePetitionPaper, "p", "paper",
			`{"petition":"p","count":1,"count":1000000}`, 400, "ambiguous_json"},
		{"a count in capitals alone", paper, crypto.TypePetitionPaper, "p", "paper",
			`{"petition":"p","Count":5}`, 400, "ambiguous_json"},
		{"keys out of order", paper, crypto.TypePetitionPaper, "p", "paper",
			`{"count":5,"petition":"p"}`, 422, "not_canonical"},
		{"an escaped letter", paper, crypto.TypePetitionPaper, "p", "paper",
			`{"petition":"\u0070","count":5}`, 422, "not_canonical"},
		{"an unknown field", paper, crypto.TypePetitionPaper, "p", "paper",
			`{"petition":"p","count":5,"extra":1}`, 400, "malformed_json"},
		{"a title given twice", n.url + "/api/v1/petitions", crypto.TypePetitionCreate, "q", "petition",
			`{"id":"q","title":"Trees","title":"Parking","text":"","scope":null,` + window + `,"threshold":10}`, 400, "ambiguous_json"},
		{"a title in capitals", n.url + "/api/v1/petitions", crypto.TypePetitionCreate, "q", "petition",
			`{"id":"q","title":"Trees","TITLE":"Parking","text":"","scope":null,` + window + `,"threshold":10}`, 400, "ambiguous_json"},
		{"an empty list that the encoding leaves out", n.url + "/api/v1/petitions", crypto.TypePetitionCreate, "q", "petition",
			`{"id":"q","title":"Trees","text":"","scope":null,` + window + `,"threshold":10,"ask":[]}`, 422, "not_canonical"},
	}
	for _, tc := range cases {
		status, body := sendRaw(t, http.MethodPost, tc.url, "application/json", "",
			signedDocument(t, w, tc.typ, tc.petition, tc.key, []byte(tc.doc)))
		assert.Equal(t, tc.status, status, "%s: %s", tc.name, body)
		assert.Equal(t, tc.code, jsonErrCode(t, body), tc.name)
	}

	// A statement whose envelope or fields repeat a key, or change a key's case.
	s, err := w.SignStatement(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily",
		PurposeVersion: 1, IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	require.NoError(t, err)
	st, err := json.Marshal(s)
	require.NoError(t, err)
	for name, body := range map[string]string{
		"a purpose in capitals": strings.Replace(string(st), `"purpose":`, `"PURPOSE":"other","purpose":`, 1),
		"a nonce given twice":   strings.Replace(string(st), `"nonce":`, `"nonce":"x","nonce":`, 1),
		"a Statement envelope":  strings.Replace(string(st), `"statement":`, `"Statement":`, 1),
	} {
		status, b := sendRaw(t, http.MethodPost, n.url+"/api/v1/statements", "application/json", "", []byte(body))
		assert.Equal(t, 400, status, "%s: %s", name, b)
		assert.Equal(t, "ambiguous_json", jsonErrCode(t, b), name)
	}

	assert.Equal(t, sizeBefore, ledgerSize(t, n), "nothing was logged")
	assert.Equal(t, string(cpBefore), string(checkpointOf(t, n)), "checkpoint")
	p, err := c.Petition(ctx, "p")
	require.NoError(t, err)
	assert.Equal(t, 0, p.Paper, "no paper signatures were counted")
	_, err = c.Petition(ctx, "q")
	assert.Error(t, err, "no petition q was created")

	// The canonical encoding, as the client signs it, is accepted.
	_, err = c.EnterPaper(ctx, w, api.Paper{Petition: "p", Count: 7, Note: "market <stall> & door"})
	require.NoError(t, err)
	p, err = c.Petition(context.Background(), "p")
	require.NoError(t, err)
	assert.Equal(t, 7, p.Paper)
}

// TestAdminGuessingThrottledOnEveryMethod: 700 wrong-token GETs to /api/v1/admin/backup meet
// 429 rate_limited, with a JSON body and Retry-After, after server.DefaultAdminFailureLimit
// failures; the lock-out then holds on every method and for every token, the right one
// included, so guesses made meanwhile are not even compared. (The minute's end, on the node's
// clock, is in server's TestAdminFailuresLockOutUntilTheWindowEnds.)
func TestAdminGuessingThrottledOnEveryMethod(t *testing.T) {
	t.Parallel()
	n, token := startAdminNode(t)
	sizeBefore := ledgerSize(t, n)

	counts := map[int]int{}
	for i := range 700 {
		status, body, header := adminRequest(t, http.MethodGet, n.url+"/api/v1/admin/backup", "wrong-"+strconv.Itoa(i))
		counts[status]++
		switch status {
		case 401:
			require.Equal(t, "unauthorized", jsonErrCode(t, body))
		case 429:
			require.Equal(t, "rate_limited", jsonErrCode(t, body))
			retry, err := strconv.Atoi(header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After %q", header.Get("Retry-After"))
			require.True(t, retry >= 1 && retry <= 60, "Retry-After %d", retry)
		default:
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	assert.Equal(t, map[int]int{401: server.DefaultAdminFailureLimit, 429: 700 - server.DefaultAdminFailureLimit}, counts)

	for _, r := range []struct{ method, path, token string }{
		{http.MethodDelete, "/api/v1/admin/organisers/c-nobody", "wrong"},
		{http.MethodPost, "/api/v1/admin/releases", ""},
		{http.MethodGet, "/api/v1/admin/backup", token},
	} {
		status, body, _ := adminRequest(t, r.method, n.url+r.path, r.token)
		assert.Equal(t, 429, status, "%s %s while locked out: %s", r.method, r.path, body)
		assert.Equal(t, "rate_limited", jsonErrCode(t, body))
	}
	assert.Equal(t, sizeBefore, ledgerSize(t, n), "nothing was logged")
}

// adminRequest sends one bodiless admin request with token (none if "") and returns the
// status, the body and the headers.
func adminRequest(t *testing.T, method, url, token string) (int, []byte, http.Header) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b, resp.Header
}

// TestMetricsOnlyOnTheirOwnListener: the public address answers /metrics with a JSON 404 and
// no series, while the metrics listener (--metrics-addr, loopback by default) serves them; an
// empty --metrics-addr serves none, and a busy one stops the node with what to do.
func TestMetricsOnlyOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	host, _, err := net.SplitHostPort(defaultServeConfig().MetricsAddr)
	require.NoError(t, err)
	assert.True(t, net.ParseIP(host).IsLoopback(), "metrics listen on loopback by default, not %s", host)

	n := startFreshNode(t)
	status, body := sendRaw(t, http.MethodGet, n.url+"/metrics", "", "", nil)
	assert.Equal(t, 404, status, "the public address serves no metrics: %.200s", body)
	assert.Equal(t, "not_found", jsonErrCode(t, body))
	assert.NotContains(t, string(body), "commons_")

	status, body = sendRaw(t, http.MethodGet, n.metricsURL(), "", "", nil)
	assert.Equal(t, 200, status)
	assert.Contains(t, string(body), `commons_contributions_total{result="accepted"} 0`)
	assert.Contains(t, string(body), `commons_http_requests_total{method="GET",route="(unmatched)",status="404"} 1`,
		"the public /metrics was counted as a path no route matches")
	status, body = sendRaw(t, http.MethodGet, strings.TrimSuffix(n.metricsURL(), "/metrics")+"/api/v1/purposes", "", "", nil)
	assert.Equal(t, 404, status, "the metrics listener serves nothing else")
	assert.Equal(t, "not_found", jsonErrCode(t, body))

	// A busy metrics address stops the node before it serves anything.
	busy := strings.TrimSuffix(strings.TrimPrefix(n.metricsURL(), "http://"), "/metrics")
	out, err := runBinary(t, nil, "serve", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--metrics-addr", busy)
	require.Error(t, err, out)
	assert.Contains(t, out, "refusing to start: --metrics-addr "+busy)
	assert.Contains(t, out, `--metrics-addr "" to serve no metrics`)

	logs := &nodetest.Logs{}
	off := startNode(t, t.TempDir(), logs, "--metrics-addr", "")
	assert.Contains(t, logs.String(), "metrics: not served")
	assert.NotContains(t, logs.String(), "serving metrics")
	status, _ = sendRaw(t, http.MethodGet, off.url+"/metrics", "", "", nil)
	assert.Equal(t, 404, status)
}

// TestSecondNodeOnOneDataDir: a second `commons serve` on a data directory a node is serving
// refuses to start in Commons' words — which process holds it (pid, URL) and what to do —
// not Badger's "Cannot acquire directory lock", and leaves the first node serving. Once the
// first stops, even by kill -9, the directory is free again.
func TestSecondNodeOnOneDataDir(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	data := t.TempDir()
	first := startNode(t, data, &nodetest.Logs{})

	out, err := runBinary(t, nil, "serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "")
	require.Error(t, err, out)
	assert.Contains(t, out, "refusing to start: "+data+" is in use by another Commons node (pid "+strconv.Itoa(first.cmd.Process.Pid)+", ")
	assert.Contains(t, out, "serving "+first.url+"/")
	assert.Contains(t, out, "stop that node first")
	assert.Contains(t, out, "or start this one with another --data")
	assert.NotContains(t, out, "Cannot acquire directory lock")
	assert.Positive(t, ledgerSize(t, first), "the first node still serves")
	t.Logf("the second node says: %s", out)

	require.NoError(t, first.cmd.Process.Kill())
	first.cmd.Wait()
	second := startNode(t, data, &nodetest.Logs{})
	assert.Positive(t, ledgerSize(t, second), "the second node serves the same ledger")
}

// TestConnectionCapAnswersJSON: beyond --max-connections, every refused connection — twenty at
// once here — is answered 503 with the JSON error body (code unavailable), Retry-After and the
// nosniff header, never fasthttp's plain text, while the held connections are still served.
func TestConnectionCapAnswersJSON(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t, "--max-connections", "3")
	addr := strings.TrimPrefix(n.url, "http://")
	deadline := testDeadline(t)
	var held []net.Conn
	for range 3 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		held = append(held, c)
	}
	// The node has accepted the three held connections once it serves a request on each.
	for _, c := range held {
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(deadline)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		require.Equal(t, 200, resp.StatusCode)
	}
	type answer struct {
		status int
		body   []byte
		header http.Header
		err    error
	}
	answers := make(chan answer, 20)
	for range 20 {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			defer c.Close()
			c.SetReadDeadline(deadline)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				answers <- answer{err: err}
				return
			}
			b, err := io.ReadAll(resp.Body)
			answers <- answer{resp.StatusCode, b, resp.Header, err}
		}()
	}
	for range 20 {
		a := <-answers
		require.NoError(t, a.err)
		assert.Equal(t, 503, a.status, "%s", a.body)
		assert.Equal(t, "unavailable", jsonErrCode(t, a.body))
		assert.Equal(t, "application/json", a.header.Get("Content-Type"))
		assert.Equal(t, "1", a.header.Get("Retry-After"))
		assert.Equal(t, "nosniff", a.header.Get("X-Content-Type-Options"))
	}
	fmt.Fprint(held[0], "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(held[0]), nil)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode, "a held connection is still served")
}

// TestAdminReleasesReadsItsBody: POST /api/v1/admin/releases takes an empty body or {} (what
// `commons admin release` sends); a body with fields, malformed JSON or another content type
// is refused with the JSON 4xx of any other endpoint, and runs nothing.
func TestAdminReleasesReadsItsBody(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t)
	token := adminTokenOf(t, n.data)
	url := n.url + "/api/v1/admin/releases"
	for _, b := range []struct {
		name, ctype, body string
		status            int
		code              string
	}{
		{"a day to release", "application/json", `{"day":"1900-01-01"}`, 400, "malformed_json"},
		{"malformed JSON", "application/json", `{"purpose":`, 400, "malformed_json"},
		{"a repeated key", "application/json", `{"a":1,"a":2}`, 400, "malformed_json"},
		{"an array", "application/json", `[]`, 400, "malformed_json"},
		{"plain text", "text/plain", `release everything`, 415, "unsupported_media_type"},
	} {
		status, body := sendRaw(t, http.MethodPost, url, b.ctype, token, []byte(b.body))
		assert.Equal(t, b.status, status, "%s: %s", b.name, body)
		assert.Equal(t, b.code, jsonErrCode(t, body), b.name)
	}
	for _, b := range []struct{ ctype, body string }{{"application/json", `{}`}, {"application/json", ` { } `}, {"", ""}} {
		status, body := sendRaw(t, http.MethodPost, url, b.ctype, token, []byte(b.body))
		assert.Equal(t, 200, status, "%q: %s", b.body, body)
		assert.JSONEq(t, `{"published":0}`, string(body))
	}
	out, err := n.cli("", "admin", "release", "--admin-token-file", filepath.Join(n.data, "admin.token"))
	assert.NoError(t, err, "commons admin release still works: %s", out)
}

// TestNullifierSquattingIsImpossible checks what a petition nullifier is bound to since issue
// 15: the hash of a key only the resident's wallet derives for the petition, with a token the
// node issued blind over that key. No one signs or withdraws under a nullifier without its
// key — not with the victim's public key and token copied from the ledger, not with a token of
// their own — so no one can take a resident's place before or after she signs.
func TestNullifierSquattingIsImpossible(t *testing.T) {
	t.Parallel()
	n, token := startAdminNode(t)
	ctx := testContext(t)
	c := client.New(n.url)
	organiser := hostileOrganiser(t, n, token)
	now := time.Now().UTC().Truncate(time.Second)
	for _, id := range []string{"squat", "guarded"} {
		_, err := c.CreatePetition(ctx, organiser, api.Petition{ID: id, Title: id, Scope: []string{"old-town"},
			Opens: now.Add(-time.Hour), Closes: now.Add(30 * 24 * time.Hour), Threshold: 10})
		require.NoError(t, err)
	}
	invites, err := c.Invites(ctx, token, 2)
	require.NoError(t, err)
	var victim, attacker *crypto.Wallet
	for i, w := range []**crypto.Wallet{&victim, &attacker} {
		*w, err = crypto.NewWallet()
		require.NoError(t, err)
		_, err = c.Register(ctx, *w, invites[i], "old-town")
		require.NoError(t, err)
	}
	send := func(petition string, r api.SignatureRequest) (int, string) {
		b, err := json.Marshal(r)
		require.NoError(t, err)
		status, body := sendRaw(t, http.MethodPost, n.url+"/api/v1/petitions/"+petition+"/signatures", "application/json", "", b)
		if status >= 400 {
			return status, jsonErrCode(t, body)
		}
		return status, ""
	}
	// act is an act signed by signer's key for the petition but naming key (the victim's, when
	// the attacker copies it), spending tok.
	act := func(signer *crypto.Wallet, key, typ, petition string, randomizer, tok []byte) api.SignatureRequest {
		k, err := signer.PetitionKey(petition)
		require.NoError(t, err)
		a, sig, err := crypto.SignAct(k, crypto.PetitionAct{Petition: petition, Type: typ})
		require.NoError(t, err)
		if key == "" {
			key = a.Key
		}
		return api.SignatureRequest{Type: typ, Petition: petition, Key: key, Signature: sig, Randomizer: randomizer, Token: tok}
	}
	online := func(petition string) int {
		p, err := c.Petition(ctx, petition)
		require.NoError(t, err)
		return p.Signatures
	}
	assert.NotEqual(t, victim.Nullifier("squat"), attacker.Nullifier("squat"), "each wallet derives its own nullifier")

	// Once she signed, her nullifier, key and token are public in the ledger, and serve no one.
	signed, err := c.SignPetition(ctx, victim, "guarded", false, nil)
	require.NoError(t, err)
	_, raw := sendRaw(t, http.MethodGet, fmt.Sprintf("%s/api/v1/ledger/entries/%d", n.url, signed.Receipt.Index), "", "", nil)
	e, err := api.ParseEntry(raw)
	require.NoError(t, err)
	require.Equal(t, victim.Nullifier("guarded"), e.Nullifier)
	status, code := send("guarded", act(attacker, e.SigningKey, crypto.TypePetitionSign, "guarded", e.Randomizer, e.Token))
	assert.Equal(t, 401, status, "her key and token, signed with another key")
	assert.Equal(t, "bad_signature", code)
	status, code = send("guarded", act(attacker, "", crypto.TypePetitionSign, "guarded", e.Randomizer, e.Token))
	assert.Equal(t, 403, status, "her token under another key")
	assert.Equal(t, "invalid_token", code)
	status, code = send("guarded", act(attacker, e.SigningKey, crypto.TypePetitionWithdraw, "guarded", nil, nil))
	assert.Equal(t, 401, status, "no one withdraws her signature without her key")
	assert.Equal(t, "bad_signature", code)
	assert.Equal(t, 1, online("guarded"))
	_, err = c.SignPetition(ctx, victim, "guarded", true, nil)
	require.NoError(t, err, "she withdraws her own signature")
	assert.Equal(t, 0, online("guarded"))

	// Signing first does not take her place: the attacker's token and key give his own
	// nullifier, and she signs after him.
	_, err = c.SignPetition(ctx, attacker, "squat", false, nil)
	require.NoError(t, err)
	_, err = c.SignPetition(ctx, victim, "squat", false, nil)
	require.NoError(t, err, "her nullifier was never his to take")
	assert.Equal(t, 2, online("squat"))
	_, err = c.SignPetition(ctx, attacker, "squat", false, nil)
	assert.ErrorContains(t, err, "already_signed", "and he signs once")
}

// startAdminNode starts the real binary on a fresh data directory and returns it with its
// admin token.
func startAdminNode(t *testing.T) (*node, string) {
	t.Helper()
	needsBinary(t)
	n := startFreshNode(t)
	return n, adminTokenOf(t, n.data)
}

// TestBadInputBattery sends every kind of bad input to every write endpoint of the real
// binary, and a few traversal attempts to the read endpoints: each gets its precise 4xx with
// the JSON error body, the server answers /healthz after each, and the ledger (size and
// checkpoint) is byte-identical before and after the whole battery. Malformed HTTP (a garbage
// request line, a 20 kB header, a negative Content-Length, a bad chunk) is refused by fasthttp
// before routing, still with the JSON body. A slowloris client runs alongside: the server's
// 30 s read timeout answers it 408 and closes it while everyone else is served.
func TestBadInputBattery(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t)
	token := adminTokenOf(t, n.data)
	ctx := context.Background()

	// One registered resident, so that signed-but-tampered statements reach the signature check.
	c := client.New(n.url)
	w := newResident(ctx, t, c, token, "old-town")
	signed := func() []byte {
		s, err := w.SignStatement(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily",
			PurposeVersion: 1, IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
		require.NoError(t, err)
		b, err := json.Marshal(s)
		require.NoError(t, err)
		return b
	}()
	require.Contains(t, string(signed), `"nonce":"`)

	sizeBefore, cpBefore := ledgerSize(t, n), checkpointOf(t, n)

	// The slowloris: headers, then one body byte every 500 ms. It runs during the battery.
	slow := make(chan slowResult, 1)
	go func() { slow <- slowloris(n.url) }()

	nested := []byte(strings.Repeat("[", 10000) + strings.Repeat("]", 10000))
	nestedObj := []byte(strings.Repeat(`{"statement":`, 10000) + strings.Repeat("}", 10000))
	resident := []string{"/api/v1/citizens", "/api/v1/statements", "/api/v1/contributions", "/api/v1/vault",
		"/api/v1/petitions", "/api/v1/petitions/trees/paper"}
	admin := []string{"/api/v1/admin/invites", "/api/v1/admin/organisers"}

	type bad struct {
		name, ctype string
		body        []byte
		status      int
		code        string
	}
	common := []bad{
		{"empty body", "application/json", nil, 400, "malformed_json"},
		{"malformed json", "application/json", []byte(`{"statement":`), 400, "malformed_json"},
		{"truncated signed statement", "application/json", signed[:len(signed)/2], 400, "malformed_json"},
		{"trailing data", "application/json", append(append([]byte{}, signed...), signed...), 400, "malformed_json"},
		{"not an object", "application/json", []byte(`"statement"`), 400, "malformed_json"},
		{"null literal inside garbage", "application/json", []byte(`{nul}`), 400, "malformed_json"},
		{"NaN literal", "application/json", []byte(`{"count":NaN,"statement":NaN}`), 400, "malformed_json"},
		{"Infinity literal", "application/json", []byte(`{"count":Infinity,"statement":-Infinity}`), 400, "malformed_json"},
		{"10,000 nested arrays", "application/json", nested, 400, "malformed_json"},
		{"10,000 nested objects", "application/json", nestedObj, 400, "malformed_json"},
		{"wrong content type", "text/plain", signed, 415, "unsupported_media_type"},
		{"form content type", "application/x-www-form-urlencoded", []byte("count=1"), 415, "unsupported_media_type"},
		{"no content type", "", signed, 415, "unsupported_media_type"},
	}
	residentBad := append(append([]bad{}, common...),
		bad{"wrong types", "application/json", []byte(`{"statement":"grant","signature":5}`), 400, "malformed_json"},
		bad{"huge number", "application/json", []byte(`{"statement":{"purpose_version":1e400},"signature":""}`), 400, "malformed_json"},
		bad{"huge integer", "application/json", []byte(`{"statement":{"purpose_version":184467440737095516150},"signature":""}`), 400, "malformed_json"},
		bad{"unknown field", "application/json", []byte(`{"statement":{},"signature":"","x":1}`), 400, "malformed_json"},
	)
	// Invalid UTF-8: Go's decoder replaces it with U+FFFD, and what follows depends on the
	// endpoint's checks, each of which must refuse it.
	utf8Unknown := []byte("{\"statement\":{\"citizen\":\"\xff\xfe\"},\"signature\":\"\"}")
	utf8Signed := bytes.Replace(signed, []byte(`"nonce":"`), []byte("\"nonce\":\"\xff\xc0"), 1)
	perEndpoint := map[string][]bad{
		"/api/v1/citizens": {
			{"invalid UTF-8, unknown citizen", "application/json", utf8Unknown, 422, "wrong_type"},
			{"invalid UTF-8 in a signed statement", "application/json", utf8Signed, 422, "wrong_type"},
		},
		"/api/v1/statements": {
			{"invalid UTF-8, unknown citizen", "application/json", utf8Unknown, 404, "unknown_citizen"},
			{"invalid UTF-8 in a signed statement", "application/json", utf8Signed, 422, "invalid_field"},
		},
		"/api/v1/vault": {
			{"invalid UTF-8, unknown citizen", "application/json", utf8Unknown, 404, "unknown_citizen"},
			{"invalid UTF-8 in a signed statement", "application/json", utf8Signed, 422, "invalid_field"},
		},
		"/api/v1/contributions": { // a statement is not a contribution's shape
			{"invalid UTF-8, unknown citizen", "application/json", utf8Unknown, 400, "malformed_json"},
			{"invalid UTF-8 in a signed statement", "application/json", utf8Signed, 400, "malformed_json"},
		},
	}
	adminBad := append(append([]bad{}, common...),
		bad{"wrong types", "application/json", []byte(`{"count":"five","id":5,"threshold":"x"}`), 400, "malformed_json"},
		bad{"huge number", "application/json", []byte(`{"count":1e400,"threshold":1e400}`), 400, "malformed_json"},
		bad{"huge integer", "application/json", []byte(`{"count":184467440737095516150,"threshold":184467440737095516150}`), 400, "malformed_json"},
		bad{"unknown field", "application/json", []byte(`{"x":1}`), 400, "malformed_json"},
	)

	healthy := func(what string) {
		t.Helper()
		resp, err := http.Get(n.url + "/healthz")
		require.NoError(t, err, "server down after %s", what)
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		require.Equal(t, 200, resp.StatusCode, "healthz after %s", what)
	}
	check := func(path, tok string, b bad) {
		t.Helper()
		status, body := sendRaw(t, http.MethodPost, n.url+path, b.ctype, tok, b.body)
		what := fmt.Sprintf("POST %s: %s", path, b.name)
		assert.Equal(t, b.status, status, "%s: %s", what, body)
		assert.Equal(t, b.code, jsonErrCode(t, body), "%s: %s", what, body)
		healthy(what)
	}
	for _, p := range resident {
		for _, b := range append(residentBad, perEndpoint[p]...) {
			check(p, "", b)
		}
	}
	for _, p := range admin {
		for _, b := range adminBad {
			check(p, token, b)
		}
	}
	// Without the token, the admin endpoints refuse before reading the body.
	for _, p := range append(admin, "/api/v1/admin/releases") {
		for _, b := range adminBad {
			check(p, "", bad{b.name + " (no token)", b.ctype, b.body, 401, "unauthorized"})
		}
	}
	// POST /api/v1/admin/releases takes an empty body or {}: any other is refused as on the
	// other admin endpoints (TestAdminReleasesReadsItsBody has the accepted ones).
	for _, b := range adminBad {
		if len(b.body) > 0 {
			check("/api/v1/admin/releases", token, b)
		}
	}

	// An oversized body on every write endpoint is refused from its Content-Length, before it is
	// read (a raw connection sends only the headers, so the refusal does not race the upload).
	for _, p := range append(append(resident, admin...), "/api/v1/admin/releases") {
		// The headers announce a body of 5 MiB and none of it is sent.
		status, body, _ := rawRequest(t, n.url, fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n"+
			"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", p, token, 5<<20))
		assert.Equal(t, 413, status, "oversized %s: %s", p, body)
		assert.Equal(t, "body_too_large", jsonErrCode(t, body), "oversized %s", p)
		healthy("oversized " + p)
	}

	// Requests fasthttp refuses itself, before routing: fiber's error handler still answers
	// them with the JSON error body and the security headers (no request id: none was made),
	// and closes the connection.
	for _, r := range []struct {
		name, raw string
		status    int
		code      string
	}{
		{"garbage request line", "GARBAGE\r\n\r\n", 400, "bad_request"},
		{"20 kB header", "GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 20000) + "\r\n\r\n", 431, "headers_too_large"},
		{"negative Content-Length", "POST /api/v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: -5\r\n\r\n", 400, "bad_request"},
		{"bad chunk size", "POST /api/v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n\r\n", 400, "bad_request"},
	} {
		status, body, header := rawRequest(t, n.url, r.raw)
		assert.Equal(t, r.status, status, "%s: %s", r.name, body)
		assert.Equal(t, r.code, jsonErrCode(t, body), r.name)
		assert.Contains(t, header.Get("Content-Security-Policy"), "script-src 'none'", r.name)
		assert.Equal(t, "nosniff", header.Get("X-Content-Type-Options"), r.name)
		healthy(r.name)
	}

	// Traversal and odd ids on the read side.
	for _, g := range []struct {
		path   string
		status int
		code   string
	}{
		{"/api/v1/petitions/..%2f..%2fetc", 404, "unknown_petition"},
		{"/api/v1/petitions/..%2f..%2fetc%2fpasswd", 404, "unknown_petition"},
		{"/api/v1/petitions/%00", 404, "unknown_petition"},
		{"/api/v1/ledger/entries/-1", 404, "not_found"},
		{"/api/v1/ledger/entries/18446744073709551616", 404, "not_found"},
		{"/api/v1/ledger/entries/..%2f..%2fetc", 404, "not_found"},
		{"/api/v1/ledger/entries/99999", 404, "not_found"},
		{"/ledger/tile/../../x", 404, "not_found"},
		{"/ledger/tile/0/..%2f..%2fetc", 404, "not_found"},
		{"/ledger/tile/0/x000/001", 404, "not_found"},
		{"/ledger/tile/64/000", 404, "not_found"},
		{"/api/v1/stats/air?day=..%2f..%2fetc", 404, "not_found"},
		{"/api/v1/ledger/proof/inclusion?index=-1&size=1e400", 422, "invalid_field"},
	} {
		status, body := sendRaw(t, http.MethodGet, n.url+g.path, "", "", nil)
		assert.Equal(t, g.status, status, "GET %s: %s", g.path, body)
		assert.Equal(t, g.code, jsonErrCode(t, body), "GET %s: %s", g.path, body)
		healthy("GET " + g.path)
	}

	// The slowloris is cut off by the read timeout, and the server is still up.
	r := <-slow
	require.NoError(t, r.err)
	t.Logf("slowloris: sent %d body bytes over %s before the server closed the connection; answer %q", r.sent, r.took.Round(time.Second), r.answer)
	assert.Less(t, r.took, 40*time.Second, "the read timeout (30 s) ends a slow body")
	assert.Less(t, r.sent, 100, "the body was never completed")
	assert.True(t, strings.HasPrefix(r.answer, "HTTP/1.1 408 "), "a 408: %q", r.answer)
	assert.Contains(t, r.answer, `"code":"timeout"`)
	healthy("slowloris")

	// Nothing stored changed.
	assert.Equal(t, sizeBefore, ledgerSize(t, n), "ledger size")
	assert.Equal(t, string(cpBefore), string(checkpointOf(t, n)), "checkpoint")
}

// sendRaw sends one request and returns the status and body.
func sendRaw(t *testing.T, method, url, ctype, token string, body []byte) (int, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(testContext(t), method, url, bytes.NewReader(body))
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err, "%s %s", method, url)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

// jsonErrCode is the code of a JSON error body, failing the test on any other body.
func jsonErrCode(t *testing.T, body []byte) string {
	t.Helper()
	var out map[string]any
	if !assert.NoError(t, json.Unmarshal(body, &out), "not a JSON error body: %q", body) {
		return ""
	}
	return errCode(out)
}

// rawRequest writes raw bytes on a new connection and reads the one answer.
func rawRequest(t *testing.T, base, raw string) (int, []byte, http.Header) {
	t.Helper()
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	require.NoError(t, err)
	defer conn.Close()
	_, err = io.WriteString(conn, raw)
	require.NoError(t, err)
	conn.SetReadDeadline(testDeadline(t))
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b, resp.Header
}

type slowResult struct {
	sent   int
	took   time.Duration
	answer string
	err    error
}

// slowloris sends a statement's headers, then one body byte every 500 ms, until the server
// closes the connection (or 60 s pass).
func slowloris(base string) slowResult {
	conn, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		return slowResult{err: err}
	}
	defer conn.Close()
	start := time.Now()
	fmt.Fprintf(conn, "POST /api/v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n")
	closed := make(chan string, 1)
	go func() {
		b, _ := io.ReadAll(conn) // until the server closes
		closed <- string(b)
	}()
	sent := 0
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case answer := <-closed:
			return slowResult{sent: sent, took: time.Since(start), answer: answer}
		case <-tick.C:
			if time.Since(start) > 60*time.Second {
				return slowResult{sent: sent, took: time.Since(start), err: fmt.Errorf("the server kept a slow body open for 60 s")}
			}
			if _, err := conn.Write([]byte("{")); err == nil {
				sent++
			}
		}
	}
}

// TestTamperedLedgerIsCaught rewrites one byte of a stored ledger entry behind the server's
// back. An auditor's `ledger verify --all` against the running server fails, and
// `serve --fsck` refuses to start.
func TestTamperedLedgerIsCaught(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t)
	state := filepath.Join(t.TempDir(), "audit.json")
	out, err := n.cli("", "ledger", "verify", "--all", "--state", state)
	require.NoError(t, err, out)
	n.stop()

	// Entry 0 is the purpose definition; flip one byte of its stored bytes.
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(n.data, "badger")).WithLogger(nil))
	require.NoError(t, err)
	key := enc.BigEndian.AppendUint64([]byte("l/e/"), 0)
	require.NoError(t, db.Update(func(txn *badger.Txn) error {
		item, err := txn.Get(key)
		if err != nil {
			return err
		}
		v, err := item.ValueCopy(nil)
		if err != nil {
			return err
		}
		v[len(v)/2] ^= 0x20
		return txn.Set(key, v)
	}))
	require.NoError(t, db.Close())

	n = startNode(t, n.data, &nodetest.Logs{})
	out, err = n.cli("", "ledger", "verify", "--all", "--state", state)
	require.Error(t, err, "the auditor must notice: %s", out)
	assert.Contains(t, err.Error(), "FAILED")
	n.stop()

	msg, err := runBinary(t, nil, "serve", "--data", n.data, "--addr", "127.0.0.1:0", "--fsck")
	require.Error(t, err, "serve --fsck must refuse a tampered ledger")
	assert.Contains(t, msg, "corrupt")
}
