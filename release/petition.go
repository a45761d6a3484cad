package release

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"filippo.io/age"
	"github.com/google/differential-privacy/go/v3/noise"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/store"
)

// PetitionEpoch is the epoch of a petition's one breakdown release, made once it closes.
const PetitionEpoch = "final"

// PetitionEpsilon is each signer's ε for a petition's breakdowns, split evenly across the
// questions the petition asks. Each signer is in at most one group of each question.
const PetitionEpsilon = 1.0

// Breakdown is the release of a petition's answers: per question, a noisy count of signers
// per answer (Laplace), each group published only when its noisy count reaches k: no decision
// depends on a raw count.
// Questions are released separately and never crossed with each other.
type Breakdown struct {
	Petition  string     `json:"petition"`
	Epoch     string     `json:"epoch"`
	K         int        `json:"k"`
	Noise     string     `json:"noise"`
	Epsilon   float64    `json:"epsilon"`
	Questions []Question `json:"questions"`
	Version   int        `json:"format"`
}

// Question is one question's groups, in display order.
type Question struct {
	Question string  `json:"question"`
	Groups   []Group `json:"groups"`
}

// Group is one answer's noisy count of signers, or suppressed.
type Group struct {
	Answer     string `json:"answer"`
	Suppressed bool   `json:"suppressed"`
	Signers    int    `json:"signers,omitempty"`
}

// ParseBreakdown decodes a stored petition breakdown.
func ParseBreakdown(b []byte) (Breakdown, error) {
	var d Breakdown
	if err := json.Unmarshal(b, &d); err != nil {
		return Breakdown{}, fmt.Errorf("release: parse breakdown: %w", err)
	}
	return d, nil
}

// runPetitions releases the breakdown of every closed petition that asks questions and has
// none yet. A petition whose tally identity cannot be read (its key file not restored, say)
// holds back no other: the run goes on and reports it. It returns how many it published.
func (e *Engine) runPetitions(ctx context.Context) (int, error) {
	if e.cfg.PetitionIdentity == nil {
		return 0, nil
	}
	n := 0
	var missing []error
	for _, p := range e.cfg.State.Petitions() {
		if len(p.Ask) == 0 || e.cfg.Now().Before(p.Closes) {
			continue
		}
		if _, err := e.cfg.Store.Release(p.Purpose(), PetitionEpoch); err == nil {
			continue
		} else if !errors.Is(err, store.ErrNotFound) {
			return n, err
		}
		id, err := e.cfg.PetitionIdentity(p.ID)
		if err != nil {
			missing = append(missing, fmt.Errorf("release: petition %s: %w", p.ID, err))
			continue
		}
		if err := e.releasePetition(ctx, p, id); err != nil {
			return n, err
		}
		n++
	}
	return n, errors.Join(missing...)
}

// releasePetition opens the answers of the petition's active signatures, counts each question
// apart, and stores and logs the breakdown once.
func (e *Engine) releasePetition(ctx context.Context, p *state.Petition, id age.Identity) error {
	start := time.Now()
	sealed, err := e.cfg.Store.Answers(p.ID)
	if err != nil {
		return fmt.Errorf("release: petition %s: %w", p.ID, err)
	}
	var answers []api.Answers
	unreadable := 0
	for _, c := range sealed {
		plain, err := crypto.Open(c, id)
		var a api.Answers
		if err == nil {
			err = json.Unmarshal(plain, &a)
		}
		if err != nil || a.V != 1 {
			unreadable++
			continue
		}
		answers = append(answers, a)
	}
	// Petition breakdowns are counts under pure ε-differential privacy: Laplace noise.
	nz := e.cfg.Noise
	if nz == nil {
		nz = noise.Laplace()
	}
	d, err := breakdown(p, answers, e.cfg.Cells, MinK, nz)
	if err != nil {
		return fmt.Errorf("release: petition %s: %w", p.ID, err)
	}
	var body bytes.Buffer
	enc := json.NewEncoder(&body)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(d); err != nil {
		return fmt.Errorf("release: petition %s: %w", p.ID, err)
	}
	b := bytes.TrimSuffix(body.Bytes(), []byte("\n"))
	entry, err := api.Entry{Type: api.EntryRelease, Purpose: p.Purpose(), PurposeVersion: 1,
		Epoch: PetitionEpoch, Hash: state.Hash(b)}.Marshal()
	if err != nil {
		return err
	}
	r, err := e.cfg.Ledger.Append(ctx, entry, store.ReleaseRecord(p.Purpose(), PetitionEpoch, b))
	if err != nil {
		return fmt.Errorf("release: petition %s: %w", p.ID, err)
	}
	e.cfg.Logger.Info("petition breakdown published", "petition", p.ID, "answers", len(sealed),
		"unreadable", unreadable, "ledger_index", r.Index, "took", time.Since(start))
	return nil
}

// breakdown counts the answers to each question the petition asks. Answers outside a
// question's groups are not counted.
func breakdown(p *state.Petition, answers []api.Answers, cells []string, k int, nz noise.Noise) (Breakdown, error) {
	d := Breakdown{Petition: p.ID, Epoch: PetitionEpoch, K: k, Noise: noiseName(nz), Epsilon: PetitionEpsilon, Version: FormatVersion}
	if len(p.Ask) == 0 {
		return d, nil
	}
	eps := PetitionEpsilon / float64(len(p.Ask))
	for _, q := range p.Ask {
		groups, get := api.AgeBands, func(a api.Answers) string { return a.AgeBand }
		if q == api.AskNeighbourhood {
			groups, get = cells, func(a api.Answers) string { return a.Neighbourhood }
			if len(p.Scope) > 0 {
				groups = p.Scope
			}
		}
		counts := map[string]int{}
		for _, a := range answers {
			if v := get(a); slices.Contains(groups, v) {
				counts[v]++
			}
		}
		question := Question{Question: q}
		for _, g := range groups {
			noisy, err := nz.AddNoiseInt64(int64(counts[g]), 1, 1, eps, 0)
			if err != nil {
				return Breakdown{}, fmt.Errorf("release: noise: %w", err)
			}
			// Post-processing of the noisy count alone: never above the petition's public
			// total, published only from k.
			noisy = min(noisy, int64(p.Signatures))
			if noisy < int64(k) {
				question.Groups = append(question.Groups, Group{Answer: g, Suppressed: true})
				continue
			}
			question.Groups = append(question.Groups, Group{Answer: g, Signers: int(noisy)})
		}
		d.Questions = append(d.Questions, question)
	}
	return d, nil
}
