package purpose

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
)

// GridNeighbourhoodWeek is the grid of weekly per-neighbourhood releases a proposal may ask
// for (the air purpose's weekly figures use the same ISO weeks).
const GridNeighbourhoodWeek = release.GridNeighbourhoodWeek

// DailyCap is the node's cap on what one resident spends per day, as ε, over every purpose
// she consents to: a consent that would take her past it is refused. The air purpose spends
// 1 per day, leaving 0.5 for the purposes residents approve.
const DailyCap = 1.5

// Refusals of a proposal document, each answered with its own code.
var (
	// ErrUnknownField: the document has a field a proposal does not have.
	ErrUnknownField = errors.New("purpose: unknown field")
	// ErrEpsilonCap: ε per release above release.MaxEpsilon, or per month above 30 × DailyCap.
	ErrEpsilonCap = errors.New("purpose: ε above the node's cap")
	// ErrEndBeforeStart: the end date is before the start date.
	ErrEndBeforeStart = errors.New("purpose: ends before it starts")
	// ErrUnknownNeighbourhood: the scope names a neighbourhood the node does not have.
	ErrUnknownNeighbourhood = errors.New("purpose: unknown neighbourhood in scope")
)

// InvalidError is a proposal field that breaks a rule, named without its value.
type InvalidError struct{ Field, Rule string }

func (e *InvalidError) Error() string { return "purpose: " + e.Field + ": " + e.Rule }

func invalid(field, rule string) error { return &InvalidError{Field: field, Rule: rule} }

// idPattern is the shape of a purpose id: lower-case words, with / and - between them.
var idPattern = regexp.MustCompile(`^[a-z0-9]+([/-][a-z0-9]+)*$`)

// Readings a proposal may name, and the statistics it may publish of them.
var (
	Readings   = []string{"humidity", "pm10", "pm2_5", "temperature"}
	Statistics = []string{"mean"}
)

// ParseProposal decodes a proposal document, refusing a field a proposal does not have
// (ErrUnknownField) and any encoding but the canonical one (api.DecodeCanonical).
func ParseProposal(body []byte) (api.PurposeProposal, error) {
	var p api.PurposeProposal
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return p, fmt.Errorf("%w: %v", api.ErrMalformed, err)
	}
	known := map[string]bool{}
	t := reflect.TypeFor[api.PurposeProposal]()
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		known[name] = true
	}
	for k := range fields {
		if !known[k] {
			return p, fmt.Errorf("%w %q", ErrUnknownField, k)
		}
	}
	return p, api.DecodeCanonical(body, &p)
}

// CanonicalProposal is the canonical bytes of a proposal, as its proposer signs them.
func CanonicalProposal(p api.PurposeProposal) ([]byte, error) { return api.Canonical(p) }

// CheckProposal checks a proposal against the node's rules: has reports whether a
// neighbourhood exists; now is the node's clock.
func CheckProposal(p api.PurposeProposal, has func(string) bool, now time.Time) error {
	switch {
	case !idPattern.MatchString(p.ID) || len(p.ID) > 64:
		return invalid("id", "lower-case words joined by / or -, at most 64 characters")
	case p.ID == Air || strings.HasPrefix(p.ID, "petition/"):
		return invalid("id", "names a built-in purpose")
	case p.Version < 1:
		return invalid("version", "at least 1")
	case blank(p.Title.EN) || blank(p.Title.FR) || len(p.Title.EN)+len(p.Title.FR) > 400:
		return invalid("title", "in English and French, at most 200 characters each")
	case blank(p.Description.EN) || blank(p.Description.FR) || len(p.Description.EN)+len(p.Description.FR) > 8000:
		return invalid("description", "in English and French, at most 4,000 characters each")
	case blank(p.Requester) || len(p.Requester) > 200:
		return invalid("requester", "the body that asks, at most 200 characters")
	case len(p.Readings) == 0 || !within(p.Readings, Readings):
		return invalid("readings", "one or more of "+strings.Join(Readings, ", "))
	case len(p.Statistics) == 0 || !within(p.Statistics, Statistics):
		return invalid("statistics", "one or more of "+strings.Join(Statistics, ", "))
	case p.Grid != release.GridNeighbourhoodDay && p.Grid != GridNeighbourhoodWeek:
		return invalid("grid", release.GridNeighbourhoodDay+" or "+GridNeighbourhoodWeek)
	case !(p.EpsilonRelease > 0) || !(p.EpsilonMonth > 0):
		return invalid("epsilon_release", "ε per release and per month above 0")
	case p.EpsilonRelease > release.MaxEpsilon || p.EpsilonMonth > 30*DailyCap:
		return ErrEpsilonCap
	case p.EpsilonMonth < p.EpsilonRelease*releasesPer30Days(p.Grid)*(1-1e-9):
		return invalid("epsilon_month", "at least ε per release times the releases of any 30 days (30 daily, 5 weekly)")
	case p.Grid == release.GridNeighbourhoodDay && !slices.Equal(p.Readings, []string{"pm2_5"}):
		return invalid("readings", "a daily release publishes pm2_5 only; ask for a weekly grid for the others")
	case p.RetentionDays < 1 || p.RetentionDays > 366:
		return invalid("retention_days", "1 to 366 days")
	case p.Grid == GridNeighbourhoodWeek && p.RetentionDays < 8:
		return invalid("retention_days", "at least 8 days for a weekly release, which reads a whole week")
	case p.ApprovalsNeeded < 1:
		return invalid("approvals_needed", "at least 1")
	case len(p.Scope) == 0:
		return invalid("scope", "at least one neighbourhood")
	}
	start, errS := time.Parse(time.DateOnly, p.Start)
	end, errE := time.Parse(time.DateOnly, p.End)
	deadline, errD := time.Parse(time.DateOnly, p.Deadline)
	switch {
	case errS != nil || errE != nil || errD != nil:
		return invalid("start", "start, end and deadline are UTC days, YYYY-MM-DD")
	case end.Before(start):
		return ErrEndBeforeStart
	case deadline.AddDate(0, 0, 1).Before(now):
		return invalid("deadline", "already past")
	case end.Before(deadline):
		return invalid("deadline", "after the end")
	}
	seen := map[string]bool{}
	for _, n := range p.Scope {
		if !has(n) {
			return ErrUnknownNeighbourhood
		}
		if seen[n] {
			return invalid("scope", "a neighbourhood named twice")
		}
		seen[n] = true
	}
	return nil
}

// releasesPer30Days is the most releases of a grid any 30 days hold: 30 daily ones, or 5
// weekly ones (a 30-day window meets at most five ISO weeks' ends).
func releasesPer30Days(grid string) float64 {
	if grid == GridNeighbourhoodWeek {
		return 5
	}
	return 30
}

func blank(s string) bool { return strings.TrimSpace(s) == "" }

func within(names, allowed []string) bool {
	seen := map[string]bool{}
	for _, n := range names {
		if !slices.Contains(allowed, n) || seen[n] {
			return false
		}
		seen[n] = true
	}
	return true
}

// EpsilonPerDay is what consenting to a proposal's purpose costs a resident per day: its ε per
// release, divided over a week for a weekly grid.
func EpsilonPerDay(p api.PurposeProposal) float64 {
	if p.Grid == GridNeighbourhoodWeek {
		return p.EpsilonRelease / 7
	}
	return p.EpsilonRelease
}

// PolicyEpsilonPerDay is what a logged purpose costs a consenting resident per day: a built-in
// one's daily and hourly ε, a proposed one's as EpsilonPerDay.
func PolicyEpsilonPerDay(p api.Purpose) float64 {
	if p.Release.Grid == GridNeighbourhoodWeek {
		return p.Release.Epsilon / 7
	}
	day := p.Release.Epsilon
	if day == 0 {
		day = release.DefaultEpsilon
	}
	return day + p.Release.HourEpsilon
}

// OpenOn reports whether a proposal still takes approvals and objections at now: until the end
// of its deadline day, and only while nothing was decided.
func OpenOn(p *state.Proposal, now time.Time) bool {
	deadline, err := time.Parse(time.DateOnly, p.Deadline)
	return err == nil && now.Before(deadline.AddDate(0, 0, 1)) && !p.Activated && p.Refused == nil && p.Retired == nil
}

// Met lists, in scope order, the neighbourhoods where a proposal's approvals reach its
// threshold and outnumber its objections.
func Met(p *state.Proposal) []string {
	var out []string
	for _, n := range p.Scope {
		if a := p.Approve[n]; a >= p.ApprovalsNeeded && a > p.Object[n] {
			out = append(out, n)
		}
	}
	return out
}

// Status is a proposal's status: refused, expired (retired at its end date), retired, active
// or proposed.
func Status(p *state.Proposal) string {
	switch {
	case p.Refused != nil:
		return api.StatusRefused
	case p.Retired != nil && p.Retired.By == ByEnd:
		return api.StatusExpired
	case p.Retired != nil:
		return api.StatusRetired
	case p.Activated:
		return api.StatusActive
	}
	return api.StatusProposed
}

// Who retires or refuses a purpose, the By of its api.PurposeDecision.
const (
	ByOperator = "operator"
	ByProposer = "proposer"
	ByEnd      = "end"
)

// Define is the purpose the node logs when the operator activates a proposal: its English
// text, its policy, the approving neighbourhoods and the recipient of the key made for it.
func Define(p *state.Proposal, recipient string, neighbourhoods []string) api.Purpose {
	return api.Purpose{
		ID: p.ID, Version: p.Version, Title: p.Title.EN, Description: p.Description.EN,
		Data:      "air-quality readings (" + strings.Join(p.Readings, ", ") + ") mapped to your neighbourhood, for " + p.Requester + "; never your precise location",
		Recipient: recipient,
		Release: api.ReleasePolicy{Grid: p.Grid, K: release.MinK,
			ClampPM25: [2]float64{0, 100}, ClampPM10: [2]float64{0, 200}, GraceHours: 2,
			Epsilon: p.EpsilonRelease},
		Proposal: p.Hash, Neighbourhoods: neighbourhoods, End: p.End,
	}
}

// Public is the API's view of a proposal.
func Public(p *state.Proposal, defined *state.Purpose) api.PublicPurpose {
	doc := p.PurposeProposal
	out := api.PublicPurpose{ID: p.ID, Version: p.Version, Status: Status(p), Proposer: p.Proposer,
		Proposal: &doc, EpsilonPerDay: EpsilonPerDay(doc), KeyDestroyed: p.Destroyed}
	met := Met(p)
	var active []string
	if defined != nil && defined.Proposal == p.Hash {
		d := defined.Purpose
		out.Purpose, active = &d, d.Neighbourhoods
	}
	for _, n := range p.Scope {
		out.Approvals = append(out.Approvals, api.NeighbourhoodApprovals{Neighbourhood: n,
			Approve: p.Approve[n], Object: p.Object[n], Met: slices.Contains(met, n), Active: slices.Contains(active, n)})
	}
	out.Decision = p.Refused
	if p.Retired != nil {
		out.Decision = p.Retired
	}
	return out
}

// PublicBuiltIn is the API's view of a purpose built into the node: active everywhere.
func PublicBuiltIn(p *state.Purpose) api.PublicPurpose {
	d := p.Purpose
	return api.PublicPurpose{ID: p.ID, Version: p.Version, Status: api.StatusActive, Purpose: &d,
		EpsilonPerDay: PolicyEpsilonPerDay(d)}
}

// DecisionEntry is the purpose.refuse or purpose.retire entry of a decision on a proposal.
func DecisionEntry(typ string, p *state.Proposal, d api.PurposeDecision) ([]byte, error) {
	body, err := api.Canonical(d)
	if err != nil {
		return nil, err
	}
	return api.Entry{Type: typ, Purpose: p.ID, PurposeVersion: p.Version, Body: body, Hash: state.Hash(body)}.Marshal()
}

// ActivationEntry is the purpose.define entry that activates a proposal.
func ActivationEntry(p api.Purpose) ([]byte, error) { return defineEntry(p) }

// Store deletes what a retired purpose leaves, and the share copies its retention no longer
// covers: a node's *store.Store.
type Store interface {
	DeletePurpose(ctx context.Context, purpose string) error
	Days(purpose string) ([]string, error)
	DeleteDay(ctx context.Context, purpose, day string) error
}

// Retirer ends purposes: it logs the retirement, deletes every share copy, destroys the key
// and logs the destruction. A node has one.
type Retirer struct {
	Ledger Ledger
	State  *state.State
	Store  Store
	// DestroyKey deletes a purpose version's key file for good.
	DestroyKey func(id string, version int) error
}

// Retire retires an active purpose for the reason d gives, then destroys what it held. It
// finishes the destruction of a purpose already retired whose key survived a crash.
func (r *Retirer) Retire(ctx context.Context, p *state.Proposal, d api.PurposeDecision) error {
	if p.Retired == nil {
		entry, err := DecisionEntry(api.EntryPurposeRetire, p, d)
		if err != nil {
			return err
		}
		if _, err := r.Ledger.Append(ctx, entry); err != nil {
			return fmt.Errorf("purpose %s v%d: retire: %w", p.ID, p.Version, err)
		}
	}
	if err := r.Store.DeletePurpose(ctx, p.ID); err != nil {
		return fmt.Errorf("purpose %s v%d: %w", p.ID, p.Version, err)
	}
	if err := r.DestroyKey(p.ID, p.Version); err != nil {
		return fmt.Errorf("purpose %s v%d: destroy key: %w", p.ID, p.Version, err)
	}
	entry, err := api.Entry{Type: api.EntryPurposeDestroy, Purpose: p.ID, PurposeVersion: p.Version}.Marshal()
	if err != nil {
		return err
	}
	if _, err := r.Ledger.Append(ctx, entry); err != nil {
		return fmt.Errorf("purpose %s v%d: log the destruction: %w", p.ID, p.Version, err)
	}
	return nil
}

// RetireDue retires every active purpose whose end date is past at now, and finishes any
// retirement a crash interrupted. It returns how many it retired. It looks at every version:
// the running one may be an earlier version than a newer one still proposed.
func (r *Retirer) RetireDue(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for _, p := range r.State.ProposalVersions() {
		end, err := time.Parse(time.DateOnly, p.End)
		if err != nil || p.Destroyed || !p.Activated && p.Retired == nil {
			continue
		}
		d := api.PurposeDecision{By: ByEnd, Reason: "the purpose reached its end date, " + p.End}
		if p.Retired == nil && now.Before(end.AddDate(0, 0, 1)) {
			continue
		}
		if err := r.Retire(ctx, p, d); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// PruneDue deletes the share copies of every active proposed purpose that are older than its
// retention at now: a day's copies go once retention_days whole days have passed since it
// ended, released or not. It returns how many days it pruned. The copies were made under the
// version that runs, so its retention applies, even while a newer version is only proposed.
func (r *Retirer) PruneDue(ctx context.Context, now time.Time) (int, error) {
	n := 0
	for _, p := range r.State.ProposalVersions() {
		if !p.Activated || p.Retired != nil {
			continue
		}
		cutoff := now.UTC().AddDate(0, 0, -p.RetentionDays-1).Format(time.DateOnly)
		days, err := r.Store.Days(p.ID)
		if err != nil {
			return n, err
		}
		for _, day := range days {
			if day > cutoff {
				break
			}
			if err := r.Store.DeleteDay(ctx, p.ID, day); err != nil {
				return n, fmt.Errorf("purpose %s: retention: %w", p.ID, err)
			}
			n++
		}
	}
	return n, nil
}

// Compact returns a document's compact JSON and checks it against the hash its statement
// signs; it answers api.ErrMalformed for what is not JSON.
func Compact(doc json.RawMessage, hash string) ([]byte, bool, error) {
	var b bytes.Buffer
	if err := json.Compact(&b, doc); err != nil || b.Len() == 0 {
		return nil, false, api.ErrMalformed
	}
	return b.Bytes(), state.Hash(b.Bytes()) == hash, nil
}
