package petition

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// Entries yields ledger entries in log order, from the first, to visit, and stops at visit's
// first error, returning it. An auditor's walk over a node's entry bundles is one; so is a
// scan of a local log.
type Entries func(visit func(index uint64, e api.Entry) error) error

// Count is a petition as recounted from the public ledger alone.
type Count struct {
	ID         string       // the petition recounted
	Petition   api.Petition // its document as its organiser signed it
	Organiser  string
	SigningKey string // the organiser's, from their registration entry
	Signed     int    // signatures, withdrawn or not
	Withdrawn  int
	Online     int // active signatures: Signed less Withdrawn
	Paper      int // the sum of the paper counts
	Batches    int // the paper count entries
	// Issued counts the tokens the node logged issuing; Tokened the signatures spending one
	// (signatures logged before the petition had a token key, in data format 2, carry none).
	Issued, Tokened int
}

// Total is the exact number of signatures: active online ones plus paper ones.
func (c Count) Total() int { return c.Online + c.Paper }

// Recount recounts petition id from every entry: its document and every paper count must be
// signed by its organiser (who held the role when the petition was created) with the key of
// their registration entry. Once the petition has a token key (petition.key), every signature
// spends a token that verifies under it for the petition and the signature's key, its
// nullifier is that key's hash, its act is signed by that key, a nullifier signs once, only
// its own key withdraws it, and no more tokens are spent than were issued. Signatures logged
// before the key (data format 2) hold one active signature per nullifier at a time. Only an
// active signature is withdrawn. It refuses the first entry that breaks a rule.
func Recount(id string, entries Entries) (Count, error) {
	org := NewOrganisers()
	c := Count{ID: id}
	created := false
	active := map[string]bool{}
	signers := map[string]string{} // nullifier → petition key, for signatures spending a token
	var tokens *crypto.TokenVerifier
	err := entries(func(i uint64, e api.Entry) error {
		if org.Observe(e) || e.Petition != id {
			return nil
		}
		switch e.Type {
		case api.EntryPetition:
			if err := org.Verify(e, crypto.TypePetitionCreate); err != nil {
				return fmt.Errorf("entry %d: the petition document: %w", i, err)
			}
			if !org.Organiser(e.Citizen) {
				return fmt.Errorf("entry %d: the petition was created by a citizen without the organiser role", i)
			}
			if err := json.Unmarshal(e.Body, &c.Petition); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			c.Organiser, c.SigningKey, created = e.Citizen, org.Key(e.Citizen), true
		case api.EntryPetitionPaper:
			if err := org.Verify(e, crypto.TypePetitionPaper); err != nil {
				return fmt.Errorf("entry %d: a paper count: %w", i, err)
			}
			var p api.Paper
			if err := json.Unmarshal(e.Body, &p); err != nil || p.Petition != id || p.Count < 1 || e.Citizen != c.Organiser {
				return fmt.Errorf("entry %d: a paper count not signed by the petition's organiser", i)
			}
			c.Paper += p.Count
			c.Batches++
		case api.EntryPetitionKey:
			if !created || tokens != nil {
				return fmt.Errorf("entry %d: a token key before the petition or after its first", i)
			}
			pub, err := crypto.DecodeTokenKey(e.TokenKey)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			v, err := crypto.NewTokenVerifier(pub)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			tokens = &v
		case api.EntryPetitionIssue:
			if tokens == nil {
				return fmt.Errorf("entry %d: a token issued before the petition's token key", i)
			}
			c.Issued++
		case api.EntryPetitionSign:
			if !created {
				return fmt.Errorf("entry %d: a signature before the petition was created", i)
			}
			if !crypto.ValidNullifier(e.Nullifier) {
				return fmt.Errorf("entry %d signs under a nullifier no wallet derives", i)
			}
			if active[e.Nullifier] {
				return fmt.Errorf("entry %d signs again under an active nullifier", i)
			}
			if tokens != nil {
				if _, spent := signers[e.Nullifier]; spent {
					return fmt.Errorf("entry %d signs again under a spent nullifier", i)
				}
				if err := checkTokenedSignature(*tokens, id, e); err != nil {
					return fmt.Errorf("entry %d: %w", i, err)
				}
				signers[e.Nullifier] = e.SigningKey
				c.Tokened++
			}
			active[e.Nullifier] = true
			c.Signed++
		case api.EntryPetitionRevoke:
			if !active[e.Nullifier] {
				return fmt.Errorf("entry %d withdraws a signature that is not there", i)
			}
			if key, ok := signers[e.Nullifier]; ok {
				act := crypto.PetitionAct{Key: key, Petition: id, Type: crypto.TypePetitionWithdraw}
				if e.SigningKey != key {
					return fmt.Errorf("entry %d withdraws with another key than the signature's", i)
				}
				if _, err := crypto.VerifyAct(act, e.Signature); err != nil {
					return fmt.Errorf("entry %d: the withdrawal is not signed by the signature's key", i)
				}
			}
			active[e.Nullifier] = false
			c.Withdrawn++
		}
		return nil
	})
	if err != nil {
		return c, fmt.Errorf("petition: recount: %w", err)
	}
	if !created {
		return c, fmt.Errorf("petition: recount: no petition %q in the ledger", id)
	}
	if c.Tokened > c.Issued {
		return c, fmt.Errorf("petition: recount: %d signatures spend a token, only %d tokens were issued", c.Tokened, c.Issued)
	}
	c.Online = c.Signed - c.Withdrawn
	return c, nil
}

// checkTokenedSignature checks a petition.sign entry spending a token: its nullifier is the
// hash of its key, its token verifies for the petition and that key, and its act (with its
// answers' hash) is signed by that key.
func checkTokenedSignature(v crypto.TokenVerifier, id string, e api.Entry) error {
	pub, err := crypto.DecodeKey(e.SigningKey)
	if err != nil || crypto.PetitionNullifier(pub) != e.Nullifier {
		return errors.New("the nullifier is not the hash of the signature's key")
	}
	if v.Verify(id, pub, e.Randomizer, e.Token) != nil {
		return errors.New("the token does not verify under the petition's token key")
	}
	act := crypto.PetitionAct{Document: e.Hash, Key: e.SigningKey, Petition: id, Type: crypto.TypePetitionSign}
	if _, err := crypto.VerifyAct(act, e.Signature); err != nil {
		return errors.New("the signature is not signed by its key")
	}
	return nil
}

// CheckPublished compares the count with the counts a node publishes for the petition.
func (c Count) CheckPublished(p api.PublicPetition) error {
	if p.Signatures != c.Online || p.Paper != c.Paper || p.Total != c.Total() {
		return fmt.Errorf("petition: the server publishes %d online + %d paper = %d, the ledger holds %d + %d = %d",
			p.Signatures, p.Paper, p.Total, c.Online, c.Paper, c.Total())
	}
	return nil
}
