package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/release"
)

// archiveDay writes one Sensor.Community archive file: one sensor, one day, hourly rows.
func archiveDay(t *testing.T, dir string, day time.Time, extra ...string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("sensor_id;sensor_type;location;lat;lon;timestamp;P1;durP1;ratioP1;P2;durP2;ratioP2\n")
	for h := 0; h < 24; h++ {
		at := day.Add(time.Duration(h)*time.Hour + 2*time.Minute)
		fmt.Fprintf(&b, "12345;SDS011;6231;41.392123;2.193142;%s;%d.5;;;%d.25;;\n", at.Format("2006-01-02T15:04:05"), 20+h, 10+h%7)
	}
	for _, row := range extra {
		b.WriteString(row + "\n")
	}
	name := filepath.Join(dir, day.Format(time.DateOnly)+"_sds011_sensor_12345.csv")
	require.NoError(t, os.WriteFile(name, []byte(b.String()), 0o600))
}

func decodeSummary(t *testing.T, out string) importSummary {
	t.Helper()
	var s importSummary
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	return s
}

// TestImportFolderResumesWithoutDuplicates imports a folder of 70 archive files, loses the
// network after the first upload, runs the same command again and checks that every reading
// arrived exactly once, with a summary that says what happened to every row.
func TestImportFolderResumesWithoutDuplicates(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	n := startFreshNode(t)
	token := filepath.Join(n.data, "admin.token")
	wallet, _ := gatewayResident(t, n) // an old-town resident who shares with air-quality/daily

	archive := filepath.Join(home, "archive")
	require.NoError(t, os.MkdirAll(filepath.Join(archive, ".cache"), 0o700))
	first := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -75)
	for i := 0; i < 70; i++ {
		var bad []string
		if i == 3 {
			bad = []string{
				"12345;SDS011;6231;41.392123;2.193142;" + first.AddDate(0, 0, 3).Format("2006-01-02") + "T12:30:00;n/a;;;1.0;;",
				"12345;SDS011;6231;41.392123;2.193142;2099-01-01T00:00:00;1.0;;;1.0;;",
			}
		}
		archiveDay(t, archive, first.AddDate(0, 0, i), bad...)
	}
	// Neither a hidden folder nor a file of another kind is read.
	archiveDay(t, filepath.Join(archive, ".cache"), first.AddDate(0, 0, -1))
	require.NoError(t, os.WriteFile(filepath.Join(archive, "notes.txt"), []byte("not readings"), 0o600))

	// Between the resident and the server, the network goes down after the first upload.
	proxy, proxied := newFlakyProxy(t, n.url)
	proxy.next("pass", "drop", "drop", "drop")
	flaky := *n
	flaky.url = proxied.URL

	out, err := flaky.cli(wallet, "contribute", archive, "--json")
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run the same command again to resume")
	s := decodeSummary(t, out)
	assert.Equal(t, 70, s.Files)
	assert.Equal(t, 70*24+2, s.Rows)
	assert.Equal(t, 60*24, s.Imported, "the first 60 days went in one upload")
	assert.Equal(t, 2, s.Rejected)
	assert.Equal(t, 1, s.Uploads)
	assert.Equal(t, []int{http.StatusCreated}, proxy.seen(), "the server saw one upload")

	out, err = n.cli(wallet, "contribute", archive, "--json")
	require.NoError(t, err, out)
	s = decodeSummary(t, out)
	assert.Equal(t, 10*24, s.Imported)
	assert.Equal(t, 60*24, s.AlreadyImported)
	assert.Equal(t, 2, s.Rejected)
	assert.Len(t, s.RejectedBy, 2, "each reason counted on its own: %v", s.RejectedBy)
	for reason := range s.RejectedBy {
		assert.NotContains(t, reason, "41.39", "a rejection reason does not repeat the location")
	}

	out, err = n.cli(wallet, "contribute", archive, "--json")
	require.NoError(t, err, out)
	s = decodeSummary(t, out)
	assert.Zero(t, s.Imported)
	assert.Equal(t, 70*24, s.AlreadyImported)
	assert.Zero(t, s.Uploads)

	out, err = n.cli(wallet, "export", "--out", filepath.Join(home, "export"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 70 vault copies", "every day once, none twice")

	// Once a day's release is published, a late reading for it goes to the vault only (the
	// day is inside the server's look-back, ten days ago: TestShareCopiesOnlyForRecentDays
	// checks older ones).
	_, err = n.cli("", "admin", "release", "--admin-token-file", token)
	require.NoError(t, err)
	late := filepath.Join(home, "late")
	require.NoError(t, os.MkdirAll(late, 0o700))
	archiveDay(t, late, first.AddDate(0, 0, 65).Add(30*time.Minute))
	out, err = n.cli(wallet, "contribute", late, "--json")
	require.NoError(t, err, out)
	s = decodeSummary(t, out)
	assert.Equal(t, 24, s.Imported)
	assert.Equal(t, 1, s.VaultOnlyDays)
	assert.Equal(t, []string{first.AddDate(0, 0, 65).Format(time.DateOnly)}, s.VaultOnly)
}

// TestImportSurvivesALostAnswer loses the server's answer to an upload it stored: the client
// sends the same signed bytes again, the server calls it a replay, and the import counts it
// as delivered — once.
func TestImportSurvivesALostAnswer(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	n := startFreshNode(t)
	wallet, _ := gatewayResident(t, n)

	archive := filepath.Join(home, "archive")
	require.NoError(t, os.MkdirAll(archive, 0o700))
	first := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -10)
	for i := 0; i < 3; i++ {
		archiveDay(t, archive, first.AddDate(0, 0, i))
	}
	proxy, proxied := newFlakyProxy(t, n.url)
	proxy.next("lose")
	flaky := *n
	flaky.url = proxied.URL
	out, err := flaky.cli(wallet, "contribute", archive, "--json")
	require.NoError(t, err, out)
	s := decodeSummary(t, out)
	assert.Equal(t, 3*24, s.Imported)
	require.Len(t, proxy.seen(), 2)
	assert.Equal(t, http.StatusConflict, proxy.seen()[1], "the retry was refused as a replay")

	out, err = n.cli(wallet, "export", "--out", filepath.Join(home, "export"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 3 vault copies", "stored once")
}

// TestExportOpensWithTheStandardAgeTool contributes readings, exports the vault, and opens
// the export with Debian's `age` command and the wallet file; then withdraws with --erase and
// checks the vault is gone.
func TestExportOpensWithTheStandardAgeTool(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	ageBin, err := exec.LookPath("age")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI installs Debian's age package; it is missing")
		}
		t.Skip("the age command is not installed (apt-get install age)")
	}
	home := t.TempDir()
	n := startFreshNode(t)
	wallet := filepath.Join(home, "wallet")
	_, err = n.cli(wallet, "wallet", "init")
	require.NoError(t, err)
	_, err = n.cli(wallet, "register", "--invite", n.invites(1)[0], "--neighbourhood", "old-town")
	require.NoError(t, err)
	_, err = n.cli(wallet, "consent", "grant", "--purpose", "air-quality/daily")
	require.NoError(t, err)

	day := time.Now().UTC().Truncate(24 * time.Hour)
	csv := "sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n"
	for h := 0; h < 3; h++ {
		csv += fmt.Sprintf("balcony,%s,41.392123,2.193142,2%d.5,1%d.25,14,70\n", day.Add(time.Duration(h)*time.Minute).Format(time.RFC3339), h, h)
	}
	file := filepath.Join(home, "r.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	_, err = n.cli(wallet, "contribute", file)
	require.NoError(t, err)

	dir := filepath.Join(home, "export")
	out, err := n.cli(wallet, "export", "--out", dir, "--decrypt")
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 1 vault copy (1 day)")
	aged := filepath.Join(dir, day.Format(time.DateOnly)+"-001.age")
	plain, err := exec.Command(ageBin, "-d", "-i", wallet, aged).Output()
	require.NoError(t, err, "the standard age tool opens the export with the wallet file")
	b, err := reading.UnmarshalBatch(plain)
	require.NoError(t, err)
	require.Len(t, b.Readings, 3)
	assert.Equal(t, "old-town", b.Readings[0].Cell)
	assert.Equal(t, 10.25, *b.Readings[0].Values.PM2_5)
	assert.NotContains(t, string(plain), "41.39", "the precise location never entered the vault")

	var decrypted struct{ Readings []reading.Reading }
	raw, err := os.ReadFile(filepath.Join(dir, "readings.json"))
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &decrypted))
	assert.Len(t, decrypted.Readings, 3)

	// Withdraw and erase: the vault is deleted on the server.
	_, err = n.cli(wallet, "consent", "revoke", "--purpose", "air-quality/daily", "--erase")
	require.NoError(t, err)
	out, err = n.cli(wallet, "export", "--out", filepath.Join(home, "after"))
	require.NoError(t, err)
	assert.Contains(t, out, "exported 0 vault copies")
}

// TestPassphraseWalletCLI creates a passphrase-protected wallet with the real binary and uses
// it for every kind of command, with the passphrase from a file and from the environment.
func TestPassphraseWalletCLI(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	home := t.TempDir()
	n := startFreshNode(t)
	const pass = "purple-otter-seventeen"
	passFile := filepath.Join(home, "pass")
	require.NoError(t, os.WriteFile(passFile, []byte(pass+"\n"), 0o600))
	wallet := filepath.Join(home, "wallet")

	out, err := n.cli(wallet, "wallet", "init", "--json", "--passphrase", "--passphrase-file", passFile)
	require.NoError(t, err)
	// The citizen init prints; that the wallet it wrote opens as this citizen is checked below
	// with the passphrase. (Opening it here too, in the race-instrumented test, costs seconds.)
	var made struct{ Citizen string }
	require.Contains(t, out, "{")
	require.NoError(t, json.Unmarshal([]byte(out[strings.Index(out, "{"):]), &made), out)
	citizen := made.Citizen
	require.True(t, strings.HasPrefix(citizen, "c-"), out)
	raw, err := os.ReadFile(wallet)
	require.NoError(t, err)
	assert.True(t, strings.HasPrefix(string(raw), "-----BEGIN AGE ENCRYPTED FILE-----\n"), "an armored age file")
	assert.NotContains(t, string(raw), "AGE-SECRET-KEY-")
	assert.Equal(t, 18, scryptWorkFactor(t, raw), "age's default work factor, as the browser protects")
	info, err := os.Stat(wallet)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), info.Mode().Perm())
	assert.NotContains(t, out, pass)

	// Refuses to overwrite, protected or not.
	_, err = n.cli(wallet, "wallet", "init", "--passphrase", "--passphrase-file", passFile)
	assert.ErrorContains(t, err, "already exists")
	_, err = n.cli(wallet, "wallet", "init")
	assert.ErrorContains(t, err, "already exists")
	after, _ := os.ReadFile(wallet)
	assert.Equal(t, raw, after)

	// Without the passphrase: a clear error, for show and for every command that signs.
	for _, args := range [][]string{{"wallet", "show"}, {"consent", "list"}, {"status"}, {"export", "--out", filepath.Join(home, "x")}} {
		_, err = n.cli(wallet, args...)
		require.Error(t, err, args)
		assert.Contains(t, err.Error(), "this wallet is protected by a passphrase: set COMMONS_WALLET_PASSPHRASE or --passphrase-file", args)
	}
	// A wrong passphrase is refused without being repeated.
	wrong := filepath.Join(home, "wrong")
	require.NoError(t, os.WriteFile(wrong, []byte("not-the-passphrase\n"), 0o600))
	_, err = n.cli(wallet, "wallet", "show", "--passphrase-file", wrong)
	require.ErrorContains(t, err, "the passphrase does not open this wallet")
	assert.NotContains(t, err.Error(), "not-the-passphrase")
	assert.NotContains(t, err.Error(), pass)

	// With the passphrase from a file.
	out, err = n.cli(wallet, "wallet", "show", "--json", "--passphrase-file", passFile)
	require.NoError(t, err)
	assert.Contains(t, out, `"citizen": "`+citizen+`"`, "init printed the citizen of the wallet it wrote")

	// With the passphrase from the environment, the whole resident's path works.
	n.env = append(n.env, passphraseEnv+"="+pass)
	out, err = n.cli(wallet, "register", "--invite", n.invites(1)[0], "--neighbourhood", "old-town")
	require.NoError(t, err)
	assert.Contains(t, out, citizen, "registered as the same citizen")
	_, err = n.cli(wallet, "consent", "grant", "--purpose", "air-quality/daily")
	require.NoError(t, err)
	day := time.Now().UTC().Truncate(24 * time.Hour)
	csv := "sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n" +
		fmt.Sprintf("balcony,%s,41.392123,2.193142,20.5,10.25,14,70\n", day.Format(time.RFC3339))
	file := filepath.Join(home, "r.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	_, err = n.cli(wallet, "contribute", file)
	require.NoError(t, err)
	out, err = n.cli(wallet, "export", "--out", filepath.Join(home, "export"))
	require.NoError(t, err)
	assert.Contains(t, out, "exported 1 vault copy (1 day)")
	out, err = n.cli(wallet, "status", "--json")
	require.NoError(t, err)
	assert.Contains(t, out, `"your_consent": "granted"`)
	out, err = n.cli(wallet, "consent", "list", "--json")
	require.NoError(t, err)
	assert.NotContains(t, out, pass)

	// The standard age command opens the protected wallet (and an export with it as the
	// identity file) when given the passphrase on a terminal.
	ageOpens(t, wallet, pass, citizen)
}

// ageOpens runs Debian's age on the protected wallet. age reads a passphrase only from a
// terminal, so it runs under script(1), which gives it a pseudo-terminal fed from our pipe.
func ageOpens(t *testing.T, wallet, pass, citizen string) {
	ageBin, err := exec.LookPath("age")
	if err == nil {
		_, err = exec.LookPath("script")
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI installs Debian's age package (and util-linux's script); one is missing")
		}
		t.Skip("the age or script command is not installed; crypto tests open the wallet with age's library")
	}
	plain := filepath.Join(t.TempDir(), "plain")
	cmd := exec.Command("script", "-qec", fmt.Sprintf("%q -d -o %q %q", ageBin, plain, wallet), "/dev/null")
	stdin, err := cmd.StdinPipe()
	require.NoError(t, err)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	require.NoError(t, cmd.Start())
	_, err = fmt.Fprintf(stdin, "%s\n", pass)
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err = <-done:
	case <-testContext(t).Done():
		cmd.Process.Kill()
		t.Fatalf("age did not finish; output:\n%s", out.String())
	}
	require.NoError(t, err, out.String())
	b, err := os.ReadFile(plain)
	require.NoError(t, err, "age -d wrote the plain wallet; output:\n%s", out.String())
	got, err := crypto.ParseWallet(b)
	require.NoError(t, err, "age -d gives back the plain identity file")
	assert.Equal(t, citizen, got.CitizenID())
	var js map[string]any
	assert.Error(t, json.Unmarshal(b, &js), "an age identity file, not JSON")
}

type statusOut struct {
	Citizen  string `json:"citizen"`
	Purposes []struct {
		Purpose string     `json:"purpose"`
		Version int        `json:"version"`
		Consent string     `json:"your_consent"`
		Since   *time.Time `json:"since"`
		Shared  []struct {
			From  time.Time  `json:"from"`
			Until *time.Time `json:"until"`
			For   string     `json:"for"`
		} `json:"shared"`
	} `json:"purposes"`
	Vault *struct {
		Copies   int    `json:"copies"`
		Days     int    `json:"days"`
		FirstDay string `json:"first_day"`
		LastDay  string `json:"last_day"`
	} `json:"vault"`
	Outbox *struct {
		Dir      string `json:"dir"`
		Batches  int    `json:"pending_batches"`
		Readings int    `json:"pending_readings"`
		Held     int    `json:"held_files"`
	} `json:"outbox"`
	ServerError string `json:"server_error"`
}

func status(t *testing.T, n *node, wallet string) statusOut {
	t.Helper()
	out, err := n.cli(wallet, "status", "--json")
	require.NoError(t, err)
	var s statusOut
	require.NoError(t, json.Unmarshal([]byte(out), &s), out)
	return s
}

// TestStatus checks `commons status` with the real binary: consent state and since when,
// what the server holds (vault copies and their days), the gateway outbox beside the wallet,
// the change after a withdrawal, and the local parts while the server is down.
func TestStatus(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	home := t.TempDir()
	n := startFreshNode(t)
	wallet := filepath.Join(home, "wallet")
	_, err := n.cli(wallet, "wallet", "init")
	require.NoError(t, err)
	w, err := crypto.LoadWallet(wallet)
	require.NoError(t, err)
	_, err = n.cli(wallet, "register", "--invite", n.invites(1)[0], "--neighbourhood", "old-town")
	require.NoError(t, err)

	// Before any consent or contribution: every purpose is listed with no consent, the vault
	// is empty, and there is no outbox.
	s := status(t, n, wallet)
	assert.Equal(t, w.CitizenID(), s.Citizen)
	require.NotEmpty(t, s.Purposes)
	for _, p := range s.Purposes {
		assert.Equal(t, "none", p.Consent, p.Purpose)
	}
	require.NotNil(t, s.Vault)
	assert.Zero(t, s.Vault.Copies)
	assert.Nil(t, s.Outbox)
	assert.Empty(t, s.ServerError)

	granted := time.Now().UTC()
	_, err = n.cli(wallet, "consent", "grant", "--purpose", "air-quality/daily")
	require.NoError(t, err)
	today := time.Now().UTC().Truncate(24 * time.Hour)
	csv := "sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n"
	for _, d := range []int{-3, -2, -1} {
		for h := 0; h < 2; h++ {
			csv += fmt.Sprintf("balcony,%s,41.392123,2.193142,20.5,10.25,14,70\n",
				today.AddDate(0, 0, d).Add(time.Duration(h)*time.Minute).Format(time.RFC3339))
		}
	}
	file := filepath.Join(home, "r.csv")
	require.NoError(t, os.WriteFile(file, []byte(csv), 0o600))
	_, err = n.cli(wallet, "contribute", file)
	require.NoError(t, err)

	// A gateway outbox at its default place, beside the wallet: one batch of two readings.
	outbox := filepath.Join(home, "gateway-outbox")
	require.NoError(t, os.MkdirAll(filepath.Join(outbox, "held"), 0o700))
	var lines []byte
	for i := range 2 {
		b, err := json.Marshal(reading.Reading{Sensor: "esp8266-1", Cell: "old-town", RecordedAt: time.Now().UTC().Add(-time.Duration(i) * time.Minute).Truncate(time.Second),
			Values: reading.Values{PM2_5: reading.F(3)}})
		require.NoError(t, err)
		lines = append(append(lines, b...), '\n')
	}
	require.NoError(t, os.WriteFile(filepath.Join(outbox, fmt.Sprintf("batch-%020d.jsonl", time.Now().UnixNano())), lines, 0o600))

	s = status(t, n, wallet)
	var aq int = -1
	for i, p := range s.Purposes {
		if p.Purpose == "air-quality/daily" {
			aq = i
		}
	}
	require.GreaterOrEqual(t, aq, 0)
	p := s.Purposes[aq]
	assert.Equal(t, "granted", p.Consent)
	assert.Equal(t, 1, p.Version)
	require.NotNil(t, p.Since)
	assert.WithinDuration(t, granted, *p.Since, time.Minute, "since the grant's receipt")
	require.Len(t, p.Shared, 1)
	assert.Nil(t, p.Shared[0].Until, "still shared")
	assert.Equal(t, 3, s.Vault.Copies, "one vault copy per day contributed")
	assert.Equal(t, 3, s.Vault.Days)
	assert.Equal(t, today.AddDate(0, 0, -3).Format(time.DateOnly), s.Vault.FirstDay)
	assert.Equal(t, today.AddDate(0, 0, -1).Format(time.DateOnly), s.Vault.LastDay)
	require.NotNil(t, s.Outbox)
	assert.Equal(t, outbox, s.Outbox.Dir)
	assert.Equal(t, 1, s.Outbox.Batches)
	assert.Equal(t, 2, s.Outbox.Readings)

	// Withdrawn: the sharing period ends at the revocation.
	_, err = n.cli(wallet, "consent", "revoke", "--purpose", "air-quality/daily")
	require.NoError(t, err)
	s = status(t, n, wallet)
	p = s.Purposes[aq]
	assert.Equal(t, "withdrawn", p.Consent)
	require.Len(t, p.Shared, 1)
	require.NotNil(t, p.Shared[0].Until)
	assert.False(t, p.Shared[0].Until.Before(p.Shared[0].From))
	assert.Equal(t, 3, s.Vault.Copies, "a withdrawal without erase keeps the vault")

	// The server down: the local parts are still shown, with the reason.
	n.stop()
	s = status(t, n, wallet)
	assert.NotEmpty(t, s.ServerError)
	assert.Nil(t, s.Vault)
	require.NotEmpty(t, s.Purposes)
	assert.Equal(t, "withdrawn", s.Purposes[0].Consent, "from the saved receipts")
	require.NotNil(t, s.Outbox)
	assert.Equal(t, 2, s.Outbox.Readings)
}

// TestWithdrawEndToEnd runs the consent lifecycle with the real binary: twelve residents
// contribute two closed days; the first day is released; one resident withdraws and another
// withdraws and erases before the second day is released. The first release stays
// byte-identical, the second excludes both, their share copies of the unreleased day are gone
// from Badger, and only the erasing resident's vault copies are gone.
func TestWithdrawEndToEnd(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	const purpose = "air-quality/daily"
	data, home := t.TempDir(), t.TempDir()
	logs := &nodetest.Logs{}
	n := startNode(t, data, logs)
	token := filepath.Join(data, "admin.token")
	invites := n.invites(12)

	// D-3 is the Sunday ending the ISO week before last, D-2 the Monday after it: two closed
	// days in two closed weeks, whatever the weekday today, so each release publishes a day
	// and its week, and D-2 is still open to uploads after the first release.
	today := time.Now().UTC().Truncate(24 * time.Hour)
	monday := today.AddDate(0, 0, -(int(today.Weekday())+6)%7)
	d3, d2 := monday.AddDate(0, 0, -8), monday.AddDate(0, 0, -7)
	var homes []fixtures.Resident
	for _, r := range fixtures.Residents() {
		if r.Neighbourhood == "old-town" && len(homes) < 12 {
			homes = append(homes, r)
		}
	}
	require.Len(t, homes, 12)
	type res struct{ wallet, citizen string }
	residents := make([]res, 12)
	contribute := func(i int, day time.Time) {
		t.Helper()
		var csv strings.Builder
		csv.WriteString("sensor,recorded_at,lat,lon,pm10,pm2_5,temperature,humidity\n")
		for h := 0; h < 24; h++ {
			fmt.Fprintf(&csv, "balcony,%s,%.6f,%.6f,%.2f,%.2f,14.5,70\n", day.Add(time.Duration(h)*time.Hour+9*time.Minute).Format(time.RFC3339),
				homes[i].Lat, homes[i].Lon, 12+float64(i), 6+float64(i%5)+float64(h%4))
		}
		file := filepath.Join(home, fmt.Sprintf("r%d-%s.csv", i, day.Format(time.DateOnly)))
		require.NoError(t, os.WriteFile(file, []byte(csv.String()), 0o600))
		out, err := n.cli(residents[i].wallet, "contribute", file, "--json")
		require.NoError(t, err)
		require.Contains(t, out, `"imported": 24`)
	}
	for i := range residents {
		residents[i].wallet = filepath.Join(home, fmt.Sprintf("r%d", i), "wallet")
		_, err := n.cli(residents[i].wallet, "wallet", "init")
		require.NoError(t, err)
		w, err := crypto.LoadWallet(residents[i].wallet)
		require.NoError(t, err)
		residents[i].citizen = w.CitizenID()
		_, err = n.cli(residents[i].wallet, "register", "--invite", invites[i], "--neighbourhood", "old-town")
		require.NoError(t, err)
		_, err = n.cli(residents[i].wallet, "consent", "grant", "--purpose", purpose)
		require.NoError(t, err)
		contribute(i, d3)
	}

	// Day D-3 is released first, with everyone, and its week.
	out, err := n.cli("", "admin", "release", "--admin-token-file", token)
	require.NoError(t, err)
	assert.Contains(t, out, "published 2 releases")
	seen := &responses{bodies: map[string][]byte{}}
	url3 := n.url + "/api/v1/stats/air?day=" + d3.Format(time.DateOnly)
	status, before := seen.get(t, url3)
	require.Equal(t, 200, status, "%s", before)
	assert.Equal(t, [2]int{12, 12}, releaseCounts(t, logs, d3), "envelopes and counted residents of D-3")

	// Everyone contributes D-2; then resident 0 withdraws and resident 1 withdraws and erases,
	// before D-2 is released.
	for i := range residents {
		contribute(i, d2)
	}
	withdrawn, erased := residents[0], residents[1]
	_, err = n.cli(withdrawn.wallet, "consent", "revoke", "--purpose", purpose)
	require.NoError(t, err)
	_, err = n.cli(erased.wallet, "consent", "revoke", "--purpose", purpose, "--erase")
	require.NoError(t, err)
	out, err = n.cli(withdrawn.wallet, "export", "--out", filepath.Join(home, "export0"))
	require.NoError(t, err)
	assert.Contains(t, out, "exported 2 vault copies", "a withdrawal without erase keeps the vault")
	out, err = n.cli(erased.wallet, "export", "--out", filepath.Join(home, "export1"))
	require.NoError(t, err)
	assert.Contains(t, out, "exported 0 vault copies", "erase deletes the vault")

	out, err = n.cli("", "admin", "release", "--admin-token-file", token)
	require.NoError(t, err)
	assert.Contains(t, out, "published 2 releases", "D-2 and its week")
	// The release engine's own count: the withdrawn residents' share copies are gone before
	// the release reads the day, and they are not counted.
	assert.Equal(t, [2]int{10, 10}, releaseCounts(t, logs, d2), "envelopes and counted residents of D-2")
	status, body2 := seen.get(t, n.url+"/api/v1/stats/air?day="+d2.Format(time.DateOnly))
	require.Equal(t, 200, status, "%s", body2)
	d, err := release.ParseAirDay(body2)
	require.NoError(t, err)
	for _, c := range d.Cells {
		if c.Neighbourhood == "old-town" && !c.Suppressed {
			assert.InDelta(t, 10, c.Contributors, 70, "the noisy count (Gaussian, σ about 13)")
		}
	}
	assert.True(t, ledgerHasRelease(t, n, d2.Format(time.DateOnly), body2))

	// The earlier release is unchanged, byte for byte, and still matches its ledger entry.
	_, after := seen.get(t, url3)
	assert.Equal(t, before, after, "the D-3 release is final")
	assert.True(t, ledgerHasRelease(t, n, d3.Format(time.DateOnly), after))

	// On disk: open the node's Badger after stopping it.
	n.stop()
	db, err := badger.Open(badger.DefaultOptions(filepath.Join(data, "badger")).WithLogger(nil))
	require.NoError(t, err)
	defer db.Close()
	count := func(prefix string) int {
		k := 0
		require.NoError(t, db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				k++
			}
			return nil
		}))
		return k
	}
	share := func(day time.Time, citizen string) string {
		return "s/" + purpose + "\x00" + day.Format(time.DateOnly) + "\x00" + citizen + "\x00"
	}
	vault := func(citizen string) string { return "v/" + citizen + "\x00" }
	for _, r := range []res{withdrawn, erased} {
		assert.Zero(t, count(share(d2, r.citizen)), "no share copy of the unreleased day remains")
		assert.Equal(t, 1, count(share(d3, r.citizen)), "the copy used in the final D-3 release is kept with it")
	}
	assert.Equal(t, 2, count(vault(withdrawn.citizen)), "withdrawal alone keeps the vault copies")
	assert.Zero(t, count(vault(erased.citizen)), "erase deletes every vault copy")
	for _, r := range residents[2:] {
		assert.Equal(t, 1, count(share(d2, r.citizen)), "residents who stayed keep their share copy")
		assert.Equal(t, 2, count(vault(r.citizen)))
	}
}

// releaseCounts reads the release engine's log line for a day: how many share copies it read
// and how many residents it counted. The line reaches the test through the server's stderr
// pipe, a moment after the release's HTTP answer: it is waited for.
func releaseCounts(t *testing.T, logs *nodetest.Logs, day time.Time) [2]int {
	t.Helper()
	re := regexp.MustCompile(`msg="release published".* epoch=` + day.Format(time.DateOnly) + ` envelopes=(\d+) counted=(\d+)`)
	var m []string
	if !eventually(testContext(t), func() bool { m = re.FindStringSubmatch(logs.String()); return m != nil }) {
		t.Fatalf("no release log line for %s in:\n%s", day.Format(time.DateOnly), logs.String())
	}
	var got [2]int
	got[0], _ = strconv.Atoi(m[1])
	got[1], _ = strconv.Atoi(m[2])
	return got
}
