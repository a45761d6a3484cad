package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/store"
)

// gatewayProc is a running `commons gateway` process.
type gatewayProc struct {
	t    testing.TB
	ctx  context.Context // see testContext
	cmd  *exec.Cmd
	url  string
	logs *nodetest.Logs
	auth []string // Basic credentials, if the gateway requires them
	done chan error
}

var gatewayReady = regexp.MustCompile(`gateway listening on (http://127\.0\.0\.1:\d+)/`)

// startGateway runs the real binary as a resident would, on a free port.
func startGateway(t testing.TB, server, wallet, outbox string, home fixtures.Resident, extra ...string) *gatewayProc {
	t.Helper()
	bin, err := binary()
	require.NoError(t, err)
	args := append([]string{"gateway", "--server", server, "--wallet", wallet, "--listen", "127.0.0.1:0",
		"--location", location(home), "--batch", "300ms", "--outbox", outbox}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	gw := &gatewayProc{t: t, ctx: testContext(t), cmd: cmd, logs: &nodetest.Logs{}, done: make(chan error, 1)}
	urls := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			gw.logs.Write([]byte(sc.Text() + "\n"))
			if m := gatewayReady.FindStringSubmatch(sc.Text()); m != nil {
				urls <- m[1]
			}
		}
		gw.done <- cmd.Wait()
	}()
	select {
	case gw.url = <-urls:
	case err := <-gw.done:
		t.Fatalf("gateway exited before it listened: %v; logs:\n%s", err, gw.logs.String())
	case <-gw.ctx.Done():
		cmd.Process.Kill()
		t.Fatalf("gateway not listening by the test's deadline; logs:\n%s", gw.logs.String())
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
		}
	})
	return gw
}

func location(r fixtures.Resident) string { return fmt.Sprintf("%.6f,%.6f", r.Lat, r.Lon) }

// stop sends SIGTERM, as a service manager does, and checks the gateway exits cleanly.
func (g *gatewayProc) stop() {
	g.t.Helper()
	require.NoError(g.t, g.cmd.Process.Signal(syscall.SIGTERM))
	select {
	case err := <-g.done:
		require.NoError(g.t, err, "gateway exit; logs:\n%s", g.logs.String())
	case <-g.ctx.Done():
		g.cmd.Process.Kill()
		g.t.Fatalf("gateway did not stop; logs:\n%s", g.logs.String())
	}
}

// kill is a crash: SIGKILL, no final flush.
func (g *gatewayProc) kill() {
	g.t.Helper()
	require.NoError(g.t, g.cmd.Process.Kill())
	<-g.done
}

// device posts body exactly as an airrohr sensor (or, with pin set, a push-API script) does.
func (g *gatewayProc) device(sensor, pin string, body []byte, auth ...string) int {
	g.t.Helper()
	req, err := http.NewRequestWithContext(g.ctx, http.MethodPost, g.url+"/data.php", bytes.NewReader(body))
	require.NoError(g.t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "NRZ-2020-133/14907210/aa:bb")
	req.Header.Set("X-Sensor", sensor)
	req.Header.Set("X-MAC-ID", "esp8266-aa:bb:cc:dd:ee:ff")
	if pin != "" {
		req.Header.Set("X-PIN", pin)
	}
	if auth == nil {
		auth = g.auth
	}
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(g.t, err)
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.StatusCode
}

var metricLine = regexp.MustCompile(`^([a-z_]+(?:\{[^}]*\})?) (\d+)$`)

// metrics scrapes the gateway's /metrics.
func (g *gatewayProc) metrics() map[string]int {
	g.t.Helper()
	req, err := http.NewRequest(http.MethodGet, g.url+"/metrics", nil)
	require.NoError(g.t, err)
	if len(g.auth) == 2 {
		req.SetBasicAuth(g.auth[0], g.auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(g.t, err)
	defer resp.Body.Close()
	require.Equal(g.t, 200, resp.StatusCode)
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if m := metricLine.FindStringSubmatch(sc.Text()); m != nil {
			out[m[1]], _ = strconv.Atoi(m[2])
		}
	}
	return out
}

// waitMetrics polls /metrics until ok holds.
func (g *gatewayProc) waitMetrics(what string, ok func(map[string]int) bool) map[string]int {
	g.t.Helper()
	var m map[string]int
	if !eventually(g.ctx, func() bool { m = g.metrics(); return ok(m) }) {
		g.t.Fatalf("gateway never reached %s; metrics %v; logs:\n%s", what, m, g.logs.String())
	}
	return m
}

func delivered(m map[string]int) bool {
	return m["commons_gateway_pending_readings"] == 0 && m["commons_gateway_batches_uploaded_total"] > 0
}

// gatewayResident registers a resident of old-town who consents to the air-quality purpose,
// with the CLI, and returns their wallet and home.
func gatewayResident(t testing.TB, n *node) (string, fixtures.Resident) {
	t.Helper()
	invite := n.invites(1)[0]
	wallet := filepath.Join(t.TempDir(), "wallet")
	_, err := n.cli(wallet, "wallet", "init")
	require.NoError(t, err)
	_, err = n.cli(wallet, "register", "--invite", invite, "--neighbourhood", "old-town")
	require.NoError(t, err)
	_, err = n.cli(wallet, "consent", "grant", "--purpose", fixtures.AirPurpose)
	require.NoError(t, err)
	for _, r := range fixtures.Residents() {
		if r.Neighbourhood == "old-town" {
			return wallet, r
		}
	}
	t.Fatal("no old-town resident in the fixtures")
	return "", fixtures.Resident{}
}

// stored is what the server holds for one resident, opened with the keys the test can read
// because it created the node: the purpose key from DATA/keys/purposes and the resident's
// wallet. The server must be stopped.
type stored struct {
	shares, vault []reading.Reading
	plaintext     []byte // every opened share and vault copy, concatenated
}

func storedReadings(t *testing.T, data, wallet string) stored {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "keys", "purposes", "air-quality_daily.v1.age"))
	require.NoError(t, err)
	purposeKey, err := crypto.ParseWallet(b)
	require.NoError(t, err)
	w, err := crypto.LoadWallet(wallet)
	require.NoError(t, err)
	db, err := store.OpenBadger(store.Options{Dir: filepath.Join(data, "badger"), Logger: slog.New(slog.DiscardHandler)})
	require.NoError(t, err)
	defer db.Close()
	st := store.New(db, nil) // read only
	var out stored
	open := func(ciphertext []byte, key *crypto.Wallet) []reading.Reading {
		plain, err := crypto.Open(ciphertext, key.Identity())
		require.NoError(t, err)
		out.plaintext = append(out.plaintext, plain...)
		batch, err := reading.UnmarshalBatch(plain)
		require.NoError(t, err)
		return batch.Readings
	}
	days, err := st.Days(fixtures.AirPurpose)
	require.NoError(t, err)
	for _, d := range days {
		copies, err := st.ShareCopies(fixtures.AirPurpose, d)
		require.NoError(t, err)
		for _, c := range copies {
			require.Equal(t, w.CitizenID(), c.Citizen)
			out.shares = append(out.shares, open(c.Ciphertext, purposeKey)...)
		}
	}
	require.NoError(t, st.VaultCopies(w.CitizenID(), func(_ string, ciphertext []byte) error {
		out.vault = append(out.vault, open(ciphertext, w)...)
		return nil
	}))
	return out
}

// deviceBody is one of the device package's real-shaped posts, with the sensor id it names.
func deviceBody(t testing.TB, name string) ([]byte, string) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "..", "client", "device", "testdata", name))
	require.NoError(t, err)
	var doc struct {
		ID string `json:"esp8266id"`
	}
	require.NoError(t, json.Unmarshal(b, &doc))
	return b, "esp8266-" + doc.ID
}

// sampleWith is the CLIENTS.md sample with a PM10 value that marks the post.
func sampleWith(t *testing.T, pm10 string) []byte {
	t.Helper()
	b, _ := deviceBody(t, "sds011_bmp280.json")
	require.Contains(t, string(b), `"16.85"`)
	return bytes.Replace(b, []byte(`"16.85"`), []byte(`"`+pm10+`"`), 1)
}

// pm10s counts the readings by PM10 value, as text.
func pm10s(rs []reading.Reading) map[string]int {
	out := map[string]int{}
	for _, r := range rs {
		if r.Values.PM10 != nil {
			out[strconv.FormatFloat(*r.Values.PM10, 'f', 2, 64)]++
		}
	}
	return out
}

// TestGatewayDeliversSensorReadings replays real device posts — the CLIENTS.md sample, one per
// sensor family and two push-API posts — into the real gateway binary, and checks that they
// arrive at the real server sealed to the resident and to the consented purpose, once each, in
// the neighbourhood of --location, with pressure in hPa and no location anywhere.
func TestGatewayDeliversSensorReadings(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t)
	wallet, home := gatewayResident(t, n)
	outbox := filepath.Join(t.TempDir(), "outbox")
	gw := startGateway(t, n.url, wallet, outbox, home, "--basic-auth", "sensor:hunter2")
	gw.auth = []string{"sensor", "hunter2"}

	families := []string{"sds011_bmp280.json", "pms_bme280.json", "hpm_sht3x.json", "npm_htu21d.json",
		"sps30_scd30.json", "bmp180_dnms.json", "dht22_sds011.json", "ds18b20_gps.json"}
	want := map[string]int{} // readings per sensor label
	for _, f := range families {
		body, sensor := deviceBody(t, f)
		require.Equal(t, 200, gw.device(sensor, "", body), f)
		want[sensor]++
	}
	// A Raspberry Pi posting per sensor with the push API's pins and unprefixed types.
	for pin, f := range map[string]string{"1": "push_sds011.json", "11": "push_bme280.json"} {
		body, err := os.ReadFile(filepath.Join("..", "..", "client", "device", "testdata", f))
		require.NoError(t, err)
		require.Equal(t, 200, gw.device("raspi-5550001", pin, body), f)
		want["raspi-5550001"]++
	}
	// A garbled post is refused and counted; a post without the credentials too.
	garbled := []byte(`{"esp8266id": "14907210", "sensordatavalues":[{"value_type":"SDS_P1","value":"16.`)
	assert.Equal(t, 400, gw.device("esp8266-14907210", "", garbled))
	body, _ := deviceBody(t, "sds011_bmp280.json")
	assert.Equal(t, 401, gw.device("esp8266-14907210", "", body, "sensor", "wrong"))

	m := gw.waitMetrics("every reading delivered", delivered)
	assert.Equal(t, 10, m["commons_gateway_readings_accepted_total"])
	assert.Equal(t, 1, m[`commons_gateway_readings_rejected_total{reason="malformed"}`])
	assert.Equal(t, 1, m["commons_gateway_requests_unauthorized_total"])
	assert.Zero(t, m["commons_gateway_unknown_types_total"], "every type the firmware sends is known")
	assert.Zero(t, m["commons_gateway_batches_held_total"])

	// The resident's consent and receipts are untouched.
	out, err := n.cli(wallet, "consent", "list", "--json")
	require.NoError(t, err)
	assert.Contains(t, out, `"your_consent": "granted"`)

	gw.stop()
	n.stop()
	got := storedReadings(t, n.data, wallet)
	require.Len(t, got.shares, 10, "each accepted reading is shared exactly once")
	require.Len(t, got.vault, 10, "and kept in the resident's vault exactly once")
	perSensor := map[string]int{}
	for _, r := range got.shares {
		perSensor[r.Sensor]++
		assert.Equal(t, "old-town", r.Cell, "the neighbourhood of --location")
		assert.WithinDuration(t, time.Now(), r.RecordedAt, 10*time.Minute)
		if r.Sensor == "esp8266-14907210" {
			require.NotNil(t, r.Values.Pressure)
			assert.InDelta(t, 1021.845, *r.Values.Pressure, 1e-9, "Pa became hPa")
			assert.InDelta(t, 16.85, *r.Values.PM10, 1e-9)
			assert.InDelta(t, 4.35, *r.Values.PM2_5, 1e-9)
		}
		if r.Sensor == "esp8266-1732050" {
			require.NotNil(t, r.Values.NoiseLAeq)
			assert.InDelta(t, 54.3, *r.Values.NoiseLAeq, 1e-9)
		}
	}
	assert.Equal(t, want, perSensor)
	// No location anywhere: not the gateway's, not the GPS's.
	plain := string(got.plaintext)
	lat, lon := fmt.Sprintf("%.4f", home.Lat), fmt.Sprintf("%.4f", home.Lon)
	for _, s := range []string{lat, lon, "48.778112", "9.179834", `"lat"`, `"lon"`, "GPS"} {
		assert.NotContains(t, plain, s)
	}
	for _, s := range []string{lat, lon, "48.778112", "1021.845", "16.85"} {
		assert.NotContains(t, gw.logs.String(), s, "the gateway's logs")
		assert.NotContains(t, n.logs.String(), s, "the server's logs")
	}
}

// TestGatewayOutboxAcrossServerOutage posts while the server is down: the device still gets
// 200, the readings wait in the outbox across a gateway restart, and once the server is back
// (on another port, with the signed batch now stale) every reading arrives exactly once.
func TestGatewayOutboxAcrossServerOutage(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n, clock, logs := startClockedNode(t)
	wallet, home := gatewayResident(t, n)
	outbox := filepath.Join(t.TempDir(), "outbox")
	gw := startGateway(t, n.url, wallet, outbox, home)

	for _, v := range []string{"11.01", "11.02"} {
		require.Equal(t, 200, gw.device("esp8266-14907210", "", sampleWith(t, v)))
	}
	gw.waitMetrics("the first readings delivered", delivered)

	n.stop()
	for _, v := range []string{"11.03", "11.04", "11.05"} {
		require.Equal(t, 200, gw.device("esp8266-14907210", "", sampleWith(t, v)), "acknowledged while the server is down")
	}
	gw.waitMetrics("a failed upload", func(m map[string]int) bool {
		return m["commons_gateway_upload_failures_total"] > 0 && m["commons_gateway_pending_readings"] == 3
	})
	gw.stop()
	uploads, err := filepath.Glob(filepath.Join(outbox, "*.upload.json"))
	require.NoError(t, err)
	require.NotEmpty(t, uploads, "the signed batch waits in the outbox")

	// The server comes back on another port after an outage longer than the statement skew:
	// the waiting signature is stale, and since the server never saw it, the gateway signs it
	// anew. The gateway's clock is the wall clock, so the server's returns to it once the
	// gateway has said so (its retries refused meanwhile are signed afresh again).
	clock.Set(defaultServeConfig().StatementSkew + time.Minute)
	n = startNodeWithClock(t, n.data, logs, clock)
	gw = startGateway(t, n.url, wallet, outbox, home)
	const resigned = "signing it again\" code=stale_statement"
	if !eventually(gw.ctx, func() bool { return strings.Contains(gw.logs.String(), resigned) }) {
		t.Fatalf("the gateway did not sign the stale batch again; logs:\n%s", gw.logs.String())
	}
	clock.Set(0)
	require.Equal(t, 200, gw.device("esp8266-14907210", "", sampleWith(t, "11.06")))
	m := gw.waitMetrics("the outbox emptied", delivered)
	assert.Positive(t, m["commons_gateway_upload_failures_total"], "the stale signature was refused first")
	assert.Zero(t, m["commons_gateway_batches_held_total"])
	gw.stop()
	n.stop()

	got := storedReadings(t, n.data, wallet)
	want := map[string]int{"11.01": 1, "11.02": 1, "11.03": 1, "11.04": 1, "11.05": 1, "11.06": 1}
	assert.Equal(t, want, pm10s(got.shares), "every reading exactly once")
	assert.Equal(t, want, pm10s(got.vault))
	left, err := os.ReadDir(filepath.Join(outbox, "held"))
	require.NoError(t, err)
	assert.Empty(t, left)
}

// flakyProxy sits between a client and the server and, on demand, drops contribution uploads
// before the server sees them or loses the server's answers after it has stored them.
type flakyProxy struct {
	ctx      context.Context // see testContext
	rp       *httputil.ReverseProxy
	mu       sync.Mutex
	plan     []string // for the next contribution posts: "pass"; "drop" it unsent; "lose" the answer; or "hang" until the client goes
	statuses []int    // the server's answer to every contribution post
	hung     chan struct{}
}

func newFlakyProxy(t *testing.T, target string) (*flakyProxy, *httptest.Server) {
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := &flakyProxy{ctx: testContext(t), rp: httputil.NewSingleHostReverseProxy(u), hung: make(chan struct{}, 1)}
	p.rp.ModifyResponse = func(resp *http.Response) error {
		if resp.Request.URL.Path == "/api/v1/contributions" {
			p.mu.Lock()
			p.statuses = append(p.statuses, resp.StatusCode)
			p.mu.Unlock()
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return p, srv
}

func (p *flakyProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	action := "pass"
	if r.Method == http.MethodPost && r.URL.Path == "/api/v1/contributions" {
		p.mu.Lock()
		if len(p.plan) > 0 {
			action, p.plan = p.plan[0], p.plan[1:]
		}
		p.mu.Unlock()
	}
	if action == "pass" {
		p.rp.ServeHTTP(w, r)
		return
	}
	if action != "drop" {
		p.rp.ServeHTTP(httptest.NewRecorder(), r) // the server stores it and answers; the answer is lost
	}
	if action == "hang" {
		p.hung <- struct{}{}
		select {
		case <-r.Context().Done():
		case <-p.ctx.Done():
		}
	}
	if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
		conn.Close()
	}
}

func (p *flakyProxy) seen() []int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]int(nil), p.statuses...)
}

func (p *flakyProxy) next(actions ...string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.plan = actions
}

// TestGatewayLostAcknowledgement loses the server's answer after it stored a batch. The
// gateway retries the same signed contribution, which the server refuses as a replay, and
// the batch counts as delivered — once. Then it crashes in the middle of an upload whose
// answer is lost and restarts after the signature went stale: since the server may have
// stored it, the gateway does not re-sign (that could store it twice) but keeps the batch in
// held/.
func TestGatewayLostAcknowledgement(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n, clock, _ := startClockedNode(t)
	wallet, home := gatewayResident(t, n)
	proxy, via := newFlakyProxy(t, n.url)
	outbox := filepath.Join(t.TempDir(), "outbox")
	gw := startGateway(t, via.URL, wallet, outbox, home)

	proxy.next("lose")
	require.Equal(t, 200, gw.device("esp8266-14907210", "", sampleWith(t, "21.01")))
	m := gw.waitMetrics("the batch delivered", delivered)
	assert.Equal(t, 1, m["commons_gateway_batches_uploaded_total"])
	assert.Equal(t, []int{201, 409}, proxy.seen(), "stored, then the retry refused as a replay")

	proxy.next("hang")
	require.Equal(t, 200, gw.device("esp8266-14907210", "", sampleWith(t, "21.02")))
	select {
	case <-proxy.hung:
	case <-gw.ctx.Done():
		t.Fatalf("no upload; logs:\n%s", gw.logs.String())
	}
	gw.kill()
	clock.Set(defaultServeConfig().StatementSkew + time.Minute) // the signature is now stale for the server
	gw = startGateway(t, via.URL, wallet, outbox, home)
	m = gw.waitMetrics("the batch held", func(m map[string]int) bool { return m["commons_gateway_batches_held_total"] == 1 })
	assert.Zero(t, m["commons_gateway_pending_readings"])
	assert.Equal(t, []int{201, 409, 201, 422}, proxy.seen(), "stored, then the stale retry refused")
	held, err := filepath.Glob(filepath.Join(outbox, "held", "*.maybe_stored.json"))
	require.NoError(t, err)
	require.Len(t, held, 1)
	rs, _, err := reading.ParseFile(held[0], nil, reading.Options{})
	require.NoError(t, err)
	assert.Equal(t, map[string]int{"21.02": 1}, pm10s(rs), "the resident keeps the readings to check")
	gw.stop()
	n.stop()

	got := storedReadings(t, n.data, wallet)
	want := map[string]int{"21.01": 1, "21.02": 1}
	assert.Equal(t, want, pm10s(got.shares), "each batch stored exactly once")
	assert.Equal(t, want, pm10s(got.vault))
}
