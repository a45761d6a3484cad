package petition

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

var opens = time.Date(2026, 10, 1, 12, 0, 0, 0, time.UTC)

func TestStatus(t *testing.T) {
	t.Parallel()
	p := &api.Petition{Opens: opens, Closes: opens.AddDate(0, 0, 10)}
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"a second before it opens", opens.Add(-time.Second), StatusUpcoming},
		{"the opening instant", opens, StatusOpen},
		{"a second before it closes", p.Closes.Add(-time.Second), StatusOpen},
		{"the closing instant is closed, as Open says", p.Closes, StatusClosed},
		{"long after", p.Closes.AddDate(1, 0, 0), StatusClosed},
	} {
		assert.Equal(t, tc.want, Status(p, tc.at), tc.name)
		assert.Equal(t, tc.want == StatusOpen, p.Open(tc.at), tc.name)
	}
}

func TestProgress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name             string
		total, threshold int
		percent          int
		reached          bool
	}{
		{"nothing yet", 0, 8, 0, false},
		{"rounded down", 5, 8, 62, false},
		{"just under", 99, 100, 99, false},
		{"exactly reached", 8, 8, 100, true},
		{"past the threshold", 23, 8, 287, true},
		{"capped at ten times the threshold", 3_000_000, 10, MaxProgress, true},
		{"ten million", 10_000_000, 10_000_000, 100, true},
		{"no threshold (never valid)", 5, 0, 0, true},
	} {
		assert.Equal(t, tc.percent, Progress(tc.total, tc.threshold), tc.name)
		assert.Equal(t, tc.reached, Reached(tc.total, tc.threshold), tc.name)
	}
}

func TestPublic(t *testing.T) {
	t.Parallel()
	p := &state.Petition{Petition: api.Petition{ID: "p", Title: "T", Text: "not in the list", Scope: []string{"old-town"},
		Opens: opens, Closes: opens.AddDate(0, 0, 10), Threshold: 8, Ask: []string{api.AskAgeBand}},
		Index: 7, Organiser: "c-org", Recipient: "age1x", Signatures: 3, Paper: 2, Withdrawn: 1}
	assert.Equal(t, api.PublicPetition{ID: "p", Title: "T", Scope: []string{"old-town"}, Opens: opens, Closes: p.Closes,
		Threshold: 8, Ask: []string{api.AskAgeBand}, Organiser: "c-org", Recipient: "age1x", Signatures: 3, Withdrawn: 1,
		Paper: 2, Total: 5, PaperPercent: 40, ProgressPercent: 62, Status: StatusOpen, Ledger: 7}, Public(p, opens))
	p.Paper = 20
	pub := Public(p, p.Closes)
	assert.True(t, pub.ThresholdReached)
	assert.Equal(t, 287, pub.ProgressPercent, "progress past the threshold, under the cap")
	assert.Equal(t, 87, pub.PaperPercent, "20 of 23 on paper")
	assert.Equal(t, StatusClosed, pub.Status)
	pub.Scope[0] = "changed"
	assert.Equal(t, "old-town", p.Scope[0], "the summary holds its own copy of the scope")
	assert.Equal(t, []string{}, Public(&state.Petition{}, opens).Ask, "no questions is an empty list, not null")
}

func TestTimeline(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		days []state.PetitionDay
		want []api.TimelineDay
	}{
		{"no signatures", nil, nil},
		{"running online total", []state.PetitionDay{{Day: "2026-10-01", Signed: 3}, {Day: "2026-10-02", Signed: 1, Withdrawn: 2}},
			[]api.TimelineDay{{Day: "2026-10-01", Signed: 3, Online: 3}, {Day: "2026-10-02", Signed: 1, Withdrawn: 2, Online: 2}}},
		{"a day of withdrawals only", []state.PetitionDay{{Day: "2026-10-01", Signed: 2}, {Day: "2026-10-05", Withdrawn: 2}, {Day: "2026-10-06", Signed: 1}},
			[]api.TimelineDay{{Day: "2026-10-01", Signed: 2, Online: 2}, {Day: "2026-10-05", Withdrawn: 2, Online: 0}, {Day: "2026-10-06", Signed: 1, Online: 1}}},
	} {
		assert.Equal(t, tc.want, Timeline(tc.days), tc.name)
	}
}

func TestPaperShare(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ paper, total, want int }{
		{0, 0, 0}, {0, 5, 0}, {38, 99, 38}, {1, 3, 33}, {2, 3, 67}, {7, 7, 100},
	} {
		assert.Equal(t, tc.want, PaperShare(tc.paper, tc.total), "%d of %d", tc.paper, tc.total)
	}
}
