package purpose

import (
	"context"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/petition"
)

// town is a node's core (nodetest: a real ledger, read model and store) with an organiser
// who holds the role, and the entries of proposals and choices as the server logs them.
type town struct {
	t    *testing.T
	core *nodetest.Core
	org  *crypto.Wallet
}

func newTown(t *testing.T) *town {
	t.Helper()
	tw := &town{t: t, core: nodetest.New(t, nodetest.Options{}), org: wallet(t)}
	tw.log(registration(tw.org), api.Entry{Type: api.EntryOrganiserGrant, Citizen: tw.org.CitizenID()})
	return tw
}

func wallet(t *testing.T) *crypto.Wallet {
	t.Helper()
	w, err := crypto.NewWallet()
	require.NoError(t, err)
	return w
}

// registration is w's citizen.register entry.
func registration(w *crypto.Wallet) api.Entry {
	return api.Entry{Type: api.EntryRegister, Citizen: w.CitizenID(), Hash: "invite-" + w.CitizenID(),
		SigningKey: crypto.EncodeKey(w.SigningPublicKey())}
}

// proposal is w's signed purpose.propose entry of p, its body p's canonical encoding.
func (tw *town) proposal(w *crypto.Wallet, p api.PurposeProposal) api.Entry {
	tw.t.Helper()
	body, err := CanonicalProposal(p)
	require.NoError(tw.t, err)
	return tw.signedProposal(w, p.ID, p.Version, body)
}

// signedProposal is w's signed purpose.propose entry of version of purpose id, its body
// exactly body.
func (tw *town) signedProposal(w *crypto.Wallet, id string, version int, body []byte) api.Entry {
	tw.t.Helper()
	s, err := w.SignStatement(crypto.Statement{Type: crypto.TypePurposePropose, Purpose: id, PurposeVersion: version,
		Document: crypto.DocumentHash(body), IssuedAt: "2026-05-04T10:00:00Z", Nonce: crypto.NewNonce()})
	require.NoError(tw.t, err)
	return api.Entry{Type: api.EntryPurposePropose, Purpose: id, PurposeVersion: version, Body: body,
		Hash: state.Hash(body), Citizen: s.Statement.Citizen, IssuedAt: s.Statement.IssuedAt, Nonce: s.Statement.Nonce,
		Signature: s.Signature}
}

// decision is the purpose.refuse or purpose.retire entry of version 1 of purpose id.
func (tw *town) decision(typ, id, by string) api.Entry {
	tw.t.Helper()
	b, err := DecisionEntry(typ, &state.Proposal{PurposeProposal: api.PurposeProposal{ID: id, Version: 1}},
		api.PurposeDecision{By: by, Reason: "decided by " + by})
	require.NoError(tw.t, err)
	e, err := api.ParseEntry(b)
	require.NoError(tw.t, err)
	return e
}

// choice is w's approval of (or objection to) version 1 of purpose id, from neighbourhood,
// under w's nullifier on it.
func choice(w *crypto.Wallet, id, neighbourhood string, approve bool) api.Entry {
	typ := api.EntryPurposeObject
	if approve {
		typ = api.EntryPurposeApprove
	}
	return api.Entry{Type: typ, Purpose: id, PurposeVersion: 1, Nullifier: w.Nullifier(crypto.PurposeNullifierScope(id, 1)),
		Neighbourhood: neighbourhood, Epoch: "2026-05-05"}
}

// activation is the purpose.define entry activating proposal entry e in neighbourhoods.
func (tw *town) activation(e api.Entry, neighbourhoods ...string) api.Entry {
	tw.t.Helper()
	p, err := ParseProposal(e.Body)
	require.NoError(tw.t, err)
	b, err := ActivationEntry(Define(&state.Proposal{PurposeProposal: p, Hash: e.Hash}, recipient, neighbourhoods))
	require.NoError(tw.t, err)
	a, err := api.ParseEntry(b)
	require.NoError(tw.t, err)
	return a
}

// log appends es to the node's ledger, in order.
func (tw *town) log(es ...api.Entry) {
	tw.t.Helper()
	for _, e := range es {
		tw.core.Append(tw.t, e)
	}
}

// entries reads back every entry of the node's ledger.
func (tw *town) entries() []api.Entry {
	tw.t.Helper()
	var out []api.Entry
	lg := tw.core.Ledger
	require.NoError(tw.t, lg.Scan(context.Background(), 0, lg.Size(), func(_ uint64, b []byte) error {
		e, err := api.ParseEntry(b)
		out = append(out, e)
		return err
	}))
	return out
}

// walk visits es in order, as an auditor's walk over a node's log does.
func walk(es []api.Entry) petition.Entries {
	return func(visit func(uint64, api.Entry) error) error {
		for i, e := range es {
			if err := visit(uint64(i), e); err != nil {
				return err
			}
		}
		return nil
	}
}

// active logs p's proposal, the approvals that meet its threshold in its first neighbourhood
// and its activation there, and returns the proposal as the read model then holds it.
func (tw *town) active(p api.PurposeProposal) *state.Proposal {
	tw.t.Helper()
	prop := tw.proposal(tw.org, p)
	tw.log(prop)
	for range p.ApprovalsNeeded {
		tw.log(choice(wallet(tw.t), p.ID, p.Scope[0], true))
	}
	tw.log(tw.activation(prop, p.Scope[0]))
	return tw.proposalNow(p.ID)
}

// proposalNow is the latest version of proposal id as the read model holds it.
func (tw *town) proposalNow(id string) *state.Proposal {
	tw.t.Helper()
	p, ok := tw.core.State.Proposal(id)
	require.True(tw.t, ok, id)
	return p
}

// share stores one contribution of w holding a share copy of purpose id for each day.
func (tw *town) share(w *crypto.Wallet, id string, days ...string) {
	tw.t.Helper()
	c := crypto.Contribution{Citizen: w.CitizenID(), Nonce: crypto.NewNonce(), IssuedAt: "2026-05-11T10:00:00Z"}
	for _, day := range days {
		c.Envelopes = append(c.Envelopes, crypto.Envelope{Day: day, Purpose: id, Ciphertext: []byte("sealed " + day)})
	}
	cid, err := c.ID()
	require.NoError(tw.t, err)
	require.NoError(tw.t, tw.core.Store.PutContribution(context.Background(), c, cid))
}

// copies is how many share copies of purpose id the store holds.
func (tw *town) copies(id string) int {
	tw.t.Helper()
	n, err := tw.core.Store.ShareCopyCount(id)
	require.NoError(tw.t, err)
	return n
}

// keyring records the purpose keys a Retirer destroys, and fails while fail is set.
type keyring struct {
	destroyed []string
	fail      error
}

func (k *keyring) destroy(id string, version int) error {
	if k.fail != nil {
		return k.fail
	}
	k.destroyed = append(k.destroyed, fmt.Sprintf("%s@%d", id, version))
	return nil
}

// retirer is the node's Retirer, destroying keys in k.
func (tw *town) retirer(k *keyring) *Retirer {
	return &Retirer{Ledger: tw.core.Ledger, State: tw.core.State, Store: tw.core.Store, DestroyKey: k.destroy}
}
