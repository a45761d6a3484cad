package petition

import (
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

// A petition's status, as the API publishes it.
const (
	StatusUpcoming = "upcoming"
	StatusOpen     = "open"
	StatusClosed   = "closed"
)

// Status is StatusUpcoming before p opens, StatusClosed from its closing instant on (as
// api.Petition.Open says), and StatusOpen in between.
func Status(p *api.Petition, now time.Time) string {
	switch {
	case now.Before(p.Opens):
		return StatusUpcoming
	case !now.Before(p.Closes):
		return StatusClosed
	}
	return StatusOpen
}

// MaxProgress caps a published progress: ten times the threshold. Paper signatures are bounded
// by the scope's population, not by the threshold, so a petition aiming for 10 signatures in a
// neighbourhood of 30,000 could otherwise show 300,000 %.
const MaxProgress = 1000

// Progress is total as a whole percentage of threshold, rounded down and capped at
// MaxProgress: a petition past its threshold is at 287 %, and the API publishes that; one past
// ten times its threshold is at 1000 %. A page that draws it as a bar caps the bar's width
// itself. It is 0 for a threshold below 1, which no valid document has.
func Progress(total, threshold int) int {
	if threshold < 1 {
		return 0
	}
	return min(total*100/threshold, MaxProgress)
}

// PaperShare is the whole percentage, rounded to the nearest, of total signatures that were
// signed on paper: what a reader needs to weigh counts the organiser entered against those
// the ledger proves one by one. It is 0 when there are no signatures.
func PaperShare(paper, total int) int {
	if total < 1 {
		return 0
	}
	return (paper*100 + total/2) / total
}

// Reached reports whether total signatures meet threshold.
func Reached(total, threshold int) bool { return total >= threshold }

// Public is p's public summary at now, as the API lists it: everything but the text, the
// timeline and the breakdown.
func Public(p *state.Petition, now time.Time) api.PublicPetition {
	return api.PublicPetition{ID: p.ID, Title: p.Title, Scope: append([]string{}, p.Scope...), Opens: p.Opens,
		Closes: p.Closes, Threshold: p.Threshold, Ask: append([]string{}, p.Ask...), Organiser: p.Organiser,
		Recipient: p.Recipient, TokenKey: p.TokenKey, Signatures: p.Signatures, Withdrawn: p.Withdrawn, Paper: p.Paper,
		Total: p.Total(), PaperPercent: PaperShare(p.Paper, p.Total()), ProgressPercent: Progress(p.Total(), p.Threshold), ThresholdReached: Reached(p.Total(), p.Threshold),
		Status: Status(&p.Petition, now), Ledger: p.Index}
}

// Timeline turns a petition's days, in day order, into its public timeline: each day's
// signatures and withdrawals, and the online total at the end of the day.
func Timeline(days []state.PetitionDay) []api.TimelineDay {
	var out []api.TimelineDay
	online := 0
	for _, d := range days {
		online += d.Signed - d.Withdrawn
		out = append(out, api.TimelineDay{Day: d.Day, Signed: d.Signed, Withdrawn: d.Withdrawn, Online: online})
	}
	return out
}
