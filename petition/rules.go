package petition

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
)

// Bounds on petition documents, paper counts and answers. A city's petition runs for at most
// a year and aims for at most ten million signatures; beyond that it is a mistake (or an
// attempt to make a petition that never closes).
const (
	MaxIDLength      = 64
	MaxTitle         = 200
	MaxText          = 20000
	MaxSigningWindow = 366 * 24 * time.Hour
	MaxThreshold     = 10_000_000
	// MaxPaperCount bounds one paper count; MaxNote its note.
	MaxPaperCount = 1_000_000
	MaxNote       = 500
	// MaxAnswers bounds a signer's sealed answers (a few dozen bytes of JSON, sealed).
	MaxAnswers = 4096
	// PaperGrace is how long after a petition closes its organiser may still enter the paper
	// signatures collected while it was open.
	PaperGrace = 7 * 24 * time.Hour
)

// Refusals. Each names one broken rule; a caller answers each its own way.
var (
	ErrMalformed            = errors.New("petition: the document is not JSON of the expected shape")
	ErrDocumentHash         = errors.New("petition: the document does not hash to the statement's document field")
	ErrUnknownNeighbourhood = errors.New("petition: the scope names an unknown neighbourhood")
	ErrNotYetOpen           = errors.New("petition: not open yet")
	ErrClosed               = errors.New("petition: closed")
	ErrNotYours             = errors.New("petition: only its organiser may do this")
	ErrNotSealed            = errors.New("petition: the answers are not an age ciphertext")
	ErrAlreadySigned        = errors.New("petition: already signed under this nullifier")
	ErrNotSigned            = errors.New("petition: no signature to withdraw")
	ErrWithdrawn            = errors.New("petition: the signature is already withdrawn")
	ErrPending              = errors.New("petition: the signature is not in the ledger yet")
	ErrBadToken             = errors.New("petition: the token does not verify for this petition and key")
	ErrNoTokenKey           = errors.New("petition: the petition has no token key")
	ErrOutOfScope           = errors.New("petition: not open to residents of this neighbourhood")
)

// InvalidError is a refusal that names the field breaking a rule and the rule, never the
// field's value.
type InvalidError struct {
	Field, Rule string
}

// Error implements error.
func (e *InvalidError) Error() string { return "petition: " + e.Field + ": " + e.Rule }

func invalid(field, rule string) error { return &InvalidError{Field: field, Rule: rule} }

// ValidID reports whether s may name a petition: 1 to MaxIDLength lower-case ASCII letters,
// digits and dashes.
func ValidID(s string) bool {
	if len(s) == 0 || len(s) > MaxIDLength {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
			return false
		}
	}
	return true
}

// Slug makes a petition id from a title: its lower-case ASCII letters and digits, one dash for
// each run of anything else, at most MaxIDLength long. It is "" when the title has no letter
// or digit.
func Slug(title string) string {
	var b strings.Builder
	dash := false
	for _, r := range strings.ToLower(title) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			if dash && b.Len() > 0 {
				b.WriteByte('-')
			}
			b.WriteRune(r)
			dash = false
		default:
			dash = true
		}
	}
	return strings.TrimRight(b.String()[:min(b.Len(), MaxIDLength)], "-")
}

// Compact returns the compact bytes of an organiser's document (a petition or a paper count):
// the bytes the ledger logs, which the organiser's statement covers by naming their SHA-256
// (hash) as its document.
func Compact(doc json.RawMessage, hash string) ([]byte, error) {
	var body bytes.Buffer
	if err := json.Compact(&body, doc); err != nil || body.Len() == 0 {
		return nil, ErrMalformed
	}
	if crypto.DocumentHash(body.Bytes()) != hash {
		return nil, ErrDocumentHash
	}
	return body.Bytes(), nil
}

// ParseDocument decodes a petition document, accepting only its canonical encoding (see
// canonicalJSON).
func ParseDocument(body []byte) (api.Petition, error) {
	var p api.Petition
	return p, canonicalJSON(body, &p)
}

// ParsePaper decodes a paper count, accepting only its canonical encoding (see canonicalJSON).
func ParsePaper(body []byte) (api.Paper, error) {
	var p api.Paper
	return p, canonicalJSON(body, &p)
}

// canonicalJSON decodes a document the ledger logs byte for byte, accepting only
// api.Canonical of what it decodes to, so that every reader of the entry reads the same
// document: it returns ErrMalformed, api.ErrAmbiguous (a repeated or differently-cased key)
// or api.ErrNotCanonical.
func canonicalJSON(b []byte, v any) error {
	err := api.DecodeCanonical(b, v)
	if errors.Is(err, api.ErrMalformed) {
		return ErrMalformed
	}
	return err
}

// CheckDocument checks a petition document before it is logged: it names the petition its
// organiser's statement names (named), its scope lists neighbourhoods of the grid (inGrid) once
// each (none: the whole city), it opens before it closes, runs at most MaxSigningWindow, closes
// after now, aims for 1 to MaxThreshold signatures and asks only the known questions, once each.
func CheckDocument(p api.Petition, named string, inGrid func(id string) bool, now time.Time) error {
	if p.ID != named {
		return invalid("petition", "the statement and the document name different petitions")
	}
	if !ValidID(p.ID) {
		return invalid("id", "lower-case letters, digits and dashes, 1 to 64 characters")
	}
	if p.Title == "" || len(p.Title) > MaxTitle {
		return invalid("title", "1 to 200 bytes")
	}
	if len(p.Text) > MaxText {
		return invalid("text", "at most 20000 bytes")
	}
	seen := map[string]bool{}
	for _, n := range p.Scope {
		if !inGrid(n) {
			return ErrUnknownNeighbourhood
		}
		if seen[n] {
			return invalid("scope", "each neighbourhood once")
		}
		seen[n] = true
	}
	if p.Opens.IsZero() || !p.Closes.After(p.Opens) {
		return invalid("closes", "must be after opens")
	}
	if p.Closes.Sub(p.Opens) > MaxSigningWindow {
		return invalid("closes", "at most 366 days after opens")
	}
	if !p.Closes.After(now) {
		return invalid("closes", "must be in the future")
	}
	if p.Threshold < 1 || p.Threshold > MaxThreshold {
		return invalid("threshold", "from 1 to 10000000")
	}
	asked := map[string]bool{}
	for _, q := range p.Ask {
		if q != api.AskAgeBand && q != api.AskNeighbourhood || asked[q] {
			return invalid("ask", "age_band and neighbourhood, each at most once")
		}
		asked[q] = true
	}
	return nil
}

// CheckPaper checks a paper count before its petition is looked up: the path it was sent to
// (path), its organiser's statement (named) and the count name the same petition, and the
// count and its note are within bounds.
func CheckPaper(paper api.Paper, named, path string) error {
	switch {
	case paper.Petition != named || paper.Petition != path:
		return invalid("petition", "the path, the statement and the document name different petitions")
	case paper.Count < 1 || paper.Count > MaxPaperCount:
		return invalid("count", "between 1 and 1000000")
	case len(paper.Note) > MaxNote:
		return invalid("note", "at most 500 bytes")
	}
	return nil
}

// CanEnterPaper reports whether citizen may enter a paper count for p at now: only its
// organiser, from the opening until PaperGrace after the closing.
func CanEnterPaper(p *state.Petition, citizen string, now time.Time) error {
	switch {
	case p.Organiser != citizen:
		return ErrNotYours
	case now.Before(p.Opens):
		return ErrNotYetOpen
	case now.After(p.Closes.Add(PaperGrace)):
		return ErrClosed
	}
	return nil
}

// CheckAct checks a petition act (a signature or its withdrawal, signed by the wallet's key
// for p) at now before anything is reserved: p is open, the act names p, and it carries what
// its type needs. A signature carries a token (its randomizer and signature); answers come
// only with a signature of a petition that asks questions, sealed with age, at most MaxAnswers
// long, and the act's document field is their hash, so the key's signature covers them;
// without answers the document field is empty. A withdrawal carries none of these.
func CheckAct(p *api.Petition, r api.SignatureRequest, now time.Time) error {
	if r.Petition != p.ID {
		return invalid("petition", "the path and the act name different petitions")
	}
	switch Status(p, now) {
	case StatusUpcoming:
		return ErrNotYetOpen
	case StatusClosed:
		return ErrClosed
	}
	sign := r.Type == crypto.TypePetitionSign
	switch {
	case !sign && r.Type != crypto.TypePetitionWithdraw:
		return invalid("type", "petition.sign or petition.withdraw")
	case !sign && (len(r.Token) > 0 || len(r.Randomizer) > 0 || len(r.Answers) > 0 || r.Document != ""):
		return invalid("token", "a withdrawal carries no token, answers or document")
	case sign && (len(r.Token) == 0 || len(r.Randomizer) != crypto.RandomizerSize):
		return invalid("token", "a signature carries its token and its 32-byte randomizer")
	}
	if len(r.Answers) == 0 {
		if r.Document != "" {
			return invalid("document", "only with answers")
		}
		return nil
	}
	switch {
	case len(p.Ask) == 0:
		return invalid("answers", "this petition asks no questions")
	case len(r.Answers) > MaxAnswers:
		return invalid("answers", "at most 4096 bytes")
	case crypto.CheckSealed(r.Answers, MaxAnswers) != nil:
		return ErrNotSealed
	case crypto.DocumentHash(r.Answers) != r.Document:
		return ErrDocumentHash
	}
	return nil
}

// Slot is what the node holds about one nullifier of a petition: whether it was ever used for
// a signature (logged or pending), and whether the signature is logged and active.
type Slot struct {
	Seen, Logged, Active bool
}

// Check reports whether a signature (sign) or a withdrawal may take place under the slot's
// nullifier: a nullifier signs once (its token is spent), and only a logged active signature
// is withdrawn.
func (s Slot) Check(sign bool) error {
	switch {
	case sign && s.Seen:
		return ErrAlreadySigned
	case !sign && !s.Seen:
		return ErrNotSigned
	case !sign && !s.Logged:
		return ErrPending
	case !sign && !s.Active:
		return ErrWithdrawn
	}
	return nil
}

// CanIssue reports whether a resident of neighbourhood home may be issued p's token at now:
// p is open, holds a token key (hasKey) and home is in its scope. Scope and dates are checked
// here, at issuance, as the signature that spends the token names no one.
func CanIssue(p *api.Petition, hasKey bool, home string, now time.Time) error {
	switch {
	case Status(p, now) == StatusUpcoming:
		return ErrNotYetOpen
	case Status(p, now) == StatusClosed:
		return ErrClosed
	case !hasKey:
		return ErrNoTokenKey
	case !InScope(p, home):
		return ErrOutOfScope
	}
	return nil
}

// InScope reports whether a resident of neighbourhood home may sign p: every resident may sign
// a petition with no scope.
func InScope(p *api.Petition, home string) bool {
	return len(p.Scope) == 0 || slices.Contains(p.Scope, home)
}
