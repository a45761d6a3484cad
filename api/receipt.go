package api

// Receipt proves that an entry is in the log: its index, the signed checkpoint that first
// covered it, and the inclusion proof of its leaf hash under that checkpoint's root.
type Receipt struct {
	Index      uint64   `json:"index"`
	LeafHash   []byte   `json:"leaf_hash"`
	Checkpoint string   `json:"checkpoint"`
	Proof      [][]byte `json:"proof"`
}
