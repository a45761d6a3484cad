package nodetest_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/nodetest"
)

func TestClockMovesOnlyWhenTold(t *testing.T) {
	t.Parallel()
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	c := nodetest.NewClock(start)
	assert.Equal(t, start, c.Now())
	c.Advance(90 * time.Minute)
	assert.Equal(t, start.Add(90*time.Minute), c.Now())
	c.Set(start)
	assert.Equal(t, start, c.Now())
}

// A reopened core has the log it had, an empty read model until replayed, and the same keys.
func TestReopenKeepsTheLog(t *testing.T) {
	t.Parallel()
	for _, synced := range []bool{false, true} {
		c := nodetest.New(t, nodetest.Options{Synced: synced})
		c.DefinePurpose(t, api.Purpose{ID: "air", Version: 1})
		i := c.Append(t, api.Entry{Type: api.EntryInvite, Hash: "h"})
		assert.EqualValues(t, 1, i)
		_, logged := c.State.Purpose("air")
		require.True(t, logged, "the sequencer applies entries to the read model")

		c.Reopen(t)
		assert.EqualValues(t, 2, c.Ledger.Size())
		_, logged = c.State.Purpose("air")
		assert.False(t, logged, "a reopened read model is empty until replayed")
		require.NoError(t, c.State.Replay(context.Background(), c.Ledger))
		_, logged = c.State.Purpose("air")
		assert.True(t, logged)
		assert.EqualValues(t, 2, c.Append(t, api.Entry{Type: api.EntryInvite, Hash: "h2"}), "the same keys sign on")
		c.Close(t)
		c.Close(t) // closing twice is a no-op
	}
}

func TestLogsCollectFromTheLogger(t *testing.T) {
	t.Parallel()
	var l nodetest.Logs
	l.Logger().Debug("detail", "k", "v")
	assert.Contains(t, l.String(), `level=DEBUG msg=detail k=v`)
}

func TestLogsWaitForReturnsOnTheNthLine(t *testing.T) {
	t.Parallel()
	var l nodetest.Logs
	done := make(chan error, 1)
	go func() { done <- l.WaitFor(context.Background(), "msg=tick", 3) }()
	for range 3 {
		l.Logger().Info("tick")
	}
	require.NoError(t, <-done)

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := l.WaitFor(ctx, "msg=tock", 1)
	require.ErrorIs(t, err, context.Canceled)
	assert.Contains(t, err.Error(), `"msg=tock" logged 0 of 1 times`)
}
