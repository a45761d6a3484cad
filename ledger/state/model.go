package state

import (
	"crypto/ed25519"
	"encoding/json"
	"time"
)

// ReleasePolicy says what a purpose publishes and under which privacy parameters.
type ReleasePolicy struct {
	// Grid is the fixed public grid, e.g. "neighbourhood×day".
	Grid string `json:"grid"`
	// K is the least number of distinct contributors for a cell to be published.
	K int `json:"k"`
	// ClampPM25 and ClampPM10 bound each resident's daily mean (µg/m³).
	ClampPM25 [2]float64 `json:"clamp_pm2_5"`
	ClampPM10 [2]float64 `json:"clamp_pm10"`
	// GraceHours is how long after a day ends late uploads are still accepted.
	GraceHours int `json:"grace_hours"`
	// Epsilon is a resident's differential-privacy ε per daily release (0: the default, 1).
	Epsilon float64 `json:"epsilon,omitempty"`
	// WeekEpsilon caps a resident's ε per ISO week across purposes (0: the default, 7).
	WeekEpsilon float64 `json:"week_epsilon,omitempty"`
}

// Purpose is one immutable version of a purpose: what data it uses, what it publishes, and
// the age recipient share copies are sealed to. Its JSON is logged as the body of a
// purpose.define entry.
type Purpose struct {
	ID          string        `json:"id"`
	Version     int           `json:"version"`
	Title       string        `json:"title"`
	Description string        `json:"description"`
	Data        string        `json:"data"`
	Recipient   string        `json:"recipient"`
	Release     ReleasePolicy `json:"release"`

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

// Questions a petition may ask its signers, answered age-encrypted to its tally key.
const (
	AskAgeBand       = "age_band"
	AskNeighbourhood = "neighbourhood"
)

// AgeBands are the answers to the age-band question, in display order.
var AgeBands = []string{"16-29", "30-44", "45-64", "65+"}

// Petition is a petition document as an organiser signs it (its JSON is the body of the
// petition.create entry), with what the node adds and its live exact counts.
type Petition struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Text      string    `json:"text"`
	Scope     []string  `json:"scope"`
	Opens     time.Time `json:"opens"`
	Closes    time.Time `json:"closes"`
	Threshold int       `json:"threshold"`
	// Ask lists the optional questions (AskAgeBand, AskNeighbourhood) signers may answer.
	Ask []string `json:"ask,omitempty"`

	Key       string `json:"-"`
	Index     uint64 `json:"-"` // ledger index of the petition.create entry
	Organiser string `json:"-"` // citizen id of the organiser who signed the document
	Recipient string `json:"-"` // the petition's age tally key
	// Signatures is the number of active online signatures; Withdrawn counts withdrawals.
	Signatures int `json:"-"`
	Withdrawn  int `json:"-"`
	// Paper is the sum of the paper signature counts the organiser entered, in PaperBatches
	// entries.
	Paper        int `json:"-"`
	PaperBatches int `json:"-"`
}

// Open reports whether the petition accepts signatures at t.
func (p *Petition) Open(t time.Time) bool { return !t.Before(p.Opens) && t.Before(p.Closes) }

// Total is the exact number of signatures: active online ones plus paper ones.
func (p *Petition) Total() int { return p.Signatures + p.Paper }

// Purpose is the purpose name of the petition's tally key: "petition/<id>".
func (p *Petition) Purpose() string { return "petition/" + p.ID }

// Asks reports whether the petition asks question q.
func (p *Petition) Asks(q string) bool {
	for _, a := range p.Ask {
		if a == q {
			return true
		}
	}
	return false
}

// Answers is what a signer answers to a petition's questions, sealed by the client to the
// petition's tally key (V is 1). An empty or unknown answer is not counted.
type Answers struct {
	V             int    `json:"v"`
	AgeBand       string `json:"age_band,omitempty"`
	Neighbourhood string `json:"neighbourhood,omitempty"`
}

// Paper is a count of paper signatures an organiser entered: the body of a petition.paper
// entry.
type Paper struct {
	Petition string `json:"petition"`
	Count    int    `json:"count"`
	Note     string `json:"note,omitempty"`
}

// PetitionDay is one petition's signatures and withdrawals on one UTC day.
type PetitionDay struct {
	Key       string // petition|day
	Petition  string
	Day       string
	Signed    int
	Withdrawn int
}

// Nullifier is one signature slot of one petition.
type Nullifier struct {
	Key    string // petition|nullifier
	Active bool
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
