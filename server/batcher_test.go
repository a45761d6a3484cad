package server

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/purpose"
)

// newBatchedNode is a petition node whose signatures wait for batches of policy, driven by
// the test through the returned batcher's Tick and the node's clock.
func newBatchedNode(t *testing.T, policy BatchPolicy) (*petitionNode, *Batcher) {
	c := nodetest.NewClock(time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC))
	var b *Batcher
	n := newTestNode(t, func(cfg *Config) {
		cfg.Now = c.Now
		b = NewBatcher(policy, cfg.Ledger, cfg.Store, cfg.State, c.Now, cfg.Logger)
		cfg.Batcher = b
	})
	return &petitionNode{testNode: n, clock: c}, b
}

// status reads a nullifier's status as a wallet polls it.
func (n *petitionNode) status(t *testing.T, petition, nullifier string) api.SignatureStatus {
	t.Helper()
	return decodeOK[api.SignatureStatus](t, n.do(t, "GET", "/api/v1/petitions/"+petition+"/signatures/"+nullifier, ""))
}

func tick(t *testing.T, b *Batcher) int {
	t.Helper()
	n, err := b.Tick(context.Background())
	require.NoError(t, err)
	return n
}

// TestSignaturesWaitForTheirBatchAndThenHaveAReceipt accepts signatures durably, 202 pending,
// appends them only once the cadence has passed and enough have gathered, and then answers
// their receipt, which proves their entry under the checkpoint. A withdrawal waits for its
// signature to be logged; a closing petition's signatures go at the next tick whatever their
// number; acknowledged acts survive a restart.
func TestSignaturesWaitForTheirBatchAndThenHaveAReceipt(t *testing.T) {
	t.Parallel()
	n, b := newBatchedNode(t, BatchPolicy{Every: 10 * time.Minute, Min: 4})
	org := n.organiser(t)
	status, code := n.create(t, org, treesPetition(n.clock.Now().Add(-time.Minute)))
	require.Equal(t, 201, status, code)
	var signers []*crypto.Wallet
	for range 3 {
		w := n.resident(t, "old-town")
		signers = append(signers, w)
		status, code := n.sign(t, w, "trees", false)
		require.Equal(t, 202, status, code)
	}
	first := signers[0].Nullifier("trees")
	assert.Equal(t, api.SignaturePending, n.status(t, "trees", first).Status)
	assert.Equal(t, 0, n.petition(t, "trees").Total, "nothing counted before the batch")
	status, code = n.act(t, "trees", actRequest(t, signers[0], "trees", true, client.Token{}, nil))
	assert.Equal(t, 409, status)
	assert.Equal(t, "signature_pending", code)
	status, code = n.sign(t, signers[0], "trees", false)
	assert.Equal(t, 409, status, "a pending signature is spent already")
	assert.Equal(t, "already_signed", code)

	assert.Zero(t, tick(t, b), "the cadence has not passed")
	n.clock.Advance(10 * time.Minute)
	assert.Zero(t, tick(t, b), "three are too few")

	// The node stops: the acknowledged signatures wait on disk.
	size := n.Ledger.Size()
	n.Reopen(t)
	require.NoError(t, n.State.Replay(context.Background(), n.Ledger))
	n2, b2 := newBatchedNodeOn(t, n, BatchPolicy{Every: 10 * time.Minute, Min: 4})
	w := n2.resident(t, "old-town")
	signers = append(signers, w)
	status, code = n2.sign(t, w, "trees", false)
	require.Equal(t, 202, status, code)
	assert.Zero(t, tick(t, b2), "the restarted batcher waits a full cadence")
	n2.clock.Advance(10 * time.Minute)
	assert.Equal(t, 8, tick(t, b2), "four signatures and the four token issuances that waited with them")
	assert.Equal(t, 4, n2.petition(t, "trees").Total)

	cp, treeSize := n2.Ledger.Checkpoint()
	for _, w := range signers {
		s := n2.status(t, "trees", w.Nullifier("trees"))
		require.Equal(t, api.SignatureSigned, s.Status)
		require.NotNil(t, s.Receipt)
		assert.GreaterOrEqual(t, s.Receipt.Index, size)
		assert.Equal(t, string(cp), s.Receipt.Checkpoint)
		root := rootOf(t, n2, treeSize)
		assert.NoError(t, proof.VerifyInclusion(rfc6962.DefaultHasher, s.Receipt.Index, treeSize, s.Receipt.LeafHash, s.Receipt.Proof, root))
	}

	// Withdrawing once the signature is logged: pending, then withdrawn at the close.
	status, code = n2.act(t, "trees", actRequest(t, signers[0], "trees", true, client.Token{}, nil))
	require.Equal(t, 202, status, code)
	assert.Equal(t, api.SignaturePending, n2.status(t, "trees", first).Status)
	trees, _ := n2.State.Petition("trees")
	n2.clock.Set(trees.Closes)
	assert.Equal(t, 1, tick(t, b2), "a closed petition's acts go whatever their number")
	assert.Equal(t, api.SignatureWithdrawn, n2.status(t, "trees", first).Status)
	assert.Equal(t, 3, n2.petition(t, "trees").Total)
}

// newBatchedNodeOn serves a reopened core with a new app and batcher, as a restarted node does.
func newBatchedNodeOn(t *testing.T, old *petitionNode, policy BatchPolicy) (*petitionNode, *Batcher) {
	t.Helper()
	n := &testNode{Core: old.Core, metrics: NewMetrics(), now: old.clock.Now}
	b := NewBatcher(policy, old.Ledger, old.Store, old.State, old.clock.Now, old.Logger)
	app, err := New(Config{Ledger: old.Ledger, State: old.State, Store: old.Store, VerifierKey: old.VerifierKey,
		GeoJSON: geo.Default(), AdminToken: testToken, TallyKey: testTallyKey, AirPurpose: purpose.Air,
		DB: old.DB, Metrics: n.metrics, TokenKeys: testTokenKeys, Batcher: b, Now: old.clock.Now, Logger: old.Logger})
	require.NoError(t, err)
	n.app = app
	return &petitionNode{testNode: n, clock: old.clock}, b
}

// rootOf is the ledger's root at size, from the last entry's inclusion proof.
func rootOf(t *testing.T, n *petitionNode, size uint64) []byte {
	t.Helper()
	leaf, err := n.Ledger.LeafHashAt(size - 1)
	require.NoError(t, err)
	path, err := n.Ledger.InclusionProof(size-1, size)
	require.NoError(t, err)
	root, err := proof.RootFromInclusionProof(rfc6962.DefaultHasher, size-1, size, leaf, path)
	require.NoError(t, err)
	return root
}

// TestLedgerPositionGuessesNoBetterThanChance interleaves registrations (each followed by the
// resident's token sync) and signatures on a quiet node, one resident at a time, as the
// easiest case for an observer of the ledger. The observer guesses that the k-th signature
// of a run belongs to the k-th resident registered before it. Appended each at once, every
// guess is right; in shuffled batches of 8, the guesses do no better than chance (1 in 8).
func TestLedgerPositionGuessesNoBetterThanChance(t *testing.T) {
	t.Parallel()
	const batch, batches = 8, 8
	guess := func(policy BatchPolicy) (right, total int) {
		n, b := newBatchedNode(t, policy)
		org := n.organiser(t)
		status, code := n.create(t, org, treesPetition(n.clock.Now().Add(-time.Minute)))
		require.Equal(t, 201, status, code)
		signer := map[string]string{} // nullifier → citizen id: the truth the observer lacks
		for range batches {
			for range batch {
				w := n.resident(t, "old-town")
				signer[w.Nullifier("trees")] = w.CitizenID()
				status, code := n.sign(t, w, "trees", false)
				require.Equal(t, 202, status, code)
			}
			n.clock.Advance(policy.Every)
			tick(t, b)
		}
		// The observer's walk: registrations queue up; each signature takes the oldest.
		var queue []string
		require.NoError(t, n.Ledger.Scan(context.Background(), 0, n.Ledger.Size(), func(_ uint64, raw []byte) error {
			e, err := api.ParseEntry(raw)
			require.NoError(t, err)
			switch e.Type {
			case api.EntryRegister:
				if e.Citizen != org.CitizenID() {
					queue = append(queue, e.Citizen)
				}
			case api.EntryPetitionSign:
				total++
				if signer[e.Nullifier] == queue[0] {
					right++
				}
				queue = queue[1:]
			}
			return nil
		}))
		return right, total
	}
	right, total := guess(BatchPolicy{})
	assert.Equal(t, batch*batches, total)
	assert.Equal(t, total, right, "appended at once, the ledger's order names every signer")
	right, total = guess(BatchPolicy{Every: 10 * time.Minute, Min: batch})
	assert.Equal(t, batch*batches, total)
	// Chance is total/batch = 8 right guesses; 24 or more would happen by chance with a
	// probability below 1e-7 (binomial, n = 64, p = 1/8).
	assert.Less(t, right, 24, "%d of %d signers guessed from their position in shuffled batches of %d", right, total, batch)
	t.Logf("shuffled batches of %d: %d of %d signers guessed from ledger position (chance: %d)", batch, right, total, total/batch)
}
