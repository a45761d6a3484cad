package store

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/commons-city/commons/ledger"
)

// ErrSpent is returned for a petition act whose nullifier was already used for that act.
var ErrSpent = errors.New("store: nullifier already spent")

func tokenKeyKey(petition string) []byte { return key("p/tokenkey/", petition) }

// TokenKeyRecord is a petition's RSA token key (PKCS #1 DER), to write with its petition.key
// entry.
func TokenKeyRecord(petition string, sk *rsa.PrivateKey) ledger.Put {
	return ledger.Put{Key: tokenKeyKey(petition), Value: x509.MarshalPKCS1PrivateKey(sk)}
}

// TokenKey returns a petition's RSA token key, or ErrNotFound.
func (s *Store) TokenKey(petition string) (*rsa.PrivateKey, error) {
	b, err := s.get(tokenKeyKey(petition), "token key")
	if err != nil {
		return nil, err
	}
	sk, err := x509.ParsePKCS1PrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("store: token key: %w", err)
	}
	return sk, nil
}

func issuedKey(petition, citizen string) []byte { return key("p/issued/", petition, citizen) }

// BlindedDigest is what the node keeps of a blinded token message it signed: its SHA-256, hex.
func BlindedDigest(blinded []byte) string {
	sum := sha256.Sum256(blinded)
	return hex.EncodeToString(sum[:])
}

// IssuedRecord records that a resident was issued a petition's token for a blinded message,
// to write with the petition.issue entry.
func IssuedRecord(petition, citizen string, blinded []byte) ledger.Put {
	return ledger.Put{Key: issuedKey(petition, citizen), Value: []byte(BlindedDigest(blinded))}
}

// Issued returns the digest of the blinded message a resident was issued a petition's token
// for, or "" if none was.
func (s *Store) Issued(petition, citizen string) (string, error) {
	b, err := s.get(issuedKey(petition, citizen), "issued")
	if errors.Is(err, ErrNotFound) {
		return "", nil
	}
	return string(b), err
}

func spentKey(petition, nullifier, typ string) []byte {
	return key("p/spent/", petition, nullifier, typ)
}

func pendingKey(petition, nullifier, typ string) []byte { return key("q/", petition, nullifier, typ) }

// Pending is a petition act accepted, or a token issued, and not yet in the ledger.
type Pending struct {
	Petition string `json:"petition"`
	// Nullifier is the act's nullifier, or a random id for an issuance.
	Nullifier string `json:"nullifier"`
	// Type is petition.sign, petition.withdraw or petition.issue (PendingIssueType).
	Type string `json:"type"`
	// Entry is the ledger entry to append.
	Entry []byte `json:"entry"`
	// Answers are the sealed answers to store with a signature; Asks says whether the
	// petition keeps answers at all (a withdrawal empties them).
	Answers []byte `json:"answers,omitempty"`
	Asks    bool   `json:"asks,omitempty"`
}

// PendingIssue is the private record of a petition.issue entry waiting for the next batch,
// under a random id rather than anything of the resident: issuance entries are appended in the
// same shuffled batches as signatures, so their place in the ledger says nothing of when, or
// right after whose registration, a token was issued. Write it with IssuedRecord.
func PendingIssue(petition string, entry []byte) (ledger.Put, error) {
	id := make([]byte, 16)
	if _, err := rand.Read(id); err != nil {
		return ledger.Put{}, fmt.Errorf("store: pending issue: %w", err)
	}
	p := Pending{Petition: petition, Nullifier: hex.EncodeToString(id), Type: PendingIssueType, Entry: entry}
	v, err := json.Marshal(p)
	if err != nil {
		return ledger.Put{}, fmt.Errorf("store: pending issue: %w", err)
	}
	return ledger.Put{Key: pendingKey(p.Petition, p.Nullifier, p.Type), Value: v}, nil
}

// PendingIssueType is the Type of a pending petition.issue entry.
const PendingIssueType = "petition.issue"

// PutPending durably accepts a petition act: it marks the nullifier spent for the act's type
// and queues the act for the next batch, refusing (ErrSpent) a nullifier already spent for it.
// It returns once the act is on disk.
func (s *Store) PutPending(ctx context.Context, p Pending) error {
	v, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("store: put pending: %w", err)
	}
	spent := spentKey(p.Petition, p.Nullifier, p.Type)
	err = s.log.Write(ctx, ledger.Write{
		Require: []ledger.Absent{{Key: spent, Err: ErrSpent}},
		Puts:    []ledger.Put{{Key: spent, Value: []byte{1}}, {Key: pendingKey(p.Petition, p.Nullifier, p.Type), Value: v}},
	})
	if err != nil && !errors.Is(err, ErrSpent) {
		return fmt.Errorf("store: put pending: %w", err)
	}
	return err
}

// NullifierSpent reports whether a nullifier was used for a petition act of type typ.
func (s *Store) NullifierSpent(petition, nullifier, typ string) (bool, error) {
	return s.has(spentKey(petition, nullifier, typ), "spent")
}

// IsPending reports whether a petition act is accepted and not yet in the ledger.
func (s *Store) IsPending(petition, nullifier, typ string) (bool, error) {
	return s.has(pendingKey(petition, nullifier, typ), "pending")
}

// Pendings returns every petition act accepted and not yet in the ledger.
func (s *Store) Pendings() ([]Pending, error) {
	return scanJSON[Pending](s, []byte("q/"), "pending", nil)
}

// Landed is the batch entry of a pending act: its entry, with the records written and deleted
// with it — the sealed answers (emptied by a withdrawal) and the pending record removed.
func (p Pending) Landed() ledger.Logged {
	w := ledger.Write{Deletes: [][]byte{pendingKey(p.Petition, p.Nullifier, p.Type)}}
	if p.Asks {
		w.Puts = append(w.Puts, AnswersRecord(p.Petition, p.Nullifier, p.Answers))
	}
	return ledger.Logged{Entry: p.Entry, Write: w}
}

// legacyIssued is the value of an issuance record made at the format 3 upgrade for a resident
// who had signed under format 2: it matches no blinded message, so they are issued no token.
const legacyIssued = "format-2 signature"

// UpgradeSigners replaces the private bindings of residents to nullifiers that format 2 kept
// (p/signer/<petition>␀<citizen>, valued with the nullifier) with issuance records without the
// nullifier, so a resident who signed before the upgrade is issued no token to sign again and
// nothing joins them to their nullifier or answers. It returns how many it replaced.
func (s *Store) UpgradeSigners(ctx context.Context) (int, error) {
	prefix := []byte("p/signer/")
	keys, err := s.keys(prefix)
	if err != nil {
		return 0, fmt.Errorf("store: upgrade signer bindings: %w", err)
	}
	if len(keys) == 0 {
		return 0, nil
	}
	w := ledger.Write{Deletes: keys}
	for _, k := range keys {
		petition, citizen, ok := strings.Cut(string(k[len(prefix):]), sep)
		if !ok {
			return 0, fmt.Errorf("store: upgrade signer bindings: malformed key %q", k)
		}
		w.Puts = append(w.Puts, ledger.Put{Key: issuedKey(petition, citizen), Value: []byte(legacyIssued)})
	}
	if err := s.log.Write(ctx, w); err != nil {
		return 0, fmt.Errorf("store: upgrade signer bindings: %w", err)
	}
	return len(keys), nil
}
