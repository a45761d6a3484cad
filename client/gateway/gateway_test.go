package gateway

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
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/reading"
)

// The CLIENTS.md sample, as the airrohr firmware posts it.
const sample = `{"esp8266id": "14907210", "software_version": "NRZ-2020-133", "sensordatavalues":[
 {"value_type":"SDS_P1","value":"16.85"},{"value_type":"SDS_P2","value":"4.35"},
 {"value_type":"BMP280_pressure","value":"102184.50"},{"value_type":"BMP280_temperature","value":"9.27"},
 {"value_type":"samples","value":"5003746"},{"value_type":"min_micro","value":"28"},
 {"value_type":"max_micro","value":"20049"},{"value_type":"interval","value":"145000"},
 {"value_type":"signal","value":"-85"}]}`

// unreachable returns the URL of a port that was just closed: connecting to it is refused.
func unreachable(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	url := "http://" + ln.Addr().String()
	require.NoError(t, ln.Close())
	return url
}

// purpose is a real purpose key pair, as a server would publish it.
func purpose(t *testing.T) (client.Purpose, *age.X25519Identity) {
	t.Helper()
	id, err := age.GenerateX25519Identity()
	require.NoError(t, err)
	return client.Purpose{Purpose: api.Purpose{ID: "air-quality/daily", Version: 1, Recipient: id.Recipient().String()}}, id
}

// testConfig is a gateway whose server cannot be reached.
func testConfig(t *testing.T, dir string, w *crypto.Wallet) Config {
	t.Helper()
	p, _ := purpose(t)
	return Config{
		Outbox: dir, Cell: "old-town", Wallet: w, Client: client.New(unreachable(t)),
		Purposes: func(context.Context) ([]client.Purpose, error) { return []client.Purpose{p}, nil },
	}
}

func newWallet(t *testing.T) *crypto.Wallet {
	t.Helper()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	return w
}

// post sends body as the airrohr firmware does: its headers, optional Basic credentials.
func post(t *testing.T, url, body string, auth ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/data.php", strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "NRZ-2020-133/14907210/aa:bb")
	req.Header.Set("X-Sensor", "esp8266-14907210")
	req.Header.Set("X-MAC-ID", "esp8266-aa:bb")
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

var sampleLine = regexp.MustCompile(`^([a-z_]+(?:\{reason="[^"]*"\})?) (\d+)$`)

// scrape reads the gateway's /metrics as a map from series to value.
func scrape(t *testing.T, url string, auth ...string) map[string]int {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url+"/metrics", nil)
	require.NoError(t, err)
	if len(auth) == 2 {
		req.SetBasicAuth(auth[0], auth[1])
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, "text/plain; version=0.0.4; charset=utf-8", resp.Header.Get("Content-Type"))
	out := map[string]int{}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# HELP ") || strings.HasPrefix(line, "# TYPE ") {
			continue
		}
		m := sampleLine.FindStringSubmatch(line)
		require.NotNil(t, m, "not a sample line: %q", line)
		out[m[1]], err = strconv.Atoi(m[2])
		require.NoError(t, err)
	}
	return out
}

func TestGatewayReceivesDevicePosts(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	g, err := Open(testConfig(t, dir, newWallet(t)))
	require.NoError(t, err)
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	status, body := post(t, srv.URL, sample)
	assert.Equal(t, 200, status)
	assert.Equal(t, "ok\n", body, "a tiny answer")

	cases := []struct {
		name, body string
		status     int
	}{
		{"garbled", `{"esp8266id": "14907210", "sensordatavalues":[{"value_type":"SDS_P1","val`, 400},
		{"form encoded", `SDS_P1=16.85&SDS_P2=4.35`, 400},
		{"out of range", `{"sensordatavalues":[{"value_type":"SDS_P1","value":"5000"}]}`, 422},
		{"only diagnostics", `{"sensordatavalues":[{"value_type":"signal","value":"-85"}]}`, 422},
		{"only gps", `{"sensordatavalues":[{"value_type":"GPS_lat","value":"48.778112"},{"value_type":"GPS_lon","value":"9.179834"}]}`, 422},
		{"unknown and bad values beside good ones", `{"sensordatavalues":[{"value_type":"SDS_P2","value":"7.5"},{"value_type":"radon","value":"3"},{"value_type":"SDS_P1","value":"nan"}]}`, 200},
		{"gps beside good values", `{"sensordatavalues":[{"value_type":"SDS_P2","value":"8.5"},{"value_type":"GPS_lat","value":"48.778112"},{"value_type":"GPS_lon","value":"9.179834"}]}`, 200},
		{"too large", `{"sensordatavalues":[` + strings.Repeat(`{"value_type":"x","value":"1"},`, 3000) + `]}`, 413},
	}
	for _, c := range cases {
		status, body := post(t, srv.URL, c.body)
		assert.Equal(t, c.status, status, c.name)
		assert.NotContains(t, body, "48.77", c.name)
		assert.Less(t, len(body), 40, "%s: the answer is tiny", c.name)
	}
	resp, err := http.Get(srv.URL + "/data.php")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 405, resp.StatusCode)

	m := scrape(t, srv.URL)
	assert.Equal(t, 3, m["commons_gateway_readings_accepted_total"])
	assert.Equal(t, 2, m[`commons_gateway_readings_rejected_total{reason="malformed"}`])
	assert.Equal(t, 1, m[`commons_gateway_readings_rejected_total{reason="pm10: out of range"}`])
	assert.Equal(t, 2, m[`commons_gateway_readings_rejected_total{reason="no_values"}`])
	assert.Equal(t, 1, m[`commons_gateway_readings_rejected_total{reason="too_large"}`])
	assert.Equal(t, 1, m["commons_gateway_unknown_types_total"])
	assert.Equal(t, 1, m["commons_gateway_values_dropped_total"])
	assert.Equal(t, 3, m["commons_gateway_pending_readings"])
	assert.Equal(t, 0, m["commons_gateway_batches_uploaded_total"])

	// The outbox holds the three readings, in the gateway's neighbourhood, at receive time,
	// with pressure in hPa, and nothing of the GPS.
	raw := outboxText(t, dir)
	assert.NotContains(t, raw, "48.778112")
	assert.NotContains(t, raw, "9.179834")
	o, err := openOutbox(dir, g.cfg.Logger)
	require.NoError(t, err)
	require.Len(t, o.closed, 1)
	rs := o.closed[0].readings
	require.Len(t, rs, 3)
	for _, r := range rs {
		assert.Equal(t, "old-town", r.Cell)
		assert.Equal(t, "esp8266-14907210", r.Sensor)
		assert.WithinDuration(t, time.Now(), r.RecordedAt, time.Minute)
		assert.Equal(t, time.UTC, r.RecordedAt.Location())
	}
	require.NotNil(t, rs[0].Values.Pressure)
	assert.InDelta(t, 1021.845, *rs[0].Values.Pressure, 1e-9)
	assert.InDelta(t, 7.5, *rs[1].Values.PM2_5, 1e-9)
	assert.Nil(t, rs[1].Values.PM10, "the NaN PM10 was dropped")
}

// outboxText is every file of the outbox, concatenated.
func outboxText(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	require.NoError(t, filepath.Walk(dir, func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		b.Write(data)
		return err
	}))
	return b.String()
}

func TestGatewayBasicAuth(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t, t.TempDir(), newWallet(t))
	cfg.BasicAuth = "sensor:s3cret"
	g, err := Open(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(g.Handler())
	defer srv.Close()

	for _, auth := range [][]string{nil, {"sensor", "wrong"}, {"other", "s3cret"}, {"sensor:s3cret", ""}} {
		status, _ := post(t, srv.URL, sample, auth...)
		assert.Equal(t, 401, status, "%v", auth)
	}
	resp, err := http.Get(srv.URL + "/metrics")
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, 401, resp.StatusCode, "the metrics need the credentials too")
	assert.Contains(t, resp.Header.Get("WWW-Authenticate"), "Basic")

	status, _ := post(t, srv.URL, sample, "sensor", "s3cret")
	assert.Equal(t, 200, status)
	m := scrape(t, srv.URL, "sensor", "s3cret")
	assert.Equal(t, 1, m["commons_gateway_readings_accepted_total"])
	assert.Equal(t, 5, m["commons_gateway_requests_unauthorized_total"])

	for _, bad := range []string{"nopassword", ":pw"} {
		cfg.BasicAuth = bad
		_, err := Open(cfg)
		assert.Error(t, err, bad)
	}
}

// TestOutboxSurvivesCrash writes readings, flushes while the server is unreachable, keeps
// writing, then "crashes" by abandoning the Gateway with a torn append on disk. A new Gateway
// on the same outbox finds every acknowledged reading, and the signed batch with the same
// nonce, so the next attempt can only be a retry of the same contribution.
func TestOutboxSurvivesCrash(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	w := newWallet(t)
	cfg := testConfig(t, dir, w)
	g1, err := Open(cfg)
	require.NoError(t, err)
	srv := httptest.NewServer(g1.Handler())
	for range 3 {
		status, _ := post(t, srv.URL, sample)
		require.Equal(t, 200, status)
	}
	err = g1.Flush(context.Background())
	require.ErrorIs(t, err, errRetry, "the server is unreachable")
	uploads, err := filepath.Glob(filepath.Join(dir, "*"+uploadExt))
	require.NoError(t, err)
	require.Len(t, uploads, 1, "the batch was signed and saved before the first attempt")
	first := readUpload(t, uploads[0])
	assert.False(t, first.Uncertain, "a refused connection proves the server never saw it")
	assert.Equal(t, w.CitizenID(), first.Signed.Contribution.Citizen)

	for range 2 {
		status, _ := post(t, srv.URL, sample)
		require.Equal(t, 200, status)
	}
	srv.Close()
	// The crash: g1 is abandoned without closing, in the middle of a third append.
	open := g1.outbox.open
	require.NotNil(t, open)
	_, err = open.f.WriteString(`{"sensor":"esp8266-14907210","recorded_at":"2026-`)
	require.NoError(t, err)

	g2, err := Open(cfg)
	require.NoError(t, err)
	readings, batches := g2.outbox.pending()
	assert.Equal(t, 5, readings, "every acknowledged reading, and not the torn one")
	assert.Equal(t, 2, batches)
	bs := g2.outbox.batches()
	require.Len(t, bs, 2)
	require.NotNil(t, bs[0].upload)
	assert.Equal(t, first.Signed, bs[0].upload.Signed, "the same signed contribution, same nonce")
	assert.Len(t, bs[0].readings, 3)
	assert.Nil(t, bs[1].upload)
	assert.Len(t, bs[1].readings, 2)

	// The next flush retries the first batch as it was, and stops there.
	require.ErrorIs(t, g2.Flush(context.Background()), errRetry)
	again := readUpload(t, uploads[0])
	assert.Equal(t, first.Signed.Contribution.Nonce, again.Signed.Contribution.Nonce)
	assert.Equal(t, first.Signed.Signature, again.Signed.Signature)
}

// TestCancelledFlushLeavesTheBatchCertain cancels a flush, as the gateway's shutdown does,
// before its upload had a connection: the server cannot have seen the contribution, so the
// batch is not marked as one the server may have stored (which the gateway never re-signs).
func TestCancelledFlushLeavesTheBatchCertain(t *testing.T) {
	dir := t.TempDir()
	g, err := Open(testConfig(t, dir, newWallet(t)))
	require.NoError(t, err)
	require.NoError(t, g.outbox.append(reading.Reading{Sensor: "esp8266-1", Cell: "old-town",
		RecordedAt: time.Now().UTC().Truncate(time.Second), Values: reading.Values{PM10: reading.F(12)}}))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	require.ErrorIs(t, g.Flush(ctx), errRetry)
	uploads, err := filepath.Glob(filepath.Join(dir, "*"+uploadExt))
	require.NoError(t, err)
	require.Len(t, uploads, 1, "the batch was signed and saved before the attempt")
	assert.False(t, readUpload(t, uploads[0]).Uncertain, "no connection: the server never saw it")
}

func readUpload(t *testing.T, path string) upload {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var u upload
	require.NoError(t, json.Unmarshal(b, &u))
	return u
}

// TestOutboxCrashBetweenDeletes covers a crash after an acknowledged batch's readings were
// deleted but before its upload file was: the leftover is recognised as delivered.
func TestOutboxCrashBetweenDeletes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := batchPrefix + "00000000000000000001"
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+uploadExt), []byte(`{"signed":{}}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"+uploadExt+tmpExt), []byte(`partial`), 0o600))
	o := testOutbox(t, dir)
	readings, batches := o.pending()
	assert.Zero(t, readings)
	assert.Zero(t, batches)
	left, err := os.ReadDir(dir)
	require.NoError(t, err)
	require.Len(t, left, 1)
	assert.Equal(t, heldDir, left[0].Name(), "the leftover and the temporary file are gone")
}

// TestOutboxQuarantinesDamage moves a batch with a damaged line (not a torn tail) to held/,
// keeping its bytes, and keeps going.
func TestOutboxQuarantinesDamage(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	name := batchPrefix + "00000000000000000001"
	damaged := "{\"sensor\":\"s\"}\nnot json\n{\"sensor\":\"t\"}\n"
	require.NoError(t, os.WriteFile(filepath.Join(dir, name+readingsExt), []byte(damaged), 0o600))
	o := testOutbox(t, dir)
	assert.Empty(t, o.batches())
	kept, err := os.ReadFile(filepath.Join(dir, heldDir, name+readingsExt+corruptSuffix))
	require.NoError(t, err)
	assert.Equal(t, damaged, string(kept))
	// New readings go to a batch numbered after the damaged one.
	require.NoError(t, o.append(reading.Reading{Sensor: "s", Cell: "c", RecordedAt: time.Now(), Values: reading.Values{PM10: reading.F(1)}}))
	require.NoError(t, o.cut())
	bs := o.batches()
	require.Len(t, bs, 1)
	assert.Greater(t, bs[0].name, name)
}

func TestOutboxHoldWritesAContributableFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, r := testOutbox(t, dir), sensorReading()
	require.NoError(t, o.append(r))
	require.NoError(t, o.cut())
	b := o.batches()[0]
	require.NoError(t, o.hold(b, "maybe_stored"))
	assert.Empty(t, o.batches())
	held := filepath.Join(dir, heldDir, b.name+".maybe_stored.json")
	rs, rejected, err := reading.ParseFile(held, nil, reading.Options{})
	require.NoError(t, err)
	assert.Empty(t, rejected)
	assert.Equal(t, []reading.Reading{r}, rs, "`commons contribute` reads a held batch as is")
	_, err = os.Stat(filepath.Join(dir, b.name+readingsExt))
	assert.ErrorIs(t, err, os.ErrNotExist)
}

// snapshot lists every file under dir with its content, to prove ReadOutbox changes nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			out[p] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	}))
	return out
}

// TestReadOutboxStatus builds an outbox with the gateway's own code (a signed batch, a closed
// batch, an open batch with a torn tail, a held file, leftovers) and checks ReadOutbox counts
// what the gateway would deliver, agrees with the outbox's own pending count, and writes nothing.
func TestReadOutboxStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, r := testOutbox(t, dir), sensorReading()
	start := time.Now().UTC()
	for range 3 {
		require.NoError(t, o.append(r))
	}
	require.NoError(t, o.cut())
	first := o.batches()[0]
	require.NoError(t, o.saveUpload(first, upload{Uncertain: true}))
	for range 2 {
		require.NoError(t, o.append(r))
	}
	require.NoError(t, o.cut())
	// A batch refused for good goes to held/.
	require.NoError(t, o.append(r))
	require.NoError(t, o.cut())
	bs := o.batches()
	require.NoError(t, o.hold(bs[len(bs)-1], "refused"))
	require.NoError(t, o.append(r)) // the open batch a running gateway appends to
	_, err := o.open.f.WriteString(`{"sensor":"torn`)
	require.NoError(t, err)
	// An acknowledged leftover (upload file without readings) and a temporary file.
	require.NoError(t, os.WriteFile(filepath.Join(dir, batchPrefix+"00000000000000000001"+uploadExt), []byte(`{}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"+uploadExt+tmpExt), []byte(`partial`), 0o600))

	readings, _ := o.pending()
	before := snapshot(t, dir)
	st, err := ReadOutbox(dir)
	require.NoError(t, err)
	assert.Equal(t, before, snapshot(t, dir), "ReadOutbox is read-only")
	assert.Equal(t, 3, st.Batches, "signed, closed and open batches")
	assert.Equal(t, 6, st.Readings, "3+2+1, not the torn line")
	assert.Equal(t, readings, st.Readings, "the same count as the gateway's own")
	assert.Equal(t, 1, st.Signed)
	assert.Equal(t, 1, st.Held)
	assert.Zero(t, st.Damaged)
	assert.WithinDuration(t, start, st.Oldest, time.Minute)

	// A damaged batch is counted apart; the gateway quarantines it on its next start.
	require.NoError(t, os.WriteFile(filepath.Join(dir, batchPrefix+"00000000000000000002"+readingsExt), []byte("not json\n"), 0o600))
	st, err = ReadOutbox(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Damaged)
	assert.Equal(t, 3, st.Batches)

	_, err = ReadOutbox(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	empty, err := ReadOutbox(t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, OutboxStatus{}, empty)
}

// TestClassify checks what each answer proves about whether the server stored a contribution.
// The network errors are real: a refused connection, and a connection closed mid-request.
func TestClassify(t *testing.T) {
	t.Parallel()
	w := newWallet(t)
	signed, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(),
		Envelopes: []crypto.Envelope{{Day: "2026-01-01", Purpose: crypto.VaultPurpose, Ciphertext: []byte("x")}}})
	require.NoError(t, err)

	err = client.New(unreachable(t)).PostContribution(context.Background(), signed)
	out, code := classify(err)
	assert.Equal(t, unsent, out, "%v", err)
	assert.Equal(t, "unreachable", code)

	// A server that reads the request and hangs up: it may have stored it.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			http.ReadRequest(bufio.NewReader(conn))
			conn.Close()
		}
	}()
	err = client.New("http://"+ln.Addr().String()).PostContribution(context.Background(), signed)
	out, _ = classify(err)
	assert.Equal(t, unknown, out, "%v", err)

	for _, c := range []struct {
		status int
		code   string
		want   outcome
	}{
		{409, "replayed", delivered},
		{500, "internal", unknown},
		{502, "http_error", unknown},
		{503, "unavailable", unknown},
		{422, "stale_statement", resign},
		{403, "no_consent", resign},
		{422, "unknown_purpose", resign},
		{409, "purpose_version_changed", resign},
		{409, "epoch_closed", vaultOnly},
		{422, "share_day_too_old", vaultOnly},
		{403, "quota_exceeded", refused},
		{401, "bad_signature", refused},
		{422, "not_sealed", refused},
		{413, "body_too_large", refused},
		{422, "invalid_field", refused},
		{404, "unknown_citizen", later},
		{409, "conflict_in_flight", later},
		{404, "http_error", later},
		{429, "http_error", later},
	} {
		got, _ := classify(fmt.Errorf("client: POST: %w", &client.APIError{Status: c.status, Code: c.code}))
		assert.Equal(t, c.want, got, "%d %s", c.status, c.code)
		assert.Equal(t, got != delivered && got != unknown, got.definite())
	}
	got, _ := classify(nil)
	assert.Equal(t, delivered, got)
}

func TestMetricsFormat(t *testing.T) {
	t.Parallel()
	var m metrics
	m.reject(`a "quoted"\reason`)
	m.add(&m.accepted, 2)
	var b bytes.Buffer
	require.NoError(t, m.write(&b, 7, 1))
	out := b.String()
	assert.Contains(t, out, "# TYPE commons_gateway_readings_accepted_total counter\ncommons_gateway_readings_accepted_total 2\n")
	assert.Contains(t, out, `commons_gateway_readings_rejected_total{reason="a \"quoted\"\\reason"} 1`)
	assert.Contains(t, out, "# TYPE commons_gateway_pending_readings gauge\ncommons_gateway_pending_readings 7\n")
	assert.Contains(t, out, "commons_gateway_pending_batches 1\n")
}

// testOutbox opens the outbox in dir, logging nowhere.
func testOutbox(t *testing.T, dir string) *outbox {
	t.Helper()
	o, err := openOutbox(dir, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	return o
}

// sensorReading is a PM2.5 reading of a gateway's sensor, recorded now.
func sensorReading() reading.Reading {
	return reading.Reading{Sensor: "esp8266-1", Cell: "old-town", RecordedAt: time.Now().UTC().Truncate(time.Second),
		Values: reading.Values{PM2_5: reading.F(4.35)}}
}

// FuzzDecodeReadings feeds damaged outbox files to the loader: it never panics, a torn last
// line is skipped, and whatever it accepts holds exactly the complete lines.
func FuzzDecodeReadings(f *testing.F) {
	line := `{"sensor":"esp8266-14907210","recorded_at":"2026-03-01T08:00:00Z","cell":"old-town","values":{"pm10":16.85,"pressure":1021.845}}`
	f.Add([]byte(line + "\n" + line + "\n"))
	f.Add([]byte(line + "\n" + line[:40]))
	f.Add([]byte(line + "\nnot json\n" + line + "\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		rs, ok := decodeReadings(data)
		if ok {
			require.Len(t, rs, bytes.Count(data, []byte("\n")))
		}
	})
}
