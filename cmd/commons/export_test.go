package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
)

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
	data, home := t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	wallet := filepath.Join(home, "wallet")
	_, err = n.cli(wallet, "wallet", "init")
	require.NoError(t, err)
	out, err := n.cli("", "admin", "invite", "--count", "1", "--admin-token-file", filepath.Join(data, "admin.token"))
	require.NoError(t, err)
	_, err = n.cli(wallet, "register", "--invite", strings.TrimSpace(out), "--neighbourhood", "old-town")
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
	out, err = n.cli(wallet, "export", "--out", dir, "--decrypt")
	require.NoError(t, err, out)
	assert.Contains(t, out, "exported 1 vault copies")
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
