package petition

import (
	"errors"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// Organisers follows, through a walk of the ledger, what checking an organiser's signed
// document needs: each resident's key from their registration entry, and who holds the
// organiser role. A recount of a petition and of a purpose proposal both keep one.
type Organisers struct {
	keys  map[string]string
	roles map[string]bool
}

// NewOrganisers is an Organisers that has seen no entry yet.
func NewOrganisers() *Organisers {
	return &Organisers{keys: map[string]string{}, roles: map[string]bool{}}
}

// Observe takes in e if it registers a resident or grants or revokes the organiser role, and
// reports whether it did.
func (o *Organisers) Observe(e api.Entry) bool {
	switch e.Type {
	case api.EntryRegister:
		o.keys[e.Citizen] = e.SigningKey
		return true
	case api.EntryOrganiserGrant, api.EntryOrganiserRevoke:
		o.roles[e.Citizen] = e.Type == api.EntryOrganiserGrant
		return true
	}
	return false
}

// Key is the signing key of citizen's registration entry, or "" before it.
func (o *Organisers) Key(citizen string) string { return o.keys[citizen] }

// Organiser reports whether citizen holds the organiser role at this point of the walk.
func (o *Organisers) Organiser(citizen string) bool { return o.roles[citizen] }

// Verify checks an entry logging an organiser's statement of type typ over a document: the
// body matches its hash, and the statement — the entry's citizen, hash, time, nonce, petition
// and purpose — verifies under the key of the signer's registration entry.
func (o *Organisers) Verify(e api.Entry, typ string) error {
	pub, err := crypto.DecodeKey(o.keys[e.Citizen])
	if err != nil {
		return errors.New("its signer is not registered before it")
	}
	if crypto.DocumentHash(e.Body) != e.Hash {
		return errors.New("the body does not match its hash")
	}
	s := crypto.SignedStatement{Statement: crypto.Statement{Citizen: e.Citizen, Document: e.Hash, IssuedAt: e.IssuedAt,
		Nonce: e.Nonce, Petition: e.Petition, Purpose: e.Purpose, PurposeVersion: e.PurposeVersion, Type: typ},
		Signature: e.Signature}
	return s.Verify(pub)
}
