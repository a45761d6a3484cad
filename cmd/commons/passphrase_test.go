package main

import (
	"bytes"
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

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
)

// TestPassphraseWalletCLI creates a passphrase-protected wallet with the real binary and uses
// it for every kind of command, with the passphrase from a file and from the environment.
func TestPassphraseWalletCLI(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	data, home := t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	const pass = "purple-otter-seventeen"
	passFile := filepath.Join(home, "pass")
	require.NoError(t, os.WriteFile(passFile, []byte(pass+"\n"), 0o600))
	wallet := filepath.Join(home, "wallet")

	out, err := n.cli(wallet, "wallet", "init", "--passphrase", "--passphrase-file", passFile)
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
	out, err = n.cli(wallet, "wallet", "show", "--passphrase-file", passFile)
	require.NoError(t, err)
	assert.Contains(t, out, `"citizen": "`+citizen+`"`, "init printed the citizen of the wallet it wrote")

	// With the passphrase from the environment, the whole resident's path works.
	n.env = append(n.env, passphraseEnv+"="+pass)
	invite, err := n.cli("", "admin", "invite", "--count", "1", "--admin-token-file", filepath.Join(data, "admin.token"))
	require.NoError(t, err)
	out, err = n.cli(wallet, "register", "--invite", strings.TrimSpace(invite), "--neighbourhood", "old-town")
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
	assert.Contains(t, out, "exported 1 vault copies")
	out, err = n.cli(wallet, "status")
	require.NoError(t, err)
	assert.Contains(t, out, `"your_consent": "granted"`)
	out, err = n.cli(wallet, "consent", "list")
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
