package api

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// Entry types, the "type" field of every entry.
const (
	EntryPurpose         = "purpose.define"
	EntryInvite          = "invite.create"
	EntryRegister        = "citizen.register"
	EntryConsentGrant    = "consent.grant"
	EntryConsentRevoke   = "consent.revoke"
	EntryPetition        = "petition.create"
	EntryPetitionSign    = "petition.sign"
	EntryPetitionRevoke  = "petition.withdraw"
	EntryPetitionPaper   = "petition.paper"
	EntryPetitionKey     = "petition.key"
	EntryPetitionIssue   = "petition.issue"
	EntryOrganiserGrant  = "organiser.grant"
	EntryOrganiserRevoke = "organiser.revoke"
	EntryRelease         = "release.publish"
	EntryPurposePropose  = "purpose.propose"
	EntryPurposeApprove  = "purpose.approve"
	EntryPurposeObject   = "purpose.object"
	EntryPurposeRefuse   = "purpose.refuse"
	EntryPurposeRetire   = "purpose.retire"
	EntryPurposeDestroy  = "purpose.destroy"
)

// Entry is the JSON shape of every ledger entry. Which fields are set depends on Type:
//
//   - purpose.define: Purpose, PurposeVersion, Body (the purpose's policy document), Hash
//     (SHA-256 of Body, hex).
//   - invite.create: Hash (SHA-256 of the one-time code, hex; the code itself is never logged).
//   - citizen.register: Citizen, SigningKey, Recipient, Hash (the invite's hash), IssuedAt,
//     Nonce, Signature. The resident's neighbourhood is kept privately by the server, so the
//     public signature (over a statement that named it) is not logged.
//   - consent.grant / consent.revoke: Citizen, Purpose, PurposeVersion, Erase, IssuedAt,
//     Nonce, Signature — the resident's statement and signature, verifiable by anyone with the
//     signing key from the registration entry.
//   - organiser.grant / organiser.revoke: Citizen — the operator gives or takes the organiser
//     role (organisers act in public under their pseudonymous id).
//   - petition.create: Petition, Body (the organiser's petition document), Hash (its SHA-256),
//     Citizen (the organiser), IssuedAt, Nonce, Signature (the organiser's statement, whose
//     document field is Hash), Recipient (the petition's age tally key, made by the node).
//   - petition.paper: Petition, Body (a count of paper signatures), Hash, Citizen, IssuedAt,
//     Nonce, Signature — signed by the petition's organiser like petition.create.
//   - petition.key: Petition, TokenKey (the petition's RSA-2048 token key, standard base64 DER
//     SubjectPublicKeyInfo, made by the node; RFC 9474 RSABSSA-SHA384-PSS-Randomized).
//   - petition.issue: Petition, Epoch (its batch's day) — the node blind-signed a resident's token
//     for the petition. It names no one (whose token it was would tell the resident's scope,
//     hence neighbourhood), and is appended in the shuffled batches of signatures, so its place
//     says nothing of whose registration it followed. Every syncing wallet asks for every open
//     petition of its scope, so it says nothing of who will sign either.
//   - petition.sign: Petition, Nullifier (SHA-256 of the wallet's key for the petition),
//     SigningKey (that key), Randomizer and Token (the finalised token over the key), Hash (the
//     hash of the sealed answers, if any), Signature (the petition key's signature of the act),
//     Epoch (the UTC day its batch was appended, at latest the petition's last open day) —
//     never the citizen id or anything of theirs. Signatures are appended in shuffled batches.
//   - petition.withdraw: Petition, Nullifier, SigningKey, Signature, Epoch, in the same batches.
//   - Before data format 3, petition.sign and petition.withdraw held only Petition, Nullifier
//     and Epoch; they stay countable.
//   - release.publish: Purpose, PurposeVersion, Epoch, Hash (SHA-256 of the release bytes).
//   - purpose.propose: Purpose, PurposeVersion, Body (the proposer's api.PurposeProposal),
//     Hash, Citizen (the proposer, an organiser), IssuedAt, Nonce, Signature (their statement,
//     whose document field is Hash). The operator activates it by logging a purpose.define
//     whose body names Hash as its proposal.
//   - purpose.approve / purpose.object: Purpose, PurposeVersion, Nullifier (the resident's
//     pseudonym on this proposal, as for a petition), Neighbourhood (where the resident is
//     registered), Epoch (the UTC day) — never the citizen id or the signature. The last
//     choice under a nullifier counts.
//   - purpose.refuse / purpose.retire: Purpose, PurposeVersion, Body (api.PurposeDecision),
//     Hash.
//   - purpose.destroy: Purpose, PurposeVersion — the node deleted the purpose's share copies
//     and destroyed its key.
//
// Fields are declared in lexicographic key order and entries are marshalled without HTML
// escaping, like statements.
type Entry struct {
	Body           json.RawMessage `json:"body,omitempty"`
	Citizen        string          `json:"citizen,omitempty"`
	Epoch          string          `json:"epoch,omitempty"`
	Erase          bool            `json:"erase,omitempty"`
	Hash           string          `json:"hash,omitempty"`
	IssuedAt       string          `json:"issued_at,omitempty"`
	Neighbourhood  string          `json:"neighbourhood,omitempty"`
	Nonce          string          `json:"nonce,omitempty"`
	Nullifier      string          `json:"nullifier,omitempty"`
	Petition       string          `json:"petition,omitempty"`
	Purpose        string          `json:"purpose,omitempty"`
	PurposeVersion int             `json:"purpose_version,omitempty"`
	Randomizer     []byte          `json:"randomizer,omitempty"`
	Recipient      string          `json:"recipient,omitempty"`
	Signature      string          `json:"signature,omitempty"`
	SigningKey     string          `json:"signing_key,omitempty"`
	Token          []byte          `json:"token,omitempty"`
	TokenKey       string          `json:"token_key,omitempty"`
	Type           string          `json:"type"`
}

// Marshal encodes the entry as the bytes to append.
func (e Entry) Marshal() ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("api: marshal entry: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// ParseEntry decodes entry bytes, refusing unknown fields and missing types.
func ParseEntry(b []byte) (Entry, error) {
	var e Entry
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		return Entry{}, fmt.Errorf("api: parse entry: %w", err)
	}
	if dec.More() {
		return Entry{}, fmt.Errorf("api: parse entry: trailing data")
	}
	if e.Type == "" {
		return Entry{}, fmt.Errorf("api: parse entry: no type")
	}
	return e, nil
}
