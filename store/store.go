package store

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"sync"

	"github.com/dgraph-io/badger/v4"

	"github.com/commons-city/commons/crypto"
)

// Errors the server maps to client answers.
var (
	// ErrReplay is returned for a contribution whose nonce was already used.
	ErrReplay = errors.New("store: contribution replayed")
	// ErrEpochClosed is returned for a share copy of a day that is closed for release.
	ErrEpochClosed = errors.New("store: epoch already released")
	// ErrNotFound is returned for a missing release or record.
	ErrNotFound = errors.New("store: not found")
)

const sep = "\x00"

// Store is the server's storage beside the ledger.
type Store struct {
	db *badger.DB

	mu      sync.Mutex    // guards pending and leading
	pending []*putRequest // contributions waiting for the next commit
	leading bool          // a caller is committing
}

// New wraps an open Badger database.
func New(db *badger.DB) *Store { return &Store{db: db} }

func key(prefix string, parts ...string) []byte {
	var b bytes.Buffer
	b.WriteString(prefix)
	for i, p := range parts {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(p)
	}
	return b.Bytes()
}

// CitizenRecordKey is the key of a resident's private record (their neighbourhood). The
// server writes it atomically with the registration entry (ledger.Put).
func CitizenRecordKey(citizen string) []byte { return key("p/citizen/", citizen) }

// Neighbourhood returns a resident's neighbourhood from their private record.
func (s *Store) Neighbourhood(citizen string) (string, error) {
	b, err := s.get(CitizenRecordKey(citizen), "neighbourhood")
	return string(b), err
}

// PutContribution stores every envelope of a verified contribution durably, refusing a
// replayed nonce and share copies of an already released day. The contribution is stored
// whole or not at all.
//
// Contributions that arrive together are committed together, in one synced transaction:
// Badger syncs its write-ahead log once per transaction, so committing each contribution on
// its own would cost one sync each. The first caller to find no commit in progress leads: it
// commits everything pending, then hands the lead to the oldest caller still waiting.
func (s *Store) PutContribution(c crypto.Contribution, id string) error {
	r := &putRequest{c: c, id: id, turn: make(chan bool, 1)}
	s.mu.Lock()
	s.pending = append(s.pending, r)
	lead := !s.leading
	s.leading = true
	s.mu.Unlock()
	if !lead && !<-r.turn {
		return r.err
	}
	s.mu.Lock()
	batch := s.pending
	s.pending = nil
	s.mu.Unlock()
	s.commit(batch)
	for _, o := range batch {
		if o != r {
			o.turn <- false
		}
	}
	s.mu.Lock()
	if len(s.pending) > 0 {
		s.pending[0].turn <- true
	} else {
		s.leading = false
	}
	s.mu.Unlock()
	return r.err
}

// putRequest is one contribution waiting for a commit, and then its outcome.
type putRequest struct {
	c    crypto.Contribution
	id   string
	err  error
	turn chan bool // true: lead the next commit; false: done, err is set
}

// commit stores a batch in one transaction, setting each request's outcome. A transaction
// too big for Badger is split in halves.
func (s *Store) commit(batch []*putRequest) {
	for {
		err := s.db.Update(func(txn *badger.Txn) error {
			for _, r := range batch {
				r.err = putOne(txn, r.c, r.id)
				if r.err != nil && !errors.Is(r.err, ErrReplay) && !errors.Is(r.err, ErrEpochClosed) {
					return r.err
				}
			}
			return nil
		})
		switch {
		case err == nil:
			return
		case errors.Is(err, badger.ErrConflict):
			continue // a day closed meanwhile: check again
		case errors.Is(err, badger.ErrTxnTooBig) && len(batch) > 1:
			s.commit(batch[:len(batch)/2])
			s.commit(batch[len(batch)/2:])
			return
		}
		for _, r := range batch {
			r.err = fmt.Errorf("store: put contribution: %w", err)
		}
		return
	}
}

// putOne adds one contribution to txn, or nothing if it is refused. Badger transactions read
// their own writes, so a nonce repeated within one batch is a replay too.
func putOne(txn *badger.Txn, c crypto.Contribution, id string) error {
	nk := key("n/", c.Citizen, c.Nonce)
	if _, err := txn.Get(nk); err == nil {
		return ErrReplay
	} else if !errors.Is(err, badger.ErrKeyNotFound) {
		return err
	}
	for _, e := range c.Envelopes {
		if e.Purpose == crypto.VaultPurpose {
			continue
		}
		// Reading the closing mark makes a concurrent CloseEpoch conflict with this
		// transaction: a share copy is either visible to the release that closes its day, or
		// refused.
		for _, k := range [][]byte{closingKey(e.Purpose, e.Day), ReleaseKey(e.Purpose, e.Day)} {
			if _, err := txn.Get(k); err == nil {
				return ErrEpochClosed
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
		}
	}
	if err := txn.Set(nk, []byte(id)); err != nil {
		return err
	}
	for _, e := range c.Envelopes {
		k := key("s/", e.Purpose, e.Day, c.Citizen, id)
		if e.Purpose == crypto.VaultPurpose {
			k = key("v/", c.Citizen, e.Day, id)
		}
		if err := txn.Set(k, e.Ciphertext); err != nil {
			return err
		}
	}
	return nil
}

// ShareCopy is one sealed share copy, with the pseudonymous id of its owner.
type ShareCopy struct {
	Citizen    string
	Ciphertext []byte
}

// ShareCopies returns every share copy stored for a purpose and day.
func (s *Store) ShareCopies(purpose, day string) ([]ShareCopy, error) {
	var out []ShareCopy
	prefix := append(key("s/", purpose, day), sep...)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			rest := it.Item().Key()[len(prefix):]
			citizen, _, _ := bytes.Cut(rest, []byte(sep))
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			out = append(out, ShareCopy{Citizen: string(citizen), Ciphertext: v})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: share copies: %w", err)
	}
	return out, nil
}

// Days returns the days, in order, for which share copies of a purpose are stored.
func (s *Store) Days(purpose string) ([]string, error) {
	var days []string
	prefix := append(key("s/", purpose), sep...)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); {
			rest := it.Item().Key()[len(prefix):]
			day, _, _ := bytes.Cut(rest, []byte(sep))
			days = append(days, string(day))
			// Skip to the next day: seek past every key of this one.
			it.Seek(append(append(bytes.Clone(prefix), day...), sep[0]+1))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: days: %w", err)
	}
	return days, nil
}

// VaultCopies calls fn with every vault copy of a resident, in day order.
func (s *Store) VaultCopies(citizen string, fn func(day string, ciphertext []byte) error) error {
	prefix := append(key("v/", citizen), sep...)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			day, _, _ := bytes.Cut(it.Item().Key()[len(prefix):], []byte(sep))
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(string(day), v); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: vault copies: %w", err)
	}
	return nil
}

func closingKey(purpose, epoch string) []byte { return key("c/", purpose, epoch) }

// CloseEpoch marks an epoch closed: from its commit on, no share copy for it is accepted. The
// release engine closes an epoch before it reads the epoch's share copies, so every share copy
// ever acknowledged for the epoch is in its release.
func (s *Store) CloseEpoch(purpose, epoch string) error {
	if err := s.db.Update(func(txn *badger.Txn) error {
		return txn.Set(closingKey(purpose, epoch), []byte{1})
	}); err != nil {
		return fmt.Errorf("store: close epoch: %w", err)
	}
	return nil
}

// ReleaseKey is the key of a release. The release engine writes it atomically with the
// release's ledger entry (ledger.Put), so a release is never stored without being logged.
func ReleaseKey(purpose, epoch string) []byte { return key("r/", purpose, epoch) }

// HourlyReleaseKey is the key of a day's city × hour release, written like ReleaseKey
// (atomically with its own ledger entry).
func HourlyReleaseKey(purpose, day string) []byte { return key("h/", purpose, day) }

// Release returns the stored bytes of a release.
func (s *Store) Release(purpose, epoch string) ([]byte, error) {
	return s.get(ReleaseKey(purpose, epoch), "release")
}

// HourlyRelease returns the stored bytes of a day's city × hour release.
func (s *Store) HourlyRelease(purpose, day string) ([]byte, error) {
	return s.get(HourlyReleaseKey(purpose, day), "hourly release")
}

// get returns a copy of the value at k, or ErrNotFound.
func (s *Store) get(k []byte, what string) ([]byte, error) {
	var b []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(k)
		if errors.Is(err, badger.ErrKeyNotFound) {
			return ErrNotFound
		}
		if err != nil {
			return err
		}
		b, err = item.ValueCopy(nil)
		return err
	})
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return b, err
}

// Epochs returns the released epochs of a purpose, in order.
func (s *Store) Epochs(purpose string) ([]string, error) { return s.released("r/", purpose) }

// HourlyDays returns the days of a purpose with a city × hour release, in order.
func (s *Store) HourlyDays(purpose string) ([]string, error) { return s.released("h/", purpose) }

func (s *Store) released(space, purpose string) ([]string, error) {
	var out []string
	prefix := append(key(space, purpose), sep...)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			out = append(out, string(it.Item().Key()[len(prefix):]))
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: epochs: %w", err)
	}
	return out, nil
}

// NonceKey is the key recording that a citizen used a statement nonce. The server writes it
// atomically with the statement's ledger entry (ledger.Put): petition entries do not name the
// citizen, so the public log alone cannot refuse their replays.
func NonceKey(citizen, nonce string) []byte { return key("p/nonce/", citizen, nonce) }

// NonceUsed reports whether a citizen already used a statement nonce.
func (s *Store) NonceUsed(citizen, nonce string) (bool, error) {
	return s.has(NonceKey(citizen, nonce), "nonce")
}

// ContributionNonceUsed reports whether a citizen already used a contribution nonce. It is
// a cheap early answer; PutContribution still refuses a replay atomically.
func (s *Store) ContributionNonceUsed(citizen, nonce string) (bool, error) {
	return s.has(key("n/", citizen, nonce), "contribution nonce")
}

// has reports whether key k exists.
func (s *Store) has(k []byte, what string) (bool, error) {
	err := s.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(k)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("store: %s: %w", what, err)
	}
	return true, nil
}

// DeleteUnreleased deletes a resident's share copies for a purpose on every day whose
// release is not published yet. Released days keep nothing to delete that matters: their
// release is final and never recomputed.
func (s *Store) DeleteUnreleased(citizen, purpose string) error {
	days, err := s.Days(purpose)
	if err != nil {
		return err
	}
	for _, day := range days {
		if _, err := s.Release(purpose, day); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		if err := s.deletePrefix(append(key("s/", purpose, day, citizen), sep...)); err != nil {
			return fmt.Errorf("store: delete share copies: %w", err)
		}
	}
	return nil
}

// DeleteVault deletes every vault copy of a resident.
func (s *Store) DeleteVault(citizen string) error {
	if err := s.deletePrefix(append(key("v/", citizen), sep...)); err != nil {
		return fmt.Errorf("store: delete vault: %w", err)
	}
	return nil
}

func (s *Store) deletePrefix(prefix []byte) error {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	if err != nil || len(keys) == 0 {
		return err
	}
	return s.db.Update(func(txn *badger.Txn) error {
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	})
}

// BudgetKey is the key of a resident's spent differential-privacy budget in one ISO week
// ("2026-W40"). The release engine writes it atomically with each release (ledger.Put).
func BudgetKey(citizen, week string) []byte { return key("p/budget/", citizen, week) }

// EncodeSpent encodes a spent budget for BudgetKey.
func EncodeSpent(eps float64) []byte { return strconv.AppendFloat(nil, eps, 'g', -1, 64) }

// Spent returns the budget a resident has spent in an ISO week (0 if none).
func (s *Store) Spent(citizen, week string) (float64, error) {
	var v float64
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(BudgetKey(citizen, week))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		return item.Value(func(b []byte) error {
			v, err = strconv.ParseFloat(string(b), 64)
			return err
		})
	})
	if err != nil {
		return 0, fmt.Errorf("store: spent budget: %w", err)
	}
	return v, nil
}

// UseNonce records that a citizen used a nonce for a request that is not logged (an export),
// refusing one already used.
func (s *Store) UseNonce(citizen, nonce string) error {
	for {
		err := s.db.Update(func(txn *badger.Txn) error {
			k := NonceKey(citizen, nonce)
			if _, err := txn.Get(k); err == nil {
				return ErrReplay
			} else if !errors.Is(err, badger.ErrKeyNotFound) {
				return err
			}
			return txn.Set(k, []byte{1})
		})
		if errors.Is(err, badger.ErrConflict) {
			continue
		}
		if err != nil && !errors.Is(err, ErrReplay) {
			return fmt.Errorf("store: use nonce: %w", err)
		}
		return err
	}
}

// SignerKey is the key of the private record binding a resident to their nullifier on one
// petition. The server writes it atomically with each petition.sign entry (ledger.Put), so
// the public log names only the nullifier while the server can still hold every resident to
// one nullifier per petition, and every nullifier to one resident.
func SignerKey(petition, citizen string) []byte { return key("p/signer/", petition, citizen) }

// Signer returns the nullifier a resident signed a petition under, or "" if they never did.
func (s *Store) Signer(petition, citizen string) (string, error) {
	b, err := s.get(SignerKey(petition, citizen), "signer")
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// AnswersKey is the key of a signer's answers to a petition's questions, sealed to the
// petition's tally key. The server writes it with the petition.sign entry, and an empty value
// with the petition.withdraw entry (ledger.Put), so withdrawn answers are never tallied.
func AnswersKey(petition, nullifier string) []byte { return key("p/answers/", petition, nullifier) }

// Answers returns the sealed answers of a petition's active signatures.
func (s *Store) Answers(petition string) ([][]byte, error) {
	var out [][]byte
	prefix := append(key("p/answers/", petition), sep...)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if len(v) > 0 {
				out = append(out, v)
			}
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: answers: %w", err)
	}
	return out, nil
}
