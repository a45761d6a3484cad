package ledger

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"

	"github.com/commons-city/commons/api"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/proof"
	"golang.org/x/mod/sumdb/note"
)

// GenerateKey creates a new Ed25519 note key pair for a log whose origin is origin. The
// signer key is secret; the verifier key (name+hash+base64) is published.
func GenerateKey(origin string) (signerKey, verifierKey string, err error) {
	signerKey, verifierKey, err = note.GenerateKey(rand.Reader, origin)
	if err != nil {
		return "", "", fmt.Errorf("ledger: generate key: %w", err)
	}
	return signerKey, verifierKey, nil
}

// OpenCheckpoint verifies a signed checkpoint with the log's verifier key and parses it.
func OpenCheckpoint(signed []byte, v note.Verifier) (*log.Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint(signed, v.Name(), v)
	if err != nil {
		return nil, fmt.Errorf("ledger: checkpoint: %w", err)
	}
	return cp, nil
}

// ErrProof is returned when a proof, a leaf hash or a checkpoint does not verify.
var ErrProof = errors.New("ledger: proof does not verify")

// VerifyReceipt checks that entry is included under the receipt's checkpoint, signed by v,
// and returns that checkpoint.
func VerifyReceipt(r api.Receipt, entry []byte, v note.Verifier) (*log.Checkpoint, error) {
	cp, err := OpenCheckpoint([]byte(r.Checkpoint), v)
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(LeafHash(entry), r.LeafHash) {
		return nil, fmt.Errorf("%w: leaf hash differs from the entry", ErrProof)
	}
	if err := proof.VerifyInclusion(hasher, r.Index, cp.Size, r.LeafHash, r.Proof, cp.Hash); err != nil {
		return nil, fmt.Errorf("%w: inclusion: %v", ErrProof, err)
	}
	return cp, nil
}

// VerifyConsistency checks that the tree of newer extends the tree of older.
func VerifyConsistency(older, newer *log.Checkpoint, p [][]byte) error {
	if newer.Size < older.Size {
		return fmt.Errorf("%w: tree shrank from %d to %d", ErrProof, older.Size, newer.Size)
	}
	if err := proof.VerifyConsistency(hasher, older.Size, newer.Size, p, older.Hash, newer.Hash); err != nil {
		return fmt.Errorf("%w: consistency %d→%d: %v", ErrProof, older.Size, newer.Size, err)
	}
	return nil
}

// VerifyInclusion checks an inclusion proof of leafHash at index under cp.
func VerifyInclusion(cp *log.Checkpoint, index uint64, leafHash []byte, p [][]byte) error {
	if err := proof.VerifyInclusion(hasher, index, cp.Size, leafHash, p, cp.Hash); err != nil {
		return fmt.Errorf("%w: inclusion of %d in %d: %v", ErrProof, index, cp.Size, err)
	}
	return nil
}
