package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/store"
)

func copyCount(t *testing.T, s *store.Store, purpose string) int {
	t.Helper()
	n, err := s.ShareCopyCount(purpose)
	require.NoError(t, err)
	return n
}

// removed returns the keys of before that are not in after, and fails if after has a key or a
// value that before did not.
func removed(t *testing.T, before, after map[string]string) []string {
	t.Helper()
	var out []string
	for k, v := range before {
		if w, ok := after[k]; !ok {
			out = append(out, k)
		} else {
			assert.Equal(t, v, w, "%q changed", k)
		}
	}
	for k := range after {
		_, ok := before[k]
		assert.True(t, ok, "%q appeared", k)
	}
	return out
}

// TestApproverIsOneNullifierPerResidentAndVersion: the binding is read back for its purpose,
// version and resident only.
func TestApproverIsOneNullifierPerResidentAndVersion(t *testing.T) {
	t.Parallel()
	s, _, lg := openStore(t)
	_, err := lg.Append(context.Background(), []byte(`{"type":"purpose.approve"}`), store.ApproverRecord(air, 2, alice, "nf-1"))
	require.NoError(t, err)
	for _, c := range []struct {
		purpose string
		version int
		citizen string
		want    string
	}{{air, 2, alice, "nf-1"}, {air, 1, alice, ""}, {air, 2, abe, ""}, {airx, 2, alice, ""}, {air, 2, bob, ""}} {
		got, err := s.Approver(c.purpose, c.version, c.citizen)
		require.NoError(t, err)
		assert.Equal(t, c.want, got, "%+v", c)
	}
}

// TestDeletePurposeLeavesOnlyItsReleases: retiring a purpose deletes every one of its share
// copies, across more days and copies than one write takes, and its closing marks; its
// releases, other purposes and the vault stay.
func TestDeletePurposeLeavesOnlyItsReleases(t *testing.T) {
	t.Parallel()
	s, db, lg := openStore(t)
	const residents = 1100
	for _, err := range race(residents, func(i int) error {
		c := fmt.Sprintf("c-%04d", i)
		return s.PutContribution(context.Background(), contribution(c, "n1", share(c, air, day1, "1"), share(c, airx, day1, "1")), c)
	}) {
		require.NoError(t, err)
	}
	put(t, s, alice, "n1", share(alice, air, day2, "1"), share(alice, air, day3, "1"), vault(alice, day1, "1"))
	release := markReleased(t, lg, air, day1)
	require.NoError(t, s.CloseEpoch(context.Background(), air, day2))
	require.NoError(t, s.CloseEpoch(context.Background(), airx, day2))
	assert.Equal(t, residents+2, copyCount(t, s, air))
	before := snapshot(t, db)

	require.NoError(t, s.DeletePurpose(context.Background(), air))
	gone := removed(t, before, snapshot(t, db))
	assert.Len(t, gone, residents+3, "every share copy and the closing mark")
	for _, k := range gone {
		assert.True(t, strings.HasPrefix(k, "s/air\x00") || k == "c/air\x00"+day2, "%q deleted", k)
	}
	assert.Zero(t, copyCount(t, s, air))
	assert.Equal(t, residents, copyCount(t, s, airx))
	got, err := s.Release(air, day1)
	require.NoError(t, err)
	assert.Equal(t, release, got)
	assert.Len(t, vaultCopies(t, s, alice), 1)
	require.NoError(t, s.DeletePurpose(context.Background(), "never-existed"))
}

// TestDeleteDayPrunesOneDayOfOnePurpose: pruning a day past retention deletes exactly that
// day's share copies of that purpose.
func TestDeleteDayPrunesOneDayOfOnePurpose(t *testing.T) {
	t.Parallel()
	s, db := newStore(t)
	for _, c := range []string{alice, abe, bob} {
		put(t, s, c, "n1", share(c, air, day1, "1"), share(c, air, day2, "1"), share(c, airx, day1, "1"), vault(c, day1, "1"))
	}
	put(t, s, alice, "n2", share(alice, air, day1, "2"))
	before := snapshot(t, db)

	require.NoError(t, s.DeleteDay(context.Background(), air, day1))
	gone := removed(t, before, snapshot(t, db))
	assert.Len(t, gone, 4)
	for _, k := range gone {
		assert.True(t, strings.HasPrefix(k, "s/air\x00"+day1+"\x00"), "%q deleted", k)
	}
	assert.Empty(t, shareCopies(t, s, air, day1))
	assert.Equal(t, []string{day2}, days(t, s, air))
	assert.Equal(t, 3, copyCount(t, s, air))
	assert.Equal(t, 3, copyCount(t, s, airx))
	require.NoError(t, s.DeleteDay(context.Background(), air, day3), "a day with nothing stored")
}
