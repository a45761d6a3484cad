package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
)

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
	out, err := n.cli(wallet, "status")
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
	data, home := t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	wallet := filepath.Join(home, "wallet")
	_, err := n.cli(wallet, "wallet", "init")
	require.NoError(t, err)
	w, err := crypto.LoadWallet(wallet)
	require.NoError(t, err)
	invite, err := n.cli("", "admin", "invite", "--count", "1", "--admin-token-file", filepath.Join(data, "admin.token"))
	require.NoError(t, err)
	_, err = n.cli(wallet, "register", "--invite", strings.TrimSpace(invite), "--neighbourhood", "old-town")
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
