// Package crypto holds every key a resident owns and every cryptographic operation Commons
// performs on their behalf.
//
// # The model
//
// A resident's wallet is one standard age X25519 identity ("AGE-SECRET-KEY-1…"), stored as a
// plain age identity file, so the standard `age -d -i wallet` decrypts anything sealed to it.
// Every other key is derived from that identity with HKDF-SHA-256 and a domain label:
//
//   - the Ed25519 key that signs the resident's statements and contributions;
//   - nothing else yet: new derived keys get new labels, never reuse an old one.
//
// The resident's pseudonymous citizen id is a hash of the Ed25519 public key, so an id is
// self-certifying: whoever can sign for the key owns the id.
//
// Readings are sealed with age (Seal) on the resident's side: once to the resident's own
// recipient (the vault copy) and once to each purpose the resident consents to (share copies).
// The server stores sealed envelopes and never holds a key that opens them; only the aggregator
// holds purpose identities (Open).
//
// Statements (consent, petition signatures, registration) and contributions are signed over
// canonical JSON: the struct's fields are declared in lexicographic key order and marshalled
// without HTML escaping and without insignificant whitespace, and every field value is
// restricted to a character set on which this encoding equals RFC 8785 (JCS). The signature
// covers a domain-separation prefix followed by those bytes, so a statement can never be
// replayed as a contribution or the other way round.
package crypto
