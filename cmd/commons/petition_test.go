package main

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
)

// TestPetitionLifecycle runs a petition through the real binary's CLI: an organiser creates
// it, residents sign, withdraw and re-sign, paper signatures are entered, it closes, the
// organiser exports a signed result, and both the petition and the result verify against the
// ledger — before and after a restart. Then the leak scan. The node runs in the test process,
// so that the test can move its clock past the close.
func TestPetitionLifecycle(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	n, clock, logs := startClockedNode(t)
	data, home := n.data, t.TempDir()
	ctx := context.Background()
	c := client.New(n.url)
	token := adminTokenOf(t, data)
	invites, err := c.Invites(ctx, token, 6)
	require.NoError(t, err)

	organiser := cliOrganiser(t, n, data, filepath.Join(home, "organiser", "wallet"), invites[0])
	text := filepath.Join(home, "text.md")
	require.NoError(t, os.WriteFile(text, []byte("Keep the *library* open on Sundays.\n\nSee [the plan](https://example.org/plan)."), 0o600))
	// It closes when the test moves the node's clock past it, by less than the statement skew
	// (10 minutes): the CLI still signs on the wall clock.
	closes := time.Now().UTC().Add(8 * time.Minute).Truncate(time.Second)
	out, err := n.cli(organiser, "petition", "create", "--title", "Sunday library", "--text-file", text,
		"--scope", "old-town,riverside", "--opens", time.Now().UTC().Add(-time.Hour).Format(time.RFC3339),
		"--closes", closes.Format(time.RFC3339), "--threshold", "5", "--ask", "age_band")
	require.NoError(t, err, out)
	const id = "sunday-library"

	// Four residents: three in scope, one outside.
	wallets := make([]string, 4)
	signers := make([]*crypto.Wallet, 4)
	for i, hood := range []string{"old-town", "riverside", "old-town", "new-town"} {
		wallets[i] = filepath.Join(home, fmt.Sprintf("r%d", i), "wallet")
		_, err := n.cli(wallets[i], "wallet", "init")
		require.NoError(t, err)
		_, err = n.cli(wallets[i], "register", "--invite", invites[i+1], "--neighbourhood", hood)
		require.NoError(t, err)
		signers[i], err = crypto.LoadWallet(wallets[i])
		require.NoError(t, err)
	}
	var receipts []api.Receipt
	sign := func(i int, args ...string) error {
		out, err := n.cli(wallets[i], append([]string{"petition", "sign", id, "--json"}, args...)...)
		if err == nil {
			var r api.Receipt
			require.NoError(t, json.Unmarshal([]byte(out), &r))
			receipts = append(receipts, r)
		}
		return err
	}
	// Resident 0 syncs ahead, as the browser wallet does when it opens, and signs later with
	// the kept token; the others sync as they sign.
	out, err = n.cli(wallets[0], "petition", "sync")
	require.NoError(t, err, out)
	assert.FileExists(t, wallets[0]+".tokens.json")
	require.NoError(t, sign(0, "--age-band", "30-44"))
	require.NoError(t, sign(1))
	require.NoError(t, sign(2, "--age-band", "65+"))
	assert.ErrorContains(t, sign(0), "already_signed")
	assert.ErrorContains(t, sign(3), "out_of_scope")
	_, err = n.cli(wallets[2], "petition", "withdraw", id)
	require.NoError(t, err)
	_, err = n.cli(wallets[2], "petition", "withdraw", id)
	assert.ErrorContains(t, err, "already_withdrawn")
	assert.ErrorContains(t, sign(2), "already_signed", "a withdrawn signature's token is spent")
	_, err = n.cli(wallets[1], "petition", "paper", id, "--count", "7", "--note", "library desk")
	assert.ErrorContains(t, err, "not_organiser", "only organisers enter paper signatures")
	_, err = n.cli(organiser, "petition", "paper", id, "--count", "7", "--note", "library desk")
	require.NoError(t, err)

	out, err = n.cli("", "petition", "verify", id)
	require.NoError(t, err, out)
	assert.Contains(t, out, "recount: 2 signatures (3 signed, 1 withdrawn), one per nullifier")
	assert.Contains(t, out, "tokens: 3 signatures each spend a token that verifies under the petition's key")
	assert.Contains(t, out, "recount: 7 paper signatures, 9 in total")
	assert.Contains(t, out, "the published total (9) equals the recount")
	_, err = n.cli(organiser, "petition", "result", id, "--out", filepath.Join(home, "early.json"))
	assert.ErrorContains(t, err, "final only once it closes")

	clock.Set(time.Until(closes) + time.Second)
	assert.ErrorContains(t, sign(3), "petition_closed")
	_, err = n.cli(wallets[0], "petition", "withdraw", id)
	assert.ErrorContains(t, err, "petition_closed")
	p, err := c.Petition(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, "closed", p.Status)
	assert.Equal(t, 9, p.Total, "counts keep showing after the close")

	result := filepath.Join(home, "result.json")
	_, err = n.cli(wallets[0], "petition", "result", id, "--out", result)
	assert.ErrorContains(t, err, "only the petition's organiser")
	out, err = n.cli(organiser, "petition", "result", id, "--out", result)
	require.NoError(t, err, out)
	out, err = n.cli("", "petition", "verify", "--result", result)
	require.NoError(t, err, out)
	assert.Contains(t, out, "recount up to the checkpoint: 9 signatures (2 online, 7 paper) equal the result's")

	// A changed total, or a changed signature, is caught.
	raw, err := os.ReadFile(result)
	require.NoError(t, err)
	forged := filepath.Join(home, "forged.json")
	require.NoError(t, os.WriteFile(forged, []byte(strings.Replace(string(raw), `"total": 9,`, `"total": 90,`, 1)), 0o600))
	require.NotEqual(t, raw, must(os.ReadFile(forged)), "the forgery changed the file")
	_, err = n.cli("", "petition", "verify", "--result", forged)
	assert.ErrorContains(t, err, "FAILED")

	// After a restart, the read model is replayed from the ledger: the same counts, and the
	// result still verifies. The breakdown fell due at the close: the ticker runs hourly in
	// tests, and the restarted node releases what is due once it serves.
	n.stop()
	n = startNodeWithClock(t, data, logs, clock)
	out, err = n.cli("", "petition", "verify", id)
	require.NoError(t, err, out)
	assert.Contains(t, out, "the published total (9) equals the recount")
	out, err = n.cli("", "petition", "verify", "--result", result)
	require.NoError(t, err, out)
	c = client.New(n.url)
	released := eventually(n.ctx, func() bool {
		p, err = c.Petition(ctx, id)
		return err != nil || len(p.Breakdown) > 0
	})
	require.NoError(t, err)
	assert.Equal(t, 2, p.Signatures)
	assert.Equal(t, 7, p.Paper)
	assert.Equal(t, 1, p.Withdrawn)
	require.True(t, released, "the breakdown is released once the petition is closed")
	assert.Contains(t, string(p.Breakdown), `"suppressed":true`, "two answers are far below k")
	assert.NotContains(t, string(p.Breakdown), `"signers"`, "no group reaches k")

	petitionLeakScan(t, n, id, signers[:3], receipts, logs)
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// petitionLeakScan checks that no public page, API answer, ledger entry or log line tells
// whether a given resident signed the petition: their citizen id appears only in their own
// registration entry (token issuances name no one: whose they were would tell the resident's
// neighbourhood), their signing key nowhere near a petition, and the nullifier in the ledger is not computable from anything
// public.
func petitionLeakScan(t *testing.T, n *node, id string, signers []*crypto.Wallet, receipts []api.Receipt, logs *nodetest.Logs) {
	t.Helper()
	get := func(path string) string {
		resp, err := http.Get(n.url + path)
		require.NoError(t, err)
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, path)
		return string(b)
	}
	public := map[string]string{}
	for _, p := range []string{"/", "/petitions", "/petitions/" + id, "/ledger", "/api/v1/petitions", "/api/v1/petitions/" + id,
		"/api/v1/petitions?format=csv", "/api/v1/petitions/" + id + "?format=csv", "/api/v1/purposes", "/api/v1/ledger/checkpoint"} {
		public[p] = get(p)
	}
	size := int(ledgerSize(t, n))
	var nullifiers []string
	entries := map[int]api.Entry{}
	for i := range size {
		raw := get(fmt.Sprintf("/api/v1/ledger/entries/%d", i))
		e, err := api.ParseEntry([]byte(raw))
		require.NoError(t, err)
		entries[i] = e
		if e.Type != api.EntryRegister {
			public[fmt.Sprintf("entry %d", i)] = raw
		}
		if e.Type == api.EntryPetitionSign {
			nullifiers = append(nullifiers, e.Nullifier)
		}
	}
	for _, r := range receipts {
		e := entries[int(r.Index)]
		assert.Equal(t, api.EntryPetitionSign, e.Type, "a signer's receipt points at a petition.sign entry")
		assert.Empty(t, e.Citizen+e.IssuedAt+e.Nonce, "the entry names no signer")
		for _, w := range signers {
			assert.NotEqual(t, crypto.EncodeKey(w.SigningPublicKey()), e.SigningKey, "the entry's key is the petition's, not the resident's")
		}
	}
	for _, w := range signers {
		secrets := map[string]string{
			"citizen id":  w.CitizenID(),
			"signing key": crypto.EncodeKey(w.SigningPublicKey()),
			"recipient":   w.Recipient().String(),
		}
		for what, s := range secrets {
			for where, body := range public {
				if where == "/ledger" && what == "citizen id" {
					continue // the page lists the latest entries, registrations among them
				}
				assert.False(t, strings.Contains(body, s), "the %s of a signer in %s", what, where)
			}
			assert.NotContains(t, logs.String(), s, "the %s of a signer in the logs", what)
		}
		// The nullifier is in the ledger, but only the wallet derives it: no value computed
		// from the signer's public identifiers matches any logged nullifier.
		assert.Contains(t, nullifiers, w.Nullifier(id))
		for _, pub := range []string{w.CitizenID(), crypto.EncodeKey(w.SigningPublicKey()), w.Recipient().String()} {
			for _, guess := range linkGuesses(id, pub) {
				assert.NotContains(t, nullifiers, guess, "a nullifier computed from public data")
			}
		}
		other, err := crypto.NewWallet()
		require.NoError(t, err)
		assert.NotContains(t, nullifiers, other.Nullifier(id), "another wallet gives another nullifier")
		assert.NotEqual(t, w.Nullifier(id), w.Nullifier(id+"-other"), "each petition its own nullifier")
	}
	assert.NotContains(t, logs.String(), id+" c-", "no log line ties a petition to a citizen")
}

// linkGuesses are the pseudonyms an attacker could compute from a public identifier.
func linkGuesses(petition, public string) []string {
	sum := sha256.Sum256([]byte(petition + public))
	sum2 := sha256.Sum256([]byte(public + petition))
	m := hmac.New(sha256.New, []byte(public))
	m.Write([]byte(petition))
	m2 := hmac.New(sha256.New, []byte(petition))
	m2.Write([]byte(public))
	return []string{hex.EncodeToString(sum[:]), hex.EncodeToString(sum2[:]), hex.EncodeToString(m.Sum(nil)),
		hex.EncodeToString(m2.Sum(nil)), base64.StdEncoding.EncodeToString(sum[:])}
}

// TestAdminPetition keeps INTERFACES.md's `commons admin petition`: the operator creates a
// petition in their own name, their wallet becoming an organiser on the first one (logged).
func TestAdminPetition(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	n := startFreshNode(t)
	token := filepath.Join(n.data, "admin.token")
	wallet := filepath.Join(home, "wallet")
	_, err := n.cli(wallet, "wallet", "init")
	require.NoError(t, err)
	_, err = n.cli(wallet, "register", "--invite", n.invites(1)[0], "--neighbourhood", "old-town")
	require.NoError(t, err)
	text := filepath.Join(home, "text.md")
	require.NoError(t, os.WriteFile(text, []byte("More *benches* in the square."), 0o600))

	_, err = n.cli(wallet, "admin", "petition", "--title", "More benches", "--text-file", text)
	require.Error(t, err, "no token, no petition")
	for _, title := range []string{"More benches", "Shade trees"} {
		out, err := n.cli(wallet, "admin", "petition", "--admin-token-file", token, "--title", title, "--text-file", text)
		require.NoError(t, err, out)
	}
	body, err := client.New(n.url).Get(context.Background(), "/api/v1/petitions")
	require.NoError(t, err)
	assert.Contains(t, string(body), `"more-benches"`)
	assert.Contains(t, string(body), `"shade-trees"`)
}
