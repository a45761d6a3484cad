package api

import (
	"encoding/json"
	"time"
)

// Questions a petition may ask its signers, answered age-encrypted to its tally key.
const (
	AskAgeBand       = "age_band"
	AskNeighbourhood = "neighbourhood"
)

// AgeBands are the answers to the age-band question, in display order.
var AgeBands = []string{"16-29", "30-44", "45-64", "65+"}

// Petition is a petition document as an organiser signs it: its JSON is the body of the
// petition.create entry.
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
}

// Open reports whether the petition accepts signatures at t.
func (p *Petition) Open(t time.Time) bool { return !t.Before(p.Opens) && t.Before(p.Closes) }

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

// PublicPetition is a petition as the API publishes it (GET /api/v1/petitions[/{id}]) and as
// clients read it: the document, its organiser and tally key, and its exact counts — online
// and paper apart, their total and the paper share of it (a whole percentage), and the
// progress towards the threshold, capped at 1000 %. TokenKey is the RSA key its tokens
// are issued under (standard base64 DER SubjectPublicKeyInfo). Text, Timeline and Breakdown come only
// with one petition.
type PublicPetition struct {
	ID               string          `json:"id"`
	Title            string          `json:"title"`
	Text             string          `json:"text,omitempty"`
	Scope            []string        `json:"scope"`
	Opens            time.Time       `json:"opens"`
	Closes           time.Time       `json:"closes"`
	Threshold        int             `json:"threshold"`
	Ask              []string        `json:"ask"`
	Organiser        string          `json:"organiser"`
	Recipient        string          `json:"recipient"`
	TokenKey         string          `json:"token_key,omitempty"`
	Signatures       int             `json:"signatures"`
	Withdrawn        int             `json:"withdrawn"`
	Paper            int             `json:"paper"`
	Total            int             `json:"total"`
	PaperPercent     int             `json:"paper_percent"`
	ProgressPercent  int             `json:"progress_percent"`
	ThresholdReached bool            `json:"threshold_reached"`
	Status           string          `json:"status"`
	Ledger           uint64          `json:"ledger_index"`
	Timeline         []TimelineDay   `json:"timeline,omitempty"`
	Breakdown        json.RawMessage `json:"breakdown,omitempty"`
}

// TimelineDay is one UTC day of a petition: signatures and withdrawals that day, and the
// online total at its end.
type TimelineDay struct {
	Day       string `json:"day"`
	Signed    int    `json:"signed"`
	Withdrawn int    `json:"withdrawn"`
	Online    int    `json:"online"`
}

// TokensAnswer answers POST /api/v1/petitions/tokens: the node's blind signatures of the
// resident's blinded token messages (RFC 9474, standard base64), by petition id, and the
// error code of each petition it issued no token for (unknown_petition, petition_not_open,
// petition_closed, out_of_scope, no_token_key, already_issued, invalid_field), so a wallet
// may ask for every open petition without knowing its scope.
type TokensAnswer struct {
	Tokens  map[string][]byte `json:"tokens"`
	Refused map[string]string `json:"refused,omitempty"`
}

// SignatureRequest is the body of POST /api/v1/petitions/{id}/signatures: a petition act
// (crypto.PetitionAct: type petition.sign or petition.withdraw, the petition, the wallet's key
// for it, the hash of the sealed answers) signed by that key, with, for a signature, the token
// (Randomizer, Token) and the sealed answers. It names no one.
type SignatureRequest struct {
	Type       string `json:"type"`
	Petition   string `json:"petition"`
	Key        string `json:"key"`
	Document   string `json:"document,omitempty"`
	Signature  string `json:"signature"`
	Randomizer []byte `json:"randomizer,omitempty"`
	Token      []byte `json:"token,omitempty"`
	Answers    []byte `json:"answers,omitempty"`
}

// Signature states of a nullifier (SignatureStatus.Status).
const (
	SignaturePending   = "pending"
	SignatureSigned    = "signed"
	SignatureWithdrawn = "withdrawn"
)

// SignatureStatus answers POST /api/v1/petitions/{id}/signatures (202, Status pending) and
// GET /api/v1/petitions/{id}/signatures/{nullifier}: pending until the act's batch is in the
// ledger, then signed or withdrawn with the receipt of the latest entry.
type SignatureStatus struct {
	Nullifier string   `json:"nullifier"`
	Status    string   `json:"status"`
	Receipt   *Receipt `json:"receipt,omitempty"`
}
