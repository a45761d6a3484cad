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
// One sequencer goroutine owns the tree and is the node's one queue for durable writes. Appends
// and Writes (private records without an entry, such as a contribution's sealed copies) queue
// up; the sequencer takes up to Options.MaxBatch of them and commits them in ONE Badger
// transaction with SyncWrites (one fsync for the whole batch: group commit): each write's
// preconditions checked against what the transaction already holds, then its records; each
// entry with its private records and every new perfect tree node; and, if the batch holds
// entries, the new size and a new signed checkpoint. Only then does it answer each waiter. A
// signed checkpoint therefore never covers data that is not on disk, an acknowledged entry or
// write survives a crash, and no other writer can slip between a precondition and its write. A
// batch too big for one transaction is committed in halves, in order. On Open the log rebuilds
// its compact range from the stored nodes and refuses to start if the root differs from the
// last signed checkpoint.
//
// # Replicas
//
// OpenReplica opens a copy of another node's log (a mirror's): no signer, no sequencer; it
// grows only by Extend, with entries that must hash to the root of the source's signed
// checkpoint, which it then serves verbatim. Every read is the same code as a node's.
//
// Badger layout (prefix "l/"): l/e/<index> entry bytes; l/n/<level><index> perfect node hashes
// (level 0 = leaf hashes); l/size; l/cp the latest signed checkpoint. Indices are 8-byte
// big-endian, so key order is index order.
package ledger
