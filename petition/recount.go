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
}

// Total is the exact number of signatures: active online ones plus paper ones.
func (c Count) Total() int { return c.Online + c.Paper }

// Recount recounts petition id from every entry: its document and every paper count must be
// signed by its organiser (who held the role when the petition was created) with the key of
// their registration entry; a nullifier holds one active signature at a time, and only an
// active signature is withdrawn. It refuses the first entry that breaks a rule.
func Recount(id string, entries Entries) (Count, error) {
	keys := map[string]string{}
	organisers := map[string]bool{}
	c := Count{ID: id}
	created := false
	active := map[string]bool{}
	err := entries(func(i uint64, e api.Entry) error {
		switch e.Type {
		case api.EntryRegister:
			keys[e.Citizen] = e.SigningKey
			return nil
		case api.EntryOrganiserGrant, api.EntryOrganiserRevoke:
			organisers[e.Citizen] = e.Type == api.EntryOrganiserGrant
			return nil
		}
		if e.Petition != id {
			return nil
		}
		switch e.Type {
		case api.EntryPetition:
			if err := verifyOrganiserEntry(e, keys[e.Citizen], crypto.TypePetitionCreate); err != nil {
				return fmt.Errorf("entry %d: the petition document: %w", i, err)
			}
			if !organisers[e.Citizen] {
				return fmt.Errorf("entry %d: the petition was created by a citizen without the organiser role", i)
			}
			if err := json.Unmarshal(e.Body, &c.Petition); err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			c.Organiser, c.SigningKey, created = e.Citizen, keys[e.Citizen], true
		case api.EntryPetitionPaper:
			if err := verifyOrganiserEntry(e, keys[e.Citizen], crypto.TypePetitionPaper); err != nil {
				return fmt.Errorf("entry %d: a paper count: %w", i, err)
			}
			var p api.Paper
			if err := json.Unmarshal(e.Body, &p); err != nil || p.Petition != id || p.Count < 1 || e.Citizen != c.Organiser {
				return fmt.Errorf("entry %d: a paper count not signed by the petition's organiser", i)
			}
			c.Paper += p.Count
			c.Batches++
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
			active[e.Nullifier] = true
			c.Signed++
		case api.EntryPetitionRevoke:
			if !active[e.Nullifier] {
				return fmt.Errorf("entry %d withdraws a signature that is not there", i)
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
	c.Online = c.Signed - c.Withdrawn
	return c, nil
}

// verifyOrganiserEntry checks an organiser's logged statement: its document hash and its
// signature with the organiser's registered key.
func verifyOrganiserEntry(e api.Entry, signingKey, typ string) error {
	pub, err := crypto.DecodeKey(signingKey)
	if err != nil {
		return errors.New("its signer is not registered before it")
	}
	if crypto.DocumentHash(e.Body) != e.Hash {
		return errors.New("the body does not match its hash")
	}
	s := crypto.SignedStatement{Statement: crypto.Statement{Citizen: e.Citizen, Document: e.Hash, IssuedAt: e.IssuedAt,
		Nonce: e.Nonce, Petition: e.Petition, Type: typ}, Signature: e.Signature}
	return s.Verify(pub)
}

// CheckPublished compares the count with the counts a node publishes for the petition.
func (c Count) CheckPublished(p api.PublicPetition) error {
	if p.Signatures != c.Online || p.Paper != c.Paper || p.Total != c.Total() {
		return fmt.Errorf("petition: the server publishes %d online + %d paper = %d, the ledger holds %d + %d = %d",
			p.Signatures, p.Paper, p.Total, c.Online, c.Paper, c.Total())
	}
	return nil
}
