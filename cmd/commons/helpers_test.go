package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
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

// startFreshNode starts a node on a fresh data folder (n.data), its logs in n.logs.
func startFreshNode(t testing.TB, extra ...string) *node {
	t.Helper()
	return startNode(t, t.TempDir(), &nodetest.Logs{}, extra...)
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

// runBinary runs the commons binary to completion and returns its combined output.
func runBinary(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	bin, err := binary()
	require.NoError(t, err)
	cmd := exec.CommandContext(testContext(t), bin, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
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

// needsBinary skips t under -short: t builds or runs the commons binary, which takes seconds.
func needsBinary(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("runs the commons binary; skipped with -short")
	}
}

// inParallel calls do for each i in [0, n) from workers goroutines, and fails b once they have
// all stopped if any call returned an error; a goroutine stops at its first error.
func inParallel(b *testing.B, workers, n int, do func(i int) error) {
	b.Helper()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				if err := do(i); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// browserContext skips t under -short, since it drives chromium, and returns the test's
// context.
func browserContext(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("browser test; skipped with -short")
	}
	return testContext(t)
}

// procMem is a process's resident memory from /proc/PID/status: all of it now and at its peak,
// and now split into anonymous pages (heap, stacks, Badger's memtables) and file-backed ones
// (Badger's memory-mapped tables and logs: clean pages the kernel reclaims under pressure).
type procMem struct{ rss, peak, anon, file int64 }

// procStat reads a process's CPU time (user+system) and its memory, from /proc.
func procStat(b *testing.B, pid int) (cpu time.Duration, m procMem) {
	b.Helper()
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	cpu = time.Duration(ut+st) * time.Second / 100 // USER_HZ is 100 on Linux
	status, err := procStatus(pid)
	if err != nil {
		b.Fatal(err)
	}
	return cpu, procMem{rss: status["VmRSS"], peak: status["VmHWM"], anon: status["RssAnon"], file: status["RssFile"]}
}

// vmRSS reads a process's resident set size from /proc.
func vmRSS(pid int) (int64, error) {
	m, err := procStatus(pid)
	if err != nil {
		return 0, err
	}
	rss, ok := m["VmRSS"]
	if !ok {
		return 0, errors.New("no VmRSS (the process is gone)")
	}
	return rss, nil
}

// procStatus reads the kB fields of /proc/PID/status, in bytes.
func procStatus(pid int) (map[string]int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return nil, err
	}
	out := map[string]int64{}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if v, isKB := strings.CutSuffix(strings.TrimSpace(v), " kB"); ok && isKB {
			if kb, err := strconv.ParseInt(v, 10, 64); err == nil {
				out[k] = kb << 10
			}
		}
	}
	return out, nil
}
