package store_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/store"
)

const (
	pet  = "p-park"
	petx = "p-parkx" // shares a prefix with pet
	sign = "petition.sign"
	wdr  = "petition.withdraw"
)

func pending(typ, nullifier string, answers []byte) store.Pending {
	return store.Pending{Petition: pet, Nullifier: nullifier, Type: typ,
		Entry: []byte(`{"type":"` + typ + `"}`), Answers: answers, Asks: true}
}

func isPending(t *testing.T, s *store.Store, p store.Pending) bool {
	t.Helper()
	ok, err := s.IsPending(p.Petition, p.Nullifier, p.Type)
	require.NoError(t, err)
	return ok
}

func spent(t *testing.T, s *store.Store, p store.Pending) bool {
	t.Helper()
	ok, err := s.NullifierSpent(p.Petition, p.Nullifier, p.Type)
	require.NoError(t, err)
	return ok
}

func pendings(t *testing.T, s *store.Store) []store.Pending {
	t.Helper()
	ps, err := s.Pendings()
	require.NoError(t, err)
	return ps
}

func answers(t *testing.T, s *store.Store, petition string) []string {
	t.Helper()
	as, err := s.Answers(petition)
	require.NoError(t, err)
	var out []string
	for _, a := range as {
		out = append(out, string(a))
	}
	return out
}

// land appends pending acts as the petition batcher does.
func land(t *testing.T, lg *ledger.Log, ps ...store.Pending) {
	t.Helper()
	var entries []ledger.Logged
	for _, p := range ps {
		entries = append(entries, p.Landed())
	}
	_, err := lg.AppendAll(context.Background(), entries)
	require.NoError(t, err)
}

// TestPendingActIsListedUntilItsBatchLands: an accepted signature is pending, and its
// nullifier spent, until its batch is appended; then it is no longer pending, its nullifier
// stays spent, and its sealed answers are stored; a withdrawal landing empties them.
func TestPendingActIsListedUntilItsBatchLands(t *testing.T) {
	t.Parallel()
	s, db, lg := openStore(t)
	ctx := context.Background()
	sigA, sigB := pending(sign, "nf-a", []byte("sealed-a")), pending(sign, "nf-b", []byte("sealed-b"))
	require.NoError(t, s.PutPending(ctx, sigA))
	require.NoError(t, s.PutPending(ctx, sigB))

	assert.True(t, isPending(t, s, sigA))
	assert.True(t, spent(t, s, sigA))
	assert.ElementsMatch(t, []store.Pending{sigA, sigB}, pendings(t, s))
	assert.Empty(t, answers(t, s, pet), "answers wait for the batch")
	assert.Zero(t, lg.Size(), "accepting an act logs nothing")

	before := snapshot(t, db)
	again := sigA
	again.Answers = []byte("other answers")
	assert.ErrorIs(t, s.PutPending(ctx, again), store.ErrSpent)
	assert.Equal(t, before, snapshot(t, db), "a spent nullifier changes nothing")

	land(t, lg, sigA)
	assert.False(t, isPending(t, s, sigA))
	assert.True(t, spent(t, s, sigA), "a landed act stays spent")
	assert.Equal(t, []store.Pending{sigB}, pendings(t, s))
	assert.Equal(t, []string{"sealed-a"}, answers(t, s, pet))
	assert.ErrorIs(t, s.PutPending(ctx, sigA), store.ErrSpent)

	// The same nullifier may withdraw once; the withdrawal empties the answers when it lands.
	w := pending(wdr, "nf-a", nil)
	require.NoError(t, s.PutPending(ctx, w))
	assert.ErrorIs(t, s.PutPending(ctx, w), store.ErrSpent)
	land(t, lg, w, sigB)
	assert.Empty(t, pendings(t, s))
	assert.Equal(t, []string{"sealed-b"}, answers(t, s, pet), "a withdrawn signature's answers are never tallied")
	assert.Equal(t, uint64(3), lg.Size())

	// A petition that asks nothing stores no answers, and petitions do not share nullifiers.
	quiet := store.Pending{Petition: petx, Nullifier: "nf-a", Type: sign, Entry: []byte(`{"type":"petition.sign"}`)}
	require.NoError(t, s.PutPending(ctx, quiet))
	land(t, lg, quiet)
	assert.Empty(t, answers(t, s, petx))
	assert.Equal(t, []string{"sealed-b"}, answers(t, s, pet))
}

// TestSpentNullifierSurvivesReopen: after a restart a spent nullifier is still refused and an
// act not yet batched is still pending.
func TestSpentNullifierSurvivesReopen(t *testing.T) {
	t.Parallel()
	c := nodetest.New(t, nodetest.Options{Synced: true})
	p := pending(sign, "nf-a", []byte("sealed"))
	require.NoError(t, c.Store.PutPending(context.Background(), p))
	c.Reopen(t)
	assert.True(t, spent(t, c.Store, p))
	assert.Equal(t, []store.Pending{p}, pendings(t, c.Store))
	assert.ErrorIs(t, c.Store.PutPending(context.Background(), p), store.ErrSpent)
	assert.False(t, spent(t, c.Store, pending(wdr, "nf-a", nil)), "spent for its act type only")
}

// TestTokenKeyAndIssuance: a petition's token key reads back as the key written, and the
// record of an issuance holds the digest of the blinded message, not the message.
func TestTokenKeyAndIssuance(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	_, err := s.TokenKey(pet)
	assert.ErrorIs(t, err, store.ErrNotFound)

	sk, err := rsa.GenerateKey(rand.Reader, 1024)
	require.NoError(t, err)
	_, err = lg.Append(context.Background(), []byte(`{"type":"petition.key"}`), store.TokenKeyRecord(pet, sk))
	require.NoError(t, err)
	got, err := s.TokenKey(pet)
	require.NoError(t, err)
	assert.True(t, sk.Equal(got))
	_, err = s.TokenKey(petx)
	assert.ErrorIs(t, err, store.ErrNotFound)

	blinded := []byte("blinded message of alice")
	sum := sha256.Sum256(blinded)
	assert.Equal(t, hex.EncodeToString(sum[:]), store.BlindedDigest(blinded))
	require.NoError(t, lg.Write(context.Background(), ledger.Write{Puts: []ledger.Put{store.IssuedRecord(pet, alice, blinded)}}))
	for _, c := range [][2]string{{pet, alice}, {pet, abe}, {petx, alice}} {
		issued, err := s.Issued(c[0], c[1])
		require.NoError(t, err)
		if c == [2]string{pet, alice} {
			assert.Equal(t, store.BlindedDigest(blinded), issued)
		} else {
			assert.Empty(t, issued, "%s %s", c[0], c[1])
		}
	}
}

// TestPendingIssuesNameNoResident: each pending issuance gets its own random id, and nothing of
// the resident is in its record.
func TestPendingIssuesNameNoResident(t *testing.T) {
	t.Parallel()
	s, db, lg := openStore(t)
	entry := []byte(`{"type":"petition.issue","petition":"p-park"}`)
	var puts []ledger.Put
	for _, c := range []string{alice, bob} {
		p, err := store.PendingIssue(pet, entry)
		require.NoError(t, err)
		puts = append(puts, p, store.IssuedRecord(pet, c, []byte(c)))
	}
	require.NoError(t, lg.Write(context.Background(), ledger.Write{Puts: puts}))

	ps := pendings(t, s)
	require.Len(t, ps, 2)
	assert.NotEqual(t, ps[0].Nullifier, ps[1].Nullifier)
	for _, p := range ps {
		assert.Equal(t, store.PendingIssueType, p.Type)
		assert.Equal(t, entry, p.Entry)
		assert.Len(t, p.Nullifier, 32)
		assert.True(t, isPending(t, s, p))
	}
	for k, v := range snapshot(t, db) {
		if strings.HasPrefix(k, "q/") {
			for _, c := range []string{alice, bob} {
				assert.NotContains(t, k+v, c, "a pending issuance names no resident")
			}
		}
	}
	land(t, lg, ps...)
	assert.Empty(t, pendings(t, s))
	assert.Empty(t, answers(t, s, pet), "an issuance has no answers")
}

// TestUpgradeSignersDropsTheNullifiers: the format 2 bindings of residents to nullifiers are
// replaced with issuance records that match no blinded message and hold no nullifier.
func TestUpgradeSignersDropsTheNullifiers(t *testing.T) {
	t.Parallel()
	s, db, lg := openStore(t)
	ctx := context.Background()
	n, err := s.UpgradeSigners(ctx)
	require.NoError(t, err)
	assert.Zero(t, n)

	legacy := func(petition, citizen, nullifier string) ledger.Put {
		return ledger.Put{Key: []byte("p/signer/" + petition + "\x00" + citizen), Value: []byte(nullifier)}
	}
	require.NoError(t, lg.Write(ctx, ledger.Write{Puts: []ledger.Put{
		legacy(pet, alice, "nf-secret-a"), legacy(pet, bob, "nf-secret-b"), legacy(petx, alice, "nf-secret-c"),
	}}))
	n, err = s.UpgradeSigners(ctx)
	require.NoError(t, err)
	assert.Equal(t, 3, n)
	for _, c := range [][2]string{{pet, alice}, {pet, bob}, {petx, alice}} {
		issued, err := s.Issued(c[0], c[1])
		require.NoError(t, err)
		assert.NotEmpty(t, issued, "%s %s is issued no new token", c[0], c[1])
		assert.NotRegexp(t, "^[0-9a-f]{64}$", issued, "no digest of a blinded message")
	}
	issued, err := s.Issued(pet, abe)
	require.NoError(t, err)
	assert.Empty(t, issued)
	for k, v := range snapshot(t, db) {
		assert.NotContains(t, k+v, "nf-secret", "no binding to a nullifier is left")
	}
	n, err = s.UpgradeSigners(ctx)
	require.NoError(t, err)
	assert.Zero(t, n, "the upgrade runs once")

	require.NoError(t, lg.Write(ctx, ledger.Write{Puts: []ledger.Put{{Key: []byte("p/signer/no-separator"), Value: []byte("x")}}}))
	_, err = s.UpgradeSigners(ctx)
	assert.ErrorContains(t, err, "malformed key")
}
