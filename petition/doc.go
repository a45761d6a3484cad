// Package petition holds the rules of a Commons petition, in one place for the node (server),
// the public pages (dashboards) and the command line (cmd/commons).
//
// The model: an organiser, a resident the operator granted the role, signs a petition document
// (api.Petition) naming its scope, its signing window [Opens, Closes), its threshold and the
// optional questions it asks; the node logs it with a tally key of its own. While the petition
// is open, a resident of its scope signs under a nullifier their wallet derives for it: a
// nullifier holds at most one active signature, a signer keeps one nullifier per petition, and
// a withdrawal frees the signature but not the nullifier. The organiser adds counts of paper
// signatures, signed like the document, from the opening until PaperGrace after the close. The
// online count is signatures less withdrawals; the total adds the paper counts; progress is the
// total against the threshold. Because every one of these steps is a ledger entry, anyone can
// Recount a petition from the public ledger alone, and the organiser can sign a Result that
// anyone checks against such a recount.
//
// Everything here is a pure function over api and ledger/state values and ledger entries: no
// storage, no HTTP, no clock of its own. Refusals are the package's errors (sentinels and
// *InvalidError); callers map them to their own answers.
package petition
