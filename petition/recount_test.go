package petition

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// ledgerFixture makes the entries of a small ledger: residents, an organiser and petitions.
type ledgerFixture struct {
	t         *testing.T
	organiser *crypto.Wallet
	other     *crypto.Wallet
}

func newLedgerFixture(t *testing.T) *ledgerFixture {
	t.Helper()
	org, err := crypto.NewWallet()
	require.NoError(t, err)
	other, err := crypto.NewWallet()
	require.NoError(t, err)
	return &ledgerFixture{t: t, organiser: org, other: other}
}

func register(w *crypto.Wallet) api.Entry {
	return api.Entry{Type: api.EntryRegister, Citizen: w.CitizenID(), SigningKey: crypto.EncodeKey(w.SigningPublicKey())}
}

// signed is an organiser's entry of type typ over doc, signed by w as the node logs it.
func (f *ledgerFixture) signed(w *crypto.Wallet, typ, entryType, petition string, doc any) api.Entry {
	body, err := json.Marshal(doc)
	require.NoError(f.t, err)
	s, err := w.SignStatement(crypto.Statement{Type: typ, Petition: petition, Document: crypto.DocumentHash(body),
		IssuedAt: "2026-10-01T12:00:00Z", Nonce: crypto.NewNonce()})
	require.NoError(f.t, err)
	return api.Entry{Type: entryType, Petition: petition, Body: body, Hash: s.Statement.Document, Citizen: s.Statement.Citizen,
		IssuedAt: s.Statement.IssuedAt, Nonce: s.Statement.Nonce, Signature: s.Signature}
}

func (f *ledgerFixture) create(w *crypto.Wallet, p api.Petition) api.Entry {
	e := f.signed(w, crypto.TypePetitionCreate, api.EntryPetition, p.ID, p)
	e.Recipient = "age1tally"
	return e
}

func (f *ledgerFixture) paper(w *crypto.Wallet, p api.Paper) api.Entry {
	return f.signed(w, crypto.TypePetitionPaper, api.EntryPetitionPaper, p.Petition, p)
}

func nullifier(n int) string { return strings.Repeat(string(rune('a'+n)), 64) }

func sign(petition string, n int) api.Entry {
	return api.Entry{Type: api.EntryPetitionSign, Petition: petition, Nullifier: nullifier(n), Epoch: "2026-10-02"}
}

func withdraw(petition string, n int) api.Entry {
	return api.Entry{Type: api.EntryPetitionRevoke, Petition: petition, Nullifier: nullifier(n), Epoch: "2026-10-03"}
}

// entries yields es in order, as a ledger would.
func entries(es ...api.Entry) Entries {
	return func(visit func(uint64, api.Entry) error) error {
		for i, e := range es {
			if err := visit(uint64(i), e); err != nil {
				return err
			}
		}
		return nil
	}
}

// history is a valid ledger: the organiser creates "trees" (and "bikes", which must not count),
// three residents sign, one withdraws and signs again, another withdraws, and two paper counts.
func (f *ledgerFixture) history() []api.Entry {
	trees := api.Petition{ID: "trees", Title: "Trees", Opens: opens, Closes: opens.AddDate(0, 0, 10), Threshold: 10}
	return []api.Entry{
		register(f.organiser), register(f.other),
		{Type: api.EntryOrganiserGrant, Citizen: f.organiser.CitizenID()},
		f.create(f.organiser, trees),
		f.create(f.organiser, api.Petition{ID: "bikes", Title: "Bikes", Opens: opens, Closes: opens.AddDate(0, 0, 10), Threshold: 5}),
		sign("trees", 0), sign("trees", 1), sign("bikes", 0), sign("trees", 2),
		withdraw("trees", 1), withdraw("trees", 0), sign("trees", 0),
		f.paper(f.organiser, api.Paper{Petition: "trees", Count: 4, Note: "market"}),
		f.paper(f.organiser, api.Paper{Petition: "trees", Count: 3}),
		{Type: api.EntryOrganiserRevoke, Citizen: f.organiser.CitizenID()}, // later paper counts still count
		f.paper(f.organiser, api.Paper{Petition: "trees", Count: 1}),
	}
}

func TestRecount(t *testing.T) {
	t.Parallel()
	f := newLedgerFixture(t)
	c, err := Recount("trees", entries(f.history()...))
	require.NoError(t, err)
	assert.Equal(t, "trees", c.ID)
	assert.Equal(t, "Trees", c.Petition.Title)
	assert.Equal(t, f.organiser.CitizenID(), c.Organiser)
	assert.Equal(t, crypto.EncodeKey(f.organiser.SigningPublicKey()), c.SigningKey)
	assert.Equal(t, Count{ID: c.ID, Petition: c.Petition, Organiser: c.Organiser, SigningKey: c.SigningKey,
		Signed: 4, Withdrawn: 2, Online: 2, Paper: 8, Batches: 3}, c)
	assert.Equal(t, 10, c.Total())

	_, err = Recount("nothing", entries(f.history()...))
	assert.ErrorContains(t, err, `petition: recount: no petition "nothing" in the ledger`)
	broken := errors.New("entry bundle truncated")
	_, err = Recount("trees", func(func(uint64, api.Entry) error) error { return broken })
	assert.ErrorIs(t, err, broken, "the walk's own failure is the recount's")
}

func TestRecountRefusals(t *testing.T) {
	t.Parallel()
	f := newLedgerFixture(t)
	trees := api.Petition{ID: "trees", Title: "Trees", Opens: opens, Closes: opens.AddDate(0, 0, 10), Threshold: 10}
	grant := api.Entry{Type: api.EntryOrganiserGrant, Citizen: f.organiser.CitizenID()}
	start := []api.Entry{register(f.organiser), register(f.other), grant, f.create(f.organiser, trees)}
	then := func(es ...api.Entry) []api.Entry { return append(slices.Clone(start), es...) }
	tampered := f.create(f.organiser, trees)
	tampered.Body = json.RawMessage(strings.Replace(string(tampered.Body), `"threshold":10`, `"threshold":1`, 1))
	forged := f.create(f.organiser, trees)
	forged.Signature = f.create(f.organiser, api.Petition{ID: "trees", Title: "Other"}).Signature
	for _, tc := range []struct {
		name string
		es   []api.Entry
		want string
	}{
		{"a petition by an unregistered citizen", []api.Entry{grant, f.create(f.organiser, trees)}, "entry 1: the petition document: its signer is not registered before it"},
		{"a petition by a citizen without the role", []api.Entry{register(f.organiser), f.create(f.organiser, trees)}, "entry 1: the petition was created by a citizen without the organiser role"},
		{"a changed document", []api.Entry{register(f.organiser), grant, tampered}, "entry 2: the petition document: the body does not match its hash"},
		{"a signature over another document", []api.Entry{register(f.organiser), grant, forged}, "entry 2: the petition document: " + crypto.ErrBadSignature.Error()},
		{"a signature before the petition", []api.Entry{sign("trees", 0)}, "entry 0: a signature before the petition was created"},
		{"a nullifier no wallet derives", then(api.Entry{Type: api.EntryPetitionSign, Petition: "trees", Nullifier: "x"}), "entry 4 signs under a nullifier no wallet derives"},
		{"two active signatures under one nullifier", then(sign("trees", 0), sign("trees", 0)), "entry 5 signs again under an active nullifier"},
		{"withdrawing what is not signed", then(withdraw("trees", 0)), "entry 4 withdraws a signature that is not there"},
		{"withdrawing twice", then(sign("trees", 0), withdraw("trees", 0), withdraw("trees", 0)), "entry 6 withdraws a signature that is not there"},
		{"paper by another citizen", then(f.paper(f.other, api.Paper{Petition: "trees", Count: 3})), "entry 4: a paper count not signed by the petition's organiser"},
		{"paper naming another petition", then(f.paper(f.organiser, api.Paper{Petition: "bikes", Count: 3})), ""},
		{"paper under another petition's entry", then(relabel(f.paper(f.organiser, api.Paper{Petition: "bikes", Count: 3}), "trees")), "entry 4: a paper count"},
		{"no paper", then(f.paper(f.organiser, api.Paper{Petition: "trees"})), "entry 4: a paper count not signed by the petition's organiser"},
	} {
		_, err := Recount("trees", entries(tc.es...))
		if tc.want == "" {
			assert.NoError(t, err, tc.name)
			continue
		}
		assert.ErrorContains(t, err, "petition: recount: "+tc.want, tc.name)
	}
}

// relabel logs e under another petition than the one its statement names.
func relabel(e api.Entry, petition string) api.Entry {
	e.Petition = petition
	return e
}

func TestCheckPublished(t *testing.T) {
	t.Parallel()
	c := Count{Online: 3, Paper: 7}
	assert.NoError(t, c.CheckPublished(api.PublicPetition{Signatures: 3, Paper: 7, Total: 10}))
	for _, p := range []api.PublicPetition{{Signatures: 4, Paper: 7, Total: 11}, {Signatures: 3, Paper: 6, Total: 9}, {Signatures: 3, Paper: 7, Total: 11}} {
		assert.ErrorContains(t, c.CheckPublished(p), "the ledger holds 3 + 7 = 10")
	}
}

// tokened is the petition.sign entry of w's token for petition under sk, as the node logs it.
func tokened(t *testing.T, sk *rsa.PrivateKey, w *crypto.Wallet, petition string) api.Entry {
	t.Helper()
	r, err := w.BlindToken(petition, &sk.PublicKey)
	require.NoError(t, err)
	blindSig, err := crypto.BlindSign(sk, r.Blinded)
	require.NoError(t, err)
	tok, err := r.Finalize(blindSig)
	require.NoError(t, err)
	act, sig, err := crypto.SignAct(r.Key, crypto.PetitionAct{Petition: petition, Type: crypto.TypePetitionSign})
	require.NoError(t, err)
	return api.Entry{Type: api.EntryPetitionSign, Petition: petition, Nullifier: w.Nullifier(petition), SigningKey: act.Key,
		Signature: sig, Randomizer: r.Randomizer, Token: tok, Epoch: "2026-10-02"}
}

// withdrawn is the petition.withdraw entry of w's key for petition, signed by signer's.
func withdrawn(t *testing.T, w, signer *crypto.Wallet, petition string) api.Entry {
	t.Helper()
	k, err := signer.PetitionKey(petition)
	require.NoError(t, err)
	own, err := w.PetitionKey(petition)
	require.NoError(t, err)
	_, sig, err := crypto.SignAct(k, crypto.PetitionAct{Key: "", Petition: petition, Type: crypto.TypePetitionWithdraw})
	require.NoError(t, err)
	return api.Entry{Type: api.EntryPetitionRevoke, Petition: petition, Nullifier: w.Nullifier(petition),
		SigningKey: crypto.EncodeKey(own.Public().(ed25519.PublicKey)), Signature: sig, Epoch: "2026-10-03"}
}

// TestRecountChecksTokens recounts a petition whose signatures spend tokens: legacy
// signatures before its petition.key still count, every later one must spend a token for the
// petition and its key, a nullifier signs once, only its key withdraws it, and no more tokens
// are spent than the ledger shows issued.
func TestRecountChecksTokens(t *testing.T) {
	t.Parallel()
	f := newLedgerFixture(t)
	sk, err := crypto.NewTokenKey()
	require.NoError(t, err)
	spki, err := crypto.EncodeTokenKey(&sk.PublicKey)
	require.NoError(t, err)
	a, b := newWallet(t), newWallet(t)
	trees := api.Petition{ID: "trees", Title: "Trees", Opens: opens, Closes: opens.AddDate(0, 0, 10), Threshold: 10}
	key := api.Entry{Type: api.EntryPetitionKey, Petition: "trees", TokenKey: spki}
	issue := func(*crypto.Wallet) api.Entry {
		return api.Entry{Type: api.EntryPetitionIssue, Petition: "trees", Epoch: "2026-10-01"}
	}
	base := []api.Entry{register(f.organiser), {Type: api.EntryOrganiserGrant, Citizen: f.organiser.CitizenID()},
		f.create(f.organiser, trees), sign("trees", 5), key, issue(a), issue(b)}
	good := append(slices.Clone(base), tokened(t, sk, a, "trees"), tokened(t, sk, b, "trees"), withdrawn(t, a, a, "trees"))
	c, err := Recount("trees", entries(good...))
	require.NoError(t, err)
	assert.Equal(t, 2, c.Online, "the legacy signature and b's")
	assert.Equal(t, 3, c.Signed)
	assert.Equal(t, 2, c.Issued)
	assert.Equal(t, 2, c.Tokened)

	forged := tokened(t, sk, a, "trees")
	forged.Token = slices.Clone(forged.Token)
	forged.Token[0] ^= 1
	stolen := tokened(t, sk, a, "trees")
	stolen.SigningKey = tokened(t, sk, b, "trees").SigningKey
	other, err := crypto.NewTokenKey()
	require.NoError(t, err)
	for name, tc := range map[string]struct {
		es   []api.Entry
		want string
	}{
		"a token spent twice":         {append(slices.Clone(base), tokened(t, sk, a, "trees"), withdrawn(t, a, a, "trees"), tokened(t, sk, a, "trees")), "spent nullifier"},
		"a forged token":              {append(slices.Clone(base), forged), "does not verify"},
		"another key's token":         {append(slices.Clone(base), tokened(t, other, a, "trees")), "does not verify"},
		"a token under another key":   {append(slices.Clone(base), stolen), "not the hash"},
		"a tokenless signature":       {append(slices.Clone(base), sign("trees", 3)), "not the hash"},
		"a withdrawal by another key": {append(slices.Clone(base), tokened(t, sk, a, "trees"), withdrawn(t, a, b, "trees")), "not signed by the signature's key"},
		"more spent than issued": {append([]api.Entry{register(f.organiser), {Type: api.EntryOrganiserGrant, Citizen: f.organiser.CitizenID()},
			f.create(f.organiser, trees), key, issue(a)}, tokened(t, sk, a, "trees"), tokened(t, sk, b, "trees")), "only 1 tokens were issued"},
	} {
		_, err := Recount("trees", entries(tc.es...))
		assert.ErrorContains(t, err, tc.want, name)
	}
}

func newWallet(t *testing.T) *crypto.Wallet {
	t.Helper()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	return w
}
