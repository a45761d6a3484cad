package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// PurposeStatus fetches one purpose as GET /api/v1/purposes/{id} shows it: its proposal, its
// status and its approvals per neighbourhood.
func (c *Client) PurposeStatus(ctx context.Context, id string) (api.PublicPurpose, error) {
	var p api.PublicPurpose
	err := c.do(ctx, http.MethodGet, "/api/v1/purposes/"+id, "", nil, &p)
	return p, err
}

// ProposePurpose signs a purpose proposal as the wallet's organiser and sends it. doc is the
// proposal's canonical JSON (api.Canonical), which the statement's document field signs.
func (c *Client) ProposePurpose(ctx context.Context, w *crypto.Wallet, p api.PurposeProposal) (Answer, error) {
	doc, err := api.Canonical(p)
	if err != nil {
		return Answer{}, err
	}
	signed, err := w.SignStatement(crypto.Statement{Type: crypto.TypePurposePropose, Purpose: p.ID,
		PurposeVersion: p.Version, Document: crypto.DocumentHash(doc), IssuedAt: c.issuedAt(), Nonce: crypto.NewNonce()})
	if err != nil {
		return Answer{}, err
	}
	var a Answer
	err = c.do(ctx, http.MethodPost, "/api/v1/purposes", "", struct {
		crypto.SignedStatement
		Proposal json.RawMessage `json:"proposal"`
	}{signed, doc}, &a)
	return a, err
}

// ChoosePurpose approves (approve) or objects to a proposal version, under the wallet's
// nullifier on it.
func (c *Client) ChoosePurpose(ctx context.Context, w *crypto.Wallet, id string, version int, approve bool) (Answer, error) {
	typ := crypto.TypePurposeObject
	if approve {
		typ = crypto.TypePurposeApprove
	}
	return c.statement(ctx, "/api/v1/statements", w, crypto.Statement{Type: typ, Purpose: id, PurposeVersion: version,
		Nullifier: w.Nullifier(crypto.PurposeNullifierScope(id, version))})
}

// RetireOwnPurpose is the proposer retiring their active purpose.
func (c *Client) RetireOwnPurpose(ctx context.Context, w *crypto.Wallet, id string, version int) (api.PublicPurpose, error) {
	signed, err := w.SignStatement(crypto.Statement{Type: crypto.TypePurposeRetire, Purpose: id, PurposeVersion: version,
		IssuedAt: c.issuedAt(), Nonce: crypto.NewNonce()})
	if err != nil {
		return api.PublicPurpose{}, err
	}
	var p api.PublicPurpose
	err = c.do(ctx, http.MethodPost, "/api/v1/statements", "", signed, &p)
	return p, err
}

// DecidePurpose is the operator's decision on a purpose (admin): action is "activate",
// "refuse" or "retire"; a refusal and a retirement need a reason. It returns the answer's
// receipt, if any.
func (c *Client) DecidePurpose(ctx context.Context, token, action, id, reason string) (json.RawMessage, error) {
	switch action {
	case "activate", "refuse", "retire":
	default:
		return nil, fmt.Errorf("client: no purpose decision %q", action)
	}
	var out json.RawMessage
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/purposes/"+action+"/"+id, token, map[string]string{"reason": reason}, &out)
	return out, err
}
