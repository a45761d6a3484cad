// Package ledger is Commons' append-only, publicly verifiable log: every registration, consent
// and its withdrawal, purpose definition, petition event and release hash is one entry.
//
// # The model
//
// Entries are opaque bytes to the log (their JSON shape is Entry). They are the leaves of an
// RFC 6962 Merkle tree: leaf hash SHA-256(0x00 ‖ entry), node hash SHA-256(0x01 ‖ left ‖ right).
// The tree code is github.com/transparency-dev/merkle (compact ranges and proofs): none of it
// is written here.
//
// After every batch the log signs a checkpoint — a C2SP tlog-checkpoint (origin, size, root)
// wrapped in a C2SP signed-note with the log's Ed25519 key — so anyone holding the verifier key
// can check that the log only ever grew.
//
// # Durability
//
// One sequencer goroutine owns the tree. Appends queue up; the sequencer takes up to
// Options.MaxBatch of them, writes the entries, every new perfect tree node, the new size and
// the new signed checkpoint in ONE Badger transaction, commits it with SyncWrites (one fsync for
// the whole batch: group commit), and only then acknowledges each waiter with a Receipt. A
// signed checkpoint therefore never covers data that is not on disk, and an acknowledged
// entry survives a crash. On Open the log rebuilds its compact range from the stored nodes and
// refuses to start if the root differs from the last signed checkpoint.
//
// Badger layout (prefix "l/"): l/e/<index> entry bytes; l/n/<level><index> perfect node hashes
// (level 0 = leaf hashes); l/size; l/cp the latest signed checkpoint. Indices are 8-byte
// big-endian, so key order is index order.
package ledger
