package mirror

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/commons-city/commons/durable"
)

// Why a source was caught.
const (
	// ReasonNotExtension: the served checkpoint does not extend the one the mirror holds (the
	// tree shrank, or the consistency proof does not verify: the history was rewritten, or the
	// source shows different histories to different readers).
	ReasonNotExtension = "not_an_extension"
	// ReasonEntries: the entries the source serves do not make the tree its signed checkpoint
	// names.
	ReasonEntries = "entries_differ"
)

// Fork is the evidence that a source signed two incompatible views of its ledger. The two
// checkpoints carry the source's signature: anyone holding its key can check them, and the
// proof attempt, again.
type Fork struct {
	Detected time.Time `json:"detected"`
	Reason   string    `json:"reason"`
	// Held is the checkpoint the mirror had verified and held; Served the one the source then
	// served. Both are signed notes, verbatim.
	Held   string `json:"held_checkpoint"`
	Served string `json:"served_checkpoint"`
	// Proof is the consistency proof the source gave between them (empty if none was asked or
	// given), and Error why it, or the entries, failed.
	Proof [][]byte `json:"proof"`
	Error string   `json:"error"`
	// Evidence is the directory holding held.checkpoint, served.checkpoint and fork.json.
	Evidence string `json:"evidence"`
}

// forked records a fork: the evidence files, then the record in the database, then the log
// line. From then on the mirror does not follow the source.
func (m *Mirror) forked(reason string, held, served []byte, proof [][]byte, cause error) error {
	now := m.o.Now().UTC()
	if proof == nil {
		proof = [][]byte{}
	}
	f := Fork{Detected: now, Reason: reason, Held: string(held), Served: string(served), Proof: proof, Error: cause.Error(),
		Evidence: filepath.Join(m.o.Evidence, "fork-"+now.Format("20060102T150405.000000000Z"))}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return fmt.Errorf("mirror: fork evidence: %w", err)
	}
	if err := os.MkdirAll(f.Evidence, 0o700); err != nil {
		return fmt.Errorf("mirror: fork evidence: %w", err)
	}
	for name, data := range map[string][]byte{"held.checkpoint": held, "served.checkpoint": served, "fork.json": b} {
		if err := durable.WriteFile(filepath.Join(f.Evidence, name), data); err != nil {
			return fmt.Errorf("mirror: fork evidence: %w", err)
		}
	}
	if err := m.db.Update(func(txn *badger.Txn) error { return txn.Set(keyFork, b) }); err != nil {
		return fmt.Errorf("mirror: fork evidence: %w", err)
	}
	m.mu.Lock()
	m.fork = &f
	m.mu.Unlock()
	m.o.Logger.Error("mirror: SOURCE FORKED OR REWROTE ITS LEDGER: evidence kept, no longer following it",
		"source", m.o.Source, "reason", reason, "err", cause, "evidence", f.Evidence)
	return fmt.Errorf("%w: %s: %v", ErrForked, reason, cause)
}

// Forked returns the fork evidence, or nil while the source has behaved.
func (m *Mirror) Forked() *Fork {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.fork
}

// Status is what the mirror shows about itself (/api/v1/mirror and the /ledger page).
type Status struct {
	Source     string     `json:"source"`
	Key        string     `json:"key"`
	Size       uint64     `json:"size"`
	Checkpoint string     `json:"checkpoint"`
	LastSync   *time.Time `json:"last_sync"`
	LastError  string     `json:"last_error,omitempty"`
	// Following is false once the source was caught forking.
	Following bool `json:"following"`
	// Days and Weeks are the releases copied and verified.
	Days  []string `json:"days"`
	Weeks []string `json:"weeks"`
	// Refused are the releases whose served bytes did not hash to the logged hash, by ledger
	// index, with why.
	Refused []Refusal `json:"refused"`
	Fork    *Fork     `json:"fork"`
}

// Refusal is a release the mirror refused to copy.
type Refusal struct {
	Index uint64 `json:"ledger_index"`
	Why   string `json:"why"`
}

// Status reports the mirror's state.
func (m *Mirror) Status() (Status, error) {
	cp, size := m.log.Checkpoint()
	_, days, weeks, err := m.Releases()
	if err != nil {
		return Status{}, err
	}
	s := Status{Source: m.o.Source, Key: m.key, Size: size, Checkpoint: string(cp), Days: days, Weeks: weeks, Refused: []Refusal{}}
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.lastSync.IsZero() {
		t := m.lastSync
		s.LastSync = &t
	}
	s.LastError, s.Fork, s.Following = m.lastErr, m.fork, m.fork == nil
	for i, why := range m.refused {
		s.Refused = append(s.Refused, Refusal{Index: i, Why: why})
	}
	sort.Slice(s.Refused, func(a, b int) bool { return s.Refused[a].Index < s.Refused[b].Index })
	return s, nil
}
