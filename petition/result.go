package petition

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/commons-city/commons/crypto"
)

// Result is a petition's final result as its organiser signs it (a petition.result statement
// whose document is the hash of its compact JSON): a recount of the ledger under Checkpoint, a
// checkpoint signed by the ledger key LedgerKey.
type Result struct {
	Petition         string    `json:"petition"`
	Title            string    `json:"title"`
	Organiser        string    `json:"organiser"`
	SigningKey       string    `json:"signing_key"`
	Scope            []string  `json:"scope"`
	Opens            time.Time `json:"opens"`
	Closes           time.Time `json:"closes"`
	Threshold        int       `json:"threshold"`
	Online           int       `json:"online"`
	Withdrawn        int       `json:"withdrawn"`
	Paper            int       `json:"paper"`
	Total            int       `json:"total"`
	ThresholdReached bool      `json:"threshold_reached"`
	LedgerKey        string    `json:"ledger_key"`
	Checkpoint       string    `json:"checkpoint"`
	IssuedAt         time.Time `json:"issued_at"`
}

// NewResult is the result of count, recounted under checkpoint of the ledger whose key is
// ledgerKey, issued at issuedAt.
func NewResult(c Count, ledgerKey, checkpoint string, issuedAt time.Time) Result {
	return Result{Petition: c.ID, Title: c.Petition.Title, Organiser: c.Organiser, SigningKey: c.SigningKey,
		Scope: c.Petition.Scope, Opens: c.Petition.Opens, Closes: c.Petition.Closes, Threshold: c.Petition.Threshold,
		Online: c.Online, Withdrawn: c.Withdrawn, Paper: c.Paper, Total: c.Total(),
		ThresholdReached: Reached(c.Total(), c.Petition.Threshold), LedgerKey: ledgerKey, Checkpoint: checkpoint,
		IssuedAt: issuedAt}
}

// SignedResult is a result file: the result's exact bytes, and the organiser's
// petition.result statement whose document field is their hash.
type SignedResult struct {
	Result    json.RawMessage  `json:"result"`
	Statement crypto.Statement `json:"statement"`
	Signature string           `json:"signature"`
}

// OpenResult reads a result file and checks that its statement is the organiser's
// petition.result statement over the result's compact bytes (the file may be indented for
// people), signed with the key the result names for its organiser.
func OpenResult(file []byte) (Result, error) {
	var f SignedResult
	if err := json.Unmarshal(file, &f); err != nil {
		return Result{}, fmt.Errorf("petition: not a result document: %w", err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, f.Result); err != nil {
		return Result{}, fmt.Errorf("petition: not a result document: %w", err)
	}
	var r Result
	if err := json.Unmarshal(compact.Bytes(), &r); err != nil {
		return Result{}, fmt.Errorf("petition: not a result document: %w", err)
	}
	pub, err := crypto.DecodeKey(r.SigningKey)
	if err != nil {
		return Result{}, fmt.Errorf("petition: result: the organiser's key: %w", err)
	}
	st := f.Statement
	if st.Type != crypto.TypePetitionResult || st.Petition != r.Petition || st.Citizen != r.Organiser ||
		st.Document != crypto.DocumentHash(compact.Bytes()) {
		return Result{}, errors.New("petition: result: the statement does not name this result")
	}
	if err := (crypto.SignedStatement{Statement: st, Signature: f.Signature}).Verify(pub); err != nil {
		return Result{}, fmt.Errorf("petition: result: the organiser's signature: %w", err)
	}
	return r, nil
}

// Check compares the result's organiser and counts with a recount of the ledger up to the
// result's checkpoint.
func (r Result) Check(c Count) error {
	if c.Organiser != r.Organiser || c.Online != r.Online || c.Withdrawn != r.Withdrawn || c.Paper != r.Paper ||
		r.Total != c.Total() {
		return fmt.Errorf("petition: result: the ledger up to the checkpoint holds %d online + %d paper signatures by organiser %s; the result says %d + %d = %d by %s",
			c.Online, c.Paper, c.Organiser, r.Online, r.Paper, r.Total, r.Organiser)
	}
	return nil
}
