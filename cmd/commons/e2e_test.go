package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/release"
)

// binary is built once per test run, without the race detector, exactly as `make build` does.
var binary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "commons-bin")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "commons")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, out)
	}
	return bin, nil
})

// deadlineMargin is how long before the test binary's -timeout a waiting test gives up, so
// that it fails with its own message and logs rather than with the binary's panic.
const deadlineMargin = 30 * time.Second

// testDeadline is when a test stops waiting: deadlineMargin before the test binary's -timeout,
// or the zero time (no deadline) without one. Whatever a test waits for — a process, a
// browser, a page, a metric — may take as long as a loaded machine needs: no fixed watchdog
// stands in for "too slow".
func testDeadline(tb testing.TB) time.Time {
	if d, ok := tb.(interface{ Deadline() (time.Time, bool) }); ok {
		if deadline, set := d.Deadline(); set {
			return deadline.Add(-deadlineMargin)
		}
	}
	return time.Time{}
}

// testContext ends at testDeadline, and at the latest when the test's cleanups are done.
func testContext(tb testing.TB) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	if deadline := testDeadline(tb); !deadline.IsZero() {
		cancel()
		ctx, cancel = context.WithDeadline(context.Background(), deadline)
	}
	tb.Cleanup(cancel)
	return ctx
}

// eventually polls cond every 20 ms until it holds, and reports whether it did before ctx
// ended (see testContext).
func eventually(ctx context.Context, cond func() bool) bool {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-ctx.Done():
			return cond()
		}
	}
	return true
}

// node is a running `commons serve` process, or a node in the test process (startNodeWithClock).
type node struct {
	t    testing.TB
	cmd  *exec.Cmd       // the process; nil for a node in the test process
	halt func()          // stops a node in the test process
	ctx  context.Context // bounds its start, stop and cli calls: ends at the test's deadline
	url  string
	data string
	logs *nodetest.Logs
	env  []string // added to the environment of the server and of every cli call
}

var readyLine = regexp.MustCompile(`ready — open (http://127\.0\.0\.1:\d+)/`)

func startNode(t testing.TB, data string, logs *nodetest.Logs, extra ...string) *node {
	t.Helper()
	return startNodeEnv(t, nil, data, logs, extra...)
}

// startNodeEnv starts a node whose server and cli calls run with env added to the test's
// environment: tests run in parallel, so none of them may change the process's own.
func startNodeEnv(t testing.TB, env []string, data string, logs *nodetest.Logs, extra ...string) *node {
	t.Helper()
	bin, err := binary()
	require.NoError(t, err)
	// Every node serves its metrics on a port of its own (tests run in parallel); extra may
	// override it.
	args := append([]string{"serve", "--data", data, "--addr", "127.0.0.1:0", "--metrics-addr", "127.0.0.1:0",
		"--release-every", "1h", "--signature-batch-every", "0s", "--signature-batch-min", "1"}, extra...)
	return startProcess(t, "server", env, data, logs, bin, args...)
}

// startProcess runs bin with args (what names it in failures) and env added to the test's
// environment, until the test ends; it returns once the process logged the URL it serves.
// Its log lines go to logs.
func startProcess(t testing.TB, what string, env []string, data string, logs *nodetest.Logs, bin string, args ...string) *node {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), env...)
	stderr, err := cmd.StderrPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	urls := make(chan string, 1)
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			line := sc.Text()
			logs.Write([]byte(line + "\n"))
			if m := readyLine.FindStringSubmatch(line); m != nil {
				urls <- m[1]
			}
		}
	}()
	n := &node{t: t, cmd: cmd, ctx: testContext(t), data: data, logs: logs, env: env}
	select {
	case n.url = <-urls:
	case <-closed:
		t.Fatalf("%s exited before it was ready: %v; logs:\n%s", what, cmd.Wait(), logs.String())
	case <-n.ctx.Done():
		cmd.Process.Kill()
		t.Fatalf("%s not ready by the test's deadline; logs:\n%s", what, logs.String())
	}
	t.Cleanup(n.stop)
	return n
}

// testClock is the wall clock plus an offset that the test sets: a node in the test process
// that reads it lets a test move time past a deadline instead of sleeping until it.
type testClock struct{ offset atomic.Int64 }

// Now is the clock's time.
func (c *testClock) Now() time.Time { return time.Now().Add(time.Duration(c.offset.Load())) }

// Set makes the clock run d ahead of the wall clock.
func (c *testClock) Set(d time.Duration) { c.offset.Store(int64(d)) }

var servingLine = regexp.MustCompile(`msg=serving url=(http://127\.0\.0\.1:\d+)/`)

// startClockedNode starts an in-process node on a fresh data folder, with a clock the test
// sets and its logs.
func startClockedNode(t testing.TB) (*node, *testClock, *nodetest.Logs) {
	t.Helper()
	logs, clock := &nodetest.Logs{}, &testClock{}
	return startNodeWithClock(t, t.TempDir(), logs, clock), clock, logs
}

// startNodeWithClock runs a node in the test process, as `commons serve` does (runNode, the
// default options but an hourly release ticker), reading the time from clock. Its log lines
// go to logs; cli calls run the real binary against it.
func startNodeWithClock(t testing.TB, data string, logs *nodetest.Logs, clock *testClock) *node {
	t.Helper()
	cfg := defaultServeConfig()
	cfg.Data, cfg.Addr, cfg.MetricsAddr, cfg.ReleaseEvery, cfg.Now = data, "127.0.0.1:0", "127.0.0.1:0", time.Hour, clock.Now
	cfg.SignatureBatchEvery, cfg.SignatureBatchMin = 0, 1 // each signature at once, unless a test batches
	urls := make(chan string, 1)
	logger := slog.New(slog.NewTextHandler(lineWatch{logs, servingLine, urls}, nil))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, cfg, logger) }()
	n := &node{t: t, ctx: testContext(t), data: data, logs: logs}
	n.halt = sync.OnceFunc(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("node: %v", err)
		}
	})
	select {
	case n.url = <-urls:
	case err := <-done:
		t.Fatalf("node stopped before serving: %v; logs:\n%s", err, logs.String())
	case <-n.ctx.Done():
		n.halt()
		t.Fatalf("node not serving by the test's deadline; logs:\n%s", logs.String())
	}
	t.Cleanup(n.stop)
	return n
}

// lineWatch is a log writer that keeps every line in logs and sends the first submatch of
// re, for the first line that matches, to found (buffered).
type lineWatch struct {
	logs  *nodetest.Logs
	re    *regexp.Regexp
	found chan<- string
}

// Write implements io.Writer: slog handlers write one whole line per call.
func (w lineWatch) Write(p []byte) (int, error) {
	if m := w.re.FindSubmatch(p); m != nil {
		select {
		case w.found <- string(m[1]):
		default:
		}
	}
	return w.logs.Write(p)
}

var metricsLine = regexp.MustCompile(`msg="serving metrics" url=(http://127\.0\.0\.1:\d+/metrics)`)

// metricsURL is the URL of the node's /metrics, on its own listener (logged before the node is
// ready).
func (n *node) metricsURL() string {
	n.t.Helper()
	m := metricsLine.FindStringSubmatch(n.logs.String())
	require.NotNil(n.t, m, "no metrics listener in the logs:\n%s", n.logs.String())
	return m[1]
}

// stop shuts the node down as SIGTERM does and waits for it, until the test's deadline.
func (n *node) stop() {
	if n.halt != nil {
		n.halt()
		return
	}
	if n.cmd.ProcessState != nil {
		return
	}
	n.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { n.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-n.ctx.Done():
		n.cmd.Process.Kill()
		<-done
	}
}

// invites has the operator make count invite codes with the CLI, as `admin invite` prints them:
// one a line.
func (n *node) invites(count int) []string {
	n.t.Helper()
	out, err := n.cli("", "admin", "invite", "--count", strconv.Itoa(count), "--admin-token-file", filepath.Join(n.data, "admin.token"))
	require.NoError(n.t, err, out)
	codes := strings.Fields(out)
	require.Len(n.t, codes, count, "one code a line")
	return codes
}

// cli runs the commons binary as a resident or operator would.
func (n *node) cli(wallet string, args ...string) (string, error) {
	bin, err := binary()
	require.NoError(n.t, err)
	// The global flags come first, before the command, as `commons --server URL …` allows.
	full := []string{"--server", n.url}
	if wallet != "" {
		full = append(full, "--wallet", wallet)
	}
	full = append(full, args...)
	cmd := exec.CommandContext(n.ctx, bin, full...)
	cmd.Env = append(append(os.Environ(), n.env...), "XDG_CONFIG_HOME="+filepath.Dir(wallet))
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	if err != nil {
		return out.String(), fmt.Errorf("%v: %s", err, errb.String())
	}
	return out.String(), nil
}

// cliOrganiser makes a wallet, registers it in old-town with an invite, and has the operator
// grant it the organiser role, all through the binary. It returns the wallet's path.
func cliOrganiser(t *testing.T, n *node, data, wallet, invite string) string {
	t.Helper()
	_, err := n.cli(wallet, "wallet", "init")
	require.NoError(t, err)
	_, err = n.cli(wallet, "register", "--invite", invite, "--neighbourhood", "old-town")
	require.NoError(t, err)
	w, err := crypto.LoadWallet(wallet)
	require.NoError(t, err)
	// The citizen id first and the flags after it, as the README prints the command.
	out, err := n.cli("", "admin", "organiser", "grant", w.CitizenID(), "--admin-token-file", filepath.Join(data, "admin.token"), "--json")
	require.NoError(t, err, out)
	assert.Contains(t, out, `"checkpoint"`, "the grant is logged and prints its receipt")
	return wallet
}

// responses records every body the test saw, for the leak scan.
type responses struct {
	mu     sync.Mutex
	bodies map[string][]byte
}

func (r *responses) get(t *testing.T, url string) (int, []byte) {
	t.Helper()
	status, b := httpGetAny(t, url)
	r.mu.Lock()
	r.bodies[url] = b
	r.mu.Unlock()
	return status, b
}

func post(t *testing.T, url, contentType string, body []byte) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", contentType)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var out map[string]any
	b, _ := io.ReadAll(resp.Body)
	require.NoError(t, json.Unmarshal(b, &out), "body %q", b)
	return resp.StatusCode, out
}

func errCode(body map[string]any) string {
	e, _ := body["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

// resident is one test resident in old-town with a day of hourly readings.
type resident struct {
	wallet  string
	lat     float64
	lon     float64
	pm25    []float64
	marker  string // a PM10 value only this resident sent, to hunt for in every output
	citizen string
}

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("end-to-end test builds and runs the binary; skipped with -short")
	}
	data := t.TempDir()
	home := t.TempDir()
	logs := &nodetest.Logs{}
	n := startNode(t, data, logs)
	seen := &responses{bodies: map[string][]byte{}}

	// The operator makes invites.
	invites := n.invites(13)

	// Twelve residents of old-town: the day two days ago is closed, so its release can be made.
	day := time.Now().UTC().AddDate(0, 0, -2).Truncate(24 * time.Hour)
	var homes []fixtures.Resident
	for _, r := range fixtures.Residents() {
		if r.Neighbourhood == "old-town" && len(homes) < 12 {
			homes = append(homes, r)
		}
	}
	residents := make([]*resident, 12)
	for i := range residents {
		r := &resident{wallet: filepath.Join(home, fmt.Sprintf("r%d", i), "wallet"), lat: homes[i].Lat, lon: homes[i].Lon}
		residents[i] = r
		_, err := n.cli(r.wallet, "wallet", "init")
		require.NoError(t, err)
		w, err := crypto.LoadWallet(r.wallet)
		require.NoError(t, err)
		r.citizen = w.CitizenID()

		out, err := n.cli(r.wallet, "register", "--invite", invites[i], "--neighbourhood", "old-town")
		require.NoError(t, err)
		assert.Contains(t, out, r.citizen)

		out, err = n.cli(r.wallet, "consent", "grant", "--purpose", "air-quality/daily", "--json")
		require.NoError(t, err)
		var receipt api.Receipt
		require.NoError(t, json.Unmarshal([]byte(out), &receipt), "the grant prints its receipt")
		assert.NotEmpty(t, receipt.Checkpoint)
		assert.Greater(t, receipt.Index, uint64(0))

		var csv strings.Builder
		csv.WriteString("sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n")
		r.marker = fmt.Sprintf("%d.%02d", 70+i, 13+i)
		for h := 0; h < 24; h++ {
			pm := 5 + float64(i)*2.5 + float64(h%6)
			pm10 := fmt.Sprintf("%.2f", pm*1.5)
			if h == 7 {
				pm10 = r.marker
			}
			r.pm25 = append(r.pm25, pm)
			fmt.Fprintf(&csv, "balcony,%s,%.6f,%.6f,%s,%.2f,14.5,70\n",
				day.Add(time.Duration(h)*time.Hour+17*time.Minute).Format(time.RFC3339), r.lat, r.lon, pm10, pm)
		}
		// One bad row: it is reported and the good rows beside it are kept.
		csv.WriteString("balcony,not-a-time,41.4,2.17,1,1,1,1\n")
		file := filepath.Join(home, fmt.Sprintf("r%d.csv", i))
		require.NoError(t, os.WriteFile(file, []byte(csv.String()), 0o600))
		out, err = n.cli(r.wallet, "contribute", file, "--json")
		require.NoError(t, err)
		assert.Contains(t, out, `"imported": 24`)
	}

	// The day closed long ago: the operator publishes now rather than waiting for the ticker.
	out, err := n.cli("", "admin", "release", "--admin-token-file", filepath.Join(data, "admin.token"))
	require.NoError(t, err)
	week, weekClosed := weekOf(t, day)
	if weekClosed {
		assert.Contains(t, out, "published 2 releases", "the day and its week")
	} else {
		assert.Contains(t, out, "published 1 release\n")
	}

	status, body := seen.get(t, n.url+"/api/v1/stats/air?day="+day.Format(time.DateOnly))
	require.Equal(t, 200, status, "%s", body)
	d, err := release.ParseAirDay(body)
	require.NoError(t, err)
	// The exact arithmetic (bounding, attribution, k) is tested with a noise-free mechanism
	// in dashboards/release; here the release is noisy, so check what noise cannot change.
	assert.Contains(t, d.Noise, "Gaussian")
	require.NotNil(t, d.Guarantee)
	assert.InDelta(t, 1, d.Guarantee.EpsilonDay, 1e-6, "ε = 0.8 + 0.2 per day in all")
	for _, c := range d.Cells {
		switch {
		case c.Neighbourhood != "old-town":
			// Every cell is computed with noise: an empty one may reach k on its noisy
			// count, but never shows a mean.
			assert.Nil(t, c.PM25, "%s has no contributors", c.Neighbourhood)
		case !c.Suppressed: // 12 residents: the noisy count may also fall below k
			assert.InDelta(t, 12, c.Contributors, 70, "the noisy count (Gaussian, σ about 13)")
			// A mean, a band, or not enough data: 12 residents in a node's first week.
			if c.PM25 != nil {
				assert.True(t, *c.PM25 > 0 && *c.PM25 <= 100, "a mean within the clamp range")
				require.NotNil(t, c.PM25CI)
				assert.Greater(t, c.PM25CI[0], 0.0, "a mean's interval never reaches 0")
			}
		}
	}
	// The release's hash is in the public ledger.
	assert.True(t, ledgerHasRelease(t, n, day.Format(time.DateOnly), body), "release.publish entry with the release's hash")

	// Averaging: the same request always returns the same bytes.
	for i := 0; i < 20; i++ {
		_, again := seen.get(t, n.url+"/api/v1/stats/air?day="+day.Format(time.DateOnly))
		require.Equal(t, body, again)
	}
	status, _ = seen.get(t, n.url+"/api/v1/stats/air?day="+day.Format(time.DateOnly)+"&neighbourhood=old-town")
	assert.Equal(t, 404, status, "off-grid queries are 404")

	// No city × hour release any more: the hour-of-day profile is in the weekly release.
	status, _ = seen.get(t, n.url+"/api/v1/stats/air?grid=city-hour&day="+day.Format(time.DateOnly))
	assert.Equal(t, 404, status)
	for _, q := range []string{"&format=openaq", "&format=geojson", "&format=csv"} {
		status, _ = seen.get(t, n.url+"/api/v1/stats/air?day="+day.Format(time.DateOnly)+q)
		assert.Equal(t, 200, status, q)
	}
	// The day's week: once closed, stored once, its hash logged under the week, byte-identical.
	weekURL := n.url + "/api/v1/stats/air?week=" + week
	status, weekly := seen.get(t, weekURL)
	if weekClosed {
		require.Equal(t, 200, status, "%s", weekly)
		w, err := release.ParseAirWeek(weekly)
		require.NoError(t, err)
		assert.Len(t, w.Hours, release.HoursPerDay)
		assert.True(t, ledgerHasRelease(t, n, week, weekly), "the week's release.publish entry")
		for i := 0; i < 20; i++ {
			_, again := seen.get(t, weekURL)
			require.Equal(t, weekly, again)
		}
		req, err := http.NewRequest(http.MethodGet, weekURL, nil)
		require.NoError(t, err)
		req.Header.Set("If-None-Match", `"`+state.Hash(weekly)[:32]+`"`)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, http.StatusNotModified, resp.StatusCode, "the release hash is the ETag")
		for _, q := range []string{"&format=csv", "&format=openaq", "&format=geojson"} {
			status, _ = seen.get(t, weekURL+q)
			assert.Equal(t, 200, status, q)
		}
	} else {
		assert.Equal(t, 404, status, "the week has not closed")
	}
	for _, q := range []string{"&hour=7", "&grid=city-hour", "&day=" + day.Format(time.DateOnly), "&format=xml"} {
		status, _ = seen.get(t, weekURL+q)
		assert.Equal(t, 404, status, "off the grid: %s", q)
	}
	status, _ = seen.get(t, n.url+"/api/v1/stats/air?week=2026-W99")
	assert.Equal(t, 404, status, "no such week")

	// A petition, created by an organiser the operator named, signed once.
	organiser := cliOrganiser(t, n, data, filepath.Join(home, "organiser", "wallet"), invites[12])
	text := filepath.Join(home, "more-trees.md")
	require.NoError(t, os.WriteFile(text, []byte("Plant <b>trees</b>."), 0o600))
	_, err = n.cli(organiser, "petition", "create", "--id", "more-trees", "--title", "More trees", "--text-file", text,
		"--scope", "old-town", "--threshold", "10")
	require.NoError(t, err)
	_, err = n.cli(residents[0].wallet, "petition", "sign", "more-trees")
	require.NoError(t, err)
	_, err = n.cli(residents[0].wallet, "petition", "sign", "more-trees")
	require.ErrorContains(t, err, "already_signed")

	badInputs(t, n, residents[0])

	// Restart: everything is still there, and the release is byte-identical.
	size := ledgerSize(t, n)
	n.stop()
	n = startNode(t, data, logs)
	assert.Equal(t, size, ledgerSize(t, n))
	_, after := seen.get(t, n.url+"/api/v1/stats/air?day="+day.Format(time.DateOnly))
	assert.Equal(t, body, after)
	out, err = n.cli(residents[0].wallet, "consent", "list", "--json")
	require.NoError(t, err, "every saved receipt still proves against the restarted server")
	assert.Contains(t, out, `"your_consent": "granted"`)
	out, err = n.cli(residents[0].wallet, "petition", "list")
	require.NoError(t, err)
	assert.Regexp(t, `more-trees\s+0\s+0\s+0\s+10\s+open`, out, "signed, then withdrawn")
	_, err = n.cli(residents[1].wallet, "register", "--invite", invites[1], "--neighbourhood", "old-town")
	require.ErrorContains(t, err, "already_registered")
	// The C2SP tiles of the log: one partial level-0 tile of leaf hashes.
	status, tile := seen.get(t, fmt.Sprintf("%s/ledger/tile/0/000.p/%d", n.url, int(size)))
	require.Equal(t, 200, status)
	assert.Len(t, tile, 32*int(size))
	status, _ = seen.get(t, n.url+"/ledger/tile/0/000")
	assert.Equal(t, 404, status, "a full tile is not served before the tree holds 256 entries")

	out, err = n.cli(residents[0].wallet, "ledger", "verify", "--all")
	require.NoError(t, err, out)
	assert.Contains(t, out, "root matches the checkpoint")
	// The petition's total is recounted from the ledger: signed, then withdrawn.
	out, err = n.cli("", "petition", "verify", "more-trees")
	require.NoError(t, err, out)
	assert.Contains(t, out, "recount: 0 signatures (1 signed, 1 withdrawn)")
	assert.Contains(t, out, "equals the recount")

	// What the ActivityPub actors publish (and send to followers) is in the leak scan too.
	for _, path := range []string{"/city/outbox", "/neighbourhoods/old-town/outbox", "/neighbourhoods/old-town/followers"} {
		status, _ := seen.get(t, n.url+path)
		require.Equal(t, 200, status, path)
	}

	leakScan(t, n, seen, residents, logs)
}

// weekOf returns the ISO week of day and whether it has closed (the built-in purpose's grace is
// two hours), so that its weekly release is due.
func weekOf(t *testing.T, day time.Time) (string, bool) {
	t.Helper()
	week, err := release.ISOWeek(day.Format(time.DateOnly))
	require.NoError(t, err)
	closes, err := release.WeekCloses(week, 2)
	require.NoError(t, err)
	return week, !time.Now().Before(closes)
}

// ledgerHasRelease looks for the release.publish entry of a day and compares its hash with
// the served release bytes.
func ledgerHasRelease(t *testing.T, n *node, day string, body []byte) bool {
	t.Helper()
	for i := 0; i < int(ledgerSize(t, n)); i++ {
		e, err := api.ParseEntry(httpGet(t, fmt.Sprintf("%s/api/v1/ledger/entries/%d", n.url, i)))
		require.NoError(t, err)
		if e.Type == api.EntryRelease && e.Epoch == day {
			return e.Hash == state.Hash(body)
		}
	}
	return false
}

func ledgerSize(t *testing.T, n *node) float64 {
	t.Helper()
	resp, err := http.Get(n.url + "/healthz")
	require.NoError(t, err)
	defer resp.Body.Close()
	var h map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&h))
	return h["ledger_size"].(float64)
}

// badInputs sends every kind of bad request and checks each gets its precise 4xx, with the
// ledger untouched.
func badInputs(t *testing.T, n *node, r *resident) {
	w, err := crypto.LoadWallet(r.wallet)
	require.NoError(t, err)
	before := ledgerSize(t, n)
	statements := n.url + "/api/v1/statements"
	sign := func(s crypto.Statement) []byte {
		s.IssuedAt, s.Nonce = crypto.Now(), crypto.NewNonce()
		signed, err := w.SignStatement(s)
		require.NoError(t, err)
		b, _ := json.Marshal(signed)
		return b
	}
	revoke := crypto.Statement{Type: crypto.TypeConsentRevoke, Purpose: "air-quality/daily", PurposeVersion: 1}

	cases := []struct {
		name, url, ctype string
		body             []byte
		status           int
		code             string
	}{
		{"malformed json", statements, "application/json", []byte(`{"statement":`), 400, "malformed_json"},
		{"unknown field", statements, "application/json", []byte(`{"statement":{},"signature":"","x":1}`), 400, "malformed_json"},
		{"wrong content type", statements, "text/plain", sign(revoke), 415, "unsupported_media_type"},
		{"unknown purpose", statements, "application/json", sign(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "surveillance/all", PurposeVersion: 1}), 422, "unknown_purpose"},
		{"bad signature", statements, "application/json", bytes.Replace(sign(revoke), []byte(`"signature":"`), []byte(`"signature":"AAAA`), 1), 401, "bad_signature"},
		{"unknown citizen", statements, "application/json", func() []byte {
			other, _ := crypto.NewWallet()
			s, _ := other.SignStatement(crypto.Statement{Type: crypto.TypeConsentRevoke, Purpose: "air-quality/daily", IssuedAt: crypto.Now(), Nonce: "x"})
			b, _ := json.Marshal(s)
			return b
		}(), 404, "unknown_citizen"},
		{"another citizen's id", statements, "application/json", func() []byte {
			mallory, _ := crypto.NewWallet()
			s, _ := mallory.SignStatement(crypto.Statement{Type: crypto.TypeConsentRevoke, Purpose: "air-quality/daily", IssuedAt: crypto.Now(), Nonce: "y"})
			s.Statement.Citizen = r.citizen
			b, _ := json.Marshal(s)
			return b
		}(), 401, "bad_signature"},
		{"stale statement", statements, "application/json", func() []byte {
			s, _ := w.SignStatement(crypto.Statement{Type: crypto.TypeConsentRevoke, Purpose: "air-quality/daily", PurposeVersion: 1,
				IssuedAt: time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), Nonce: crypto.NewNonce()})
			b, _ := json.Marshal(s)
			return b
		}(), 422, "stale_statement"},
		{"grant twice", statements, "application/json", sign(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily", PurposeVersion: 1}), 409, "already_granted"},
		{"unknown route", n.url + "/api/v1/nothing", "application/json", []byte(`{}`), 404, "not_found"},
		{"admin without token", n.url + "/api/v1/admin/invites", "application/json", []byte(`{"count":1}`), 401, "unauthorized"},
	}
	for _, c := range cases {
		status, body := post(t, c.url, c.ctype, c.body)
		assert.Equal(t, c.status, status, c.name)
		assert.Equal(t, c.code, errCode(body), c.name)
	}

	// An oversized body is refused from its Content-Length, before it is read. A raw
	// connection sends only the headers, so the refusal does not race the upload.
	conn, err := net.Dial("tcp", strings.TrimPrefix(n.url, "http://"))
	require.NoError(t, err)
	fmt.Fprintf(conn, "POST /api/v1/statements HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", 5<<20)
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	require.NoError(t, err)
	var tooLarge map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&tooLarge))
	conn.Close()
	assert.Equal(t, 413, resp.StatusCode)
	assert.Equal(t, "body_too_large", errCode(tooLarge))

	// Replay: the same petition act twice. The petition is signed; its withdrawal is accepted
	// once, and a petition statement of the citizen is refused outright.
	key, err := w.PetitionKey("more-trees")
	require.NoError(t, err)
	act, actSig, err := crypto.SignAct(key, crypto.PetitionAct{Petition: "more-trees", Type: crypto.TypePetitionWithdraw})
	require.NoError(t, err)
	withdraw, _ := json.Marshal(api.SignatureRequest{Type: act.Type, Petition: act.Petition, Key: act.Key, Signature: actSig})
	acts := n.url + "/api/v1/petitions/more-trees/signatures"
	status, _ := post(t, acts, "application/json", withdraw)
	require.Equal(t, 202, status)
	status, body := post(t, acts, "application/json", withdraw)
	assert.Equal(t, 409, status)
	assert.Equal(t, "already_withdrawn", errCode(body))
	status, body = post(t, statements, "application/json", sign(crypto.Statement{Type: crypto.TypePetitionSign, Petition: "more-trees"}))
	assert.Equal(t, 422, status)
	assert.Equal(t, "petition_act", errCode(body))

	// A contribution to a purpose without consent, and a replayed contribution.
	sealed, err := crypto.Seal([]byte(`{"v":1,"readings":[]}`), w.Recipient())
	require.NoError(t, err)
	con := crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(),
		Envelopes: []crypto.Envelope{{Day: time.Now().UTC().Format(time.DateOnly), Purpose: "vault", Ciphertext: sealed}}}
	signed, err := w.SignContribution(con)
	require.NoError(t, err)
	b, _ := json.Marshal(signed)
	status, _ = post(t, n.url+"/api/v1/contributions", "application/json", b)
	require.Equal(t, 201, status)
	status, body = post(t, n.url+"/api/v1/contributions", "application/json", b)
	assert.Equal(t, 409, status)
	assert.Equal(t, "replayed", errCode(body))

	plain := con
	plain.Nonce = crypto.NewNonce()
	plain.Envelopes = []crypto.Envelope{{Day: con.Envelopes[0].Day, Purpose: "vault", Ciphertext: []byte(`{"pm2_5":12}`)}}
	signed, err = w.SignContribution(plain)
	require.NoError(t, err)
	b, _ = json.Marshal(signed)
	status, body = post(t, n.url+"/api/v1/contributions", "application/json", b)
	assert.Equal(t, 422, status)
	assert.Equal(t, "not_sealed", errCode(body))

	// Only the accepted withdrawal grew the ledger.
	assert.Equal(t, before+1, ledgerSize(t, n))

	// Without consent: revoke, then try to contribute a share copy.
	status, _ = post(t, statements, "application/json", sign(revoke))
	require.Equal(t, 201, status)
	share := con
	share.Nonce = crypto.NewNonce()
	share.Envelopes = []crypto.Envelope{{Day: con.Envelopes[0].Day, Purpose: "air-quality/daily", Ciphertext: sealed}}
	signed, err = w.SignContribution(share)
	require.NoError(t, err)
	b, _ = json.Marshal(signed)
	status, body = post(t, n.url+"/api/v1/contributions", "application/json", b)
	assert.Equal(t, 403, status)
	assert.Equal(t, "no_consent", errCode(body))
	status, _ = post(t, statements, "application/json", sign(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily", PurposeVersion: 1}))
	require.Equal(t, 201, status)
}

// leakScan looks for any value, location or id that only one resident sent in every public
// answer, every log line, and every file the server wrote.
func leakScan(t *testing.T, n *node, seen *responses, residents []*resident, logs *nodetest.Logs) {
	for _, p := range []string{"/", "/air", "/air?lang=fr", "/petitions", "/petitions/more-trees", "/ledger", "/api/v1/stats/air",
		"/api/v1/petitions", "/api/v1/petitions/more-trees", "/api/v1/purposes"} {
		status, _ := seen.get(t, n.url+p)
		require.Equal(t, 200, status, p)
	}
	// Every file the server wrote, read once while it runs (the write-ahead log and value
	// log hold the recent writes uncompressed).
	files := map[string][]byte{}
	require.NoError(t, filepath.Walk(n.data, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		files[path], err = written(path)
		return err
	}))
	for _, r := range residents {
		secrets := map[string]string{
			"reading":   r.marker,
			"latitude":  fmt.Sprintf("%.5f", r.lat),
			"longitude": fmt.Sprintf("%.5f", r.lon),
		}
		for what, s := range secrets {
			for url, body := range seen.bodies {
				assert.NotContains(t, string(withoutGrid(t, url, body)), s, "%s of a resident in %s", what, url)
			}
			assert.NotContains(t, logs.String(), s, "%s of a resident in the logs", what)
			for f, b := range files {
				assert.False(t, bytes.Contains(b, []byte(s)), "%s of a resident on disk in %s", what, f)
			}
		}
		// Ids are pseudonymous and public in the ledger, but nowhere else.
		for url, body := range seen.bodies {
			if strings.Contains(url, "/ledger") {
				continue
			}
			assert.NotContains(t, string(body), r.citizen, "citizen id in %s", url)
		}
		assert.NotContains(t, logs.String(), r.citizen, "citizen id in the logs")
	}
}

// written is a file's content up to its last byte that is not zero. The server's files are
// preallocated, mostly zeros (Badger's value log is a sparse file of 2 GiB): they are read a
// MiB at a time, and a run of zeros is kept only when data follows it.
func written(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []byte
	zeros := 0 // read since the last chunk that held data
	chunk, none := make([]byte, 1<<20), make([]byte, 1<<20)
	for {
		k, err := io.ReadFull(f, chunk)
		if bytes.Equal(chunk[:k], none[:k]) {
			zeros += k
		} else {
			out = append(append(out, make([]byte, zeros)...), chunk[:k]...)
			zeros = 0
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return bytes.TrimRight(out, "\x00"), nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// withoutGrid returns what a GeoJSON release adds to the public neighbourhood polygons (its
// features' properties): a resident's coordinates may coincide with a polygon's vertex.
func withoutGrid(t *testing.T, url string, body []byte) []byte {
	if !strings.Contains(url, "format=geojson") {
		return body
	}
	var fc struct {
		Features []struct {
			Properties json.RawMessage `json:"properties"`
		} `json:"features"`
	}
	require.NoError(t, json.Unmarshal(body, &fc), url)
	var props [][]byte
	for _, f := range fc.Features {
		props = append(props, f.Properties)
	}
	return bytes.Join(props, []byte("\n"))
}
