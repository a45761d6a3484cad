// Package api holds the wire formats that the node and its clients share: ledger entries,
// receipts, purposes and their release policies, petition documents, answers and paper counts,
// and the public petition view. It has no storage and no I/O, so a client that only speaks
// these formats (the resident's CLI, the gateway, an outside verifier) links no database.
package api
