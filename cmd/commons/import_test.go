package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/commons-city/commons/nodetest"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
	data, home := t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	token := filepath.Join(data, "admin.token")
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

	out, err := flaky.cli(wallet, "contribute", archive)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "run the same command again to resume")
	s := decodeSummary(t, out)
	assert.Equal(t, 70, s.Files)
	assert.Equal(t, 70*24+2, s.Rows)
	assert.Equal(t, 60*24, s.Imported, "the first 60 days went in one upload")
	assert.Equal(t, 2, s.Rejected)
	assert.Equal(t, 1, s.Uploads)
	assert.Equal(t, []int{http.StatusCreated}, proxy.seen(), "the server saw one upload")

	out, err = n.cli(wallet, "contribute", archive)
	require.NoError(t, err, out)
	s = decodeSummary(t, out)
	assert.Equal(t, 10*24, s.Imported)
	assert.Equal(t, 60*24, s.AlreadyImported)
	assert.Equal(t, 2, s.Rejected)
	assert.Len(t, s.RejectedBy, 2, "each reason counted on its own: %v", s.RejectedBy)
	for reason := range s.RejectedBy {
		assert.NotContains(t, reason, "41.39", "a rejection reason does not repeat the location")
	}

	out, err = n.cli(wallet, "contribute", archive)
	require.NoError(t, err, out)
	s = decodeSummary(t, out)
	assert.Zero(t, s.Imported)
	assert.Equal(t, 70*24, s.AlreadyImported)
	assert.Zero(t, s.Uploads)

	out, err = n.cli(wallet, "export", "--out", filepath.Join(home, "export"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 70 vault copies", "every day once, none twice")

	// Once a day's release is published, a late reading for it goes to the vault only.
	_, err = n.cli("", "admin", "release", "--admin-token-file", token)
	require.NoError(t, err)
	late := filepath.Join(home, "late")
	require.NoError(t, os.MkdirAll(late, 0o700))
	archiveDay(t, late, first.AddDate(0, 0, 5).Add(30*time.Minute))
	out, err = n.cli(wallet, "contribute", late)
	require.NoError(t, err, out)
	s = decodeSummary(t, out)
	assert.Equal(t, 24, s.Imported)
	assert.Equal(t, 1, s.VaultOnlyDays)
}

// TestImportSurvivesALostAnswer loses the server's answer to an upload it stored: the client
// sends the same signed bytes again, the server calls it a replay, and the import counts it
// as delivered — once.
func TestImportSurvivesALostAnswer(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	n := startNode(t, t.TempDir(), &nodetest.Logs{})
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
	out, err := flaky.cli(wallet, "contribute", archive)
	require.NoError(t, err, out)
	s := decodeSummary(t, out)
	assert.Equal(t, 3*24, s.Imported)
	require.Len(t, proxy.seen(), 2)
	assert.Equal(t, http.StatusConflict, proxy.seen()[1], "the retry was refused as a replay")

	out, err = n.cli(wallet, "export", "--out", filepath.Join(home, "export"))
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 3 vault copies", "stored once")
}
