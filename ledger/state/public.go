package state

import (
	"time"

	"github.com/commons-city/commons/api"
)

// Status is "upcoming", "open" or "closed" at now.
func (p *Petition) Status(now time.Time) string {
	switch {
	case now.Before(p.Opens):
		return "upcoming"
	case !now.Before(p.Closes):
		return "closed"
	}
	return "open"
}

// Public is the petition's public summary at now: everything but the text, the timeline and
// the breakdown.
func (p *Petition) Public(now time.Time) api.PublicPetition {
	out := api.PublicPetition{ID: p.ID, Title: p.Title, Scope: append([]string{}, p.Scope...), Opens: p.Opens,
		Closes: p.Closes, Threshold: p.Threshold, Ask: append([]string{}, p.Ask...), Organiser: p.Organiser,
		Recipient: p.Recipient, Signatures: p.Signatures, Withdrawn: p.Withdrawn, Paper: p.Paper,
		Total: p.Total(), ThresholdReached: p.Total() >= p.Threshold, Status: p.Status(now), Ledger: p.Index}
	if p.Threshold > 0 {
		out.ProgressPercent = p.Total() * 100 / p.Threshold
	}
	return out
}

// Timeline turns a petition's days into its public timeline, with the online total at the
// end of each day.
func Timeline(days []PetitionDay) []api.TimelineDay {
	var out []api.TimelineDay
	online := 0
	for _, d := range days {
		online += d.Signed - d.Withdrawn
		out = append(out, api.TimelineDay{Day: d.Day, Signed: d.Signed, Withdrawn: d.Withdrawn, Online: online})
	}
	return out
}
