package state

import (
	"fmt"
	"maps"
	"sort"

	"github.com/hashicorp/go-memdb"

	"github.com/commons-city/commons/api"
)

// Proposal is one logged purpose proposal with its live, exact counts of approvals and
// objections per neighbourhood and what became of it.
type Proposal struct {
	api.PurposeProposal

	Key      string // id@version
	Index    uint64 // ledger index of the purpose.propose entry
	Hash     string // SHA-256 of the logged document
	Proposer string // citizen id of the organiser who signed it
	// Approve and Object count, per neighbourhood, the nullifiers whose last choice it is.
	Approve map[string]int
	Object  map[string]int
	// Activated: the node logged the purpose it defines (purpose.define naming Hash).
	Activated bool
	// Refused and Retired hold the logged decision, if any; Destroyed: the key is destroyed
	// and the share copies deleted.
	Refused   *api.PurposeDecision
	Retired   *api.PurposeDecision
	Destroyed bool
}

// Approval is one resident's current choice on one proposal, under their nullifier.
type Approval struct {
	Key           string // id@version|nullifier
	Neighbourhood string
	Approve       bool
}

// ProposalKey is the read model's key of a proposal version.
func ProposalKey(id string, version int) string { return fmt.Sprintf("%s@%d", id, version) }

func proposalCopy(txn *memdb.Txn, id string, version int) (Proposal, error) {
	raw, err := txn.First(tableProposals, "id", ProposalKey(id, version))
	if err != nil || raw == nil {
		return Proposal{}, fmt.Errorf("entry for unknown proposal %s v%d", id, version)
	}
	p := *raw.(*Proposal)
	p.Approve, p.Object = maps.Clone(p.Approve), maps.Clone(p.Object)
	return p, nil
}

func applyProposal(txn *memdb.Txn, index uint64, e api.Entry) error {
	doc, err := decodeBody[api.PurposeProposal](e.Body)
	if err != nil {
		return err
	}
	if doc.ID != e.Purpose || doc.Version != e.PurposeVersion {
		return fmt.Errorf("proposal document names another purpose")
	}
	return txn.Insert(tableProposals, &Proposal{PurposeProposal: doc, Key: ProposalKey(doc.ID, doc.Version),
		Index: index, Hash: e.Hash, Proposer: e.Citizen, Approve: map[string]int{}, Object: map[string]int{}})
}

func applyApproval(txn *memdb.Txn, e api.Entry) error {
	p, err := proposalCopy(txn, e.Purpose, e.PurposeVersion)
	if err != nil {
		return err
	}
	approve := e.Type == api.EntryPurposeApprove
	key := join(p.Key, e.Nullifier)
	if raw, err := txn.First(tableApprovals, "id", key); err != nil {
		return err
	} else if raw != nil {
		prev := raw.(*Approval)
		if prev.Approve == approve {
			return fmt.Errorf("the same choice twice under one nullifier")
		}
		if prev.Approve {
			p.Approve[prev.Neighbourhood]--
		} else {
			p.Object[prev.Neighbourhood]--
		}
	}
	if approve {
		p.Approve[e.Neighbourhood]++
	} else {
		p.Object[e.Neighbourhood]++
	}
	if err := txn.Insert(tableProposals, &p); err != nil {
		return err
	}
	return txn.Insert(tableApprovals, &Approval{Key: key, Neighbourhood: e.Neighbourhood, Approve: approve})
}

// applyActivation marks the proposal a purpose.define entry names as activated.
func applyActivation(txn *memdb.Txn, p Purpose) error {
	prop, err := proposalCopy(txn, p.ID, p.Version)
	if err != nil {
		return err
	}
	if prop.Hash != p.Proposal {
		return fmt.Errorf("purpose %s v%d names another proposal", p.ID, p.Version)
	}
	prop.Activated = true
	return txn.Insert(tableProposals, &prop)
}

func applyDecision(txn *memdb.Txn, e api.Entry) error {
	p, err := proposalCopy(txn, e.Purpose, e.PurposeVersion)
	if err != nil {
		return err
	}
	switch e.Type {
	case api.EntryPurposeDestroy:
		p.Destroyed = true
	default:
		d, err := decodeBody[api.PurposeDecision](e.Body)
		if err != nil {
			return err
		}
		if e.Type == api.EntryPurposeRefuse {
			p.Refused = &d
		} else {
			p.Retired = &d
		}
	}
	return txn.Insert(tableProposals, &p)
}

// Proposal returns the latest version of a proposal.
func (s *State) Proposal(id string) (*Proposal, bool) {
	it, err := s.db.Txn(false).Get(tableProposals, "purpose", id)
	if err != nil {
		return nil, false
	}
	var latest *Proposal
	for o := it.Next(); o != nil; o = it.Next() {
		if p := o.(*Proposal); latest == nil || p.Version > latest.Version {
			latest = p
		}
	}
	return latest, latest != nil
}

// ProposalVersion returns one version of a proposal.
func (s *State) ProposalVersion(id string, version int) (*Proposal, bool) {
	return first[Proposal](s, tableProposals, ProposalKey(id, version))
}

// ProposalVersions returns every version of every proposal, sorted by id then version: an
// earlier version still runs while a later one is only proposed.
func (s *State) ProposalVersions() []*Proposal {
	it, err := s.db.Txn(false).Get(tableProposals, "id")
	if err != nil {
		return nil
	}
	var out []*Proposal
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, o.(*Proposal))
	}
	sort.Slice(out, func(i, j int) bool {
		return out[i].ID < out[j].ID || out[i].ID == out[j].ID && out[i].Version < out[j].Version
	})
	return out
}

// Proposals returns the latest version of every proposal, sorted by id.
func (s *State) Proposals() []*Proposal {
	return latestVersions(s, tableProposals, func(p *Proposal) (string, int) { return p.ID, p.Version })
}

// Approval returns the current choice under a nullifier on a proposal version.
func (s *State) Approval(id string, version int, nullifier string) (*Approval, bool) {
	return first[Approval](s, tableApprovals, join(ProposalKey(id, version), nullifier))
}

// Retired reports whether a purpose version came from a proposal that is now retired: its
// consents have lapsed.
func (s *State) Retired(id string, version int) bool {
	p, ok := s.ProposalVersion(id, version)
	return ok && p.Retired != nil
}
