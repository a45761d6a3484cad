package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/store"
)

// TestFollowersAndDeliveriesStayOutOfTheLedger: followers, announced marks and queued
// deliveries are written through the sequencer and read back (also after a restart), but
// never make a ledger entry; an actor's followers do not bleed into another's whose id shares
// a prefix.
func TestFollowersAndDeliveriesStayOutOfTheLedger(t *testing.T) {
	t.Parallel()
	core := nodetest.New(t, nodetest.Options{})
	ctx := context.Background()
	size := core.Ledger.Size()
	at := time.Date(2026, 5, 4, 10, 0, 0, 0, time.UTC)
	accept := store.Delivery{ID: "a1", Actor: "https://n/city", Inbox: "https://f/inbox", Body: []byte(`{"type":"Accept"}`), Next: at}
	require.NoError(t, core.Store.AddFollower(ctx, "https://n/city", store.Follower{ID: "https://f/bob", Inbox: "https://f/inbox"}, accept))
	require.NoError(t, core.Store.AddFollower(ctx, "https://n/cityx", store.Follower{ID: "https://f/eve", Inbox: "https://f/eve/inbox"},
		store.Delivery{ID: "a2", Actor: "https://n/cityx", Inbox: "https://f/eve/inbox", Body: []byte(`{}`), Next: at}))
	create := store.Delivery{ID: "c1", Actor: "https://n/city", Inbox: "https://f/inbox", Body: []byte(`{"type":"Create"}`), Next: at}
	require.NoError(t, core.Store.FanOut(ctx, "https://n/city", []store.Fanout{{Event: "release/air/2026-05-01", Deliveries: []store.Delivery{create}}}))
	assert.Equal(t, size, core.Ledger.Size(), "no ledger entry")

	core.Reopen(t)
	fs, err := core.Store.Followers("https://n/city")
	require.NoError(t, err)
	assert.Equal(t, []store.Follower{{ID: "https://f/bob", Inbox: "https://f/inbox"}}, fs)
	done, err := core.Store.Fanned("https://n/city", "release/air/2026-05-01")
	require.NoError(t, err)
	assert.True(t, done)
	done, err = core.Store.Fanned("https://n/cityx", "release/air/2026-05-01")
	require.NoError(t, err)
	assert.False(t, done)
	queue, err := core.Store.Deliveries()
	require.NoError(t, err)
	require.Len(t, queue, 3)
	assert.Equal(t, accept, queue[0])
	assert.Equal(t, create, queue[2])

	create.Attempts, create.Next = 1, at.Add(time.Minute)
	require.NoError(t, core.Store.Reschedule(ctx, create))
	require.NoError(t, core.Store.Dequeue(ctx, "a1"))
	require.NoError(t, core.Store.RemoveFollower(ctx, "https://n/city", "https://f/bob"))
	queue, err = core.Store.Deliveries()
	require.NoError(t, err)
	require.Len(t, queue, 2)
	assert.Equal(t, create, queue[1])
	fs, err = core.Store.Followers("https://n/city")
	require.NoError(t, err)
	assert.Empty(t, fs)
	fs, err = core.Store.Followers("https://n/cityx")
	require.NoError(t, err)
	assert.Len(t, fs, 1)
	assert.Equal(t, size, core.Ledger.Size())
}
