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
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/petition"
)

// The nodes the tests start inherit this environment. The rate limit is off unless a test sets
// one (a flag beats the variable): the load and crash tests send thousands of writes from one
// loopback address.
func init() {
	os.Setenv("COMMONS_RATE_LIMIT", "0")
	os.Setenv("COMMONS_CITIZEN_RATE_LIMIT", "0")
}

// env is a fake environment for loadServeConfig.
func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

func writeFile(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "commons.conf")
	require.NoError(t, os.WriteFile(path, []byte(text), 0o600))
	return path
}

// TestConfigPrecedence checks default < file < environment < flag, option by option, and that
// each value's source is reported.
func TestConfigPrecedence(t *testing.T) {
	t.Parallel()
	file := writeFile(t, `# a node
addr = 127.0.0.1:9001      # file
release-every = 2m
rate-limit = 10
body-limit = 1000
trusted-proxies = 10.0.0.0/8, 192.0.2.1
`)
	cfg, sources, check, err := loadServeConfig(
		[]string{"--config", file, "--rate-limit", "30"},
		env("COMMONS_RELEASE_EVERY", "3m", "COMMONS_RATE_LIMIT", "20", "COMMONS_LOG_LEVEL", "debug", "COMMONS_DEMO", ""),
		io.Discard)
	require.NoError(t, err)
	assert.False(t, check)
	assert.Equal(t, "./data", cfg.Data, "default")
	assert.Equal(t, "default", sources["data"])
	assert.Equal(t, "127.0.0.1:9001", cfg.Addr, "file over default")
	assert.Equal(t, file+":2", sources["addr"])
	assert.Equal(t, 1000, cfg.BodyLimit)
	assert.Equal(t, []string{"10.0.0.0/8", "192.0.2.1"}, cfg.TrustedProxies)
	assert.Equal(t, 3*time.Minute, cfg.ReleaseEvery, "environment over file")
	assert.Equal(t, "$COMMONS_RELEASE_EVERY", sources["release-every"])
	assert.Equal(t, slog.LevelDebug, cfg.LogLevel, "environment over default")
	assert.False(t, cfg.Demo, "an empty variable counts as unset")
	assert.Equal(t, 30, cfg.RateLimit, "flag over environment over file")
	assert.Equal(t, "flag --rate-limit", sources["rate-limit"])

	// $COMMONS_CONFIG names the file when --config does not.
	cfg, _, _, err = loadServeConfig(nil, env("COMMONS_CONFIG", file), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, 10, cfg.RateLimit)

	// Without any source: the documented defaults.
	cfg, _, _, err = loadServeConfig(nil, env(), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, defaultServeConfig(), cfg)
	assert.Equal(t, 600, cfg.RateLimit)

	// The printed configuration is itself a config file giving the same configuration.
	cfg, sources, check, err = loadServeConfig([]string{"--config", file, "--check-config"}, env(), io.Discard)
	require.NoError(t, err)
	assert.True(t, check)
	var printed bytes.Buffer
	require.NoError(t, printConfig(&printed, cfg, sources))
	again, _, _, err := loadServeConfig([]string{"--config", writeFile(t, printed.String())}, env(), io.Discard)
	require.NoError(t, err)
	assert.Equal(t, cfg, again)
}

// TestConfigRefusals checks that every bad value stops the node with a message naming the
// option, the source and the reason.
func TestConfigRefusals(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name string
		file string
		env  []string
		args []string
		want string
	}{
		{"unknown key", "addr = :8080\nbind = :9090\n", nil, nil, `:2: unknown key "bind" (the keys are the long flag names: addr, body-limit`},
		{"line without =", "rate-limit 5\n", nil, nil, `:1: want a line "name = value", got "rate-limit 5"`},
		{"key set twice", "rate-limit = 5\nrate-limit = 6\n", nil, nil, ":2: rate-limit is already set on line 1"},
		{"config in the file", "config = other.conf\n", nil, nil, ":1: config can only be given on the command line"},
		{"bad duration in the file", "release-every = 5 minutes\n", nil, nil, `:1: release-every: "5 minutes" is not a duration such as 90s, 10m or 1h30m`},
		{"bad duration in env", "", []string{"COMMONS_STATEMENT_SKEW", "ten"}, nil, `$COMMONS_STATEMENT_SKEW: statement-skew: "ten" is not a duration`},
		{"bad duration as a flag", "", nil, []string{"--release-every", "soon"}, `invalid value "soon" for flag -release-every: "soon" is not a duration`},
		{"zero duration", "release-every = 0s\n", nil, nil, "release-every: 0s: must be positive"},
		{"negative delay", "", nil, []string{"--shutdown-delay", "-1s"}, "-1s: must not be negative"},
		{"negative body limit", "", []string{"COMMONS_BODY_LIMIT", "-1"}, nil, "$COMMONS_BODY_LIMIT: body-limit: -1: must be at least 1"},
		{"negative rate limit", "rate-limit = -5\n", nil, nil, "rate-limit: -5: must be at least 0"},
		{"zero connections", "", nil, []string{"--max-connections", "0"}, "0: must be at least 1"},
		{"size not a number", "body-limit = 4MiB\n", nil, nil, `body-limit: "4MiB" is not a whole number`},
		{"addr without port", "addr = 127.0.0.1\n", nil, nil, `addr: "127.0.0.1" is not HOST:PORT`},
		{"addr with a bad port", "", nil, []string{"--addr", "127.0.0.1:http"}, "the port is not a number"},
		{"bad level", "log-level = loud\n", nil, nil, `log-level: "loud" is not one of debug, info, warn, error`},
		{"bad proxy", "trusted-proxies = proxy.local\n", nil, nil, `trusted-proxies: "proxy.local" is not an IP address or a CIDR range`},
		{"proxy header without proxies", "proxy-header = X-Real-IP\ntrusted-proxies =\n", nil, nil, "proxy-header is set but trusted-proxies is empty"},
		{"stray argument", "", nil, []string{"data"}, `unexpected argument "data"`},
		{"missing file", "", []string{"COMMONS_CONFIG", "/nonexistent/commons.conf"}, nil, "config: open /nonexistent/commons.conf"},
	} {
		t.Run(c.name, func(t *testing.T) {
			args := c.args
			if c.file != "" {
				args = append([]string{"--config", writeFile(t, c.file)}, args...)
			}
			_, _, _, err := loadServeConfig(args, env(c.env...), io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), c.want)
		})
	}
}

// TestFormatFile checks the FORMAT line and what checkDataFormat accepts and refuses.
func TestFormatFile(t *testing.T) {
	t.Parallel()
	for text, want := range map[string]int{"commons-data 1\n": 1, "commons-data 1": 1, "commons-data 7\n": 7,
		"": 0, "commons-data\n": 0, "commons-data one\n": 0, "commons-data 0\n": 0, "commons-data -1\n": 0,
		"commons-data 1 extra\n": 0, "commons-data\n1\n": 0, "badger 1\n": 0, "\x00\x01": 0} {
		v, err := parseDataFormat([]byte(text))
		if want == 0 {
			assert.Error(t, err, "%q", text)
		} else {
			assert.NoError(t, err, "%q", text)
			assert.Equal(t, want, v, "%q", text)
		}
	}

	fresh := t.TempDir()
	require.NoError(t, checkDataFormat(fresh))
	b, err := os.ReadFile(filepath.Join(fresh, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(b), "a first start writes the format")
	require.NoError(t, checkDataFormat(fresh), "and accepts it next time")

	upgraded := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(upgraded, "FORMAT"), []byte("commons-data 2\n"), 0o644))
	require.NoError(t, checkDataFormat(upgraded), "format 2 is served, upgraded at start (upgradeData)")

	newer := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(newer, "FORMAT"), []byte("commons-data 4\n"), 0o644))
	assert.ErrorContains(t, checkDataFormat(newer), "written by a newer Commons (data format 4; this binary reads format 3)")

	older := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(older, "FORMAT"), []byte("commons-data 1\n"), 0o644))
	err = checkDataFormat(older)
	assert.ErrorContains(t, err, "is data format 1, which this binary does not read (it reads format 3)")
	assert.ErrorContains(t, err, "nullifiers keyed by the node's keys/nullifier.key")

	garbled := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(garbled, "FORMAT"), []byte("version=1\n"), 0o644))
	assert.ErrorContains(t, checkDataFormat(garbled), `not a Commons data format line (want "commons-data 3")`)

	unversioned := t.TempDir()
	require.NoError(t, os.Mkdir(filepath.Join(unversioned, "badger"), 0o700))
	err = checkDataFormat(unversioned)
	assert.ErrorContains(t, err, "holds a badger/ database but no FORMAT file")
	assert.ErrorContains(t, err, "wrote format 1, which this binary does not read")
	assert.NoFileExists(t, filepath.Join(unversioned, "FORMAT"), "a refused directory is left as it was")
}

// TestOperatorConfigBinary runs the real binary: -h documents the file keys and environment
// names, --check-config reports precedence, a refused value stops it, and the precedence
// holds on a serving node (body-limit from file, then environment, then flag).
func TestOperatorConfigBinary(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	out, err := runBinary(t, nil, "serve", "-h")
	require.NoError(t, err, "help asked for is no failure")
	for _, want := range []string{"--release-every duration", "file key: release-every, environment: COMMONS_RELEASE_EVERY",
		"--rate-limit requests", "environment: COMMONS_RATE_LIMIT", "--config FILE", "environment: COMMONS_CONFIG",
		"lowest to highest precedence", "Secrets are never options"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "admin-token", "no secret is an option")

	file := writeFile(t, "body-limit = 1000\nrelease-every = 2h\n")
	out, err = runBinary(t, []string{"COMMONS_BODY_LIMIT=5000", "COMMONS_RATE_LIMIT=7"},
		"serve", "--config", file, "--rate-limit", "9", "--check-config")
	require.NoError(t, err, out)
	assert.Regexp(t, `body-limit\s+= 5000\s+# \$COMMONS_BODY_LIMIT`, out)
	assert.Regexp(t, `release-every\s+= 2h0m0s\s+# `+regexp.QuoteMeta(file)+`:2`, out)
	assert.Regexp(t, `rate-limit\s+= 9\s+# flag --rate-limit`, out)
	assert.Regexp(t, `addr\s+= 127\.0\.0\.1:8080\s+# default`, out)

	data := filepath.Join(t.TempDir(), "never")
	out, err = runBinary(t, nil, "serve", "--data", data, "--config", writeFile(t, "adress = :8080\n"))
	require.Error(t, err)
	assert.Contains(t, out, `commons: serve: refusing to start: `)
	assert.Contains(t, out, `:1: unknown key "adress"`)
	out, err = runBinary(t, []string{"COMMONS_RELEASE_EVERY=5 minutes"}, "serve", "--data", data)
	require.Error(t, err)
	assert.Contains(t, out, `$COMMONS_RELEASE_EVERY: release-every: "5 minutes" is not a duration`)
	out, err = runBinary(t, nil, "serve", "--data", data, "--addr", "localhost")
	require.Error(t, err)
	assert.Contains(t, out, `"localhost" is not HOST:PORT`)
	assert.NoDirExists(t, data, "a refused configuration touches nothing")

	// On a serving node: a 2,000-byte body against body-limit from each source.
	body := `{"statement":` + strings.Repeat(" ", 2000) + `}`
	for _, c := range []struct {
		name   string
		env    string
		flags  []string
		status int
	}{
		{"file: 1000", "", nil, 413},
		{"env 5000 over file", "5000", nil, 400},
		{"flag 1500 over env", "5000", []string{"--body-limit", "1500"}, 413},
	} {
		var env []string
		if c.env != "" {
			env = []string{"COMMONS_BODY_LIMIT=" + c.env}
		}
		n := startNodeEnv(t, env, t.TempDir(), &nodetest.Logs{}, append([]string{"--config", file}, c.flags...)...)
		status, _ := post(t, n.url+"/api/v1/statements", "application/json", []byte(body))
		assert.Equal(t, c.status, status, c.name)
		n.stop()
	}
}

// adminTokenOf reads a node's admin token.
func adminTokenOf(t testing.TB, data string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(data, "admin.token"))
	require.NoError(t, err)
	return strings.TrimSpace(string(b))
}

// cliResidents registers n residents through the CLI, each consenting to the air purpose, so
// that their wallets keep their receipts.
func cliResidents(t *testing.T, nd *node, home string, count int) []*resident {
	t.Helper()
	var rs []*resident
	for i, inv := range nd.invites(count) {
		r := &resident{wallet: filepath.Join(home, fmt.Sprintf("r%d", i), "wallet")}
		_, err := nd.cli(r.wallet, "wallet", "init")
		require.NoError(t, err)
		w, err := crypto.LoadWallet(r.wallet)
		require.NoError(t, err)
		r.citizen = w.CitizenID()
		_, err = nd.cli(r.wallet, "register", "--invite", inv, "--neighbourhood", "old-town")
		require.NoError(t, err)
		_, err = nd.cli(r.wallet, "consent", "grant", "--purpose", "air-quality/daily")
		require.NoError(t, err)
		rs = append(rs, r)
	}
	return rs
}

// load keeps clients registering and flipping their consent until stop; it counts the writes
// the server acknowledged.
type load struct {
	acked atomic.Int64
	stop  chan struct{}
	wg    sync.WaitGroup

	mu   sync.Mutex
	more *sync.Cond // broadcast on every acknowledged write
}

// waitBeyond blocks until the load has had more than n writes acknowledged.
func (l *load) waitBeyond(n int64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for l.acked.Load() <= n {
		l.more.Wait()
	}
}

func startLoad(t *testing.T, nd *node, clients int) *load {
	t.Helper()
	ctx := context.Background()
	c := client.New(nd.url)
	invites, err := c.Invites(ctx, adminTokenOf(t, nd.data), clients)
	require.NoError(t, err)
	air, err := c.Purpose(ctx, "air-quality/daily")
	require.NoError(t, err)
	l := &load{stop: make(chan struct{})}
	l.more = sync.NewCond(&l.mu)
	for _, inv := range invites {
		w, err := crypto.NewWallet()
		require.NoError(t, err)
		_, err = c.Register(ctx, w, inv, "riverside")
		require.NoError(t, err)
		l.wg.Go(func() {
			for granted := false; ; granted = !granted {
				select {
				case <-l.stop:
					return
				default:
				}
				var err error
				if granted {
					_, err = c.Revoke(ctx, w, air, false)
				} else {
					_, err = c.Grant(ctx, w, air)
				}
				if err != nil {
					t.Errorf("load: %v", err)
					return
				}
				l.mu.Lock()
				l.acked.Add(1)
				l.more.Broadcast()
				l.mu.Unlock()
			}
		})
	}
	return l
}

func (l *load) end() int64 {
	close(l.stop)
	l.wg.Wait()
	return l.acked.Load()
}

// checkpointOf fetches a node's latest checkpoint.
func checkpointOf(t *testing.T, nd *node) []byte {
	t.Helper()
	resp, err := http.Get(nd.url + "/api/v1/ledger/checkpoint")
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return b
}

// TestOperatorBackupRestore takes an online backup while residents write, restores it into a
// new directory, refuses to serve it until the keys are copied, then checks the restored node:
// fsck and the auditor pass, its checkpoint is the backed-up one (a prefix of the original
// log's), and the residents' saved receipts still prove.
func TestOperatorBackupRestore(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	data, home := t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	residents := cliResidents(t, n, home, 3)
	verifier := verifierOf(t, data)
	before, err := ledger.OpenCheckpoint(checkpointOf(t, n), verifier)
	require.NoError(t, err)

	// The backup runs while eight clients keep writing. It goes through a proxy that holds
	// the backup's body until the load has had more writes acknowledged than when the backup
	// began: so writes are acknowledged while a backup is under way, whatever the machine's
	// speed, and no sleep stands in for "the backup has started".
	l := startLoad(t, n, 8)
	l.waitBeyond(0)
	var duringBefore atomic.Int64
	held := backupHoldingProxy(t, n.url, func() { l.waitBeyond(duringBefore.Load()) })
	file := filepath.Join(t.TempDir(), "node.backup")
	started := time.Now()
	duringBefore.Store(l.acked.Load())
	out, err := runBinary(t, nil, "backup", "--server", held, "--out", file, "--admin-token-file", filepath.Join(data, "admin.token"))
	took := time.Since(started)
	require.NoError(t, err, out)
	acked := l.end()
	assert.Greater(t, acked, duringBefore.Load(), "writes were acknowledged while the backup ran")
	assert.Contains(t, out, "Keys are NOT in the backup: back up DATA/keys")
	info, err := os.Stat(file)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	assert.FileExists(t, file+".sha256")
	leftovers, err := filepath.Glob(filepath.Join(filepath.Dir(file), ".*.tmp"))
	require.NoError(t, err)
	assert.Empty(t, leftovers, "no temporary file is left behind")
	after, err := ledger.OpenCheckpoint(checkpointOf(t, n), verifier)
	require.NoError(t, err)
	t.Logf("backup of %d bytes in %s under load (%d writes acknowledged during the test's load, ledger %d → %d)",
		info.Size(), took.Round(time.Millisecond), acked, before.Size, after.Size)

	// Restore refuses a directory in use, then loads into a new one.
	out, err = runBinary(t, nil, "restore", "--in", file, "--data", data)
	require.Error(t, err)
	assert.Contains(t, out, "is not empty")
	restoredDir := filepath.Join(t.TempDir(), "restored")
	restoreOut, err := runBinary(t, nil, "restore", "--in", file, "--data", restoredDir)
	require.NoError(t, err, restoreOut)
	assert.Contains(t, restoreOut, "matches node.backup.sha256")
	assert.Contains(t, restoreOut, "Keys are NOT in the backup")
	m := regexp.MustCompile(`ledger: (\d+) entries`).FindStringSubmatch(restoreOut)
	require.NotNil(t, m, restoreOut)
	size, err := strconv.ParseUint(m[1], 10, 64)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, size, before.Size, "the backup holds everything acknowledged before it started")
	assert.LessOrEqual(t, size, after.Size)
	format, err := os.ReadFile(filepath.Join(restoredDir, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(format))

	// Without its keys, the restored node refuses to start (and creates none).
	out, err = runBinary(t, nil, "serve", "--data", restoredDir, "--addr", "127.0.0.1:0")
	require.Error(t, err)
	assert.Contains(t, out, "holds a database but not its keys (keys/ledger.key, keys/ledger.pub missing)")
	assert.NoDirExists(t, filepath.Join(restoredDir, "keys"))

	require.NoError(t, os.CopyFS(filepath.Join(restoredDir, "keys"), os.DirFS(filepath.Join(data, "keys"))))
	restoredNode := startNode(t, restoredDir, &nodetest.Logs{}, "--fsck")
	signed := checkpointOf(t, restoredNode)
	cp, err := ledger.OpenCheckpoint(signed, verifier)
	require.NoError(t, err)
	assert.Equal(t, size, cp.Size, "the restored node serves the backed-up checkpoint")
	assert.Contains(t, restoreOut, indent(string(signed)), "the very checkpoint restore reported")
	proofBody, err := client.New(n.url).Get(context.Background(), fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", cp.Size, after.Size))
	require.NoError(t, err)
	var proof struct{ Proof [][]byte }
	require.NoError(t, json.Unmarshal(proofBody, &proof))
	require.NoError(t, ledger.VerifyConsistency(cp, after, proof.Proof), "the restored log is a prefix of the original")

	auditor := filepath.Join(t.TempDir(), "auditor", "wallet")
	out, err = restoredNode.cli(auditor, "ledger", "verify", "--all")
	require.NoError(t, err, out)
	assert.Contains(t, out, "root matches the checkpoint")
	for _, r := range residents {
		out, err := restoredNode.cli(r.wallet, "consent", "list", "--json")
		require.NoError(t, err, "the resident's saved receipts prove against the restored node: %s", out)
		assert.Contains(t, out, `"your_consent": "granted"`)
		assert.NotContains(t, out, "FAILED")
	}
	// The restored node takes new writes.
	_, err = restoredNode.cli(residents[0].wallet, "consent", "revoke", "--purpose", "air-quality/daily")
	require.NoError(t, err)
	assert.Greater(t, ledgerSize(t, restoredNode), float64(size))
}

// TestOperatorMetrics sends traffic to the real binary, then checks /metrics has the expected
// series and no citizen id, and that debug logging writes one line per request by route
// pattern with a request id, never the path.
func TestOperatorMetrics(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	logs := &nodetest.Logs{}
	n := startNode(t, t.TempDir(), logs, "--log-level", "debug")
	residents := cliResidents(t, n, t.TempDir(), 2)
	var home fixtures.Resident
	for _, r := range fixtures.Residents() {
		if r.Neighbourhood == "old-town" {
			home = r
			break
		}
	}
	csv := filepath.Join(t.TempDir(), "r.csv")
	day := time.Now().UTC().Format(time.DateOnly)
	require.NoError(t, os.WriteFile(csv, fmt.Appendf(nil, "sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n"+
		"s,%sT00:10:00Z,%.6f,%.6f,20,10,15,70\n", day, home.Lat, home.Lon), 0o600))
	_, err := n.cli(residents[0].wallet, "contribute", csv)
	require.NoError(t, err)
	status, body := post(t, n.url+"/api/v1/contributions", "application/json", []byte(`{"contribution":{},"signature":""}`))
	assert.Equal(t, 404, status, "%v", body)
	resp, err := http.Get(n.url + "/api/v1/petitions/secret-probe-petition")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 404, resp.StatusCode)
	rid := resp.Header.Get("X-Request-ID")
	assert.Regexp(t, `^[0-9a-f-]{36}$`, rid)
	_, err = n.cli("", "admin", "release", "--admin-token-file", filepath.Join(n.data, "admin.token"))
	require.NoError(t, err)

	resp, err = http.Get(n.metricsURL())
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.NoError(t, err)
	require.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, resp.Header.Get("Content-Type"), "text/plain")
	metrics := string(b)
	for _, want := range []string{
		`commons_http_requests_total{method="POST",route="/api/v1/citizens",status="201"} 2`,
		`commons_http_requests_total{method="POST",route="/api/v1/statements",status="201"} 2`,
		`commons_http_requests_total{method="GET",route="/api/v1/petitions/:id",status="404"} 1`,
		`commons_http_request_duration_seconds_bucket{method="POST",route="/api/v1/contributions",le="+Inf"} 2`,
		`commons_contributions_total{result="accepted"} 1`,
		`commons_contributions_total{result="unknown_citizen"} 1`,
		`commons_ledger_appended_entries_total `,
		`commons_ledger_batch_entries_bucket{le="1"} `,
		`commons_ledger_commit_seconds_count `,
		`commons_ledger_commit_failures_total 0`,
		`commons_ledger_size `,
		`commons_releases_published_total{purpose="air-quality/daily"} `,
		`process_resident_memory_bytes `, `go_goroutines `,
	} {
		assert.Contains(t, metrics, want)
	}
	assert.NotRegexp(t, `c-[a-z0-9]{8,}`, metrics, "no citizen id")
	for _, r := range residents {
		assert.NotContains(t, metrics, r.citizen)
		assert.NotContains(t, logs.String(), r.citizen)
	}
	assert.NotContains(t, metrics, "secret-probe-petition")
	assert.NotContains(t, logs.String(), "secret-probe-petition", "the log names the route, never the path")
	assert.Regexp(t, `level=DEBUG msg=request method=GET route=/api/v1/petitions/:id status=404 took=\S+ request_id=`+rid, logs.String())
	assert.Regexp(t, `level=DEBUG msg=request method=POST route=/api/v1/contributions status=201 `, logs.String())
	t.Logf("/metrics: %d bytes, %d series", len(b), strings.Count(metrics, "\n")-strings.Count(metrics, "\n#"))
}

// TestOperatorRateLimit checks the real binary's limit: the fourth POST in a minute from one
// address gets 429 rate_limited with Retry-After; GETs and the admin token pass.
func TestOperatorRateLimit(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t, "--rate-limit", "3")
	for i := range 3 {
		status, body := post(t, n.url+"/api/v1/statements", "application/json", []byte(`{`))
		assert.Equal(t, 400, status, "request %d: %v", i, body)
	}
	req, err := http.NewRequest("POST", n.url+"/api/v1/citizens", strings.NewReader(`{}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	var body map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	resp.Body.Close()
	assert.Equal(t, 429, resp.StatusCode)
	assert.Equal(t, "rate_limited", errCode(body))
	after, err := strconv.Atoi(resp.Header.Get("Retry-After"))
	require.NoError(t, err, "Retry-After: %q", resp.Header.Get("Retry-After"))
	assert.True(t, after >= 0 && after <= 60, "Retry-After %d", after)

	assert.Equal(t, 200, ledgerStatus(t, n.url+"/api/v1/purposes"), "GET is not limited")
	out, err := n.cli("", "admin", "invite", "--count", "1", "--admin-token-file", filepath.Join(n.data, "admin.token"))
	require.NoError(t, err, "the operator is not limited: %s", out)
	resp, err = http.Get(n.metricsURL())
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Contains(t, string(b), `commons_http_requests_total{method="POST",route="/api/v1/citizens",status="429"} 1`)
}

func ledgerStatus(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	resp.Body.Close()
	return resp.StatusCode
}

// TestOperatorMaxConnections checks the connection cap: with two connections held open, a
// third is refused with 503 and closed, and is served again once one closes.
func TestOperatorMaxConnections(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n := startFreshNode(t, "--max-connections", "2")
	addr := strings.TrimPrefix(n.url, "http://")
	deadline, _ := n.ctx.Deadline() // none without a -timeout
	get := func(c net.Conn) (*http.Response, error) {
		fmt.Fprint(c, "GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
		c.SetReadDeadline(deadline)
		return http.ReadResponse(bufio.NewReader(c), nil)
	}
	var held []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", addr)
		require.NoError(t, err)
		defer c.Close()
		resp, err := get(c)
		require.NoError(t, err)
		io.Copy(io.Discard, resp.Body)
		assert.Equal(t, 200, resp.StatusCode)
		held = append(held, c)
	}
	// The refusal is written as the connection is accepted, before any request.
	c, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	c.SetReadDeadline(deadline)
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	require.NoError(t, err)
	msg, _ := io.ReadAll(resp.Body)
	c.Close()
	assert.Equal(t, 503, resp.StatusCode, "%s", msg)
	assert.Equal(t, "unavailable", jsonErrCode(t, msg), "the refusal is the JSON error body")

	held[0].Close()
	assert.True(t, eventually(n.ctx, func() bool {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			return false
		}
		defer c.Close()
		resp, err := get(c)
		return err == nil && resp.StatusCode == 200
	}), "a freed slot serves again")
}

// TestOperatorReadyz checks /readyz on the real binary: 200 once serving, 503 from SIGTERM
// through the shutdown delay while the node still answers, then the process exits cleanly.
func TestOperatorReadyz(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	logs := &nodetest.Logs{}
	// The delay is the window in which the test must see the two answers below: ample on a
	// loaded machine, and waited out in parallel with the other tests.
	n := startNode(t, t.TempDir(), logs, "--shutdown-delay", "10s")
	assert.Equal(t, 200, ledgerStatus(t, n.url+"/readyz"))
	require.NoError(t, n.cmd.Process.Signal(syscall.SIGTERM))
	assert.True(t, eventually(n.ctx, func() bool { return ledgerStatus(t, n.url+"/readyz") == 503 }), "/readyz answers 503 after SIGTERM")
	assert.Equal(t, 200, ledgerStatus(t, n.url+"/healthz"), "still serving while draining")
	exited := make(chan error, 1)
	go func() { exited <- n.cmd.Wait() }()
	select {
	case err := <-exited:
		require.NoError(t, err, "a clean exit")
	case <-n.ctx.Done():
		t.Fatal("the node did not exit after its shutdown delay")
	}
	assert.Contains(t, logs.String(), "shutting down: /readyz answers 503, still serving")
}

// TestOperatorDataFormat checks the data directory's FORMAT on the real binary: written on
// first start, a newer or garbled one refused, and a database without one refused.
func TestOperatorDataFormat(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	n.stop()
	b, err := os.ReadFile(filepath.Join(data, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(b))

	serve := func() string {
		out, err := runBinary(t, nil, "serve", "--data", data, "--addr", "127.0.0.1:0")
		require.Error(t, err, "the node must refuse: %s", out)
		return out
	}
	require.NoError(t, os.WriteFile(filepath.Join(data, "FORMAT"), []byte("commons-data 4\n"), 0o644))
	assert.Contains(t, serve(), "refusing to start: "+data+" was written by a newer Commons (data format 4; this binary reads format 3)")
	require.NoError(t, os.WriteFile(filepath.Join(data, "FORMAT"), []byte("commons-data 1\n"), 0o644))
	assert.Contains(t, serve(), "refusing to start: "+data+" is data format 1, which this binary does not read")
	require.NoError(t, os.WriteFile(filepath.Join(data, "FORMAT"), []byte("{\"format\":1}\n"), 0o644))
	assert.Contains(t, serve(), `FORMAT: not a Commons data format line (want "commons-data 3")`)
	require.NoError(t, os.Remove(filepath.Join(data, "FORMAT")))
	assert.Contains(t, serve(), "holds a badger/ database but no FORMAT file")

	require.NoError(t, os.WriteFile(filepath.Join(data, "FORMAT"), []byte("commons-data 2\n"), 0o644))
	startNode(t, data, &nodetest.Logs{}).stop()
	b, err = os.ReadFile(filepath.Join(data, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(b), "a format-2 directory is served, upgraded to format 3")
}

// backupHoldingProxy is a reverse proxy to a node that calls hold before it passes on the
// first byte of a backup's body.
func backupHoldingProxy(t *testing.T, target string, hold func()) string {
	t.Helper()
	u, err := url.Parse(target)
	require.NoError(t, err)
	p := httputil.NewSingleHostReverseProxy(u)
	p.ModifyResponse = func(r *http.Response) error {
		if strings.HasSuffix(r.Request.URL.Path, "/admin/backup") {
			r.Body = &heldBody{ReadCloser: r.Body, hold: hold}
		}
		return nil
	}
	srv := httptest.NewServer(p)
	t.Cleanup(srv.Close)
	return srv.URL
}

// heldBody calls hold once, before its first Read.
type heldBody struct {
	io.ReadCloser
	hold func()
	once sync.Once
}

func (b *heldBody) Read(p []byte) (int, error) {
	b.once.Do(b.hold)
	return b.ReadCloser.Read(p)
}

// backupOf writes a backup of a database whose ledger holds entries, as `commons backup`
// streams it.
func backupOf(t *testing.T, entries ...string) string {
	t.Helper()
	c := nodetest.New(t, nodetest.Options{Origin: "test.commons.local/format", Synced: true})
	for _, e := range entries {
		_, err := c.Ledger.Append(context.Background(), []byte(e))
		require.NoError(t, err)
	}
	file := filepath.Join(t.TempDir(), "backup")
	f, err := os.Create(file)
	require.NoError(t, err)
	_, err = c.DB.Backup(f, 0)
	require.NoError(t, err)
	require.NoError(t, f.Close())
	return file
}

// TestRestoreRefusesAFormat1Backup restores backups into new data directories: a backup whose
// ledger holds format-1 petitions (made by the operator, signatures under node-keyed
// nullifiers) is refused like a format-1 directory, rather than written out as format 2 and
// served with those petitions skipped; a format-2 backup is restored.
func TestRestoreRefusesAFormat1Backup(t *testing.T) {
	t.Parallel()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	old := backupOf(t,
		`{"body":{"id":"trees"},"hash":"ab","petition":"trees","type":"petition.create"}`,
		`{"nullifier":"00","petition":"trees","type":"petition.sign"}`)
	dir := filepath.Join(t.TempDir(), "data")
	_, err := restore(old, dir, logger)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "data format 1")
	assert.NoFileExists(t, filepath.Join(dir, "FORMAT"))
	assert.NoDirExists(t, filepath.Join(dir, "badger"))

	current := backupOf(t,
		`{"body":{"id":"trees"},"citizen":"c-1","hash":"ab","petition":"trees","recipient":"age1x","type":"petition.create"}`,
		`{"epoch":"2026-05-04","nullifier":"00","petition":"trees","type":"petition.sign"}`)
	dir = filepath.Join(t.TempDir(), "data")
	_, err = restore(current, dir, logger)
	require.NoError(t, err)
	b, err := os.ReadFile(filepath.Join(dir, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(b), "served as format 3: upgradeData runs at every start")
}

// TestFormat2IsUpgradedAtStart builds the data of a format-2 node — a petition without a token
// key, a signature logged under a wallet nullifier, and the private binding of its resident to
// that nullifier — and upgrades it as a start does: the binding is gone, replaced by an
// issuance record without the nullifier (so the resident is issued no second token), the open
// petition gets a token key, the old signature is still counted by the node and by a recount
// of the ledger, and FORMAT says 3. A second start changes nothing.
func TestFormat2IsUpgradedAtStart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := nodetest.New(t, nodetest.Options{})
	now := c.Clock.Now()
	signer, organiser := mustWallet(t), mustWallet(t)
	for _, w := range []*crypto.Wallet{signer, organiser} {
		c.Append(t, api.Entry{Type: api.EntryInvite, Hash: crypto.DocumentHash([]byte(w.CitizenID()))})
		c.Append(t, api.Entry{Type: api.EntryRegister, Citizen: w.CitizenID(), SigningKey: crypto.EncodeKey(w.SigningPublicKey()),
			Recipient: w.Recipient().String(), Hash: crypto.DocumentHash([]byte(w.CitizenID()))})
	}
	c.Append(t, api.Entry{Type: api.EntryOrganiserGrant, Citizen: organiser.CitizenID()})
	doc := api.Petition{ID: "trees", Title: "Trees", Opens: now.Add(-time.Hour), Closes: now.Add(24 * time.Hour), Threshold: 5}
	body, err := json.Marshal(doc)
	require.NoError(t, err)
	st, err := organiser.SignStatement(crypto.Statement{Type: crypto.TypePetitionCreate, Petition: "trees",
		Document: crypto.DocumentHash(body), IssuedAt: now.Format(time.RFC3339), Nonce: "n1"})
	require.NoError(t, err)
	c.Append(t, api.Entry{Type: api.EntryPetition, Petition: "trees", Body: body, Hash: crypto.DocumentHash(body),
		Citizen: organiser.CitizenID(), IssuedAt: st.Statement.IssuedAt, Nonce: "n1", Signature: st.Signature, Recipient: "age1legacy"})
	legacy := strings.Repeat("ab", 32) // a format-2 nullifier: HMAC of the petition id
	c.Append(t, api.Entry{Type: api.EntryPetitionSign, Petition: "trees", Nullifier: legacy, Epoch: now.Format(time.DateOnly)})
	binding := []byte("p/signer/trees\x00" + signer.CitizenID())
	require.NoError(t, c.Ledger.Write(ctx, ledger.Write{Puts: []ledger.Put{{Key: binding, Value: []byte(legacy)}}}))

	dir := t.TempDir()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	require.NoError(t, upgradeData(ctx, dir, c.Ledger, c.Store, c.State, now, logger))
	b, err := os.ReadFile(filepath.Join(dir, "FORMAT"))
	require.NoError(t, err)
	assert.Equal(t, "commons-data 3\n", string(b))
	require.NoError(t, c.DB.View(func(txn *badger.Txn) error {
		_, err := txn.Get(binding)
		assert.ErrorIs(t, err, badger.ErrKeyNotFound, "the binding of a resident to a nullifier is gone")
		return nil
	}))
	issued, err := c.Store.Issued("trees", signer.CitizenID())
	require.NoError(t, err)
	assert.NotEmpty(t, issued, "the resident who signed is recorded as issued")
	assert.NotContains(t, issued, legacy, "without the nullifier")
	p, ok := c.State.Petition("trees")
	require.True(t, ok)
	assert.NotEmpty(t, p.TokenKey, "the open petition issues tokens")
	assert.Equal(t, 1, p.Signatures, "the old signature still counts")
	recount, err := petition.Recount("trees", func(visit func(uint64, api.Entry) error) error {
		return c.Ledger.Scan(ctx, 0, c.Ledger.Size(), func(i uint64, raw []byte) error {
			e, err := api.ParseEntry(raw)
			if err != nil {
				return err
			}
			return visit(i, e)
		})
	})
	require.NoError(t, err)
	assert.Equal(t, 1, recount.Online, "the recount equals the node's count")

	size := c.Ledger.Size()
	require.NoError(t, upgradeData(ctx, dir, c.Ledger, c.Store, c.State, now, logger))
	assert.Equal(t, size, c.Ledger.Size(), "a second start appends nothing")
}

func mustWallet(t *testing.T) *crypto.Wallet {
	t.Helper()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	return w
}

// TestReadyzRefusesUntilTheDemoIsPublished holds a --demo node after it listens and before its
// city loads: /readyz answers 503 with a JSON error, while the public API already serves and
// has no released day yet. (TestDemoCity starts a demo node and finds its month released as
// soon as the node says it is ready.)
func TestReadyzRefusesUntilTheDemoIsPublished(t *testing.T) {
	t.Parallel()
	logs := &nodetest.Logs{}
	cfg := defaultServeConfig()
	cfg.Data, cfg.Addr, cfg.Demo = t.TempDir(), "127.0.0.1:0", true
	urls := make(chan string, 1)
	logger := slog.New(slog.NewTextHandler(lineWatch{logs, servingLine, urls}, nil))
	held, release := make(chan struct{}), make(chan struct{})
	cfg.beforeDemo = func() {
		close(held)
		<-release
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- runNode(ctx, cfg, logger) }()
	deadline := testContext(t)
	var url string
	select {
	case url = <-urls:
	case err := <-done:
		t.Fatalf("node stopped before serving: %v; logs:\n%s", err, logs.String())
	case <-deadline.Done():
		t.Fatal("node not serving by the test's deadline")
	}
	select {
	case <-held:
	case <-deadline.Done():
		t.Fatal("the node never reached the demo load")
	}

	get := func(path string) (int, []byte) {
		req, err := http.NewRequestWithContext(deadline, http.MethodGet, url+path, nil)
		require.NoError(t, err)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, body
	}
	status, body := get("/readyz")
	assert.Equal(t, http.StatusServiceUnavailable, status)
	var refusal struct {
		Error struct{ Code, Message string }
	}
	require.NoError(t, json.Unmarshal(body, &refusal), string(body))
	assert.Equal(t, "unavailable", refusal.Error.Code)
	assert.Contains(t, refusal.Error.Message, "not ready")
	status, _ = get("/healthz")
	assert.Equal(t, http.StatusOK, status, "alive, only not ready")
	status, body = get("/api/v1/stats/air")
	require.Equal(t, http.StatusOK, status)
	var idx struct{ Epochs []string }
	require.NoError(t, json.Unmarshal(body, &idx))
	assert.Empty(t, idx.Epochs, "nothing is released before the demo loads")

	// Stopping the node there ends its start: the loader sees the cancelled context.
	cancel()
	close(release)
	select {
	case err := <-done:
		assert.ErrorIs(t, err, context.Canceled)
	case <-deadline.Done():
		t.Fatal("the node did not stop by the test's deadline")
	}
}
