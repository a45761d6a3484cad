package ledger

import (
	"fmt"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/proof"

	"github.com/commons-city/commons/api"
)

// InclusionProof returns the RFC 6962 inclusion proof of entry index in the tree of size size.
func (l *Log) InclusionProof(index, size uint64) ([][]byte, error) {
	p, _, err := l.inclusionProof(index, size)
	return p, err
}

// inclusionProof also reports whether any node came from disk rather than from the cache of
// nodes this process computed.
func (l *Log) inclusionProof(index, size uint64) ([][]byte, bool, error) {
	if size > l.Size() || index >= size {
		return nil, false, ErrNotFound
	}
	nodes, err := proof.Inclusion(index, size)
	if err != nil {
		return nil, false, fmt.Errorf("ledger: inclusion proof: %w", err)
	}
	return l.rehash(nodes)
}

// ConsistencyProof returns the RFC 6962 consistency proof between tree sizes from and to.
func (l *Log) ConsistencyProof(from, to uint64) ([][]byte, error) {
	if to > l.Size() || from > to {
		return nil, ErrNotFound
	}
	nodes, err := proof.Consistency(from, to)
	if err != nil {
		return nil, fmt.Errorf("ledger: consistency proof: %w", err)
	}
	p, _, err := l.rehash(nodes)
	return p, err
}

// ProveInclusion answers GET /api/v1/ledger/proof/inclusion: the inclusion proof of entry
// index in the tree of size size, with the entry's leaf hash. ErrNotFound if the log does not
// have that tree yet.
func (l *Log) ProveInclusion(index, size uint64) (api.InclusionProof, error) {
	p, err := l.InclusionProof(index, size)
	if err != nil {
		return api.InclusionProof{}, err
	}
	leaf, err := l.LeafHashAt(index)
	if err != nil {
		return api.InclusionProof{}, err
	}
	return api.InclusionProof{Index: index, Size: size, LeafHash: leaf, Proof: nonNil(p)}, nil
}

// ProveConsistency answers GET /api/v1/ledger/proof/consistency: the consistency proof
// between tree sizes from and to. ErrNotFound if the log does not have the tree of size to.
func (l *Log) ProveConsistency(from, to uint64) (api.ConsistencyProof, error) {
	p, err := l.ConsistencyProof(from, to)
	if err != nil {
		return api.ConsistencyProof{}, err
	}
	return api.ConsistencyProof{From: from, To: to, Proof: nonNil(p)}, nil
}

// nonNil makes an empty proof encode as [] rather than null.
func nonNil(p [][]byte) [][]byte {
	if p == nil {
		return [][]byte{}
	}
	return p
}

// LeafHashAt returns the stored leaf hash of entry index.
func (l *Log) LeafHashAt(index uint64) ([]byte, error) {
	if index >= l.Size() {
		return nil, ErrNotFound
	}
	h, _, err := l.readNodes([]compact.NodeID{compact.NewNodeID(0, index)})
	if err != nil {
		return nil, err
	}
	return h[0], nil
}

func (l *Log) rehash(nodes proof.Nodes) ([][]byte, bool, error) {
	hashes, fromDisk, err := l.readNodes(nodes.IDs)
	if err != nil {
		return nil, false, err
	}
	p, err := nodes.Rehash(hashes, hasher.HashChildren)
	if err != nil {
		return nil, false, fmt.Errorf("ledger: rehash proof: %w", err)
	}
	return p, fromDisk, nil
}

// readNodes reads stored perfect-subtree hashes, from the cache when it has them, and reports
// whether any was read from disk. Stored nodes are immutable once written, so a proof for any
// size up to the current one can be built from them.
func (l *Log) readNodes(ids []compact.NodeID) ([][]byte, bool, error) {
	hashes := make([][]byte, len(ids))
	var missing []int
	for i, id := range ids {
		if h, ok := l.cache.get(id); ok {
			hashes[i] = h
		} else {
			missing = append(missing, i)
		}
	}
	if len(missing) == 0 {
		return hashes, false, nil
	}
	err := l.db.View(func(txn *badger.Txn) error {
		for _, i := range missing {
			v, err := readValue(txn, nodeKey(ids[i]))
			if err != nil {
				return fmt.Errorf("node %d/%d: %w", ids[i].Level, ids[i].Index, err)
			}
			hashes[i] = v
		}
		return nil
	})
	if err != nil {
		return nil, false, fmt.Errorf("ledger: read nodes: %w", err)
	}
	read := make([]compact.NodeID, len(missing))
	vals := make([][]byte, len(missing))
	for j, i := range missing {
		read[j], vals[j] = ids[i], hashes[i]
	}
	l.cache.put(read, vals)
	return hashes, true, nil
}
