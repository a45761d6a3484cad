package state_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
)

// model is a read model fed directly through Apply, with its log captured.
type model struct {
	t    *testing.T
	st   *state.State
	logs *nodetest.Logs
	next uint64
}

func newModel(t *testing.T) *model {
	t.Helper()
	logs := &nodetest.Logs{}
	st, err := state.New(slog.New(slog.NewTextHandler(logs, nil)))
	require.NoError(t, err)
	return &model{t: t, st: st, logs: logs}
}

// apply applies an entry at the next index and returns that index.
func (m *model) apply(e api.Entry) uint64 {
	m.t.Helper()
	b, err := e.Marshal()
	require.NoError(m.t, err)
	return m.applyRaw(b)
}

func (m *model) applyRaw(b []byte) uint64 {
	i := m.next
	m.st.Apply(i, b)
	m.next++
	return i
}

func (m *model) notApplied() int {
	return bytes.Count([]byte(m.logs.String()), []byte("entry not applied"))
}

func purposeDoc(id string, version int) api.Purpose {
	return api.Purpose{ID: id, Version: version, Title: fmt.Sprintf("%s v%d", id, version),
		Description: "what it is for", Data: "air readings", Recipient: "age1example",
		Release: api.ReleasePolicy{Grid: "neighbourhood×day", K: 10, ClampPM25: [2]float64{0, 100},
			ClampPM10: [2]float64{0, 200}, GraceHours: 2}}
}

func purposeEntry(t *testing.T, p api.Purpose) api.Entry {
	t.Helper()
	body, err := json.Marshal(p)
	require.NoError(t, err)
	return api.Entry{Type: api.EntryPurpose, Purpose: p.ID, PurposeVersion: p.Version, Body: body, Hash: state.Hash(body)}
}

func petitionDoc(id string) api.Petition {
	return api.Petition{ID: id, Title: "More trees on " + id, Text: "Please.", Scope: []string{"n-north"},
		Opens: time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC), Closes: time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC), Threshold: 100}
}

func petitionEntry(t *testing.T, p api.Petition) api.Entry {
	t.Helper()
	body, err := json.Marshal(p)
	require.NoError(t, err)
	return api.Entry{Type: api.EntryPetition, Petition: p.ID, Body: body, Hash: state.Hash(body),
		Citizen: "c-organiser", Recipient: "age1tally"}
}

type resident struct {
	w      *crypto.Wallet
	id     string
	invite string
}

func newResident(t *testing.T) resident {
	t.Helper()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	return resident{w: w, id: w.CitizenID(), invite: state.Hash([]byte("invite for " + w.CitizenID()))}
}

// airResident is a model that knows the air purpose at version 1 and one registered resident.
func airResident(t *testing.T) (*model, resident) {
	t.Helper()
	m, r := newModel(t), newResident(t)
	m.apply(purposeEntry(t, purposeDoc("air", 1)))
	m.apply(r.register())
	return m, r
}

func (r resident) register() api.Entry {
	return api.Entry{Type: api.EntryRegister, Citizen: r.id, SigningKey: crypto.EncodeKey(r.w.SigningPublicKey()),
		Recipient: r.w.Recipient().String(), Hash: r.invite, IssuedAt: "2025-03-01T10:00:00Z", Nonce: "reg-" + r.id}
}

func (r resident) consent(grant bool, purpose string, version int, erase bool, at string) api.Entry {
	typ := api.EntryConsentGrant
	if !grant {
		typ = api.EntryConsentRevoke
	}
	return api.Entry{Type: typ, Citizen: r.id, Purpose: purpose, PurposeVersion: version, Erase: erase,
		IssuedAt: at, Nonce: "n-" + at, Signature: "sig"}
}

func sign(petition, nullifier string) api.Entry { return signOn(petition, nullifier, "2025-03-02") }

func signOn(petition, nullifier, day string) api.Entry {
	return api.Entry{Type: api.EntryPetitionSign, Petition: petition, Nullifier: nullifier, Epoch: day}
}

func withdraw(petition, nullifier string) api.Entry {
	return api.Entry{Type: api.EntryPetitionRevoke, Petition: petition, Nullifier: nullifier, Epoch: "2025-03-03"}
}

func TestHash(t *testing.T) {
	t.Parallel()
	// FIPS 180-2 test vector.
	assert.Equal(t, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", state.Hash([]byte("abc")))
	assert.Equal(t, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", state.Hash(nil))
}

func TestApplyPurposeKeepsEveryVersionAndServesTheLatest(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	_, ok := m.st.Purpose("air")
	assert.False(t, ok)
	assert.Empty(t, m.st.Purposes())

	e1 := purposeEntry(t, purposeDoc("air", 1))
	i1 := m.apply(e1)
	m.apply(purposeEntry(t, purposeDoc("water", 1)))
	p, ok := m.st.Purpose("air")
	require.True(t, ok)
	want := state.Purpose{Purpose: purposeDoc("air", 1), Key: "air@1", Index: i1, Hash: e1.Hash}
	assert.Equal(t, &want, p)
	v1 := p

	e2 := purposeEntry(t, purposeDoc("air", 2))
	i2 := m.apply(e2)
	// A purpose whose id extends "air" with a higher version must not be taken for it.
	m.apply(purposeEntry(t, purposeDoc("air2", 7)))
	p, ok = m.st.Purpose("air")
	require.True(t, ok)
	assert.Equal(t, 2, p.Version)
	assert.Equal(t, "air@2", p.Key)
	assert.Equal(t, i2, p.Index)
	assert.Equal(t, e2.Hash, p.Hash)
	assert.Equal(t, &want, v1, "the version 1 object is unchanged")

	var got []string
	for _, p := range m.st.Purposes() {
		got = append(got, p.Key)
	}
	assert.Equal(t, []string{"air@2", "air2@7", "water@1"}, got, "latest version of each, by id")
	assert.Zero(t, m.notApplied(), m.logs.String())
}

func TestApplyInviteAndRegister(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	r := newResident(t)
	exists, used := m.st.Invite(r.invite)
	assert.False(t, exists)
	assert.False(t, used)

	m.apply(api.Entry{Type: api.EntryInvite, Hash: r.invite})
	exists, used = m.st.Invite(r.invite)
	assert.True(t, exists)
	assert.False(t, used)
	_, ok := m.st.Citizen(r.id)
	assert.False(t, ok)
	assert.Zero(t, m.st.CitizenCount())

	i := m.apply(r.register())
	exists, used = m.st.Invite(r.invite)
	assert.True(t, exists)
	assert.True(t, used)
	c, ok := m.st.Citizen(r.id)
	require.True(t, ok)
	assert.Equal(t, &state.Citizen{Key: r.id, SigningKey: r.w.SigningPublicKey(), Recipient: r.w.Recipient().String(), Index: i}, c)
	assert.Equal(t, 1, m.st.CitizenCount())

	other := newResident(t)
	m.apply(api.Entry{Type: api.EntryInvite, Hash: other.invite})
	m.apply(other.register())
	assert.Equal(t, 2, m.st.CitizenCount())
	_, ok = m.st.Citizen("c-nobody")
	assert.False(t, ok)
	assert.Zero(t, m.notApplied(), m.logs.String())
}

func TestApplyConsentGrantRevokeRegrant(t *testing.T) {
	t.Parallel()
	m, r := airResident(t)
	assert.False(t, m.st.ActiveConsent(r.id, "air"))
	_, ok := m.st.Consent(r.id, "air")
	assert.False(t, ok)

	i := m.apply(r.consent(true, "air", 1, false, "2025-03-02T10:00:00Z"))
	c, ok := m.st.Consent(r.id, "air")
	require.True(t, ok)
	assert.Equal(t, &state.Consent{Key: r.id + "|air", Citizen: r.id, Purpose: "air", Version: 1, Active: true,
		Index: i, IssuedAt: "2025-03-02T10:00:00Z"}, c)
	assert.True(t, m.st.ActiveConsent(r.id, "air"))
	assert.False(t, m.st.ActiveConsent(r.id, "water"), "consent is per purpose")
	granted := c

	i = m.apply(r.consent(false, "air", 1, true, "2025-03-03T10:00:00Z"))
	c, ok = m.st.Consent(r.id, "air")
	require.True(t, ok)
	assert.False(t, c.Active)
	assert.True(t, c.Erase)
	assert.Equal(t, i, c.Index)
	assert.Equal(t, "2025-03-03T10:00:00Z", c.IssuedAt)
	assert.False(t, m.st.ActiveConsent(r.id, "air"))
	assert.True(t, granted.Active, "the earlier object is unchanged")

	m.apply(r.consent(true, "air", 1, false, "2025-03-04T10:00:00Z"))
	assert.True(t, m.st.ActiveConsent(r.id, "air"))
	c, _ = m.st.Consent(r.id, "air")
	assert.False(t, c.Erase, "a new grant clears the erase flag")
	assert.Zero(t, m.notApplied(), m.logs.String())
}

// A newer version of a purpose needs a new consent.
func TestActiveConsentNeedsTheLatestVersion(t *testing.T) {
	t.Parallel()
	m, r := airResident(t)
	m.apply(r.consent(true, "air", 1, false, "2025-03-02T10:00:00Z"))
	require.True(t, m.st.ActiveConsent(r.id, "air"))

	m.apply(purposeEntry(t, purposeDoc("air", 2)))
	assert.False(t, m.st.ActiveConsent(r.id, "air"), "consent to v1 does not cover v2")
	c, ok := m.st.Consent(r.id, "air")
	require.True(t, ok)
	assert.True(t, c.Active, "the recorded choice itself is unchanged")
	assert.Equal(t, 1, c.Version)

	m.apply(r.consent(true, "air", 2, false, "2025-03-03T10:00:00Z"))
	assert.True(t, m.st.ActiveConsent(r.id, "air"))

	// A consent to a purpose that does not exist is never active.
	m.apply(r.consent(true, "ghost", 1, false, "2025-03-03T11:00:00Z"))
	assert.False(t, m.st.ActiveConsent(r.id, "ghost"))
}

func TestPetitionCountsFollowSignaturesAndWithdrawals(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	doc := petitionDoc("trees")
	i := m.apply(petitionEntry(t, doc))
	p, ok := m.st.Petition("trees")
	require.True(t, ok)
	want := state.Petition{Petition: doc, Key: "trees", Index: i, Organiser: "c-organiser", Recipient: "age1tally"}
	assert.Equal(t, &want, p)

	for _, n := range []string{"n1", "n2", "n3"} {
		m.apply(sign("trees", n))
	}
	p, _ = m.st.Petition("trees")
	assert.Equal(t, 3, p.Signatures)
	assert.Zero(t, p.Withdrawn)
	for _, n := range []string{"n1", "n2", "n3"} {
		seen, active := m.st.Nullifier("trees", n)
		assert.True(t, seen, n)
		assert.True(t, active, n)
	}

	m.apply(withdraw("trees", "n2"))
	p, _ = m.st.Petition("trees")
	assert.Equal(t, 2, p.Signatures)
	assert.Equal(t, 1, p.Withdrawn)
	seen, active := m.st.Nullifier("trees", "n2")
	assert.True(t, seen)
	assert.False(t, active)

	m.apply(sign("trees", "n2"))
	p, _ = m.st.Petition("trees")
	assert.Equal(t, 3, p.Signatures)
	assert.Equal(t, 1, p.Withdrawn)
	_, active = m.st.Nullifier("trees", "n2")
	assert.True(t, active)

	seen, active = m.st.Nullifier("trees", "never")
	assert.False(t, seen)
	assert.False(t, active)
	seen, _ = m.st.Nullifier("other", "n1")
	assert.False(t, seen, "nullifiers are per petition")

	// The document itself is unchanged by the counts.
	assert.Equal(t, doc.Title, p.Title)
	assert.Equal(t, doc.Scope, p.Scope)
	assert.Equal(t, i, p.Index)
	assert.Zero(t, m.notApplied(), m.logs.String())
}

// TestPetitionTokenKeyIssuesAndNullifierEntries: a petition.key entry gives the petition its token key, each
// petition.issue entry counts one issue, and a nullifier's slot points at its latest entry.
func TestPetitionTokenKeyIssuesAndNullifierEntries(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	m.apply(petitionEntry(t, petitionDoc("trees")))
	m.apply(api.Entry{Type: api.EntryPetitionKey, Petition: "trees", TokenKey: "a2V5"})
	m.apply(api.Entry{Type: api.EntryPetitionIssue, Petition: "trees"})
	m.apply(api.Entry{Type: api.EntryPetitionIssue, Petition: "trees"})
	signed := m.apply(sign("trees", "n1"))
	m.apply(sign("trees", "n2"))
	withdrawn := m.apply(withdraw("trees", "n2"))
	require.Zero(t, m.notApplied(), m.logs.String())

	p, _ := m.st.Petition("trees")
	assert.Equal(t, "a2V5", p.TokenKey)
	assert.Equal(t, 2, p.Issued)
	assert.Equal(t, 1, p.Signatures, "issues are not signatures")
	n, ok := m.st.NullifierEntry("trees", "n1")
	require.True(t, ok)
	assert.Equal(t, state.Nullifier{Key: "trees|n1", Active: true, Index: signed}, *n)
	n, ok = m.st.NullifierEntry("trees", "n2")
	require.True(t, ok)
	assert.Equal(t, state.Nullifier{Key: "trees|n2", Index: withdrawn}, *n)
	_, ok = m.st.NullifierEntry("bikes", "n1")
	assert.False(t, ok, "nullifiers are per petition")
}

func TestPetitionTimelinePaperAndTotal(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	m.apply(petitionEntry(t, petitionDoc("trees")))
	m.apply(signOn("trees", "n1", "2025-03-02"))
	m.apply(signOn("trees", "n2", "2025-03-02"))
	m.apply(signOn("trees", "n3", "2025-03-04"))
	m.apply(withdraw("trees", "n1")) // on 2025-03-03
	paper := func(count int) api.Entry {
		body, err := json.Marshal(api.Paper{Petition: "trees", Count: count, Note: "market stall"})
		require.NoError(t, err)
		return api.Entry{Type: api.EntryPetitionPaper, Petition: "trees", Body: body, Hash: state.Hash(body), Citizen: "c-organiser"}
	}
	m.apply(paper(40))
	m.apply(paper(2))
	p, _ := m.st.Petition("trees")
	assert.Equal(t, 2, p.Signatures, "online signatures")
	assert.Equal(t, 42, p.Paper, "paper signatures, kept apart")
	assert.Equal(t, 2, p.PaperBatches)
	assert.Equal(t, 44, p.Total())
	assert.Equal(t, []state.PetitionDay{
		{Key: "trees|2025-03-02", Petition: "trees", Day: "2025-03-02", Signed: 2},
		{Key: "trees|2025-03-03", Petition: "trees", Day: "2025-03-03", Withdrawn: 1},
		{Key: "trees|2025-03-04", Petition: "trees", Day: "2025-03-04", Signed: 1},
	}, m.st.Timeline("trees"))
	assert.Empty(t, m.st.Timeline("other"))
	assert.Zero(t, m.notApplied(), m.logs.String())

	// A paper count that is not positive, or names another petition, is not applied.
	m.apply(paper(0))
	body, _ := json.Marshal(api.Paper{Petition: "bikes", Count: 5})
	m.apply(api.Entry{Type: api.EntryPetitionPaper, Petition: "trees", Body: body, Citizen: "c-organiser"})
	p, _ = m.st.Petition("trees")
	assert.Equal(t, 42, p.Paper)
	assert.Equal(t, 2, m.notApplied())
}

func TestOrganiserRole(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	assert.False(t, m.st.IsOrganiser("c-ann"))
	m.apply(api.Entry{Type: api.EntryOrganiserGrant, Citizen: "c-ann"})
	assert.True(t, m.st.IsOrganiser("c-ann"))
	assert.False(t, m.st.IsOrganiser("c-bob"))
	m.apply(api.Entry{Type: api.EntryOrganiserRevoke, Citizen: "c-ann"})
	assert.False(t, m.st.IsOrganiser("c-ann"))
	m.apply(api.Entry{Type: api.EntryOrganiserGrant})
	assert.Equal(t, 1, m.notApplied(), "a grant without a citizen is refused")
}

func TestPetitionsMostRecentFirst(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	for _, id := range []string{"b-first", "a-second", "c-third"} {
		m.apply(petitionEntry(t, petitionDoc(id)))
	}
	m.apply(sign("b-first", "n1")) // a signature does not make a petition recent
	var got []string
	for _, p := range m.st.Petitions() {
		got = append(got, p.ID)
	}
	assert.Equal(t, []string{"c-third", "a-second", "b-first"}, got)
}

func TestPetitionOpenWindow(t *testing.T) {
	t.Parallel()
	p := petitionDoc("trees")
	assert.False(t, p.Open(p.Opens.Add(-time.Nanosecond)))
	assert.True(t, p.Open(p.Opens), "opens is inclusive")
	assert.True(t, p.Open(p.Closes.Add(-time.Nanosecond)))
	assert.False(t, p.Open(p.Closes), "closes is exclusive")
}

// go-memdb does not copy what is inserted: a pointer handed out before a signature must keep
// showing the counts it had.
func TestInsertedObjectsAreNeverMutated(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	m.apply(petitionEntry(t, petitionDoc("trees")))
	m.apply(sign("trees", "n1"))
	before, ok := m.st.Petition("trees")
	require.True(t, ok)
	require.Equal(t, 1, before.Signatures)
	list := m.st.Petitions()

	m.apply(sign("trees", "n2"))
	m.apply(withdraw("trees", "n1"))
	assert.Equal(t, 1, before.Signatures, "an earlier pointer must not see later signatures")
	assert.Zero(t, before.Withdrawn)
	assert.Equal(t, 1, list[0].Signatures)

	after, _ := m.st.Petition("trees")
	assert.Equal(t, 1, after.Signatures)
	assert.Equal(t, 1, after.Withdrawn)
	assert.NotSame(t, before, after)
}

func TestApplyReleaseEntryIsAccepted(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	m.apply(api.Entry{Type: api.EntryRelease, Purpose: "air", PurposeVersion: 1, Epoch: "2025-03-01", Hash: state.Hash([]byte("x"))})
	assert.Zero(t, m.notApplied(), m.logs.String())
	assert.Empty(t, m.st.Purposes())
}

// Malformed or inapplicable entries are logged and skipped; they never panic and never leave
// part of their effect behind.
func TestMalformedEntriesAreSkipped(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	r := newResident(t)
	m.apply(purposeEntry(t, purposeDoc("air", 1)))
	m.apply(api.Entry{Type: api.EntryInvite, Hash: r.invite})
	m.apply(petitionEntry(t, petitionDoc("trees")))

	badKey := r.register()
	badKey.SigningKey = "not base64!"
	shortKey := r.register()
	shortKey.SigningKey = "AAAA"
	noCitizen := r.register() // valid invite and key, no citizen id: must not use the invite
	noCitizen.Citizen = ""
	noType := api.Entry{Citizen: r.id}
	noTypeBytes, err := json.Marshal(noType)
	require.NoError(t, err)
	badPurpose := purposeEntry(t, purposeDoc("air", 1))
	badPurpose.Body = json.RawMessage(`{"id":"air","version":"one"}`)
	noID := purposeEntry(t, api.Purpose{Version: 3})

	cases := map[string][]byte{
		"not json":         []byte("{not json"),
		"empty":            nil,
		"trailing data":    []byte(`{"type":"invite.create","hash":"aa"} {}`),
		"unknown field":    []byte(`{"type":"invite.create","hash":"aa","extra":1}`),
		"no type":          noTypeBytes,
		"unknown type":     mustMarshal(t, api.Entry{Type: "citizen.delete", Citizen: r.id}),
		"purpose body":     mustMarshal(t, badPurpose),
		"purpose no id":    mustMarshal(t, noID),
		"purpose not json": []byte(`{"body":[1,2,"x"],"type":"purpose.define"}`),
		"invite no hash":   mustMarshal(t, api.Entry{Type: api.EntryInvite}),
		"register bad key": mustMarshal(t, badKey),
		"register short":   mustMarshal(t, shortKey),
		"register no id":   mustMarshal(t, noCitizen),
		"consent no id":    mustMarshal(t, api.Entry{Type: api.EntryConsentGrant, Purpose: "air", PurposeVersion: 1}),
		"petition body":    mustMarshal(t, api.Entry{Type: api.EntryPetition, Petition: "x", Body: json.RawMessage(`{"id":7}`)}),
		"petition no id":   mustMarshal(t, api.Entry{Type: api.EntryPetition, Body: json.RawMessage(`{"title":"t"}`)}),
		"sign unknown":     mustMarshal(t, sign("no-such-petition", "n1")),
		"withdraw unknown": mustMarshal(t, withdraw("no-such-petition", "n1")),
		"petition elsewhere": mustMarshal(t, api.Entry{Type: api.EntryPetition, Petition: "bikes", Body: petitionEntry(t, petitionDoc("trees")).Body,
			Citizen: "c-organiser", Recipient: "age1tally"}),
		"paper body":       mustMarshal(t, api.Entry{Type: api.EntryPetitionPaper, Petition: "trees", Body: json.RawMessage(`{"count":"many"}`), Citizen: "c-organiser"}),
		"paper unknown":    mustMarshal(t, api.Entry{Type: api.EntryPetitionPaper, Petition: "bikes", Body: json.RawMessage(`{"petition":"bikes","count":3}`), Citizen: "c-organiser"}),
		"paper no citizen": mustMarshal(t, api.Entry{Type: api.EntryPetitionPaper, Petition: "trees", Body: json.RawMessage(`{"petition":"trees","count":3}`)}),
		"issue no id":      mustMarshal(t, api.Entry{Type: api.EntryPetitionIssue}),
		"issue unknown":    mustMarshal(t, api.Entry{Type: api.EntryPetitionIssue, Petition: "bikes"}),
		"key unknown":      mustMarshal(t, api.Entry{Type: api.EntryPetitionKey, Petition: "bikes", TokenKey: "a2V5"}),
		"key missing":      mustMarshal(t, api.Entry{Type: api.EntryPetitionKey, Petition: "trees"}),
	}
	for name, b := range cases {
		before := m.notApplied()
		require.NotPanics(t, func() { m.applyRaw(b) }, name)
		assert.Equal(t, before+1, m.notApplied(), "%s: the skipped entry is logged", name)
	}

	// Nothing of any of them is visible.
	assert.Zero(t, m.st.CitizenCount())
	exists, used := m.st.Invite(r.invite)
	assert.True(t, exists)
	assert.False(t, used, "a registration that failed half-way must not use up its invite")
	p, ok := m.st.Purpose("air")
	require.True(t, ok)
	assert.Equal(t, 1, p.Version)
	assert.Len(t, m.st.Purposes(), 1)
	assert.Len(t, m.st.Petitions(), 1)
	tr, _ := m.st.Petition("trees")
	assert.Zero(t, tr.Signatures)
	assert.Zero(t, tr.Paper)
	assert.Zero(t, tr.Issued)
	assert.Empty(t, tr.TokenKey)
	seen, _ := m.st.Nullifier("no-such-petition", "n1")
	assert.False(t, seen)

	// The model still works after all of that.
	m.apply(r.register())
	assert.Equal(t, 1, m.st.CitizenCount())
}

func mustMarshal(t *testing.T, e api.Entry) []byte {
	t.Helper()
	b, err := e.Marshal()
	require.NoError(t, err)
	return b
}

func TestReserveRefusesOverlappingKeysUntilReleased(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	release, err := m.st.Reserve("nonce|a|1", "consent|a|air")
	require.NoError(t, err)

	_, err = m.st.Reserve("consent|a|air", "nonce|a|2")
	assert.ErrorIs(t, err, state.ErrBusy)
	_, err = m.st.Reserve("nonce|a|1")
	assert.ErrorIs(t, err, state.ErrBusy)

	// A refused reservation holds nothing: its other key is still free.
	other, err := m.st.Reserve("nonce|a|2")
	require.NoError(t, err)
	other()

	release()
	again, err := m.st.Reserve("consent|a|air", "nonce|a|1")
	require.NoError(t, err)
	again()
}

func TestReserveUnderContentionAdmitsOne(t *testing.T) {
	t.Parallel()
	m := newModel(t)
	const n = 50
	var wg sync.WaitGroup
	var mu sync.Mutex
	var releases []func()
	busy := 0
	start := make(chan struct{})
	for i := 0; i < n; i++ {
		wg.Go(func() {
			<-start
			r, err := m.st.Reserve(fmt.Sprintf("nonce|%d", i), "invite|same")
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				assert.ErrorIs(t, err, state.ErrBusy)
				busy++
				return
			}
			releases = append(releases, r)
		})
	}
	close(start)
	wg.Wait()
	assert.Len(t, releases, 1)
	assert.Equal(t, n-1, busy)
	for _, r := range releases {
		r()
	}
	r, err := m.st.Reserve("invite|same")
	require.NoError(t, err)
	r()
}

// view is everything the read model answers, for comparing two models.
type view struct {
	Purposes   []state.Purpose
	Versions   map[string]state.Purpose
	Petitions  []state.Petition
	Citizens   map[string]state.Citizen
	Consents   map[string]state.Consent
	Active     map[string]bool
	Invites    map[string][2]bool
	Nullifiers map[string][2]bool
	Count      int
}

func viewOf(st *state.State, rs []resident, nullifiers []string) view {
	v := view{Versions: map[string]state.Purpose{}, Citizens: map[string]state.Citizen{}, Consents: map[string]state.Consent{},
		Active: map[string]bool{}, Invites: map[string][2]bool{}, Nullifiers: map[string][2]bool{}, Count: st.CitizenCount()}
	for _, p := range st.Purposes() {
		v.Purposes = append(v.Purposes, *p)
		if q, ok := st.Purpose(p.ID); ok {
			v.Versions[p.ID] = *q
		}
	}
	for _, p := range st.Petitions() {
		v.Petitions = append(v.Petitions, *p)
		for _, n := range nullifiers {
			seen, active := st.Nullifier(p.ID, n)
			v.Nullifiers[p.ID+"/"+n] = [2]bool{seen, active}
		}
	}
	for _, r := range rs {
		if c, ok := st.Citizen(r.id); ok {
			v.Citizens[r.id] = *c
		}
		exists, used := st.Invite(r.invite)
		v.Invites[r.invite] = [2]bool{exists, used}
		for _, p := range []string{"air", "water"} {
			if c, ok := st.Consent(r.id, p); ok {
				v.Consents[r.id+"/"+p] = *c
			}
			v.Active[r.id+"/"+p] = st.ActiveConsent(r.id, p)
		}
	}
	return v
}

// Replay after a restart rebuilds exactly the model the sequencer built live.
func TestReplayRebuildsTheSameState(t *testing.T) {
	t.Parallel()
	n := nodetest.New(t, nodetest.Options{})

	var rs []resident
	for i := 0; i < 6; i++ {
		rs = append(rs, newResident(t))
	}
	nullifiers := []string{"n0", "n1", "n2", "n3"}
	n.Append(t, purposeEntry(t, purposeDoc("air", 1)))
	n.Append(t, purposeEntry(t, purposeDoc("water", 1)))
	for i, r := range rs {
		n.Append(t, api.Entry{Type: api.EntryInvite, Hash: r.invite})
		if i < 5 { // the last invite stays unused
			n.Append(t, r.register())
			n.Append(t, r.consent(true, "air", 1, false, fmt.Sprintf("2025-03-02T10:00:0%dZ", i)))
		}
	}
	n.Append(t, rs[0].consent(false, "air", 1, true, "2025-03-03T10:00:00Z"))
	n.Append(t, rs[1].consent(true, "water", 1, false, "2025-03-03T10:00:00Z"))
	n.Append(t, purposeEntry(t, purposeDoc("air", 2)))
	n.Append(t, rs[2].consent(true, "air", 2, false, "2025-03-04T10:00:00Z"))
	n.Append(t, petitionEntry(t, petitionDoc("trees")))
	n.Append(t, petitionEntry(t, petitionDoc("bikes")))
	for _, x := range nullifiers {
		n.Append(t, sign("trees", x))
	}
	n.Append(t, withdraw("trees", "n1"))
	n.Append(t, sign("bikes", "n0"))
	n.Append(t, api.Entry{Type: api.EntryRelease, Purpose: "air", PurposeVersion: 2, Epoch: "2025-03-04", Hash: state.Hash([]byte("r"))})
	live := viewOf(n.State, rs, nullifiers)
	size := n.Ledger.Size()

	// Sanity: the live model holds what was logged.
	require.Len(t, live.Purposes, 2)
	require.Equal(t, 2, live.Versions["air"].Version)
	require.Equal(t, 5, live.Count)
	require.Len(t, live.Petitions, 2)
	require.Equal(t, "trees", live.Petitions[1].ID)
	require.Equal(t, 3, live.Petitions[1].Signatures, "trees: 4 signed, 1 withdrew")
	require.True(t, live.Active[rs[2].id+"/air"])
	require.False(t, live.Active[rs[0].id+"/air"])
	require.True(t, live.Active[rs[1].id+"/water"])

	n.Reopen(t)
	require.Equal(t, size, n.Ledger.Size())
	assert.Zero(t, n.State.CitizenCount(), "a fresh model is empty until replayed")
	require.NoError(t, n.State.Replay(context.Background(), n.Ledger))
	assert.Equal(t, live, viewOf(n.State, rs, nullifiers))

	// The sequencer keeps the replayed model in step with new entries.
	n.Append(t, rs[5].register())
	c, ok := n.State.Citizen(rs[5].id)
	require.True(t, ok)
	assert.Equal(t, size, c.Index)
	assert.Equal(t, 6, n.State.CitizenCount())
}

func TestReplayStopsWithItsContext(t *testing.T) {
	t.Parallel()
	n := nodetest.New(t, nodetest.Options{})
	n.Append(t, purposeEntry(t, purposeDoc("air", 1)))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err := state.New(slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	assert.ErrorIs(t, st.Replay(ctx, n.Ledger), context.Canceled)
}

// Reads while the sequencer applies entries are safe (run with -race).
func TestConcurrentAppendsAndReads(t *testing.T) {
	t.Parallel()
	n := nodetest.New(t, nodetest.Options{})
	n.Append(t, petitionEntry(t, petitionDoc("trees")))
	const signers = 40
	var wg sync.WaitGroup
	for i := 0; i < signers; i++ {
		wg.Go(func() {
			_, err := n.Ledger.Append(context.Background(), mustMarshal(t, sign("trees", fmt.Sprint("n", i))))
			assert.NoError(t, err)
		})
	}
	done := make(chan struct{})
	var readers sync.WaitGroup
	readers.Go(func() {
		last := 0
		for {
			select {
			case <-done:
				return
			default:
			}
			p, ok := n.State.Petition("trees")
			if assert.True(t, ok) {
				assert.GreaterOrEqual(t, p.Signatures, last, "counts never go backwards")
				last = p.Signatures
			}
		}
	})
	wg.Wait()
	close(done)
	readers.Wait()
	p, _ := n.State.Petition("trees")
	assert.Equal(t, signers, p.Signatures)
}
