package state

import (
	"crypto/ed25519"
	"encoding/json"

	"github.com/commons-city/commons/api"
)

// Purpose is one logged version of a purpose, with its key in the read model.
type Purpose struct {
	api.Purpose

	Key   string `json:"-"` // id@version
	Index uint64 `json:"-"` // ledger index of the definition
	Hash  string `json:"-"` // SHA-256 of the logged body
}

// Invite is a one-time registration code, known by its hash only.
type Invite struct {
	Key  string // hash of the code
	Used bool
}

// Citizen is a registered resident, known by a pseudonymous id.
type Citizen struct {
	Key        string // citizen id
	SigningKey ed25519.PublicKey
	Recipient  string
	Index      uint64
}

// Consent is a resident's current choice for one purpose.
type Consent struct {
	Key      string // citizen|purpose
	Citizen  string
	Purpose  string
	Version  int
	Active   bool
	Erase    bool   // the last withdrawal asked to erase the vault too
	Index    uint64 // ledger index of the last grant or revoke
	IssuedAt string
}

// Petition is a logged petition: the organiser's document, with what the node adds and its
// live exact counts.
type Petition struct {
	api.Petition

	Key       string `json:"-"`
	Index     uint64 `json:"-"` // ledger index of the petition.create entry
	Organiser string `json:"-"` // citizen id of the organiser who signed the document
	Recipient string `json:"-"` // the petition's age tally key
	// TokenKey is the petition's RSA token key (petition.key entry), "" before data format 3.
	TokenKey string `json:"-"`
	// Issued counts the tokens the node issued for the petition (petition.issue entries).
	Issued int `json:"-"`
	// Signatures is the number of active online signatures; Withdrawn counts withdrawals.
	Signatures int `json:"-"`
	Withdrawn  int `json:"-"`
	// Paper is the sum of the paper signature counts the organiser entered, in PaperBatches
	// entries.
	Paper        int `json:"-"`
	PaperBatches int `json:"-"`
}

// Total is the exact number of signatures: active online ones plus paper ones.
func (p *Petition) Total() int { return p.Signatures + p.Paper }

// PetitionDay is one petition's signatures and withdrawals on one UTC day.
type PetitionDay struct {
	Key       string // petition|day
	Petition  string
	Day       string
	Signed    int
	Withdrawn int
}

// Nullifier is one signature slot of one petition, with the ledger indexes of its entries.
type Nullifier struct {
	Key    string // petition|nullifier
	Active bool
	// Index is the ledger index of the latest entry under the nullifier.
	Index uint64
}

// Organiser is a citizen the operator granted the organiser role.
type Organiser struct {
	Key    string // citizen id
	Active bool
	Index  uint64 // ledger index of the last grant or revoke
}

func decodeBody[T any](b json.RawMessage) (T, error) {
	var v T
	err := json.Unmarshal(b, &v)
	return v, err
}
