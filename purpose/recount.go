package purpose

import (
	"errors"
	"fmt"
	"slices"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/petition"
)

// Count is a purpose proposal as recounted from the public ledger alone.
type Count struct {
	Proposal api.PurposeProposal
	Proposer string
	// Approve and Object count, per neighbourhood, the nullifiers whose last choice it is.
	Approve, Object map[string]int
	// Choices counts every approval and objection entry, changes of mind included.
	Choices int
	// Active are the neighbourhoods the node activated the purpose in; nil if it did not.
	Active []string
	// Status is what the ledger says became of it (api.StatusProposed...).
	Status string
}

// Recount recounts the latest version of proposal id from every entry, walked as petitions
// are (petition.Entries): the proposal must be signed by an organiser (who held the role when
// it was logged) with the key of their registration entry; each choice must come under a
// nullifier a wallet derives, from a neighbourhood in scope, before the proposal was decided,
// and change the choice under its nullifier; the activation must name exactly the
// neighbourhoods whose approvals met the threshold. It refuses the first entry that breaks a
// rule.
func Recount(id string, entries petition.Entries) (Count, error) {
	org := petition.NewOrganisers()
	var c Count
	var version int
	choice := map[string]bool{}  // nullifier → approve
	where := map[string]string{} // nullifier → neighbourhood
	var decided, activated, retired bool
	var proposalHash string
	err := entries(func(i uint64, e api.Entry) error {
		if org.Observe(e) || e.Purpose != id {
			return nil
		}
		if e.Type == api.EntryPurposePropose {
			if err := org.Verify(e, crypto.TypePurposePropose); err != nil {
				return fmt.Errorf("entry %d: the proposal: %w", i, err)
			}
			if !org.Organiser(e.Citizen) {
				return fmt.Errorf("entry %d: the proposal was signed by a citizen without the organiser role", i)
			}
			p, err := ParseProposal(e.Body)
			if err != nil || p.ID != id || p.Version != e.PurposeVersion {
				return fmt.Errorf("entry %d: the proposal document does not parse or names another purpose", i)
			}
			c = Count{Proposal: p, Proposer: e.Citizen, Approve: map[string]int{}, Object: map[string]int{}, Status: api.StatusProposed}
			version, choice, where, decided, activated, retired = p.Version, map[string]bool{}, map[string]string{}, false, false, false
			proposalHash = e.Hash
			return nil
		}
		if version == 0 && e.Type == api.EntryPurpose {
			return nil // a built-in purpose: no proposal to recount
		}
		if e.PurposeVersion < version && e.PurposeVersion > 0 {
			return nil // an earlier version, replaced: the latest is recounted
		}
		if version == 0 || e.PurposeVersion != version {
			return fmt.Errorf("entry %d: %s for a version never proposed", i, e.Type)
		}
		switch e.Type {
		case api.EntryPurposeApprove, api.EntryPurposeObject:
			if decided {
				return fmt.Errorf("entry %d: a choice after the proposal was decided", i)
			}
			if !crypto.ValidNullifier(e.Nullifier) || !slices.Contains(c.Proposal.Scope, e.Neighbourhood) {
				return fmt.Errorf("entry %d: a choice under a nullifier no wallet derives, or from outside the scope", i)
			}
			approve := e.Type == api.EntryPurposeApprove
			if prev, seen := choice[e.Nullifier]; seen {
				if prev == approve || where[e.Nullifier] != e.Neighbourhood {
					return fmt.Errorf("entry %d: a choice that changes nothing under its nullifier", i)
				}
				tally(c, where[e.Nullifier], prev, -1)
			}
			choice[e.Nullifier], where[e.Nullifier] = approve, e.Neighbourhood
			tally(c, e.Neighbourhood, approve, 1)
			c.Choices++
		case api.EntryPurpose:
			var p api.Purpose
			if err := api.DecodeStrict(e.Body, &p); err != nil || p.Proposal != proposalHash {
				return fmt.Errorf("entry %d: the activation does not parse or names another proposal", i)
			}
			met := Met(&state.Proposal{PurposeProposal: c.Proposal, Approve: c.Approve, Object: c.Object})
			if decided || !slices.Equal(met, p.Neighbourhoods) {
				return fmt.Errorf("entry %d: the activation names %v, the approvals met the threshold in %v", i, p.Neighbourhoods, met)
			}
			decided, activated, c.Active, c.Status = true, true, p.Neighbourhoods, api.StatusActive
		case api.EntryPurposeRefuse:
			if decided {
				return fmt.Errorf("entry %d: a refusal of a decided proposal", i)
			}
			decided, c.Status = true, api.StatusRefused
		case api.EntryPurposeRetire:
			if !activated || retired {
				return fmt.Errorf("entry %d: a retirement of a purpose that is not active", i)
			}
			d, err := decisionOf(e)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			retired, c.Status = true, api.StatusRetired
			if d.By == ByEnd {
				c.Status = api.StatusExpired
			}
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("purpose: recount: %w", err)
	}
	if version == 0 {
		return c, fmt.Errorf("purpose: recount: no proposal %q in the ledger", id)
	}
	return c, nil
}

func tally(c Count, neighbourhood string, approve bool, by int) {
	if approve {
		c.Approve[neighbourhood] += by
	} else {
		c.Object[neighbourhood] += by
	}
}

func decisionOf(e api.Entry) (api.PurposeDecision, error) {
	var d api.PurposeDecision
	if state.Hash(e.Body) != e.Hash {
		return d, errors.New("the decision does not match its hash")
	}
	return d, api.DecodeStrict(e.Body, &d)
}

// CheckPublished compares the recount with the approvals a node publishes for the purpose.
func (c Count) CheckPublished(p api.PublicPurpose) error {
	if p.Status != c.Status {
		return fmt.Errorf("purpose: the server says %s, the ledger %s", p.Status, c.Status)
	}
	for _, a := range p.Approvals {
		if a.Approve != c.Approve[a.Neighbourhood] || a.Object != c.Object[a.Neighbourhood] {
			return fmt.Errorf("purpose: the server publishes %d approve, %d object in %s; the ledger holds %d and %d",
				a.Approve, a.Object, a.Neighbourhood, c.Approve[a.Neighbourhood], c.Object[a.Neighbourhood])
		}
	}
	return nil
}
