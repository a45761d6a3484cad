package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/purpose"
)

const testToken = "operator-test-token"

// testNode is a server built by New, exactly as production builds it, on a nodetest core.
type testNode struct {
	*nodetest.Core
	app     *fiber.App
	metrics *Metrics
	now     func() time.Time // the server's clock
}

// newTestNode builds the app exactly as production does, after edit adjusts its Config.
func newTestNode(t *testing.T, edit func(*Config)) *testNode {
	t.Helper()
	metrics := NewMetrics()
	core := nodetest.New(t, nodetest.Options{OnCommit: metrics.ObserveCommit})
	cfg := Config{Ledger: core.Ledger, State: core.State, Store: core.Store, VerifierKey: core.VerifierKey,
		GeoJSON: geo.Default(), AdminToken: testToken, TallyKey: testTallyKey, AirPurpose: purpose.Air,
		DB: core.DB, Metrics: metrics, TokenKeys: testTokenKeys, Logger: core.Logger}
	if edit != nil {
		edit(&cfg)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	app, err := New(cfg)
	require.NoError(t, err)
	return &testNode{Core: core, app: app, metrics: metrics, now: cfg.Now}
}

func (n *testNode) do(t *testing.T, method, path, body string, header ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
	resp, err := n.app.Test(req, -1)
	require.NoError(t, err)
	return resp
}

func readBody(t *testing.T, resp *http.Response) string {
	t.Helper()
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

// decodeOK requires resp to be a 200 and decodes its JSON body as a T.
func decodeOK[T any](t *testing.T, resp *http.Response) T {
	t.Helper()
	body := readBody(t, resp)
	require.Equal(t, 200, resp.StatusCode, body)
	var v T
	require.NoError(t, json.Unmarshal([]byte(body), &v))
	return v
}

// post sends a JSON body and returns the status and the error code, if any.
func (n *testNode) post(t *testing.T, path string, body any, header ...string) (int, string) {
	t.Helper()
	b, err := json.Marshal(body)
	require.NoError(t, err)
	resp := n.do(t, "POST", path, string(b), header...)
	out := readBody(t, resp)
	var eb errorBody
	if resp.StatusCode >= 400 {
		require.NoError(t, json.Unmarshal([]byte(out), &eb), out)
	}
	return resp.StatusCode, eb.Error.Code
}

// organiser registers a resident and has the operator grant them the organiser role.
func (n *testNode) organiser(t *testing.T) *crypto.Wallet {
	t.Helper()
	w := n.resident(t, "old-town")
	status, code := n.post(t, "/api/v1/admin/organisers", map[string]string{"citizen": w.CitizenID()}, "Authorization", "Bearer "+testToken)
	require.Equal(t, 201, status, code)
	return w
}

// resident registers a new wallet in a neighbourhood, with the server's clock.
func (n *testNode) resident(t *testing.T, neighbourhood string) *crypto.Wallet {
	t.Helper()
	resp := n.do(t, "POST", "/api/v1/admin/invites", `{"count":1}`, "Authorization", "Bearer "+testToken)
	var inv struct{ Invites []string }
	require.NoError(t, json.Unmarshal([]byte(readBody(t, resp)), &inv))
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	status, code := n.post(t, "/api/v1/citizens", n.signed(t, w, crypto.Statement{Type: crypto.TypeRegister,
		Invite: inv.Invites[0], Neighbourhood: neighbourhood, Recipient: w.Recipient().String(),
		SigningKey: crypto.EncodeKey(w.SigningPublicKey())}))
	require.Equal(t, 201, status, code)
	return w
}

// signed signs a statement issued at the server's time with a fresh nonce.
func (n *testNode) signed(t *testing.T, w *crypto.Wallet, s crypto.Statement) crypto.SignedStatement {
	t.Helper()
	s.IssuedAt, s.Nonce = n.now().UTC().Format(time.RFC3339), crypto.NewNonce()
	signed, err := w.SignStatement(s)
	require.NoError(t, err)
	return signed
}

// TestRateLimitAnswers429WithRetryAfter checks the per-IP limit of POST requests: shared by
// every POST route, answered 429 rate_limited with Retry-After, not applied to GET nor to the
// admin token.
func TestRateLimitAnswers429WithRetryAfter(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, func(c *Config) { c.RateLimit = 2 })
	for range 2 {
		resp := n.do(t, "POST", "/api/v1/statements", `{"statement":`)
		assert.Equal(t, 400, resp.StatusCode, "under the limit, the request reaches its handler")
		assert.Equal(t, "2", resp.Header.Get("X-RateLimit-Limit"))
	}
	resp := n.do(t, "POST", "/api/v1/contributions", `{}`)
	body := readBody(t, resp)
	assert.Equal(t, 429, resp.StatusCode, "the limit is shared by every POST route")
	assert.JSONEq(t, `{"error":{"code":"rate_limited","message":"too many requests from your address; retry after the Retry-After seconds"}}`, body)
	after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After is a number of seconds")
	assert.True(t, after >= 0 && after <= 60, "Retry-After %d is within the minute window", after)
	assert.NotEmpty(t, resp.Header.Get("Content-Security-Policy"), "a refusal still carries the security headers")

	assert.Equal(t, 200, n.do(t, "GET", "/api/v1/purposes", "").StatusCode, "GET is not limited")
	resp = n.do(t, "POST", "/api/v1/admin/invites", `{"count":1}`, "Authorization", "Bearer "+testToken)
	assert.Equal(t, 201, resp.StatusCode, "the admin token is not limited: %s", readBody(t, resp))
	resp = n.do(t, "POST", "/api/v1/admin/invites", `{"count":1}`, "Authorization", "Bearer wrong")
	assert.Equal(t, 429, resp.StatusCode, "a wrong admin token is limited like anyone")
}

// TestRateLimitPerClientBehindProxy checks that behind a trusted proxy each client IP from the
// proxy header has its own allowance, and that the header is ignored from untrusted peers.
func TestRateLimitPerClientBehindProxy(t *testing.T) {
	t.Parallel()
	// app.Test connections come from 0.0.0.0.
	trusted := newTestNode(t, func(c *Config) {
		c.RateLimit, c.ProxyHeader, c.TrustedProxies = 1, "X-Real-IP", []string{"0.0.0.0"}
	})
	assert.Equal(t, 400, trusted.do(t, "POST", "/api/v1/statements", `{`, "X-Real-IP", "203.0.113.1").StatusCode)
	assert.Equal(t, 429, trusted.do(t, "POST", "/api/v1/statements", `{`, "X-Real-IP", "203.0.113.1").StatusCode)
	assert.Equal(t, 400, trusted.do(t, "POST", "/api/v1/statements", `{`, "X-Real-IP", "203.0.113.2").StatusCode,
		"another client behind the same proxy has its own allowance")

	untrusted := newTestNode(t, func(c *Config) {
		c.RateLimit, c.ProxyHeader, c.TrustedProxies = 1, "X-Real-IP", []string{"10.0.0.1"}
	})
	assert.Equal(t, 400, untrusted.do(t, "POST", "/api/v1/statements", `{`, "X-Real-IP", "203.0.113.1").StatusCode)
	assert.Equal(t, 429, untrusted.do(t, "POST", "/api/v1/statements", `{`, "X-Real-IP", "203.0.113.2").StatusCode,
		"a header from an untrusted peer is not believed")
}

// TestRateLimitZeroDisables checks that RateLimit 0 lets every request through.
func TestRateLimitZeroDisables(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nil)
	for i := range 50 {
		resp := n.do(t, "POST", "/api/v1/statements", `{`)
		require.Equal(t, 400, resp.StatusCode, "request %d", i)
		assert.Empty(t, resp.Header.Get("X-RateLimit-Limit"))
	}
}

// TestMetricsLabelsHoldNoRequestValues sends requests full of identifying values and checks
// that every label of every series is a route pattern, a method, a status or an error code.
func TestMetricsLabelsHoldNoRequestValues(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nil)
	secrets := []string{"c-secretcitizen42", "secret-petition-7", "987654321", "nowhere-secret"}
	assert.Equal(t, 404, n.do(t, "GET", "/api/v1/petitions/secret-petition-7", "").StatusCode)
	assert.Equal(t, 404, n.do(t, "GET", "/api/v1/ledger/entries/987654321", "").StatusCode)
	assert.Equal(t, 404, n.do(t, "GET", "/nowhere-secret/c-secretcitizen42?x=987654321", "").StatusCode)
	contribution := `{"contribution":{"citizen":"c-secretcitizen42","issued_at":"2026-01-01T00:00:00Z","nonce":"n","envelopes":[]},"signature":""}`
	resp := n.do(t, "POST", "/api/v1/contributions", contribution)
	assert.Equal(t, 404, resp.StatusCode, "%s", readBody(t, resp))
	assert.Equal(t, 415, n.do(t, "POST", "/api/v1/contributions", "").StatusCode)
	resp = n.do(t, "GET", "/healthz", "", "X-Request-ID", "c-secretcitizen42")
	assert.NotEqual(t, "c-secretcitizen42", resp.Header.Get("X-Request-ID"), "a client's request id is replaced")
	assert.Len(t, resp.Header.Get("X-Request-ID"), 36, "a random UUID")
	for i := range 3 {
		e, err := api.Entry{Type: api.EntryInvite, Hash: state.Hash(fmt.Appendf(nil, "invite-%d", i))}.Marshal()
		require.NoError(t, err)
		_, err = n.Ledger.Append(context.Background(), e)
		require.NoError(t, err)
	}

	routes := map[string]bool{unmatched: true}
	for _, r := range n.app.GetRoutes(true) {
		routes[r.Path] = true
	}
	families, err := n.metrics.registry.Gather()
	require.NoError(t, err)
	seen := map[string]bool{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				v := l.GetValue()
				for _, s := range secrets {
					assert.NotContains(t, v, s, "%s{%s}", f.GetName(), l.GetName())
				}
				switch l.GetName() {
				case "route":
					assert.True(t, routes[v], "route label %q is a registered pattern", v)
				case "status":
					_, err := strconv.Atoi(v)
					assert.NoError(t, err, "status label %q", v)
				case "method":
					assert.Contains(t, []string{"GET", "HEAD", "POST"}, v)
				}
				seen[f.GetName()+"|"+l.GetName()+"="+v] = true
			}
			seen[f.GetName()] = true
		}
	}
	for _, want := range []string{
		"commons_http_requests_total|route=/api/v1/petitions/:id",
		"commons_http_requests_total|route=/api/v1/ledger/entries/:index",
		"commons_http_requests_total|route=" + unmatched,
		"commons_contributions_total|result=unknown_citizen",
		"commons_contributions_total|result=unsupported_media_type",
		"commons_contributions_total|result=accepted",
		"commons_ledger_appended_entries_total", "commons_ledger_batch_entries", "commons_ledger_commit_seconds",
		"commons_ledger_size", "commons_releases_published_total", "go_goroutines",
	} {
		assert.True(t, seen[want], "series %s", want)
	}

	assert.Equal(t, 404, n.do(t, "GET", "/metrics", "").StatusCode, "the public app serves no metrics")
	rec := httptest.NewRecorder()
	n.metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	require.Equal(t, 200, rec.Code)
	text := rec.Body.String()
	assert.Contains(t, text, "commons_ledger_appended_entries_total 3")
	assert.Contains(t, text, "commons_ledger_size 3")
	for _, s := range secrets {
		assert.NotContains(t, text, s)
		assert.NotContains(t, n.Logs.String(), s, "the logs carry no request value")
	}
	// One debug line per request, by route pattern, with its request id.
	assert.Regexp(t, `level=DEBUG msg=request method=GET route=/api/v1/petitions/:id status=404 took=\S+ request_id=[0-9a-f-]{36}`, n.Logs.String())
}

// TestReadyzFollowsReady checks /readyz against Config.Ready.
func TestReadyzFollowsReady(t *testing.T) {
	t.Parallel()
	var ready atomic.Bool
	n := newTestNode(t, func(c *Config) { c.Ready = ready.Load })
	resp := n.do(t, "GET", "/readyz", "")
	assert.Equal(t, 503, resp.StatusCode)
	assert.Contains(t, readBody(t, resp), `"code":"unavailable"`)
	ready.Store(true)
	resp = n.do(t, "GET", "/readyz", "")
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"status":"ready"}`, readBody(t, resp))
}

// TestBackupStreamsWithChecksumTrailer checks the backup endpoint: admin only, a Badger stream
// that loads into an empty database holding the same ledger, and a checksum trailer that
// matches the body.
func TestBackupStreamsWithChecksumTrailer(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nil)
	for i := range 20 {
		e, err := api.Entry{Type: api.EntryInvite, Hash: state.Hash(fmt.Appendf(nil, "invite-%d", i))}.Marshal()
		require.NoError(t, err)
		_, err = n.Ledger.Append(context.Background(), e)
		require.NoError(t, err)
	}
	assert.Equal(t, 401, n.do(t, "GET", "/api/v1/admin/backup", "").StatusCode)
	assert.Equal(t, 401, n.do(t, "GET", "/api/v1/admin/backup", "", "Authorization", "Bearer nope").StatusCode)

	resp := n.do(t, "GET", "/api/v1/admin/backup", "", "Authorization", "Bearer "+testToken)
	require.Equal(t, 200, resp.StatusCode)
	body := readBody(t, resp) // trailers arrive after the body
	sum := sha256.Sum256([]byte(body))
	assert.Equal(t, hex.EncodeToString(sum[:]), resp.Trailer.Get(BackupChecksumTrailer))
	assert.Equal(t, "no-store", resp.Header.Get("Cache-Control"))

	restored, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	require.NoError(t, err)
	defer restored.Close()
	require.NoError(t, restored.Load(strings.NewReader(body), 16))
	cp, size, err := ledger.StoredCheckpoint(restored)
	require.NoError(t, err)
	want, wantSize := n.Ledger.Checkpoint()
	assert.Equal(t, want, cp)
	assert.Equal(t, wantSize, size)
	assert.Contains(t, n.Logs.String(), "backup streamed")
}

// TestBackupFailureSendsNoChecksum checks that a backup that fails half-way ends without the
// trailer, so the client cannot mistake it for a complete one.
func TestBackupFailureSendsNoChecksum(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, func(c *Config) { c.DB = failingDB{} })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = n.app.Listener(ln) }()
	defer n.app.Shutdown()
	req, err := http.NewRequest("GET", "http://"+ln.Addr().String()+"/api/v1/admin/backup", nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode, "the status is sent before the stream")
	_, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.ErrorIs(t, err, io.ErrUnexpectedEOF, "the chunked body is cut short")
	assert.Empty(t, resp.Trailer.Get(BackupChecksumTrailer))
	assert.Eventually(t, func() bool { return strings.Contains(n.Logs.String(), "backup failed") }, 5*time.Second, 10*time.Millisecond)
}

// failingDB writes part of a backup, then fails.
type failingDB struct{}

func (failingDB) Backup(w io.Writer, _ uint64) (uint64, error) {
	if _, err := w.Write(bytes.Repeat([]byte("x"), 100<<10)); err != nil {
		return 0, err
	}
	return 0, io.ErrUnexpectedEOF
}

// TestBackupStoppedByShutdown checks that a backup whose client stopped reading does not
// outlive the server's shutdown: the Backuper's blocked write fails once the shutdown timeout
// has passed.
func TestBackupStoppedByShutdown(t *testing.T) {
	t.Parallel()
	started, ended := make(chan struct{}), make(chan error, 1)
	n := newTestNode(t, func(c *Config) { c.DB = endlessDB{started, ended} })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = n.app.Listener(ln) }()
	conn, err := net.Dial("tcp", ln.Addr().String())
	require.NoError(t, err)
	defer conn.Close()
	fmt.Fprintf(conn, "GET /api/v1/admin/backup HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\n\r\n", testToken)
	<-started // the backup streams; the client reads nothing, so the socket fills up and its writes block

	assert.Error(t, n.app.ShutdownWithTimeout(300*time.Millisecond), "the stalled connection outlasts the timeout")
	select {
	case err := <-ended:
		assert.ErrorIs(t, err, errShutdown)
	case <-time.After(5 * time.Second):
		t.Fatal("the backup kept running after shutdown")
	}
}

// endlessDB writes a backup that never ends, closes started once its first chunk is written,
// and reports the error that stopped it.
type endlessDB struct {
	started chan<- struct{}
	ended   chan<- error
}

func (e endlessDB) Backup(w io.Writer, _ uint64) (uint64, error) {
	chunk := bytes.Repeat([]byte("x"), 16<<10) // the first fits in any socket buffer
	for i := 0; ; i++ {
		if _, err := w.Write(chunk); err != nil {
			e.ended <- err
			return 0, err
		}
		if i == 0 {
			close(e.started)
		}
	}
}

// signedBody is a statement signed by w, as JSON.
func signedBody(t *testing.T, w *crypto.Wallet, s crypto.Statement) string {
	t.Helper()
	s.IssuedAt, s.Nonce = crypto.Now(), crypto.NewNonce()
	signed, err := w.SignStatement(s)
	require.NoError(t, err)
	b, err := json.Marshal(signed)
	require.NoError(t, err)
	return string(b)
}

// TestCitizenRateLimit checks the per-resident allowance of signed writes: a burst of five
// minutes' worth, then 429
// citizen_rate_limited with Retry-After; other residents keep theirs; and requests whose
// signature does not verify never spend a resident's allowance.
func TestCitizenRateLimit(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, func(c *Config) { c.CitizenLimit = 2 })
	alice, bob := n.resident(t, "old-town"), n.resident(t, "old-town")
	export := crypto.Statement{Type: crypto.TypeVaultExport}

	mallory, err := crypto.NewWallet()
	require.NoError(t, err)
	forged := signedBody(t, mallory, export)
	forged = strings.Replace(forged, mallory.CitizenID(), alice.CitizenID(), 1)
	for range 5 {
		assert.Equal(t, 401, n.do(t, "POST", "/api/v1/vault", forged).StatusCode)
	}

	for range 2 * citizenBurst { // two a minute, five minutes' worth at once
		resp := n.do(t, "POST", "/api/v1/vault", signedBody(t, alice, export))
		assert.Equal(t, 200, resp.StatusCode, "forgeries spent none of alice's allowance: %s", readBody(t, resp))
	}
	resp := n.do(t, "POST", "/api/v1/statements", signedBody(t, alice, crypto.Statement{Type: crypto.TypeConsentGrant,
		Purpose: purpose.Air, PurposeVersion: 1}))
	assert.Equal(t, 429, resp.StatusCode)
	assert.JSONEq(t, `{"error":{"code":"citizen_rate_limited","message":"too many signed writes from this resident; retry after the Retry-After seconds"}}`, readBody(t, resp))
	after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err)
	assert.True(t, after >= 1 && after <= 30, "one write a 30 s at 2 a minute: Retry-After %d", after)

	assert.Equal(t, 200, n.do(t, "POST", "/api/v1/vault", signedBody(t, bob, export)).StatusCode, "bob has his own allowance")
}

// TestReplaysSpendNoAllowance replays a resident's signed writes — an old statement as the
// ledger publishes it, a statement and a contribution already accepted — as anyone could:
// each is refused as stale or replayed, and none spends the resident's allowance, so nobody
// can lock a resident out of uploading by replaying their public signatures.
func TestReplaysSpendNoAllowance(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, func(c *Config) { c.CitizenLimit = 3 })
	alice := n.resident(t, "old-town")

	// An hour-old signed statement, as the ledger shows consent statements to everyone.
	old, err := alice.SignStatement(crypto.Statement{Type: crypto.TypeVaultExport,
		IssuedAt: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), Nonce: crypto.NewNonce()})
	require.NoError(t, err)
	stale, err := json.Marshal(old)
	require.NoError(t, err)

	export := signedBody(t, alice, crypto.Statement{Type: crypto.TypeVaultExport})
	resp := n.do(t, "POST", "/api/v1/vault", export)
	require.Equal(t, 200, resp.StatusCode, readBody(t, resp))
	ct, err := crypto.Seal([]byte(`{"v":1}`), alice.Recipient())
	require.NoError(t, err)
	sc, err := alice.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(),
		Envelopes: []crypto.Envelope{{Day: time.Now().UTC().Format(time.DateOnly), Purpose: crypto.VaultPurpose, Ciphertext: ct}}})
	require.NoError(t, err)
	contribution, err := json.Marshal(sc)
	require.NoError(t, err)
	resp = n.do(t, "POST", "/api/v1/contributions", string(contribution))
	require.Equal(t, 201, resp.StatusCode, readBody(t, resp))

	for range 5 {
		assert.Equal(t, 422, n.do(t, "POST", "/api/v1/vault", string(stale)).StatusCode, "stale")
		assert.Equal(t, 409, n.do(t, "POST", "/api/v1/vault", export).StatusCode, "replayed statement")
		assert.Equal(t, 409, n.do(t, "POST", "/api/v1/contributions", string(contribution)).StatusCode, "replayed contribution")
	}
	resp = n.do(t, "POST", "/api/v1/vault", signedBody(t, alice, crypto.Statement{Type: crypto.TypeVaultExport}))
	assert.Equal(t, 200, resp.StatusCode, "replays spent none of alice's allowance: %s", readBody(t, resp))
}
