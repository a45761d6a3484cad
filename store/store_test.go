package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/store"
)

const (
	air   = "air"
	airx  = "airx" // shares a prefix with air: keys must not bleed between them
	day1  = "2025-03-01"
	day2  = "2025-03-02"
	day3  = "2025-03-03"
	alice = "c-a"
	abe   = "c-ab" // shares a prefix with alice
	bob   = "c-b"
)

func openDB(t *testing.T) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(t.TempDir()).WithLogger(nil))
	require.NoError(t, err)
	t.Cleanup(func() { require.NoError(t, db.Close()) })
	return db
}

// openStore returns a store on a fresh node core, and the database and ledger it writes
// through.
func openStore(t *testing.T) (*store.Store, *badger.DB, *ledger.Log) {
	c := nodetest.New(t, nodetest.Options{})
	return c.Store, c.DB, c.Ledger
}

func newStore(t *testing.T) (*store.Store, *badger.DB) {
	s, db, _ := openStore(t)
	return s, db
}

// ct is a recognisable ciphertext for one envelope.
func ct(citizen, purpose, day, tag string) []byte {
	return fmt.Appendf(nil, "age-encryption.org/v1\n%s|%s|%s|%s", citizen, purpose, day, tag)
}

func share(citizen, purpose, day, tag string) crypto.Envelope {
	return crypto.Envelope{Day: day, Purpose: purpose, Ciphertext: ct(citizen, purpose, day, tag)}
}

func vault(citizen, day, tag string) crypto.Envelope {
	return crypto.Envelope{Day: day, Purpose: crypto.VaultPurpose, Ciphertext: ct(citizen, crypto.VaultPurpose, day, tag)}
}

func contribution(citizen, nonce string, es ...crypto.Envelope) crypto.Contribution {
	return crypto.Contribution{Citizen: citizen, Nonce: nonce, IssuedAt: "2025-03-02T10:00:00Z", Envelopes: es}
}

func put(t *testing.T, s *store.Store, citizen, nonce string, es ...crypto.Envelope) {
	t.Helper()
	require.NoError(t, s.PutContribution(context.Background(), contribution(citizen, nonce, es...), citizen+"-"+nonce))
}

// race calls put(i) for each i below n, all at once, with also running alongside, and
// returns their errors.
func race(n int, put func(i int) error, also ...func()) []error {
	errs := make([]error, n)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = put(i)
		})
	}
	for _, f := range also {
		wg.Go(func() {
			<-start
			f()
		})
	}
	close(start)
	wg.Wait()
	return errs
}

// markReleased logs a release of a purpose's day and stores it, as the release engine does.
func markReleased(t *testing.T, lg *ledger.Log, purpose, day string) []byte {
	t.Helper()
	body := fmt.Appendf(nil, `{"purpose":%q,"epoch":%q}`, purpose, day)
	_, err := lg.Append(context.Background(), fmt.Appendf(nil, `{"type":"release","hash":%q}`, body),
		store.ReleaseRecord(purpose, day, body))
	require.NoError(t, err)
	return body
}

func shareCopies(t *testing.T, s *store.Store, purpose, day string) []store.ShareCopy {
	t.Helper()
	cs, err := s.ShareCopies(purpose, day)
	require.NoError(t, err)
	return cs
}

type vaultCopy struct {
	Day        string
	Ciphertext []byte
}

func vaultCopies(t *testing.T, s *store.Store, citizen string) []vaultCopy {
	t.Helper()
	var out []vaultCopy
	require.NoError(t, s.VaultCopies(citizen, func(day string, b []byte) error {
		out = append(out, vaultCopy{day, bytes.Clone(b)})
		return nil
	}))
	return out
}

func days(t *testing.T, s *store.Store, purpose string) []string {
	t.Helper()
	ds, err := s.Days(purpose)
	require.NoError(t, err)
	return ds
}

func epochs(t *testing.T, s *store.Store, purpose string) []string {
	t.Helper()
	es, err := s.Epochs(purpose)
	require.NoError(t, err)
	return es
}

// snapshot returns every key and value of the database, to check that nothing changed.
func snapshot(t *testing.T, db *badger.DB) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.DefaultIteratorOptions)
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out[string(it.Item().KeyCopy(nil))] = string(v)
		}
		return nil
	}))
	return out
}

func TestPutContributionStoresEveryEnvelope(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	put(t, s, alice, "n1",
		vault(alice, day2, "v"), share(alice, air, day2, "s"), share(alice, airx, day2, "x"),
		vault(alice, day1, "v"), share(alice, air, day1, "s"))

	assert.Equal(t, []store.ShareCopy{{Citizen: alice, Ciphertext: ct(alice, air, day1, "s")}}, shareCopies(t, s, air, day1))
	assert.Equal(t, []store.ShareCopy{{Citizen: alice, Ciphertext: ct(alice, air, day2, "s")}}, shareCopies(t, s, air, day2))
	assert.Equal(t, []store.ShareCopy{{Citizen: alice, Ciphertext: ct(alice, airx, day2, "x")}}, shareCopies(t, s, airx, day2))
	assert.Empty(t, shareCopies(t, s, airx, day1))
	assert.Empty(t, shareCopies(t, s, crypto.VaultPurpose, day1), "vault copies are never share copies")
	assert.Equal(t, []vaultCopy{{day1, ct(alice, crypto.VaultPurpose, day1, "v")}, {day2, ct(alice, crypto.VaultPurpose, day2, "v")}},
		vaultCopies(t, s, alice), "vault copies in day order")
	assert.Equal(t, []string{day1, day2}, days(t, s, air))
	assert.Equal(t, []string{day2}, days(t, s, airx))
	assert.Empty(t, days(t, s, crypto.VaultPurpose))
}

func TestReplayedNonceChangesNothing(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	put(t, s, alice, "n1", share(alice, air, day1, "first"), vault(alice, day1, "first"))
	before := snapshot(t, db)

	// Same citizen, same nonce, different envelopes and contribution id.
	err := s.PutContribution(context.Background(), contribution(alice, "n1", share(alice, air, day2, "again"), vault(alice, day2, "again")), "other-id")
	assert.ErrorIs(t, err, store.ErrReplay)
	// The exact same contribution again.
	err = s.PutContribution(context.Background(), contribution(alice, "n1", share(alice, air, day1, "first"), vault(alice, day1, "first")), alice+"-n1")
	assert.ErrorIs(t, err, store.ErrReplay)
	assert.Equal(t, before, snapshot(t, db), "a replay must not write anything")

	// A nonce is scoped to its citizen.
	put(t, s, bob, "n1", share(bob, air, day1, "bob"))
	assert.Len(t, shareCopies(t, s, air, day1), 2)
}

func TestShareCopyOfReleasedDayIsRefusedWholeContribution(t *testing.T) {
	t.Parallel()
	s, db, lg := openStore(t)
	markReleased(t, lg, air, day2)
	before := snapshot(t, db)

	c := contribution(alice, "n1",
		vault(alice, day3, "v"),         // fine on its own
		share(alice, air, day1, "open"), // fine on its own
		share(alice, air, day2, "late"), // the epoch is closed
		vault(alice, day2, "v"))
	assert.ErrorIs(t, s.PutContribution(context.Background(), c, "id1"), store.ErrEpochClosed)
	assert.Equal(t, before, snapshot(t, db), "all or nothing: not the vault copy, not the other share copy, not the nonce")
	assert.Empty(t, vaultCopies(t, s, alice))
	assert.Empty(t, shareCopies(t, s, air, day1))

	// The nonce was not consumed: the resident can send the contribution without the late copy.
	put(t, s, alice, "n1", vault(alice, day3, "v"), share(alice, air, day1, "open"), vault(alice, day2, "v"))
	assert.Len(t, shareCopies(t, s, air, day1), 1)
	assert.Equal(t, []vaultCopy{{day2, ct(alice, crypto.VaultPurpose, day2, "v")}, {day3, ct(alice, crypto.VaultPurpose, day3, "v")}},
		vaultCopies(t, s, alice), "a vault copy of a released day is still the resident's to keep")

	// Only that purpose's epoch is closed.
	put(t, s, alice, "n2", share(alice, airx, day2, "other purpose"))
	assert.Len(t, shareCopies(t, s, airx, day2), 1)
	assert.Empty(t, shareCopies(t, s, air, day2))
}

func TestEmptyContributionOnlyConsumesItsNonce(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	before := len(snapshot(t, db))
	put(t, s, alice, "n1")
	assert.Len(t, snapshot(t, db), before+1)
	assert.ErrorIs(t, s.PutContribution(context.Background(), contribution(alice, "n1"), "x"), store.ErrReplay)
}

func TestDaysAreDistinctAndOrdered(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	put(t, s, bob, "n1", share(bob, air, "2025-03-12", "a"), share(bob, air, "2025-03-01", "a"))
	put(t, s, alice, "n1", share(alice, air, "2025-03-12", "b"), share(alice, air, "2025-03-10", "b"))
	put(t, s, alice, "n2", share(alice, air, "2024-12-31", "c"), share(alice, airx, "2025-01-01", "c"))
	put(t, s, abe, "n1", share(abe, air, "2025-03-10", "d"))
	assert.Equal(t, []string{"2024-12-31", "2025-03-01", "2025-03-10", "2025-03-12"}, days(t, s, air))
	assert.Equal(t, []string{"2025-01-01"}, days(t, s, airx))
	assert.Empty(t, days(t, s, "ai"))
	assert.Empty(t, days(t, s, "unknown"))
}

func TestShareCopiesOfADay(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	put(t, s, bob, "n1", share(bob, air, day1, "1"))
	put(t, s, alice, "n1", share(alice, air, day1, "1"), share(alice, air, day2, "1"))
	put(t, s, alice, "n2", share(alice, air, day1, "2"))
	put(t, s, abe, "n1", share(abe, air, day1, "1"), share(abe, airx, day1, "1"))

	got := shareCopies(t, s, air, day1)
	require.Len(t, got, 4)
	assert.True(t, sort.SliceIsSorted(got, func(i, j int) bool { return got[i].Citizen < got[j].Citizen }), "grouped by citizen")
	want := []store.ShareCopy{
		{Citizen: bob, Ciphertext: ct(bob, air, day1, "1")},
		{Citizen: alice, Ciphertext: ct(alice, air, day1, "1")},
		{Citizen: alice, Ciphertext: ct(alice, air, day1, "2")},
		{Citizen: abe, Ciphertext: ct(abe, air, day1, "1")},
	}
	assert.ElementsMatch(t, want, got)
	assert.Empty(t, shareCopies(t, s, air, day3))
}

func TestVaultCopiesOfOneResidentInDayOrder(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	put(t, s, alice, "n1", vault(alice, day3, "1"), vault(alice, day1, "1"))
	put(t, s, abe, "n1", vault(abe, day2, "1"))
	put(t, s, alice, "n2", vault(alice, day2, "2"))
	assert.Equal(t, []vaultCopy{
		{day1, ct(alice, crypto.VaultPurpose, day1, "1")},
		{day2, ct(alice, crypto.VaultPurpose, day2, "2")},
		{day3, ct(alice, crypto.VaultPurpose, day3, "1")},
	}, vaultCopies(t, s, alice))
	assert.Equal(t, []vaultCopy{{day2, ct(abe, crypto.VaultPurpose, day2, "1")}}, vaultCopies(t, s, abe))
	assert.Empty(t, vaultCopies(t, s, bob))

	// An error from the callback stops the walk and is returned.
	stop := errors.New("stop")
	calls := 0
	err := s.VaultCopies(alice, func(string, []byte) error { calls++; return stop })
	assert.ErrorIs(t, err, stop)
	assert.Equal(t, 1, calls)
}

// TestUsage counts a resident's stored envelopes: every vault copy and the share copies of the
// purposes named, across days and contributions, and nothing of a resident whose id or
// purpose shares a prefix; erasing the vault takes its copies off.
func TestUsage(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	put(t, s, alice, "n1", vault(alice, day1, "1"), share(alice, air, day1, "1"), share(alice, airx, day1, "1"))
	put(t, s, alice, "n2", vault(alice, day2, "2"), share(alice, air, day2, "2"), share(alice, air, day1, "3"))
	put(t, s, abe, "n1", vault(abe, day1, "1"), share(abe, air, day1, "1"))
	size := func(es ...crypto.Envelope) int64 {
		n := 0
		for _, e := range es {
			n += len(e.Ciphertext)
		}
		return int64(n)
	}
	usage := func(citizen string, purposes ...string) int64 {
		t.Helper()
		n, err := s.Usage(citizen, purposes)
		require.NoError(t, err)
		return n
	}
	vaults := size(vault(alice, day1, "1"), vault(alice, day2, "2"))
	shares := size(share(alice, air, day1, "1"), share(alice, air, day2, "2"), share(alice, air, day1, "3"))
	assert.Equal(t, vaults+shares, usage(alice, air))
	assert.Equal(t, vaults+shares+size(share(alice, airx, day1, "1")), usage(alice, air, airx))
	assert.Equal(t, size(vault(abe, day1, "1"), share(abe, air, day1, "1")), usage(abe, air, airx))
	assert.Zero(t, usage(bob, air))
	require.NoError(t, s.DeleteVault(context.Background(), alice))
	assert.Equal(t, shares, usage(alice, air))
}

func TestReleasesAndEpochs(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	_, err := s.Release(air, day1)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.Empty(t, epochs(t, s, air))

	b3 := markReleased(t, lg, air, day3)
	b1 := markReleased(t, lg, air, day1)
	markReleased(t, lg, airx, day2)
	assert.Equal(t, []string{day1, day3}, epochs(t, s, air))
	assert.Equal(t, []string{day2}, epochs(t, s, airx))
	got, err := s.Release(air, day1)
	require.NoError(t, err)
	assert.Equal(t, b1, got)
	got, err = s.Release(air, day3)
	require.NoError(t, err)
	assert.Equal(t, b3, got)
	_, err = s.Release(air, day2)
	assert.ErrorIs(t, err, store.ErrNotFound)
}

func TestNonceUsed(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	used, err := s.NonceUsed(alice, "n1")
	require.NoError(t, err)
	assert.False(t, used)

	_, err = lg.Append(context.Background(), []byte(`{"type":"consent.grant"}`), store.NonceRecord(alice, "n1"))
	require.NoError(t, err)
	used, err = s.NonceUsed(alice, "n1")
	require.NoError(t, err)
	assert.True(t, used)
	for _, c := range [][2]string{{alice, "n2"}, {bob, "n1"}, {abe, "n1"}, {"c-", "an1"}} {
		used, err = s.NonceUsed(c[0], c[1])
		require.NoError(t, err)
		assert.False(t, used, "%s %s", c[0], c[1])
	}
}

func TestNeighbourhood(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	_, err := s.Neighbourhood(alice)
	assert.ErrorIs(t, err, store.ErrNotFound)

	_, err = lg.Append(context.Background(), []byte(`{"type":"register"}`), store.CitizenRecord(alice, "n-north"))
	require.NoError(t, err)
	n, err := s.Neighbourhood(alice)
	require.NoError(t, err)
	assert.Equal(t, "n-north", n)
	_, err = s.Neighbourhood(abe)
	assert.ErrorIs(t, err, store.ErrNotFound)
	assert.NotContains(t, fmt.Sprint(err), "n-north")
}

func TestDeleteUnreleasedKeepsReleasedDaysOtherResidentsAndPurposes(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	for _, c := range []string{alice, abe, bob} {
		put(t, s, c, "n1",
			share(c, air, day1, "1"), share(c, air, day2, "1"), share(c, air, day3, "1"),
			share(c, airx, day2, "1"), vault(c, day2, "1"))
	}
	put(t, s, alice, "n2", share(alice, air, day2, "2"))
	released := markReleased(t, lg, air, day1)

	require.NoError(t, s.DeleteUnreleased(context.Background(), alice, air))

	citizens := func(purpose, day string) []string {
		var out []string
		for _, c := range shareCopies(t, s, purpose, day) {
			out = append(out, c.Citizen)
		}
		sort.Strings(out)
		return out
	}
	assert.Equal(t, []string{alice, abe, bob}, citizens(air, day1), "a released day keeps its copies")
	assert.Equal(t, []string{abe, bob}, citizens(air, day2), "both of alice's contributions are gone, c-ab's stays")
	assert.Equal(t, []string{abe, bob}, citizens(air, day3))
	assert.Equal(t, []string{alice, abe, bob}, citizens(airx, day2), "another purpose is untouched")
	assert.Len(t, vaultCopies(t, s, alice), 1, "the vault is untouched")
	assert.Equal(t, []string{day1, day2, day3}, days(t, s, air))
	got, err := s.Release(air, day1)
	require.NoError(t, err)
	assert.Equal(t, released, got)

	// Deleting again, or for someone with nothing stored, is not an error.
	require.NoError(t, s.DeleteUnreleased(context.Background(), alice, air))
	require.NoError(t, s.DeleteUnreleased(context.Background(), "c-nobody", air))
	require.NoError(t, s.DeleteUnreleased(context.Background(), alice, "no-such-purpose"))
	assert.Equal(t, []string{abe, bob}, citizens(air, day2))
}

func TestDeleteVault(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	for _, c := range []string{alice, abe} {
		put(t, s, c, "n1", vault(c, day1, "1"), vault(c, day2, "1"), share(c, air, day1, "1"))
	}
	require.NoError(t, s.DeleteVault(context.Background(), alice))
	assert.Empty(t, vaultCopies(t, s, alice))
	assert.Len(t, vaultCopies(t, s, abe), 2, "c-ab's vault is not c-a's")
	assert.Len(t, shareCopies(t, s, air, day1), 2, "share copies are not the vault")
	require.NoError(t, s.DeleteVault(context.Background(), alice))
	require.NoError(t, s.DeleteVault(context.Background(), "c-nobody"))
}

// Twenty concurrent uploads of contributions under one nonce: exactly one is stored.
func TestConcurrentSameNonceExactlyOneWins(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	errs := race(20, func(i int) error {
		tag := fmt.Sprint(i)
		return s.PutContribution(context.Background(), contribution(alice, "same", share(alice, air, day1, tag), vault(alice, day1, tag)), "id"+tag)
	})

	winner := -1
	for i, err := range errs {
		if err == nil {
			require.Equal(t, -1, winner, "both %d and %d succeeded", winner, i)
			winner = i
		} else {
			assert.ErrorIs(t, err, store.ErrReplay, "goroutine %d", i)
		}
	}
	require.NotEqual(t, -1, winner, "one upload must succeed")
	tag := fmt.Sprint(winner)
	assert.Equal(t, []store.ShareCopy{{Citizen: alice, Ciphertext: ct(alice, air, day1, tag)}}, shareCopies(t, s, air, day1))
	assert.Equal(t, []vaultCopy{{day1, ct(alice, crypto.VaultPurpose, day1, tag)}}, vaultCopies(t, s, alice))
}

// Concurrent uploads with distinct nonces all land.
func TestConcurrentDistinctNoncesAllLand(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	const n = 20
	errs := race(n, func(i int) error {
		tag := fmt.Sprint(i)
		return s.PutContribution(context.Background(), contribution(alice, "n"+tag, share(alice, air, day1, tag)), "id"+tag)
	})
	for _, err := range errs {
		assert.NoError(t, err)
	}
	assert.Len(t, shareCopies(t, s, air, day1), n)
}

// Uploads racing the release of their day: each is either stored whole (and its nonce used)
// or refused whole with ErrEpochClosed.
func TestConcurrentUploadsAndReleaseAreAllOrNothing(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	errs := race(40, func(i int) error {
		c := fmt.Sprintf("c-%02d", i)
		return s.PutContribution(context.Background(), contribution(c, "n", share(c, air, day1, "s"), vault(c, day1, "v")), c)
	}, func() {
		_, err := lg.Append(context.Background(), []byte(`{"type":"release"}`), store.ReleaseRecord(air, day1, []byte("{}")))
		assert.NoError(t, err)
	})

	stored := map[string]bool{}
	for _, c := range shareCopies(t, s, air, day1) {
		stored[c.Citizen] = true
	}
	for i, err := range errs {
		c := fmt.Sprintf("c-%02d", i)
		vs := vaultCopies(t, s, c)
		if err == nil {
			assert.True(t, stored[c], "%s acknowledged but its share copy is missing", c)
			assert.Len(t, vs, 1, c)
		} else {
			require.ErrorIs(t, err, store.ErrEpochClosed, c)
			assert.False(t, stored[c], "%s refused but its share copy is stored", c)
			assert.Empty(t, vs, c)
			// Refused whole: its nonce is still free.
			assert.NoError(t, s.PutContribution(context.Background(), contribution(c, "n", vault(c, day1, "v")), c))
		}
	}
	// And after the release committed, no share copy gets in.
	assert.ErrorIs(t, s.PutContribution(context.Background(), contribution("c-late", "n", share("c-late", air, day1, "s")), "late"), store.ErrEpochClosed)
}

func TestOpenBadgerIsDurableAcrossReopen(t *testing.T) {
	t.Parallel()
	c := nodetest.New(t, nodetest.Options{Synced: true})
	put(t, c.Store, alice, "n1", share(alice, air, day1, "1"))
	c.Reopen(t)
	s := c.Store
	assert.Equal(t, []store.ShareCopy{{Citizen: alice, Ciphertext: ct(alice, air, day1, "1")}}, shareCopies(t, s, air, day1))
	assert.ErrorIs(t, s.PutContribution(context.Background(), contribution(alice, "n1"), "x"), store.ErrReplay, "nonces survive a restart")
}

func TestOpenBadgerRefusesAFile(t *testing.T) {
	t.Parallel()
	file := filepath.Join(t.TempDir(), "not-a-dir")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err := store.OpenBadger(store.Options{Dir: file, Logger: slog.New(slog.DiscardHandler)})
	require.Error(t, err)
	assert.Contains(t, err.Error(), file)
}

func TestRunValueLogGCStopsWithItsContext(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		store.RunValueLogGC(ctx, db, time.Hour, slog.New(slog.DiscardHandler))
		close(done)
	}()
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunValueLogGC did not return after its context ended")
	}
}

func TestNothingToCollectIsNotAWarning(t *testing.T) {
	t.Parallel()
	db := openDB(t)
	var logs bytes.Buffer
	store.CollectValueLog(db, slog.New(slog.NewTextHandler(&logs, nil)))
	assert.Empty(t, logs.String())
}

// Uploads racing the close of their day: the release reads the day's share copies once
// CloseEpoch returns, and finds exactly the copies acknowledged; every other upload is refused
// whole. The sequencer is held until every request has started, so that most of them meet in
// one batch, on either side of the closing mark.
func TestUploadsRacingCloseEpochAreReleasedOrRefused(t *testing.T) {
	t.Parallel()
	held, hold := make(chan struct{}), make(chan struct{})
	var commits atomic.Int32
	s := nodetest.New(t, nodetest.Options{OnCommit: func(int, int, time.Duration, error) {
		if commits.Add(1) == 1 {
			close(held)
			<-hold
		}
	}}).Store
	go func() { assert.NoError(t, s.CloseEpoch(context.Background(), air, day3)) }()
	<-held

	const n = 40
	errs := make([]error, n)
	var released []store.ShareCopy
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			c := fmt.Sprintf("c-%02d", i)
			errs[i] = s.PutContribution(context.Background(), contribution(c, "n", share(c, air, day1, "s"), vault(c, day1, "v")), c)
		})
		if i == n/2 {
			wg.Go(func() {
				assert.NoError(t, s.CloseEpoch(context.Background(), air, day1))
				var err error
				released, err = s.ShareCopies(air, day1)
				assert.NoError(t, err)
			})
		}
	}
	close(hold)
	wg.Wait()

	in := map[string]bool{}
	for _, c := range released {
		in[c.Citizen] = true
	}
	for i, err := range errs {
		c := fmt.Sprintf("c-%02d", i)
		if err == nil {
			assert.True(t, in[c], "%s acknowledged but not in the release", c)
			continue
		}
		require.ErrorIs(t, err, store.ErrEpochClosed, c)
		assert.False(t, in[c], c)
		assert.Empty(t, vaultCopies(t, s, c), "%s refused whole", c)
	}
	assert.Len(t, shareCopies(t, s, air, day1), len(released), "nothing got in after the close")
}

func TestUseNonceRefusesReplays(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	require.NoError(t, s.UseNonce(context.Background(), alice, "n1"))
	assert.ErrorIs(t, s.UseNonce(context.Background(), alice, "n1"), store.ErrReplay)
	require.NoError(t, s.UseNonce(context.Background(), bob, "n1"), "a nonce is scoped to its citizen")

	// Statement nonces are one space, whether logged with an entry or not.
	_, err := lg.Append(context.Background(), []byte(`{"type":"consent.grant"}`), store.NonceRecord(alice, "n2"))
	require.NoError(t, err)
	assert.ErrorIs(t, s.UseNonce(context.Background(), alice, "n2"), store.ErrReplay)
}

// Writes of private records alone grow no tree and sign no checkpoint.
func TestPrivateWritesLeaveTheLogAlone(t *testing.T) {
	t.Parallel()
	s, db, lg := openStore(t)
	put(t, s, alice, "n1", share(alice, air, day1, "1"), vault(alice, day1, "1"))
	require.NoError(t, s.CloseEpoch(context.Background(), air, day2))
	require.NoError(t, s.UseNonce(context.Background(), alice, "n2"))
	require.NoError(t, s.DeleteUnreleased(context.Background(), alice, air))
	require.NoError(t, s.DeleteVault(context.Background(), alice))
	assert.Zero(t, lg.Size())
	cp, size, err := ledger.StoredCheckpoint(db)
	require.NoError(t, err)
	assert.Nil(t, cp)
	assert.Zero(t, size)
}

func TestWritesAfterTheLedgerClosesAreRefused(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	require.NoError(t, lg.Close())
	assert.ErrorIs(t, s.PutContribution(context.Background(), contribution(alice, "n1", vault(alice, day1, "v")), "id"), ledger.ErrClosed)
	assert.ErrorIs(t, s.CloseEpoch(context.Background(), air, day1), ledger.ErrClosed)
	assert.Empty(t, vaultCopies(t, s, alice))
}

// TestHourlyReleasesAreTheirOwnSpace: a day's city × hour release is read back for its purpose
// and day, listed in day order, and is not a daily release (nor the other way round).
func TestHourlyReleasesAreTheirOwnSpace(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	_, err := s.HourlyRelease(air, day1)
	assert.ErrorIs(t, err, store.ErrNotFound)
	for _, d := range []string{day3, day1} {
		_, err = lg.Append(context.Background(), []byte(`{"type":"release.hourly"}`), store.HourlyReleaseRecord(air, d, []byte("hours of "+d)))
		require.NoError(t, err)
	}
	markReleased(t, lg, air, day2)

	hours, err := s.HourlyDays(air)
	require.NoError(t, err)
	assert.Equal(t, []string{day1, day3}, hours)
	got, err := s.HourlyRelease(air, day3)
	require.NoError(t, err)
	assert.Equal(t, "hours of "+day3, string(got))
	assert.Equal(t, []string{day2}, epochs(t, s, air))
	_, err = s.HourlyRelease(air, day2)
	assert.ErrorIs(t, err, store.ErrNotFound)
	hours, err = s.HourlyDays(airx)
	require.NoError(t, err)
	assert.Empty(t, hours)
}

// TestSpentBudgetPerResidentAndWeek reads back the exact budget recorded, and zero for any
// other resident or week.
func TestSpentBudgetPerResidentAndWeek(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	_, err := lg.Append(context.Background(), []byte(`{"type":"release"}`),
		store.BudgetRecord(alice, "2026-W18", 0.1+0.2), store.BudgetRecord(bob, "2026-W18", 1))
	require.NoError(t, err)
	for _, c := range []struct {
		citizen, week string
		want          float64
	}{{alice, "2026-W18", 0.1 + 0.2}, {bob, "2026-W18", 1}, {alice, "2026-W19", 0}, {abe, "2026-W18", 0}} {
		got, err := s.Spent(c.citizen, c.week)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%+v", c) // exactly: the budget is compared to the cap
	}
}

// TestContributionNonceUsedAnswersEarly: a contribution's nonce reads as used once stored, for
// its resident only, and is not a statement nonce.
func TestContributionNonceUsedAnswersEarly(t *testing.T) {
	t.Parallel()
	s, _ := newStore(t)
	put(t, s, alice, "n1", vault(alice, day1, "1"))
	for _, c := range []struct {
		citizen, nonce string
		want           bool
	}{{alice, "n1", true}, {alice, "n2", false}, {abe, "n1", false}, {bob, "n1", false}} {
		used, err := s.ContributionNonceUsed(c.citizen, c.nonce)
		require.NoError(t, err)
		assert.Equal(t, c.want, used, "%+v", c)
	}
	used, err := s.NonceUsed(alice, "n1")
	require.NoError(t, err)
	assert.False(t, used, "contribution and statement nonces are separate spaces")
}
