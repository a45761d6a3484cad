package state

import (
	"encoding/json"
	"time"
)

// PublicPetition is a petition as the API publishes it (GET /api/v1/petitions[/{id}]) and as
// clients read it: the document, its organiser and tally key, and its exact counts — online
// and paper apart, and their total. Text, Timeline and Breakdown come only with one petition.
type PublicPetition struct {
	ID               string          `json:"id"`
	Title            string          `json:"title"`
	Text             string          `json:"text,omitempty"`
	Scope            []string        `json:"scope"`
	Opens            time.Time       `json:"opens"`
	Closes           time.Time       `json:"closes"`
	Threshold        int             `json:"threshold"`
	Ask              []string        `json:"ask"`
	Organiser        string          `json:"organiser"`
	Recipient        string          `json:"recipient"`
	Signatures       int             `json:"signatures"`
	Withdrawn        int             `json:"withdrawn"`
	Paper            int             `json:"paper"`
	Total            int             `json:"total"`
	ProgressPercent  int             `json:"progress_percent"`
	ThresholdReached bool            `json:"threshold_reached"`
	Status           string          `json:"status"`
	Ledger           uint64          `json:"ledger_index"`
	Timeline         []TimelineDay   `json:"timeline,omitempty"`
	Breakdown        json.RawMessage `json:"breakdown,omitempty"`
}

// TimelineDay is one UTC day of a petition: signatures and withdrawals that day, and the
// online total at its end.
type TimelineDay struct {
	Day       string `json:"day"`
	Signed    int    `json:"signed"`
	Withdrawn int    `json:"withdrawn"`
	Online    int    `json:"online"`
}

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
func (p *Petition) Public(now time.Time) PublicPetition {
	out := PublicPetition{ID: p.ID, Title: p.Title, Scope: append([]string{}, p.Scope...), Opens: p.Opens,
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
func Timeline(days []PetitionDay) []TimelineDay {
	var out []TimelineDay
	online := 0
	for _, d := range days {
		online += d.Signed - d.Withdrawn
		out = append(out, TimelineDay{Day: d.Day, Signed: d.Signed, Withdrawn: d.Withdrawn, Online: online})
	}
	return out
}
