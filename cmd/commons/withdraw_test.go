package main

import (
	"fmt"
	"os"
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
	"github.com/commons-city/commons/release"
)

// TestWithdrawEndToEnd runs the consent lifecycle with the real binary: twelve residents
// contribute two closed days; the first day is released; one resident withdraws and another
// withdraws and erases before the second day is released. The first release stays
// byte-identical, the second excludes both, their share copies of the unreleased day are gone
// from Badger, and only the erasing resident's vault copies are gone.
func TestWithdrawEndToEnd(t *testing.T) {
	t.Parallel()
	if testing.Short() {
		t.Skip("runs the real binary; skipped with -short")
	}
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
