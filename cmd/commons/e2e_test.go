package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/release"
)

func TestEndToEnd(t *testing.T) {
	t.Parallel()
	needsBinary(t)
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
	contributions := n.url + "/api/v1/contributions"
	issued, day := crypto.Now(), time.Now().UTC().Format(time.DateOnly)
	// contribution signs a contribution of one envelope for the day, with a fresh nonce.
	contribution := func(purpose string, ciphertext []byte) []byte {
		signed, err := w.SignContribution(crypto.Contribution{IssuedAt: issued, Nonce: crypto.NewNonce(),
			Envelopes: []crypto.Envelope{{Day: day, Purpose: purpose, Ciphertext: ciphertext}}})
		require.NoError(t, err)
		b, _ := json.Marshal(signed)
		return b
	}
	b := contribution("vault", sealed)
	status, _ = post(t, contributions, "application/json", b)
	require.Equal(t, 201, status)
	status, body = post(t, contributions, "application/json", b)
	assert.Equal(t, 409, status)
	assert.Equal(t, "replayed", errCode(body))

	status, body = post(t, contributions, "application/json", contribution("vault", []byte(`{"pm2_5":12}`)))
	assert.Equal(t, 422, status)
	assert.Equal(t, "not_sealed", errCode(body))

	// Only the accepted withdrawal grew the ledger.
	assert.Equal(t, before+1, ledgerSize(t, n))

	// Without consent: revoke, then try to contribute a share copy.
	status, _ = post(t, statements, "application/json", sign(revoke))
	require.Equal(t, 201, status)
	status, body = post(t, contributions, "application/json", contribution("air-quality/daily", sealed))
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

// walkthroughBlock is one shell block of the README's walkthrough: the fenced ```sh block
// that follows a line "<!-- walkthrough -->" or "<!-- walkthrough: WHEN -->".
type walkthroughBlock struct {
	when   string // "" (in order), "setup" (first, in every shell), or "once the petition has closed"
	script string
	line   int // of the marker in README.md
}

var walkthroughMarker = regexp.MustCompile(`^<!-- walkthrough(?:: (.+?))? -->$`)

// walkthroughBlocks reads the marked blocks of a README, exactly as printed.
func walkthroughBlocks(t *testing.T, readme string) []walkthroughBlock {
	t.Helper()
	f, err := os.Open(readme)
	require.NoError(t, err)
	defer f.Close()
	var blocks []walkthroughBlock
	var cur *walkthroughBlock
	inBlock := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		switch {
		case inBlock && line == "```":
			blocks, cur, inBlock = append(blocks, *cur), nil, false
		case inBlock:
			cur.script += line + "\n"
		case cur != nil:
			require.Equal(t, "```sh", line, "README.md:%d: a walkthrough marker is followed by a ```sh block", cur.line)
			inBlock = true
		default:
			if m := walkthroughMarker.FindStringSubmatch(line); m != nil {
				cur = &walkthroughBlock{when: m[1], line: n}
			}
		}
	}
	require.NoError(t, sc.Err())
	require.False(t, inBlock || cur != nil, "README.md: a walkthrough block is not closed")
	return blocks
}

// TestReadmeWalkthrough replays the README's walkthrough, its commands exactly as printed, in
// a temporary directory laid out as the checkout after `make run` (bin/commons, data/ of a
// demo node on 127.0.0.1:0): only the value of the README's own `export COMMONS_SERVER=` is
// replaced, with the node's address. Any command that fails fails the test. The blocks to run
// once the petition has closed run against the same data served by a node whose clock is 31
// days ahead (the CLI signs nothing there). The walkthrough writes nothing beside bin/, data/
// and its scratch folder, all three ignored by git.
func TestReadmeWalkthrough(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	if _, err := exec.LookPath("bash"); err != nil {
		t.Skip("the README's shell is bash:", err)
	}
	blocks := walkthroughBlocks(t, filepath.Join("..", "..", "README.md"))
	var setup, before, after []string
	for _, b := range blocks {
		switch b.when {
		case "setup":
			setup = append(setup, b.script)
		case "":
			before = append(before, b.script)
		case "once the petition has closed":
			after = append(after, b.script)
		default:
			t.Fatalf("README.md:%d: unknown walkthrough marker %q", b.line, b.when)
		}
	}
	require.Len(t, setup, 1, "one setup block")
	require.GreaterOrEqual(t, len(before), 3)
	require.Len(t, after, 1)
	serverLine := regexp.MustCompile(`(?m)^export COMMONS_SERVER=\S+`)
	require.Len(t, serverLine.FindAllString(setup[0], -1), 1, "the setup exports COMMONS_SERVER once")

	root := t.TempDir()
	bin, err := binary()
	require.NoError(t, err)
	require.NoError(t, os.Mkdir(filepath.Join(root, "bin"), 0o755))
	require.NoError(t, os.Symlink(bin, filepath.Join(root, "bin", "commons")))
	data := filepath.Join(root, "data")
	home := t.TempDir()
	shell := func(url, script string) string {
		t.Helper()
		full := serverLine.ReplaceAllLiteralString(setup[0], "export COMMONS_SERVER="+url) + script
		cmd := exec.CommandContext(testContext(t), "bash", "-e", "-o", "pipefail", "-x", "-c", full)
		cmd.Dir = root
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
			"TMPDIR="+home, "COMMONS_WALLET=", "COMMONS_ADMIN_TOKEN=", "COMMONS_WALLET_PASSPHRASE=")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		err := cmd.Run()
		require.NoError(t, err, "a README command failed (the last + line); output:\n%s", out.String())
		return out.String()
	}

	n := startNode(t, data, &nodetest.Logs{}, "--demo", "--memory-limit", "0")
	out := shell(n.url, strings.Join(before, ""))
	assert.Regexp(t, `\nold-town +Ciutat Vella\n`, out, "commons neighbourhoods lists ids and names")
	for _, want := range []string{"in Ciutat Vella (old-town)", "consent to air-quality/daily granted",
		"imported 2 readings from 1 file", "signed riverside-trees", "ok  re-hashed all", "exported ", "petition sunday-library created",
		"12 paper signatures entered for sunday-library"} {
		assert.Contains(t, out, want)
	}
	assert.NotContains(t, out, "{\n", "text, not JSON, without --json")

	// Thirty-one days later, on the same data: the petition has closed.
	n.stop()
	clock := &testClock{}
	clock.Set(31 * 24 * time.Hour)
	later := startNodeWithClock(t, data, &nodetest.Logs{}, clock)
	out = shell(later.url, after[0])
	assert.Contains(t, out, "ok  recount up to the checkpoint: 13 signatures (1 online, 12 paper)")
	later.stop()

	entries, err := os.ReadDir(root)
	require.NoError(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	assert.Equal(t, []string{"bin", "data", "walkthrough"}, names, "the walkthrough writes in its scratch folder only")
	assert.FileExists(t, filepath.Join(root, "walkthrough", "result.json"))
	ignore, err := os.ReadFile(filepath.Join("..", "..", ".gitignore"))
	require.NoError(t, err)
	for _, dir := range names {
		assert.True(t, slices.Contains(strings.Split(string(ignore), "\n"), fmt.Sprintf("/%s/", dir)), ".gitignore ignores /%s/", dir)
	}
}

// TestDemoCity is `make run` on a fresh machine: serve --demo loads the demo city through the
// real client paths, publishes the month, and the public answers match what the fixtures
// predict.
func TestDemoCity(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("loads the whole demo city; skipped with -short")
	}
	start := time.Now()
	// Without the default soft memory limit (160 MiB): the demo's loader runs in the server
	// process and its heap wants about 1 GB, so under the limit the collector nearly doubles
	// the load's CPU (70 s against 38 s on the test machine). The limit only paces the
	// collector: what is loaded and released is the same.
	logs := &nodetest.Logs{}
	n := startNode(t, t.TempDir(), logs, "--demo", "--memory-limit", "0", "--signature-batch-every", "1h")
	t.Logf("demo city loaded and released in %s", time.Since(start).Round(time.Millisecond))
	seen := &responses{bodies: map[string][]byte{}}
	// Ready means published: the month is there as soon as the node says so.
	status, body := seen.get(t, n.url+"/readyz")
	require.Equal(t, http.StatusOK, status, string(body))
	defer checkOneLineLogs(t, logs)

	status, body = seen.get(t, n.url+"/api/v1/stats/air")
	require.Equal(t, http.StatusOK, status)
	var idx struct{ Epochs, Weeks []string }
	require.NoError(t, json.Unmarshal(body, &idx))
	require.Len(t, idx.Epochs, len(fixtures.Days()), "a month of releases")
	// The month ends on the latest closed day, yesterday: the fixtures' days moved by whole days.
	last, err := time.Parse(time.DateOnly, idx.Epochs[len(idx.Epochs)-1])
	require.NoError(t, err)
	assert.Equal(t, fixtures.LastDay(start), last, "the demo's month ends yesterday")
	offset := last.Sub(fixtures.Days()[len(fixtures.Days())-1])
	assert.GreaterOrEqual(t, len(idx.Weeks), 3, "every closed ISO week of the month has its weekly release")

	// Expected contributors per neighbourhood and day, from the fixtures' own plaintext. The
	// released counts carry Gaussian noise of σ about 13: ±70 is exceeded with probability
	// below 10⁻⁷ per cell.
	const slack = 70
	residents := fixtures.Residents()
	meansOfTheLargest := 0
	for _, day := range fixtures.Days() {
		want := map[string]int{}
		for _, r := range residents {
			if len(fixtures.Readings(r, day)) > 0 {
				want[r.Neighbourhood]++
			}
		}
		status, body := seen.get(t, n.url+"/api/v1/stats/air?day="+day.Add(offset).Format(time.DateOnly))
		require.Equal(t, http.StatusOK, status)
		d, err := release.ParseAirDay(body)
		require.NoError(t, err)
		require.Len(t, d.Cells, len(fixtures.Neighbourhoods()))
		assert.Contains(t, d.Noise, "Gaussian")
		for _, c := range d.Cells {
			n := want[c.Neighbourhood]
			switch {
			case c.Suppressed:
				assert.Less(t, n, d.K+slack, "%s on %s: only a cell near k may fall below it by noise", c.Neighbourhood, day)
			default:
				assert.InDelta(t, n, c.Contributors, slack, "%s on %s", c.Neighbourhood, day)
				if n < d.K {
					assert.Nil(t, c.PM25, "%s on %s: %d contributors never give a mean", c.Neighbourhood, day, n)
				}
				if c.Neighbourhood == "new-town" && c.PM25 != nil {
					meansOfTheLargest++
				}
			}
		}
	}
	assert.Greater(t, meansOfTheLargest, len(fixtures.Days())*9/10, "the largest neighbourhood's mean is precise enough on nearly every day")
	for _, week := range idx.Weeks {
		status, body := seen.get(t, n.url+"/api/v1/stats/air?week="+week)
		require.Equal(t, http.StatusOK, status, week)
		w, err := release.ParseAirWeek(body)
		require.NoError(t, err)
		assert.Len(t, w.Hours, release.HoursPerDay, week)
	}

	var ps []struct {
		ID         string
		Signatures int
	}
	status, body = seen.get(t, n.url+"/api/v1/petitions")
	require.Equal(t, http.StatusOK, status)
	require.NoError(t, json.Unmarshal(body, &ps))
	signers := map[string]int{}
	for _, r := range residents {
		for _, p := range r.Petitions {
			signers[p]++
		}
	}
	require.Len(t, ps, len(fixtures.Petitions()))
	for _, p := range ps {
		assert.Equal(t, signers[p.ID], p.Signatures, p.ID)
		// Its signatures spread over its open days, as the node stamped them, not all today.
		status, body := seen.get(t, n.url+"/api/v1/petitions/"+p.ID)
		require.Equal(t, http.StatusOK, status, p.ID)
		var full api.PublicPetition
		require.NoError(t, json.Unmarshal(body, &full))
		require.NotEmpty(t, full.Timeline, p.ID)
		signed := 0
		for _, d := range full.Timeline {
			signed += d.Signed
		}
		assert.Equal(t, signers[p.ID], signed, p.ID)
		assert.GreaterOrEqual(t, len(full.Timeline), min(5, signers[p.ID]), "%s: its timeline spans several days", p.ID)
		assert.GreaterOrEqual(t, full.Timeline[0].Day, full.Opens.UTC().Format(time.DateOnly), "%s: no signature before it opens", p.ID)
		assert.LessOrEqual(t, full.Timeline[len(full.Timeline)-1].Day, time.Now().UTC().Format(time.DateOnly), p.ID)
	}
	// The second purpose: a university's weekly PM10 study, approved in old-town and riverside
	// only and activated there, with its weekly releases; and a proposal still open.
	var study api.PublicPurpose
	fetchJSON(t, n.url+"/api/v1/purposes/"+fixtures.PM10Study, &study)
	assert.Equal(t, api.StatusActive, study.Status)
	require.NotNil(t, study.Purpose)
	assert.Equal(t, []string{"old-town", "riverside"}, study.Purpose.Neighbourhoods)
	assert.GreaterOrEqual(t, len(study.Releases), 3, "every closed ISO week of the month")
	for _, week := range study.Releases {
		var w release.AirWeek
		fetchJSON(t, n.url+"/api/v1/purposes/"+fixtures.PM10Study+"?release="+week, &w)
		require.Len(t, w.Cells, 2, week)
		for _, c := range w.Cells {
			assert.Nil(t, c.PM25, "%s: the study asked for PM10 only", week)
		}
	}
	// Its page shows the latest week's figures: PM10 only, in its two neighbourhoods only, each
	// a mean or a dash (the noise is not seeded here; release.TestWeeklyPlanSpendsItsBudgetOnTheReadingsAskedFor
	// measures how often a mean is shown).
	page := string(httpGet(t, n.url+"/purposes/"+fixtures.PM10Study))
	from, to := strings.Index(page, `id="figures-heading"`), strings.Index(page, `id="releases-heading"`)
	require.True(t, from > 0 && to > from, "the page has its latest figures")
	figures := page[from:to]
	assert.Contains(t, figures, study.Releases[len(study.Releases)-1])
	assert.Contains(t, figures, "PM10 (µg/m³)")
	assert.NotContains(t, figures, "PM2.5", "the study asked for PM10 only")
	assert.NotContains(t, figures, "L&#39;Eixample", "nor does it run in new-town")
	for _, name := range []string{"Ciutat Vella", "La Ribera"} {
		assert.Regexp(t, `<th scope="row">`+name+`</th><td class="num">(\d+\.\d \(\d+\.\d–\d+\.\d\)|—)</td><td class="num">\d+</td>`, figures, name)
	}
	var heat api.PublicPurpose
	fetchJSON(t, n.url+"/api/v1/purposes/"+fixtures.HeatStudy, &heat)
	assert.Equal(t, api.StatusProposed, heat.Status)
	for _, page := range []string{"/", "/air", "/about/accuracy", "/petitions", "/ledger", "/purposes", "/purposes/" + fixtures.PM10Study} {
		status, _ := seen.get(t, n.url+page)
		assert.Equal(t, http.StatusOK, status, page)
	}

	// Loaded, the node serves with the operator's batches (here an hour): a new resident's
	// signature waits for its batch, though the demo's own were each appended at once.
	ctx := testContext(t)
	c := client.New(n.url)
	w := newResident(ctx, t, c, adminTokenOf(t, n.data), "island")
	all, err := c.Petitions(ctx)
	require.NoError(t, err)
	now := time.Now()
	i := slices.IndexFunc(all, func(p api.PublicPetition) bool {
		return !now.Before(p.Opens) && now.Before(p.Closes) && (len(p.Scope) == 0 || slices.Contains(p.Scope, "island"))
	})
	require.GreaterOrEqual(t, i, 0, "an open demo petition island may sign")
	s, err := c.SignPetition(ctx, w, all[i].ID, false, nil)
	require.NoError(t, err)
	assert.Equal(t, api.SignaturePending, s.Status)
}

// logLine is one line of the node's log: a slog text record, or one of the few lines the
// binary writes for a person ("commons: …").
var logLine = regexp.MustCompile(`^(time=\S+ level=(DEBUG|INFO|WARN|ERROR) msg=|commons: )`)

// checkOneLineLogs checks that every line a node logged is one whole record: no message spans
// lines or carries a literal \n, and Badger said nothing above debug level but on one line.
func checkOneLineLogs(t *testing.T, logs *nodetest.Logs) {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(logs.String(), "\n"), "\n")
	require.NotEmpty(t, lines)
	for _, line := range lines {
		assert.Regexp(t, logLine, line, "one record per line")
		assert.NotContains(t, line, `\n`, "no literal newline in a record")
		assert.NotContains(t, line, "might be too small", "Badger's cache advice is debug only")
	}
}
