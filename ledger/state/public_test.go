package state

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/commons-city/commons/api"
)

func TestPublicPetitionStatusAndTimeline(t *testing.T) {
	opens := time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)
	p := &Petition{Petition: api.Petition{ID: "p", Opens: opens, Closes: opens.AddDate(0, 0, 10), Threshold: 8}, Signatures: 3, Paper: 2, Withdrawn: 1}
	assert.Equal(t, "upcoming", p.Status(opens.Add(-time.Second)))
	assert.Equal(t, "open", p.Status(opens))
	assert.Equal(t, "open", p.Status(p.Closes.Add(-time.Second)))
	assert.Equal(t, "closed", p.Status(p.Closes), "the closing instant is closed, as Open says")

	pub := p.Public(opens)
	assert.Equal(t, 5, pub.Total)
	assert.Equal(t, 62, pub.ProgressPercent)
	assert.False(t, pub.ThresholdReached)
	p.Paper = 20
	assert.True(t, p.Public(opens).ThresholdReached)
	assert.Equal(t, 287, p.Public(opens).ProgressPercent, "progress is not capped in the API")

	assert.Equal(t, []api.TimelineDay{
		{Day: "2026-10-01", Signed: 3, Online: 3},
		{Day: "2026-10-02", Signed: 1, Withdrawn: 2, Online: 2},
	}, Timeline([]PetitionDay{{Day: "2026-10-01", Signed: 3}, {Day: "2026-10-02", Signed: 1, Withdrawn: 2}}))
}
