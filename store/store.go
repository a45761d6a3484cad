package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/dgraph-io/badger/v4"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
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

// Store is the server's storage beside the ledger. It reads the Badger database directly and
// writes through the ledger's sequencer, the node's one queue for durable writes.
type Store struct {
	db  *badger.DB
	log *ledger.Log
}

// New returns the store kept in db, which writes through lg, opened on the same database. A
// store with a nil lg can only be read, for example to inspect a stopped node's database.
func New(db *badger.DB, lg *ledger.Log) *Store { return &Store{db: db, log: lg} }

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

func citizenKey(citizen string) []byte { return key("p/citizen/", citizen) }

// CitizenRecord is a resident's private record, their neighbourhood, to write with their
// registration entry (ledger.Log.Append).
func CitizenRecord(citizen, neighbourhood string) ledger.Put {
	return ledger.Put{Key: citizenKey(citizen), Value: []byte(neighbourhood)}
}

// Neighbourhood returns a resident's neighbourhood from their private record.
func (s *Store) Neighbourhood(citizen string) (string, error) {
	b, err := s.get(citizenKey(citizen), "neighbourhood")
	return string(b), err
}

func contributionNonceKey(citizen, nonce string) []byte { return key("n/", citizen, nonce) }

func shareKey(purpose, day, citizen, contribution string) []byte {
	return key("s/", purpose, day, citizen, contribution)
}

func vaultKey(citizen, day, contribution string) []byte { return key("v/", citizen, day, contribution) }

// PutContribution stores every envelope of a verified contribution durably, refusing a
// replayed nonce (ErrReplay) and share copies of a day closed for release (ErrEpochClosed).
// The contribution is stored whole or not at all, and PutContribution returns once it is on
// disk.
//
// The contribution is one ledger.Write: the sequencer commits it in one synced transaction
// with every append and write queued beside it, checking its nonce and days inside that
// transaction. Its one goroutine serialises the checks: a nonce used earlier, even in the same
// batch, is a replay, and a share copy is either committed before its day's closing mark, and
// so read by the release that closes the day, or refused.
func (s *Store) PutContribution(ctx context.Context, c crypto.Contribution, id string) error {
	nk := contributionNonceKey(c.Citizen, c.Nonce)
	w := ledger.Write{
		Require: []ledger.Absent{{Key: nk, Err: ErrReplay}},
		Puts:    []ledger.Put{{Key: nk, Value: []byte(id)}},
	}
	for _, e := range c.Envelopes {
		if e.Purpose == crypto.VaultPurpose {
			w.Puts = append(w.Puts, ledger.Put{Key: vaultKey(c.Citizen, e.Day, id), Value: e.Ciphertext})
			continue
		}
		w.Require = append(w.Require,
			ledger.Absent{Key: closingKey(e.Purpose, e.Day), Err: ErrEpochClosed},
			ledger.Absent{Key: releaseKey(e.Purpose, e.Day), Err: ErrEpochClosed})
		w.Puts = append(w.Puts, ledger.Put{Key: shareKey(e.Purpose, e.Day, c.Citizen, id), Value: e.Ciphertext})
	}
	err := s.log.Write(ctx, w)
	if err != nil && !errors.Is(err, ErrReplay) && !errors.Is(err, ErrEpochClosed) {
		return fmt.Errorf("store: put contribution: %w", err)
	}
	return err
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

// VaultCopies calls fn with every vault copy of a resident, in day order, one at a time: it
// reads no value ahead and copies none, so an export holds one copy in memory however large
// the vault. ciphertext is valid only until fn returns; fn copies what it keeps.
func (s *Store) VaultCopies(citizen string, fn func(day string, ciphertext []byte) error) error {
	prefix := append(key("v/", citizen), sep...)
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			day, _, _ := bytes.Cut(it.Item().Key()[len(prefix):], []byte(sep))
			err := it.Item().Value(func(v []byte) error { return fn(string(day), v) })
			if err != nil {
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

// Usage returns the bytes of sealed envelopes stored for a resident: every vault copy, and
// every share copy for the purposes named. It reads keys only (a value's size is in its
// key's entry, to a few bytes), seeking once per purpose and day with share copies, so the
// quota check it serves stays cheap for a resident with years of vault copies.
func (s *Store) Usage(citizen string, purposes []string) (int64, error) {
	var n int64
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{})
		defer it.Close()
		sum := func(prefix []byte) {
			for it.Seek(prefix); it.ValidForPrefix(prefix); it.Next() {
				n += it.Item().ValueSize()
			}
		}
		sum(append(key("v/", citizen), sep...))
		for _, p := range purposes {
			space := append(key("s/", p), sep...)
			for it.Seek(space); it.ValidForPrefix(space); {
				day, _, _ := bytes.Cut(it.Item().Key()[len(space):], []byte(sep))
				dayKey := append(bytes.Clone(space), day...)
				sum(append(append(bytes.Clone(dayKey), sep...), append([]byte(citizen), sep...)...))
				// The next day: past every key of this one.
				it.Seek(append(dayKey, sep[0]+1))
			}
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("store: usage: %w", err)
	}
	return n, nil
}

func closingKey(purpose, epoch string) []byte { return key("c/", purpose, epoch) }

// CloseEpoch marks an epoch closed: from its commit on, no share copy for it is accepted. The
// release engine closes an epoch before it reads the epoch's share copies, so every share copy
// ever acknowledged for the epoch is in its release.
func (s *Store) CloseEpoch(ctx context.Context, purpose, epoch string) error {
	closed := ledger.Put{Key: closingKey(purpose, epoch), Value: []byte{1}}
	if err := s.log.Write(ctx, ledger.Write{Puts: []ledger.Put{closed}}); err != nil {
		return fmt.Errorf("store: close epoch: %w", err)
	}
	return nil
}

func releaseKey(purpose, epoch string) []byte { return key("r/", purpose, epoch) }

func hourlyReleaseKey(purpose, day string) []byte { return key("h/", purpose, day) }

// ReleaseRecord is the stored bytes of a release, to write with the release's ledger entry
// (ledger.Log.Append), so that a release is never stored without being logged. Once it is
// stored, no share copy of its epoch is accepted.
func ReleaseRecord(purpose, epoch string, body []byte) ledger.Put {
	return ledger.Put{Key: releaseKey(purpose, epoch), Value: body}
}

// HourlyReleaseRecord is the stored bytes of a day's city × hour release, written like
// ReleaseRecord (with its own ledger entry).
func HourlyReleaseRecord(purpose, day string, body []byte) ledger.Put {
	return ledger.Put{Key: hourlyReleaseKey(purpose, day), Value: body}
}

// Release returns the stored bytes of a release.
func (s *Store) Release(purpose, epoch string) ([]byte, error) {
	return s.get(releaseKey(purpose, epoch), "release")
}

// HourlyRelease returns the stored bytes of a day's city × hour release.
func (s *Store) HourlyRelease(purpose, day string) ([]byte, error) {
	return s.get(hourlyReleaseKey(purpose, day), "hourly release")
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

func nonceKey(citizen, nonce string) []byte { return key("p/nonce/", citizen, nonce) }

// NonceRecord records that a citizen used a statement nonce, to write with the statement's
// ledger entry (ledger.Log.Append): petition entries do not name the citizen, so the public log
// alone cannot refuse their replays.
func NonceRecord(citizen, nonce string) ledger.Put {
	return ledger.Put{Key: nonceKey(citizen, nonce), Value: []byte{1}}
}

// NonceUsed reports whether a citizen already used a statement nonce.
func (s *Store) NonceUsed(citizen, nonce string) (bool, error) {
	return s.has(nonceKey(citizen, nonce), "nonce")
}

// ContributionNonceUsed reports whether a citizen already used a contribution nonce. It is
// a cheap early answer; PutContribution still refuses a replay atomically.
func (s *Store) ContributionNonceUsed(citizen, nonce string) (bool, error) {
	return s.has(contributionNonceKey(citizen, nonce), "contribution nonce")
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
func (s *Store) DeleteUnreleased(ctx context.Context, citizen, purpose string) error {
	days, err := s.Days(purpose)
	if err != nil {
		return err
	}
	var keys [][]byte
	for _, day := range days {
		if _, err := s.Release(purpose, day); err == nil {
			continue
		} else if !errors.Is(err, ErrNotFound) {
			return err
		}
		more, err := s.keys(append(key("s/", purpose, day, citizen), sep...))
		if err != nil {
			return fmt.Errorf("store: delete share copies: %w", err)
		}
		keys = append(keys, more...)
	}
	if err := s.delete(ctx, keys); err != nil {
		return fmt.Errorf("store: delete share copies: %w", err)
	}
	return nil
}

// DeleteVault deletes every vault copy of a resident.
func (s *Store) DeleteVault(ctx context.Context, citizen string) error {
	keys, err := s.keys(append(key("v/", citizen), sep...))
	if err == nil {
		err = s.delete(ctx, keys)
	}
	if err != nil {
		return fmt.Errorf("store: delete vault: %w", err)
	}
	return nil
}

// keys returns every key with a prefix.
func (s *Store) keys(prefix []byte) ([][]byte, error) {
	var keys [][]byte
	err := s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			keys = append(keys, it.Item().KeyCopy(nil))
		}
		return nil
	})
	return keys, err
}

// delete deletes keys in one write, if there are any.
func (s *Store) delete(ctx context.Context, keys [][]byte) error {
	if len(keys) == 0 {
		return nil
	}
	return s.log.Write(ctx, ledger.Write{Deletes: keys})
}

func budgetKey(citizen, week string) []byte { return key("p/budget/", citizen, week) }

// BudgetRecord is the differential-privacy budget a resident has spent in one ISO week
// ("2026-W40"), to write with each release that counts them (ledger.Log.Append).
func BudgetRecord(citizen, week string, spent float64) ledger.Put {
	return ledger.Put{Key: budgetKey(citizen, week), Value: strconv.AppendFloat(nil, spent, 'g', -1, 64)}
}

// Spent returns the budget a resident has spent in an ISO week (0 if none).
func (s *Store) Spent(citizen, week string) (float64, error) {
	b, err := s.get(budgetKey(citizen, week), "spent budget")
	if errors.Is(err, ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	v, err := strconv.ParseFloat(string(b), 64)
	if err != nil {
		return 0, fmt.Errorf("store: spent budget: %w", err)
	}
	return v, nil
}

// UseNonce records that a citizen used a nonce for a request that is not logged (an export),
// refusing one already used (ErrReplay).
func (s *Store) UseNonce(ctx context.Context, citizen, nonce string) error {
	k := nonceKey(citizen, nonce)
	err := s.log.Write(ctx, ledger.Write{
		Require: []ledger.Absent{{Key: k, Err: ErrReplay}},
		Puts:    []ledger.Put{{Key: k, Value: []byte{1}}},
	})
	if err != nil && !errors.Is(err, ErrReplay) {
		return fmt.Errorf("store: use nonce: %w", err)
	}
	return err
}

func answersKey(petition, nullifier string) []byte { return key("p/answers/", petition, nullifier) }

// AnswersRecord is a signer's answers to a petition's questions, sealed to the petition's tally
// key (a copy of sealed), to write with the petition.sign entry, and empty with the
// petition.withdraw entry (ledger.Log.AppendAll), so that withdrawn answers are never tallied.
// It is keyed by the nullifier only: nothing the node holds joins it to a resident.
func AnswersRecord(petition, nullifier string, sealed []byte) ledger.Put {
	return ledger.Put{Key: answersKey(petition, nullifier), Value: append([]byte{}, sealed...)}
}

// Answers returns the sealed answers of a petition's active signatures.
func (s *Store) Answers(petition string) ([][]byte, error) {
	var out [][]byte
	err := s.scan(append(key("p/answers/", petition), sep...), func(_, v []byte) error {
		if len(v) > 0 {
			out = append(out, v)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: answers: %w", err)
	}
	return out, nil
}

// scan calls fn with every key and value under prefix, in key order.
func (s *Store) scan(prefix []byte, fn func(k, v []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(bytes.Clone(it.Item().Key()), v); err != nil {
				return err
			}
		}
		return nil
	})
}

// scanJSON decodes every record under prefix as a T, in key order; named, if not nil, gives
// each record the rest of its key after prefix. what names the records in errors.
func scanJSON[T any](s *Store, prefix []byte, what string, named func(r *T, rest []byte)) ([]T, error) {
	var out []T
	err := s.scan(prefix, func(k, v []byte) error {
		var r T
		if err := json.Unmarshal(v, &r); err != nil {
			return err
		}
		if named != nil {
			named(&r, k[len(prefix):])
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("store: %s: %w", what, err)
	}
	return out, nil
}
