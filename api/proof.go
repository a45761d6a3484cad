package api

// InclusionProof is the answer of GET /api/v1/ledger/proof/inclusion: the RFC 6962 audit path
// proving that the entry at Index, whose leaf hash is LeafHash, is in the tree of Size entries.
type InclusionProof struct {
	Index    uint64   `json:"index"`
	Size     uint64   `json:"size"`
	LeafHash []byte   `json:"leaf_hash"`
	Proof    [][]byte `json:"proof"`
}

// ConsistencyProof is the answer of GET /api/v1/ledger/proof/consistency: the RFC 6962 proof
// that the tree of From entries is a prefix of the tree of To entries.
type ConsistencyProof struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Proof [][]byte `json:"proof"`
}
