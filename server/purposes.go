package server

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/purpose"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

// The refusals of the purpose lifecycle (docs/api.md), one per cause.
var (
	errUnknownField       = newErr(400, "unknown_field", "the document has a field it does not take")
	errEpsilonCap         = newErr(422, "epsilon_above_cap", fmt.Sprintf("the ε per release is above the node's cap of 1, or the ε per month above %g", 30*purpose.DailyCap))
	errEndBeforeStart     = newErr(422, "end_before_start", "the purpose ends before it starts")
	errPurposeExists      = newErr(409, "purpose_exists", "this version of the purpose is already proposed; propose the next version")
	errPurposeVersionSkip = newErr(409, "purpose_version_skipped", "a new purpose starts at version 1, and a new version follows the latest by one")
	errProposalClosed     = newErr(409, "proposal_closed", "the proposal no longer takes approvals or objections")
	errOutsideScope       = newErr(403, "outside_scope", "the purpose does not ask, or does not run in, your neighbourhood")
	errAlreadyApproved    = newErr(409, "already_approved", "your approval of this proposal is already counted")
	errAlreadyObjected    = newErr(409, "already_objected", "your objection to this proposal is already counted")
	errApprovalNullifier  = newErr(409, "nullifier_mismatch", "you chose on this proposal under another nullifier: use the wallet you chose with")
	errNullifierTaken     = newErr(409, "nullifier_taken", "this nullifier belongs to another resident's choice")
	errNotProposed        = newErr(409, "purpose_not_proposed", "the purpose is not awaiting the operator's decision")
	errThresholdNotMet    = newErr(409, "threshold_not_met", "no neighbourhood in scope reached the approvals the purpose needs")
	errNotActive          = newErr(409, "purpose_not_active", "the purpose is not active: it is proposed, refused, expired or retired")
	errNotProposer        = newErr(403, "not_proposer", "only the purpose's proposer may do this")
	errBudget             = newErr(409, "budget_exceeded", fmt.Sprintf("this consent would take your privacy spend over the node's cap of ε = %g per day across purposes; withdraw another consent first", purpose.DailyCap))
	errNoReason           = newErr(422, "reason_required", "give the reason, in plain words (at most 1,000 characters)")
)

// purposeErrors answer the purpose package's refusals.
var purposeErrors = map[error]*apiError{
	purpose.ErrUnknownField:         errUnknownField,
	purpose.ErrEpsilonCap:           errEpsilonCap,
	purpose.ErrEndBeforeStart:       errEndBeforeStart,
	purpose.ErrUnknownNeighbourhood: errNeighbourhood,
}

func purposeError(err error) error {
	var inv *purpose.InvalidError
	if errors.As(err, &inv) {
		return invalid(inv.Field, inv.Rule)
	}
	for refusal, ae := range purposeErrors {
		if errors.Is(err, refusal) {
			return ae
		}
	}
	return jsonError(err)
}

// purposeList is every purpose as GET /api/v1/purposes lists it: each logged purpose (the
// built-in ones and the activated proposals), then each proposal the node has not defined,
// with every one's status and its cost per day.
func (a *handlers) purposeList() []purposeAnswer {
	out := []purposeAnswer{}
	from := a.shareFrom()
	for _, p := range a.State.Purposes() {
		view := purpose.PublicBuiltIn(p)
		if prop, ok := a.State.ProposalVersion(p.ID, p.Version); ok && p.Proposal != "" {
			view = a.publicProposal(prop)
		}
		out = append(out, purposeAnswer{Purpose: p, LedgerIndex: p.Index, Hash: p.Hash, AcceptsFrom: a.acceptsFrom(p, from),
			Status: view.Status, EpsilonPerDay: view.EpsilonPerDay, Approvals: view.Approvals, Proposed: view.Proposal})
	}
	for _, prop := range a.State.Proposals() {
		if defined, ok := a.State.Purpose(prop.ID); ok && defined.Version >= prop.Version {
			continue
		}
		view := a.publicProposal(prop)
		p := &state.Purpose{Purpose: api.Purpose{ID: prop.ID, Version: prop.Version, Title: prop.Title.EN,
			Description: prop.Description.EN}}
		out = append(out, purposeAnswer{Purpose: p, LedgerIndex: prop.Index, Hash: prop.Hash,
			Status: view.Status, EpsilonPerDay: view.EpsilonPerDay, Approvals: view.Approvals, Proposed: view.Proposal})
	}
	return out
}

// acceptsFrom is the oldest day a share copy for purpose p is accepted for: the node's
// look-back day from, or a proposed purpose's start day if later.
func (a *handlers) acceptsFrom(p *state.Purpose, from string) string {
	if prop, ok := a.State.ProposalVersion(p.ID, p.Version); ok && p.Proposal != "" && prop.Start > from {
		return prop.Start
	}
	return from
}

func (a *handlers) publicProposal(p *state.Proposal) api.PublicPurpose {
	defined, _ := a.State.Purpose(p.ID)
	return purpose.Public(p, defined)
}

// getPurpose answers one purpose, by id (which may hold a slash: the route's wildcard), with
// its releases; ?release=EPOCH downloads one of them, as stored and logged.
func (a *handlers) getPurpose(c *fiber.Ctx) error {
	id := c.Params("*")
	var view api.PublicPurpose
	if p, ok := a.State.Proposal(id); ok {
		view = a.publicProposal(p)
	} else if p, ok := a.State.Purpose(id); ok {
		view = purpose.PublicBuiltIn(p)
	} else {
		return errNotFound
	}
	for k := range c.Queries() {
		if k != "release" {
			return errNotFound
		}
	}
	days, err := a.Store.Epochs(id)
	if err != nil {
		return err
	}
	weeks, err := a.Store.Epochs(release.WeekPurpose(id))
	if err != nil {
		return err
	}
	view.Releases = append(append(view.Releases, days...), weeks...)
	if epoch := c.Query("release"); epoch != "" {
		storeAs := id
		if slices.Contains(weeks, epoch) {
			storeAs = release.WeekPurpose(id)
		} else if !slices.Contains(days, epoch) {
			return errNotFound
		}
		b, err := a.Store.Release(storeAs, epoch)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
		return c.Send(b)
	}
	return c.JSON(view)
}

// purposeRequest is an organiser's signed proposal: the statement's document field is the
// SHA-256 of the proposal's compact JSON.
type purposeRequest struct {
	crypto.SignedStatement
	Proposal json.RawMessage `json:"proposal"`
}

// proposePurpose logs an organiser's signed purpose proposal.
func (a *handlers) proposePurpose(c *fiber.Ctx) error {
	var req purposeRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := a.authenticate(c, req.SignedStatement); err != nil {
		return err
	}
	st := req.Statement
	if st.Type != crypto.TypePurposePropose {
		return errWrongType
	}
	if !a.State.IsOrganiser(st.Citizen) {
		return errNotOrganiser
	}
	body, signed, err := purpose.Compact(req.Proposal, st.Document)
	if err != nil {
		return errMalformed
	}
	if !signed {
		return errBadSignature
	}
	p, err := purpose.ParseProposal(body)
	if err != nil {
		return purposeError(err)
	}
	if p.ID != st.Purpose || p.Version != st.PurposeVersion {
		return invalid("statement", "names another purpose or version than its document")
	}
	if err := purpose.CheckProposal(p, a.grid.Has, a.Now()); err != nil {
		return purposeError(err)
	}
	release, err := a.reserve(st, "purpose|"+p.ID)
	if err != nil {
		return err
	}
	defer release()
	if _, ok := a.State.ProposalVersion(p.ID, p.Version); ok {
		return errPurposeExists
	}
	latest := 0
	if cur, ok := a.State.Proposal(p.ID); ok {
		latest = cur.Version
	}
	if p.Version != latest+1 {
		return errPurposeVersionSkip
	}
	r, err := a.appendEntry(c, api.Entry{Type: api.EntryPurposePropose, Purpose: p.ID, PurposeVersion: p.Version,
		Body: body, Hash: state.Hash(body), Citizen: st.Citizen, IssuedAt: st.IssuedAt, Nonce: st.Nonce,
		Signature: req.Signature}, store.NonceRecord(st.Citizen, st.Nonce))
	if err != nil {
		return err
	}
	return created(c, receiptAnswer{Receipt: r})
}

// statedProposal is the proposal a resident's statement names, in its latest version.
func (a *handlers) statedProposal(st crypto.Statement) (*state.Proposal, error) {
	p, ok := a.State.Proposal(st.Purpose)
	if !ok {
		return nil, errUnknownPurpose
	}
	if st.PurposeVersion != p.Version {
		return nil, errOldVersion
	}
	return p, nil
}

// purposeChoice logs a resident's approval of, or objection to, an open proposal of their
// neighbourhood, under their nullifier on it. A resident has one choice, which they may change
// while the proposal is open.
func (a *handlers) purposeChoice(c *fiber.Ctx, s crypto.SignedStatement) error {
	st := s.Statement
	p, err := a.statedProposal(st)
	if err != nil {
		return err
	}
	if !crypto.ValidNullifier(st.Nullifier) {
		return invalid("nullifier", "64 lower-case hex digits")
	}
	if !purpose.OpenOn(p, a.Now()) {
		return errProposalClosed
	}
	neighbourhood, err := a.Store.Neighbourhood(st.Citizen)
	if err != nil {
		return err
	}
	if !slices.Contains(p.Scope, neighbourhood) {
		return errOutsideScope
	}
	release, err := a.reserve(st, "approver|"+p.Key+"|"+st.Citizen, "approval|"+p.Key+"|"+st.Nullifier)
	if err != nil {
		return err
	}
	defer release()
	mine, err := a.Store.Approver(p.ID, p.Version, st.Citizen)
	if err != nil {
		return err
	}
	approve := st.Type == crypto.TypePurposeApprove
	cur, chosen := a.State.Approval(p.ID, p.Version, st.Nullifier)
	switch {
	case mine != "" && mine != st.Nullifier:
		return errApprovalNullifier
	case mine == "" && chosen:
		return errNullifierTaken
	case chosen && cur.Approve && approve:
		return errAlreadyApproved
	case chosen && !cur.Approve && !approve:
		return errAlreadyObjected
	}
	typ := api.EntryPurposeObject
	if approve {
		typ = api.EntryPurposeApprove
	}
	r, err := a.appendEntry(c, api.Entry{Type: typ, Purpose: p.ID, PurposeVersion: p.Version, Nullifier: st.Nullifier,
		Neighbourhood: neighbourhood, Epoch: a.Now().UTC().Format(time.DateOnly)},
		store.NonceRecord(st.Citizen, st.Nonce), store.ApproverRecord(p.ID, p.Version, st.Citizen, st.Nullifier))
	if err != nil {
		return err
	}
	return created(c, receiptAnswer{Receipt: r})
}

// proposerRetire is the proposer retiring their active purpose.
func (a *handlers) proposerRetire(c *fiber.Ctx, s crypto.SignedStatement) error {
	st := s.Statement
	p, err := a.statedProposal(st)
	if err != nil {
		return err
	}
	if p.Proposer != st.Citizen {
		return errNotProposer
	}
	release, err := a.reserve(st, "purpose|"+p.ID)
	if err != nil {
		return err
	}
	defer release()
	if purpose.Status(p) != api.StatusActive {
		return errNotActive
	}
	return a.retire(c, p, api.PurposeDecision{By: purpose.ByProposer, Reason: "retired by its proposer"})
}

// consentAllowed checks a consent grant to purpose p against the purpose's life and the
// resident's budget: a proposed purpose must be active and run in the resident's
// neighbourhood, and the resident's ε per day over every purpose she consents to must stay
// within the node's cap.
func (a *handlers) consentAllowed(citizen string, p *state.Purpose) error {
	if p.Proposal != "" {
		if a.State.Retired(p.ID, p.Version) {
			return errNotActive
		}
		neighbourhood, err := a.Store.Neighbourhood(citizen)
		if err != nil {
			return err
		}
		if !slices.Contains(p.Neighbourhoods, neighbourhood) {
			return errOutsideScope
		}
	}
	spend := purpose.PolicyEpsilonPerDay(p.Purpose)
	for _, other := range a.State.Purposes() {
		if other.ID != p.ID && a.State.ActiveConsent(citizen, other.ID) {
			spend += purpose.PolicyEpsilonPerDay(other.Purpose)
		}
	}
	if spend > purpose.DailyCap*(1+1e-9) {
		return errBudget
	}
	return nil
}

// notActive answers a consent to a proposal the node has not activated.
func (a *handlers) notActive(id string) error {
	if _, ok := a.State.Proposal(id); ok {
		return errNotActive
	}
	return errUnknownPurpose
}

// decisionRequest is the operator's reason for a refusal or a retirement.
type decisionRequest struct {
	Reason string `json:"reason"`
}

// operatorDecision reads the operator's decision on the proposal the path names, with its
// reason (required unless the decision takes none), and holds the purpose for the caller, who
// calls done once its entries are logged. The proposal must be in status want; wrong answers
// any other.
func (a *handlers) operatorDecision(c *fiber.Ctx, needsReason bool, want string, wrong error) (p *state.Proposal, reason string, done func(), err error) {
	p, ok := a.State.Proposal(c.Params("*"))
	if !ok {
		return nil, "", nil, errNotFound
	}
	var req decisionRequest
	if len(c.Body()) > 0 {
		if err := decode(c, &req); err != nil {
			return nil, "", nil, err
		}
	}
	reason = strings.TrimSpace(req.Reason)
	if needsReason && (reason == "" || len(reason) > 1000) {
		return nil, "", nil, errNoReason
	}
	done, err = a.State.Reserve("purpose|" + p.ID)
	if err != nil {
		return nil, "", nil, errBusy
	}
	if purpose.Status(p) != want {
		done()
		return nil, "", nil, wrong
	}
	return p, reason, done, nil
}

// activatePurpose is the operator countersigning a proposal: the node makes the purpose's key
// and logs the purpose it defines, running in the neighbourhoods whose approvals met the
// threshold.
func (a *handlers) activatePurpose(c *fiber.Ctx) error {
	p, _, done, err := a.operatorDecision(c, false, api.StatusProposed, errNotProposed)
	if err != nil {
		return err
	}
	defer done()
	met := purpose.Met(p)
	if len(met) == 0 {
		return errThresholdNotMet
	}
	// A new version replaces the one running: residents consent to it afresh (their consents
	// to the old one lapse with it, purpose_version_changed), and the old version's share
	// copies and key go, as at any retirement.
	for v := 1; v < p.Version; v++ {
		if old, ok := a.State.ProposalVersion(p.ID, v); ok && old.Activated && !old.Destroyed {
			r := purpose.Retirer{Ledger: a.Ledger, State: a.State, Store: a.Store, DestroyKey: a.DestroyPurposeKey}
			if err := r.Retire(c.UserContext(), old, api.PurposeDecision{By: purpose.ByOperator,
				Reason: fmt.Sprintf("replaced by version %d", p.Version)}); err != nil {
				return appendError(err)
			}
		}
	}
	recipient, err := a.PurposeKey(p.ID, p.Version)
	if err != nil {
		return err
	}
	entry, err := purpose.ActivationEntry(purpose.Define(p, recipient, met))
	if err != nil {
		return err
	}
	return a.logDecision(c, entry, "purpose activated by the operator", p, "neighbourhoods", len(met))
}

// refusePurpose is the operator refusing a proposal, with a logged reason.
func (a *handlers) refusePurpose(c *fiber.Ctx) error {
	p, reason, done, err := a.operatorDecision(c, true, api.StatusProposed, errNotProposed)
	if err != nil {
		return err
	}
	defer done()
	entry, err := purpose.DecisionEntry(api.EntryPurposeRefuse, p, api.PurposeDecision{By: purpose.ByOperator, Reason: reason})
	if err != nil {
		return err
	}
	return a.logDecision(c, entry, "purpose refused by the operator", p)
}

// logDecision appends the operator's decision on p, logs it with msg and attrs, and answers
// its receipt.
func (a *handlers) logDecision(c *fiber.Ctx, entry []byte, msg string, p *state.Proposal, attrs ...any) error {
	r, err := a.Ledger.Append(c.UserContext(), entry)
	if err != nil {
		return appendError(err)
	}
	a.Logger.Info(msg, append([]any{"purpose", p.ID, "version", p.Version, "index", r.Index}, attrs...)...)
	return created(c, receiptAnswer{Receipt: r})
}

// retirePurpose is the operator retiring an active purpose, with a logged reason.
func (a *handlers) retirePurpose(c *fiber.Ctx) error {
	p, reason, done, err := a.operatorDecision(c, true, api.StatusActive, errNotActive)
	if err != nil {
		return err
	}
	defer done()
	return a.retire(c, p, api.PurposeDecision{By: purpose.ByOperator, Reason: reason})
}

// retire logs a retirement, deletes the purpose's share copies, destroys its key and logs the
// destruction; it answers with the purpose as it now is.
func (a *handlers) retire(c *fiber.Ctx, p *state.Proposal, d api.PurposeDecision) error {
	r := purpose.Retirer{Ledger: a.Ledger, State: a.State, Store: a.Store, DestroyKey: a.DestroyPurposeKey}
	if err := r.Retire(c.UserContext(), p, d); err != nil {
		return appendError(err)
	}
	a.Logger.Info("purpose retired, its share copies deleted and its key destroyed", "purpose", p.ID, "version", p.Version, "by", d.By)
	now, _ := a.State.ProposalVersion(p.ID, p.Version)
	return c.Status(fiber.StatusOK).JSON(a.publicProposal(now))
}
