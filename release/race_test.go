package release_test

import (
	"context"
	"log/slog"
	"sync"
	"testing"

	"filippo.io/age"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

// hookIdentity runs hook once, the first time the engine opens an envelope: after it has
// read the day's share copies and before it commits the release.
type hookIdentity struct {
	age.Identity
	once sync.Once
	hook func()
}

func (h *hookIdentity) Unwrap(s []*age.Stanza) ([]byte, error) {
	h.once.Do(h.hook)
	return h.Identity.Unwrap(s)
}

// A share copy acknowledged while a release is being computed must either be refused
// (ErrEpochClosed) or be counted in that release. Today it is neither: it is stored, the
// client is told it was accepted, and the release published without it.
func TestShareCopyAcceptedDuringReleaseIsCounted(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	e.residents(k, gridDay, "n-north", 20)
	late := e.register(true)
	c := crypto.Contribution{Citizen: late.CitizenID(), Nonce: crypto.NewNonce(), IssuedAt: crypto.Now(),
		Envelopes: []crypto.Envelope{{Day: gridDay, Purpose: purposeID,
			Ciphertext: e.seal(readings(t, gridDay, "n-north", 80), e.id.Recipient())}}}
	id, err := c.ID()
	require.NoError(t, err)
	var putErr error
	hooked := &hookIdentity{Identity: e.id, hook: func() { putErr = e.store.PutContribution(context.Background(), c, id) }}
	e.engine = release.New(release.Config{Store: e.store, Ledger: e.log, State: e.st,
		Identities: map[string]age.Identity{purposeID: hooked}, Cells: cells, Now: e.clock.Now, Noise: exact{},
		Logger: slog.New(slog.DiscardHandler)})
	e.closeDay(gridDay)
	require.Equal(t, 1, e.runDue())

	copies, err := e.store.ShareCopies(purposeID, gridDay)
	require.NoError(t, err)
	cell := cellOf(t, e.released(gridDay), "n-north")
	if putErr == nil {
		assert.Len(t, copies, k+1, "the late share copy is stored")
		assert.Equal(t, k+1, cell.Contributors, "an acknowledged share copy of a released day was left out of its release")
	} else {
		assert.ErrorIs(t, putErr, store.ErrEpochClosed)
	}
}

// A purpose whose policy asks for k below the minimum is never released.
func TestPurposeBelowMinimumKIsNotReleased(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	loose := e.purpose
	loose.Version, loose.Release.K = 2, release.MinK-1
	e.purpose = loose
	e.definePurpose(loose)
	e.residents(k, gridDay, "n-north", 20) // they consent to version 2: consent is not what stops it
	e.closeDay(gridDay)
	assert.Equal(t, 0, e.runDue())
	assert.Contains(t, e.logs.String(), "k below the minimum")
}
