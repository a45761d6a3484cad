package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
)

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
	data := t.TempDir()
	logs := &nodetest.Logs{}
	n := startNode(t, data, logs)
	token := adminTokenOf(t, data)
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
	// other admin endpoints (hostile_admin_test.go has the accepted ones).
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
