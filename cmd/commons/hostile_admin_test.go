package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/server"
)

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

	n := startNode(t, t.TempDir(), &nodetest.Logs{})
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
	n := startNode(t, t.TempDir(), &nodetest.Logs{}, "--max-connections", "3")
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
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	token := adminTokenOf(t, data)
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
	out, err := n.cli("", "admin", "release", "--admin-token-file", filepath.Join(data, "admin.token"))
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
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	return n, adminTokenOf(t, data)
}
