package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/commons-city/commons/ledger"
)

func approverKey(purpose string, version int, citizen string) []byte {
	return key("p/approver/", purpose, strconv.Itoa(version), citizen)
}

// ApproverRecord binds a resident to their nullifier on one proposal version, to write with
// each purpose.approve or purpose.object entry (ledger.Log.Append): the public log names only
// the nullifier, while the server holds every resident to one nullifier per proposal.
func ApproverRecord(purpose string, version int, citizen, nullifier string) ledger.Put {
	return ledger.Put{Key: approverKey(purpose, version, citizen), Value: []byte(nullifier)}
}

// Approver returns the nullifier a resident approved or objected to a proposal version under,
// or "" if they never did.
func (s *Store) Approver(purpose string, version int, citizen string) (string, error) {
	b, err := s.get(approverKey(purpose, version, citizen), "approver")
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

// DeletePurpose deletes every share copy of a purpose, released or not, with its epochs'
// closing marks: what a retired purpose leaves. Its releases, public already, stay.
func (s *Store) DeletePurpose(ctx context.Context, purpose string) error {
	var keys [][]byte
	for _, space := range []string{"s/", "c/"} {
		more, err := s.keys(append(key(space, purpose), sep...))
		if err != nil {
			return fmt.Errorf("store: delete purpose: %w", err)
		}
		keys = append(keys, more...)
	}
	// One write per thousand keys: a year of share copies does not fit one transaction.
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := s.delete(ctx, keys[:n]); err != nil {
			return fmt.Errorf("store: delete purpose: %w", err)
		}
		keys = keys[n:]
	}
	return nil
}

// ShareCopyCount returns how many share copies of a purpose are stored.
func (s *Store) ShareCopyCount(purpose string) (int, error) {
	keys, err := s.keys(append(key("s/", purpose), sep...))
	if err != nil {
		return 0, fmt.Errorf("store: share copies: %w", err)
	}
	return len(keys), nil
}

// DeleteDay deletes every share copy of a purpose for one day: a purpose's retention is over
// for it.
func (s *Store) DeleteDay(ctx context.Context, purpose, day string) error {
	keys, err := s.keys(append(key("s/", purpose, day), sep...))
	if err == nil {
		err = s.delete(ctx, keys)
	}
	if err != nil {
		return fmt.Errorf("store: delete day: %w", err)
	}
	return nil
}
