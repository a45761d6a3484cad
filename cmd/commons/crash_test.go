package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
)

// acked is everything the server acknowledged before it was killed.
type acked struct {
	mu            sync.Mutex
	receipts      []api.Receipt
	contributions []crypto.SignedContribution
}

// TestKill9LosesNoAcknowledgedWrite kills the real server with SIGKILL several times while
// residents register, consent and contribute concurrently, then checks after each restart that
// every acknowledged statement is still in the ledger and provable under the new checkpoint,
// and every acknowledged contribution is still stored.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	data := t.TempDir()
	logs := &nodetest.Logs{}
	token := func() string {
		b, err := os.ReadFile(filepath.Join(data, "admin.token"))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	var all acked
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 4; round++ {
		n := startNode(t, data, logs)
		verifyAcked(t, n, &all)
		c := client.New(n.url)
		invites, err := c.Invites(context.Background(), token(), 2000)
		require.NoError(t, err)
		air, err := c.Purpose(context.Background(), "air-quality/daily")
		require.NoError(t, err)

		var wg sync.WaitGroup
		next := make(chan string, len(invites))
		for _, inv := range invites {
			next <- inv
		}
		close(next)
		for w := 0; w < 8; w++ {
			wg.Go(func() { residentLoad(c, next, air, &all) })
		}
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		require.NoError(t, n.cmd.Process.Kill())
		n.cmd.Wait()
		wg.Wait()
		all.mu.Lock()
		t.Logf("round %d: %d receipts and %d contributions acknowledged so far", round, len(all.receipts), len(all.contributions))
		all.mu.Unlock()
	}
	n := startNode(t, data, logs)
	verifyAcked(t, n, &all)
	require.NotEmpty(t, all.receipts, "the load must have been acknowledged at least once")
	require.NotEmpty(t, all.contributions)
}

// residentLoad registers, consents and contributes until the invites run out or the server
// dies; it records only what the server acknowledged.
func residentLoad(c *client.Client, invites <-chan string, air client.Purpose, all *acked) {
	ctx := context.Background()
	// Today's epoch is open until tomorrow: a restart's release run cannot close it.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	for inv := range invites {
		w, err := crypto.NewWallet()
		if err != nil {
			return
		}
		a, err := c.Register(ctx, w, inv, "old-town")
		if err != nil {
			return
		}
		all.add(a.Receipt)
		if a, err = c.Grant(ctx, w, air); err != nil {
			return
		}
		all.add(a.Receipt)
		envs, err := client.Seal(w, []reading.Reading{{Sensor: "s", RecordedAt: day, Cell: "old-town",
			Values: reading.Values{PM2_5: reading.F(10)}}}, []client.Purpose{air})
		if err != nil {
			return
		}
		signed, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(), Envelopes: envs})
		if err != nil {
			return
		}
		if err := c.PostContribution(ctx, signed); err != nil {
			return
		}
		all.mu.Lock()
		all.contributions = append(all.contributions, signed)
		all.mu.Unlock()
	}
}

func (a *acked) add(r api.Receipt) {
	a.mu.Lock()
	a.receipts = append(a.receipts, r)
	a.mu.Unlock()
}

func verifyAcked(t *testing.T, n *node, all *acked) {
	t.Helper()
	ctx := context.Background()
	c := client.New(n.url)
	key, err := c.Get(ctx, "/api/v1/ledger/key")
	require.NoError(t, err)
	v, err := note.NewVerifier(strings.TrimSpace(string(key)))
	require.NoError(t, err)
	au, err := newAuditor(ctx, c)
	require.NoError(t, err)
	all.mu.Lock()
	defer all.mu.Unlock()
	for _, r := range all.receipts {
		_, err := ledger.OpenCheckpoint([]byte(r.Checkpoint), v)
		require.NoError(t, err)
		_, err = au.checkReceipt(ctx, r)
		require.NoError(t, err, "acknowledged entry %d lost or changed after kill -9", r.Index)
		var p api.InclusionProof
		b, err := c.Get(ctx, fmt.Sprintf("/api/v1/ledger/proof/inclusion?index=%d&size=%d", r.Index, au.latest.Size))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &p))
		require.NoError(t, ledger.VerifyInclusion(au.latest, r.Index, r.LeafHash, p.Proof))
	}
	// A stored contribution's nonce is written in the same transaction as its envelopes, so
	// "replayed" proves the whole contribution survived.
	for _, sc := range all.contributions {
		err := c.PostContribution(ctx, sc)
		var ae *client.APIError
		require.True(t, errors.As(err, &ae), "contribution must be refused as a replay, got %v", err)
		assert.True(t, ae.Code == "replayed" || ae.Code == "stale_statement", "got %s", ae.Code)
	}
}

// TestKill9KeepsPendingPetitionSignatures: a petition signature is acknowledged (202, pending)
// before its batch reaches the ledger. The node is killed with SIGKILL while the signatures
// wait for a batch that would not come for an hour; restarted, it appends every one of them,
// each with a receipt that checks out, and the petition counts them all.
func TestKill9KeepsPendingPetitionSignatures(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	ctx := testContext(t)
	data := t.TempDir()
	logs := &nodetest.Logs{}
	n := startNode(t, data, logs, "--signature-batch-every", "1h", "--signature-batch-min", "1000")
	c := client.New(n.url)
	admin := adminTokenOf(t, data)
	invites, err := c.Invites(ctx, admin, 1)
	require.NoError(t, err)
	organiser, err := fixtures.NewOrganiser(ctx, c, admin, invites[0])
	require.NoError(t, err)
	now := time.Now().UTC()
	const id = "crossing"
	_, err = c.CreatePetition(ctx, organiser, api.Petition{ID: id, Title: "A safe crossing", Text: "At the school gates.",
		Opens: now.Add(-time.Hour), Closes: now.AddDate(0, 0, 14), Threshold: 10})
	require.NoError(t, err)
	signers := make([]*crypto.Wallet, 6)
	for i := range signers {
		signers[i] = newResident(ctx, t, c, admin, "old-town")
		s, err := c.SignPetition(ctx, signers[i], id, false, nil)
		require.NoError(t, err)
		require.Equal(t, api.SignaturePending, s.Status, "acknowledged, waiting for its batch")
	}
	require.NoError(t, n.cmd.Process.Kill())
	n.cmd.Wait()

	n = startNode(t, data, logs) // each act appended at once
	c = client.New(n.url)
	for _, w := range signers {
		s, err := c.WaitSignature(ctx, id, w.Nullifier(id), 50*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, api.SignatureSigned, s.Status, "the acknowledged signature survived kill -9")
		require.NotNil(t, s.Receipt)
		au, err := newAuditor(ctx, c) // the latest checkpoint, which holds every batch so far
		require.NoError(t, err)
		_, err = au.checkReceipt(ctx, *s.Receipt)
		require.NoError(t, err)
	}
	p, err := c.Petition(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, len(signers), p.Signatures)
}
