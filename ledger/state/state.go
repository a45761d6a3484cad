// Package state is Commons' read model: the current citizens, purposes and their proposals with
// their approvals, consents and petitions, kept in go-memdb and rebuilt at start by replaying
// the ledger. It is never the source of truth: the ledger is. Apply is called by the ledger's
// sequencer for each committed entry, in log order, and by Replay at start.
//
// State also arbitrates concurrent writes: a handler Reserves the keys its statement would
// use (a nonce, a consent, an invite, a nullifier) before appending, so two requests can never
// both pass a check that only one of them may pass.
package state

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"sync"

	"github.com/hashicorp/go-memdb"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
)

// ErrBusy is returned by Reserve when another request holds one of the keys.
var ErrBusy = errors.New("state: a conflicting request is in flight")

// State is the read model. It is safe for concurrent use.
type State struct {
	db  *memdb.MemDB
	log *slog.Logger

	mu      sync.Mutex
	pending map[string]struct{}
}

// New returns an empty read model.
func New(logger *slog.Logger) (*State, error) {
	db, err := memdb.NewMemDB(schema())
	if err != nil {
		return nil, fmt.Errorf("state: new: %w", err)
	}
	return &State{db: db, log: logger, pending: map[string]struct{}{}}, nil
}

// replayChunk is how many entries Replay applies in one memdb transaction: large enough to
// amortise the commit, small enough that go-memdb's change notification stays on its fast path.
const replayChunk = 1024

// parsedChunk is a run of consecutive entries, parsed.
type parsedChunk struct {
	first   uint64
	entries []parsed
}

type parsed struct {
	e   api.Entry
	err error
}

// Replay applies every entry of the log, in order. Reading, parsing and applying run as a
// pipeline, so parsing one chunk overlaps with applying the previous one.
func (s *State) Replay(ctx context.Context, l *ledger.Log) error {
	chunks := make(chan parsedChunk, 4)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for c := range chunks {
			s.applyParsed(c.first, c.entries)
		}
	}()
	var cur parsedChunk
	err := l.Scan(ctx, 0, l.Size(), func(i uint64, b []byte) error {
		if len(cur.entries) == 0 {
			cur.first = i
		}
		e, err := api.ParseEntry(b)
		if cur.entries = append(cur.entries, parsed{e, err}); len(cur.entries) == replayChunk {
			chunks <- cur
			cur = parsedChunk{entries: make([]parsed, 0, replayChunk)}
		}
		return nil
	})
	if len(cur.entries) > 0 {
		chunks <- cur
	}
	close(chunks)
	<-done
	if err != nil {
		return fmt.Errorf("state: replay: %w", err)
	}
	return nil
}

// Reserve claims keys for one in-flight request; call the returned release once the request
// is answered (after the entry is applied).
func (s *State) Reserve(keys ...string) (release func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, k := range keys {
		if _, busy := s.pending[k]; busy {
			return nil, ErrBusy
		}
	}
	for _, k := range keys {
		s.pending[k] = struct{}{}
	}
	return func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, k := range keys {
			delete(s.pending, k)
		}
	}, nil
}

// Hash is the hex SHA-256 used for invite codes and logged documents.
func Hash(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func join(parts ...string) string { return strings.Join(parts, "|") }

// Apply updates the model with one committed entry.
func (s *State) Apply(index uint64, b []byte) { s.ApplyBatch(index, [][]byte{b}) }

// ApplyBatch updates the model with consecutive committed entries, the first at index first,
// in one memdb transaction. An entry that cannot be applied is logged and skipped: it is
// already durable, and the server validated it before appending. Every apply path checks its
// entry before it writes, so a skipped entry leaves nothing half-applied.
func (s *State) ApplyBatch(first uint64, entries [][]byte) {
	ps := make([]parsed, len(entries))
	for i, b := range entries {
		ps[i].e, ps[i].err = api.ParseEntry(b)
	}
	s.applyParsed(first, ps)
}

func (s *State) applyParsed(first uint64, entries []parsed) {
	if len(entries) == 0 {
		return
	}
	txn := s.db.Txn(true)
	for i, p := range entries {
		err := p.err
		if err == nil {
			err = apply(txn, first+uint64(i), p.e)
		}
		if err != nil {
			s.log.Error("state: entry not applied", "index", first+uint64(i), "err", err)
		}
	}
	txn.Commit()
}

// required lists, per entry type, the fields apply inserts under: an entry missing one is
// refused before anything is written, so a batch never holds half an entry.
func required(e api.Entry) error {
	var missing bool
	switch e.Type {
	case api.EntryInvite:
		missing = e.Hash == ""
	case api.EntryRegister:
		missing = e.Citizen == "" || e.Hash == "" || e.SigningKey == ""
	case api.EntryConsentGrant, api.EntryConsentRevoke:
		missing = e.Citizen == "" || e.Purpose == ""
	case api.EntryPetition:
		missing = e.Petition == "" || e.Citizen == "" || e.Recipient == ""
	case api.EntryPetitionSign, api.EntryPetitionRevoke:
		missing = e.Petition == "" || e.Nullifier == "" || e.Epoch == ""
	case api.EntryPetitionPaper:
		missing = e.Petition == "" || e.Citizen == ""
	case api.EntryPetitionIssue:
		missing = e.Petition == ""
	case api.EntryPetitionKey:
		missing = e.Petition == "" || e.TokenKey == ""
	case api.EntryOrganiserGrant, api.EntryOrganiserRevoke:
		missing = e.Citizen == ""
	case api.EntryPurposePropose:
		missing = e.Purpose == "" || e.Citizen == "" || e.Hash == ""
	case api.EntryPurposeApprove, api.EntryPurposeObject:
		missing = e.Purpose == "" || e.Nullifier == "" || e.Neighbourhood == ""
	case api.EntryPurposeRefuse, api.EntryPurposeRetire, api.EntryPurposeDestroy:
		missing = e.Purpose == ""
	}
	if missing {
		return fmt.Errorf("%s entry misses a required field", e.Type)
	}
	return nil
}

func apply(txn *memdb.Txn, index uint64, e api.Entry) error {
	if err := required(e); err != nil {
		return err
	}
	switch e.Type {
	case api.EntryPurpose:
		p, err := decodeBody[Purpose](e.Body)
		if err != nil {
			return err
		}
		if p.ID == "" {
			return fmt.Errorf("purpose without id")
		}
		p.Key, p.Index, p.Hash = fmt.Sprintf("%s@%d", p.ID, p.Version), index, e.Hash
		if p.Proposal != "" {
			if err := applyActivation(txn, p); err != nil {
				return err
			}
		}
		return txn.Insert(tablePurposes, &p)
	case api.EntryPurposePropose:
		return applyProposal(txn, index, e)
	case api.EntryPurposeApprove, api.EntryPurposeObject:
		return applyApproval(txn, e)
	case api.EntryPurposeRefuse, api.EntryPurposeRetire, api.EntryPurposeDestroy:
		return applyDecision(txn, e)
	case api.EntryInvite:
		return txn.Insert(tableInvites, &Invite{Key: e.Hash})
	case api.EntryRegister:
		pub, err := crypto.DecodeKey(e.SigningKey)
		if err != nil {
			return err
		}
		if err := txn.Insert(tableInvites, &Invite{Key: e.Hash, Used: true}); err != nil {
			return err
		}
		return txn.Insert(tableCitizens, &Citizen{Key: e.Citizen, SigningKey: pub, Recipient: e.Recipient, Index: index})
	case api.EntryConsentGrant, api.EntryConsentRevoke:
		return txn.Insert(tableConsents, &Consent{
			Key: join(e.Citizen, e.Purpose), Citizen: e.Citizen, Purpose: e.Purpose, Version: e.PurposeVersion,
			Active: e.Type == api.EntryConsentGrant, Erase: e.Erase, Index: index, IssuedAt: e.IssuedAt,
		})
	case api.EntryPetition:
		p, err := decodeBody[Petition](e.Body)
		if err != nil {
			return err
		}
		if p.ID != e.Petition {
			return fmt.Errorf("petition document names another id")
		}
		p.Key, p.Index, p.Organiser, p.Recipient = p.ID, index, e.Citizen, e.Recipient
		return txn.Insert(tablePetitions, &p)
	case api.EntryPetitionSign, api.EntryPetitionRevoke:
		return applySignature(txn, index, e)
	case api.EntryPetitionKey, api.EntryPetitionIssue:
		p, err := petitionCopy(txn, e.Petition)
		if err != nil {
			return err
		}
		if e.Type == api.EntryPetitionKey {
			p.TokenKey = e.TokenKey
		} else {
			p.Issued++
		}
		return txn.Insert(tablePetitions, &p)
	case api.EntryPetitionPaper:
		return applyPaper(txn, e)
	case api.EntryOrganiserGrant, api.EntryOrganiserRevoke:
		return txn.Insert(tableOrganisers, &Organiser{Key: e.Citizen, Active: e.Type == api.EntryOrganiserGrant, Index: index})
	case api.EntryRelease:
		return nil // releases are read from the store; the entry is their public commitment
	default:
		return fmt.Errorf("unknown entry type %q", e.Type)
	}
}

func applySignature(txn *memdb.Txn, index uint64, e api.Entry) error {
	p, err := petitionCopy(txn, e.Petition)
	if err != nil {
		return err
	}
	day := PetitionDay{Key: join(e.Petition, e.Epoch), Petition: e.Petition, Day: e.Epoch}
	if raw, err := txn.First(tableDays, "id", day.Key); err != nil {
		return err
	} else if raw != nil {
		day = *raw.(*PetitionDay)
	}
	sign := e.Type == api.EntryPetitionSign
	if sign {
		p.Signatures++
		day.Signed++
	} else {
		p.Signatures--
		p.Withdrawn++
		day.Withdrawn++
	}
	if err := txn.Insert(tablePetitions, &p); err != nil {
		return err
	}
	if err := txn.Insert(tableDays, &day); err != nil {
		return err
	}
	return txn.Insert(tableNullifiers, &Nullifier{Key: join(e.Petition, e.Nullifier), Active: sign, Index: index})
}

func applyPaper(txn *memdb.Txn, e api.Entry) error {
	paper, err := decodeBody[api.Paper](e.Body)
	if err != nil {
		return err
	}
	if paper.Petition != e.Petition || paper.Count < 1 {
		return fmt.Errorf("paper count for another petition or not positive")
	}
	p, err := petitionCopy(txn, e.Petition)
	if err != nil {
		return err
	}
	p.Paper += paper.Count
	p.PaperBatches++
	return txn.Insert(tablePetitions, &p)
}

// petitionCopy returns a copy of a petition to modify: inserted objects are never modified.
func petitionCopy(txn *memdb.Txn, id string) (Petition, error) {
	raw, err := txn.First(tablePetitions, "id", id)
	if err != nil || raw == nil {
		return Petition{}, fmt.Errorf("entry for unknown petition")
	}
	return *raw.(*Petition), nil
}

func first[T any](s *State, table string, key string) (*T, bool) {
	raw, err := s.db.Txn(false).First(table, "id", key)
	if err != nil || raw == nil {
		return nil, false
	}
	return raw.(*T), true
}

// Citizen returns a registered resident.
func (s *State) Citizen(id string) (*Citizen, bool) { return first[Citizen](s, tableCitizens, id) }

// CitizenCount is the number of registered residents.
func (s *State) CitizenCount() int { return count(s, tableCitizens) }

func count(s *State, table string) int {
	it, err := s.db.Txn(false).Get(table, "id")
	if err != nil {
		return 0
	}
	n := 0
	for o := it.Next(); o != nil; o = it.Next() {
		n++
	}
	return n
}

// Invite reports whether an invite hash exists and whether it was used.
func (s *State) Invite(hash string) (exists, used bool) {
	inv, ok := first[Invite](s, tableInvites, hash)
	if !ok {
		return false, false
	}
	return true, inv.Used
}

// Purpose returns the latest version of a purpose.
func (s *State) Purpose(id string) (*Purpose, bool) {
	it, err := s.db.Txn(false).Get(tablePurposes, "purpose", id)
	if err != nil {
		return nil, false
	}
	var latest *Purpose
	for o := it.Next(); o != nil; o = it.Next() {
		if p := o.(*Purpose); latest == nil || p.Version > latest.Version {
			latest = p
		}
	}
	return latest, latest != nil
}

// Purposes returns the latest version of every purpose, sorted by id.
func (s *State) Purposes() []*Purpose {
	return latestVersions(s, tablePurposes, func(p *Purpose) (string, int) { return p.ID, p.Version })
}

// latestVersions returns the highest version of every id in a table of versioned documents,
// sorted by id; version names a row's id and version.
func latestVersions[T any](s *State, table string, version func(T) (string, int)) []T {
	it, err := s.db.Txn(false).Get(table, "id")
	if err != nil {
		return nil
	}
	latest, highest := map[string]T{}, map[string]int{}
	for o := it.Next(); o != nil; o = it.Next() {
		row := o.(T)
		id, v := version(row)
		if _, ok := latest[id]; !ok || v > highest[id] {
			latest[id], highest[id] = row, v
		}
	}
	ids := make([]string, 0, len(latest))
	for id := range latest {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	out := make([]T, len(ids))
	for i, id := range ids {
		out[i] = latest[id]
	}
	return out
}

// Consent returns a resident's current choice for a purpose.
func (s *State) Consent(citizen, purpose string) (*Consent, bool) {
	return first[Consent](s, tableConsents, join(citizen, purpose))
}

// ActiveConsent reports whether a resident currently consents to the latest version of a
// purpose that is not retired (a retired purpose's consents lapse).
func (s *State) ActiveConsent(citizen, purpose string) bool {
	c, ok := s.Consent(citizen, purpose)
	if !ok || !c.Active {
		return false
	}
	p, ok := s.Purpose(purpose)
	return ok && p.Version == c.Version && !s.Retired(p.ID, p.Version)
}

// Petition returns a petition with its live counts.
func (s *State) Petition(id string) (*Petition, bool) { return first[Petition](s, tablePetitions, id) }

// Petitions returns every petition, most recently created first.
func (s *State) Petitions() []*Petition {
	it, err := s.db.Txn(false).Get(tablePetitions, "id")
	if err != nil {
		return nil
	}
	var out []*Petition
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, o.(*Petition))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index > out[j].Index })
	return out
}

// NullifierEntry returns a petition nullifier's slot, with the index of its latest entry.
func (s *State) NullifierEntry(petition, n string) (*Nullifier, bool) {
	return first[Nullifier](s, tableNullifiers, join(petition, n))
}

// Nullifier reports whether a petition nullifier was ever used and whether it is active.
func (s *State) Nullifier(petition, n string) (seen, active bool) {
	v, ok := first[Nullifier](s, tableNullifiers, join(petition, n))
	if !ok {
		return false, false
	}
	return true, v.Active
}

// Timeline returns a petition's signatures and withdrawals per UTC day, in day order.
func (s *State) Timeline(petition string) []PetitionDay {
	it, err := s.db.Txn(false).Get(tableDays, "petition", petition)
	if err != nil {
		return nil
	}
	var out []PetitionDay
	for o := it.Next(); o != nil; o = it.Next() {
		out = append(out, *o.(*PetitionDay))
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Day < out[j].Day })
	return out
}

// IsOrganiser reports whether a citizen currently holds the organiser role.
func (s *State) IsOrganiser(citizen string) bool {
	o, ok := first[Organiser](s, tableOrganisers, citizen)
	return ok && o.Active
}
