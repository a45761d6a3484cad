package client

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"filippo.io/age"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
)

// Petitions lists every petition, most recent first.
func (c *Client) Petitions(ctx context.Context) ([]api.PublicPetition, error) {
	var out []api.PublicPetition
	err := c.do(ctx, http.MethodGet, "/api/v1/petitions", "", nil, &out)
	return out, err
}

// Petition fetches one petition with its timeline and breakdown.
func (c *Client) Petition(ctx context.Context, id string) (api.PublicPetition, error) {
	var out api.PublicPetition
	err := c.do(ctx, http.MethodGet, "/api/v1/petitions/"+url.PathEscape(id), "", nil, &out)
	return out, err
}

// Token is a finalised petition token: the blind signature the node issued for the wallet's
// key for the petition, unblinded.
type Token struct {
	Petition   string
	Randomizer []byte
	Signature  []byte
}

// tokensRequest is the body of POST /api/v1/petitions/tokens.
type tokensRequest struct {
	crypto.SignedStatement
	Blinded map[string][]byte `json:"blinded"`
}

// Tokens asks the node for the wallet's token for every petition of ps that has a token key
// and is open: a wallet asks for all of them whenever it syncs, whether or not it will sign,
// so the request says nothing of intent. It returns the finalised tokens by petition id, and
// the node's error code for each petition it issued none for (out_of_scope...).
func (c *Client) Tokens(ctx context.Context, w *crypto.Wallet, ps []api.PublicPetition) (map[string]Token, map[string]string, error) {
	reqs := map[string]*crypto.TokenRequest{}
	body := tokensRequest{Blinded: map[string][]byte{}}
	encoded := map[string]string{}
	for _, p := range ps {
		if p.TokenKey == "" || p.Status != "open" {
			continue
		}
		pk, err := crypto.DecodeTokenKey(p.TokenKey)
		if err != nil {
			return nil, nil, fmt.Errorf("client: petition %s: %w", p.ID, err)
		}
		r, err := w.BlindToken(p.ID, pk)
		if err != nil {
			return nil, nil, err
		}
		reqs[p.ID], body.Blinded[p.ID] = r, r.Blinded
		encoded[p.ID] = base64.StdEncoding.EncodeToString(r.Blinded)
	}
	if len(reqs) == 0 {
		return map[string]Token{}, map[string]string{}, nil
	}
	signed, err := w.SignStatement(crypto.Statement{Type: crypto.TypePetitionTokens, Document: crypto.TokenRequestDocument(encoded),
		IssuedAt: c.issuedAt(), Nonce: crypto.NewNonce()})
	if err != nil {
		return nil, nil, err
	}
	body.SignedStatement = signed
	var ans api.TokensAnswer
	if err := c.do(ctx, http.MethodPost, "/api/v1/petitions/tokens", "", body, &ans); err != nil {
		return nil, nil, err
	}
	out := map[string]Token{}
	for id, blindSig := range ans.Tokens {
		r, ok := reqs[id]
		if !ok {
			continue
		}
		sig, err := r.Finalize(blindSig)
		if err != nil {
			return nil, nil, fmt.Errorf("client: petition %s: %w", id, err)
		}
		out[id] = Token{Petition: id, Randomizer: r.Randomizer, Signature: sig}
	}
	return out, ans.Refused, nil
}

// SyncTokens asks for the wallet's tokens for every open petition (Tokens), as a wallet does
// whenever it syncs, and returns them with the node's refusals and the petitions it read.
func (c *Client) SyncTokens(ctx context.Context, w *crypto.Wallet) (map[string]Token, map[string]string, []api.PublicPetition, error) {
	ps, err := c.Petitions(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	tokens, refused, err := c.Tokens(ctx, w, ps)
	return tokens, refused, ps, err
}

// SignPetition signs a petition under the wallet's key for it, or withdraws that signature.
// A signature first syncs the wallet's tokens (SyncTokens, for every open petition) and
// spends the petition's (Act).
func (c *Client) SignPetition(ctx context.Context, w *crypto.Wallet, petition string, withdraw bool, answers *api.Answers) (api.SignatureStatus, error) {
	var tok Token
	if !withdraw {
		tokens, refused, ps, err := c.SyncTokens(ctx, w)
		if err != nil {
			return api.SignatureStatus{}, err
		}
		var ok bool
		if tok, ok = tokens[petition]; !ok {
			return api.SignatureStatus{}, noToken(ps, petition, refused[petition])
		}
	}
	return c.Act(ctx, w, petition, withdraw, tok, answers)
}

// Act posts a signature spending tok, or a withdrawal (tok unused), signed by the wallet's key
// for the petition. Answers, if any, are sealed to the petition's tally key; the act's
// document field is their hash, so the key's signature covers them. The request names no
// citizen. The node answers once the act is durable: its status is pending until its batch is
// in the ledger (WaitSignature).
func (c *Client) Act(ctx context.Context, w *crypto.Wallet, petition string, withdraw bool, tok Token, answers *api.Answers) (api.SignatureStatus, error) {
	key, err := w.PetitionKey(petition)
	if err != nil {
		return api.SignatureStatus{}, err
	}
	req := api.SignatureRequest{Type: crypto.TypePetitionWithdraw, Petition: petition}
	if !withdraw {
		req.Type, req.Randomizer, req.Token = crypto.TypePetitionSign, tok.Randomizer, tok.Signature
		if answers != nil {
			p, err := c.Petition(ctx, petition)
			if err != nil {
				return api.SignatureStatus{}, err
			}
			tally, err := age.ParseX25519Recipient(p.Recipient)
			if err != nil {
				return api.SignatureStatus{}, fmt.Errorf("client: petition %s: tally key: %w", petition, err)
			}
			if req.Answers, err = sealAnswers(*answers, tally); err != nil {
				return api.SignatureStatus{}, err
			}
			req.Document = crypto.DocumentHash(req.Answers)
		}
	}
	act, sig, err := crypto.SignAct(key, crypto.PetitionAct{Document: req.Document, Petition: petition, Type: req.Type})
	if err != nil {
		return api.SignatureStatus{}, err
	}
	req.Key, req.Signature = act.Key, sig
	var out api.SignatureStatus
	err = c.do(ctx, http.MethodPost, "/api/v1/petitions/"+url.PathEscape(petition)+"/signatures", "", req, &out)
	return out, err
}

// noToken explains why the node issued no token for a petition: the node's refusal, or the
// petition's own state.
func noToken(ps []api.PublicPetition, petition, refused string) error {
	if refused != "" {
		return &APIError{Status: http.StatusConflict, Code: refused, Message: "the node issued no token for petition " + petition}
	}
	for _, p := range ps {
		if p.ID == petition {
			code := map[string]string{"upcoming": "petition_not_open", "closed": "petition_closed"}[p.Status]
			if code == "" {
				code = "no_token_key"
			}
			return &APIError{Status: http.StatusConflict, Code: code, Message: "petition " + petition + " is " + p.Status}
		}
	}
	return &APIError{Status: http.StatusNotFound, Code: "unknown_petition", Message: "no petition with this id"}
}

// SignatureStatus reads where a nullifier's acts on a petition stand.
func (c *Client) SignatureStatus(ctx context.Context, petition, nullifier string) (api.SignatureStatus, error) {
	var out api.SignatureStatus
	err := c.do(ctx, http.MethodGet, "/api/v1/petitions/"+url.PathEscape(petition)+"/signatures/"+url.PathEscape(nullifier), "", nil, &out)
	return out, err
}

// WaitSignature polls a nullifier's status every interval until it is no longer pending, and
// returns it with its receipt, or ctx's error.
func (c *Client) WaitSignature(ctx context.Context, petition, nullifier string, every time.Duration) (api.SignatureStatus, error) {
	for {
		s, err := c.SignatureStatus(ctx, petition, nullifier)
		if err != nil || s.Status != api.SignaturePending {
			return s, err
		}
		select {
		case <-ctx.Done():
			return s, fmt.Errorf("client: waiting for the receipt: %w", ctx.Err())
		case <-time.After(every):
		}
	}
}

// answersSize is the length every sealed answer's plaintext is padded to: the longest answer
// (a 64-byte neighbourhood id and an age band) fits.
const answersSize = 192

// AnswersPlaintext is what a signer's answers are sealed as: their JSON (version 1), padded
// with JSON whitespace to answersSize, so that the ciphertext's length, which the node stores
// and its backups hold without the tally key, tells nothing of the answers: "65+" is shorter
// than "30-44", and neighbourhood ids differ in length. The browser wallet writes the same bytes.
func AnswersPlaintext(a api.Answers) ([]byte, error) {
	a.V = 1
	plain, err := json.Marshal(a)
	if err != nil {
		return nil, fmt.Errorf("client: answers: %w", err)
	}
	if len(plain) < answersSize {
		plain = append(plain, bytes.Repeat([]byte(" "), answersSize-len(plain))...)
	}
	return plain, nil
}

// sealAnswers seals a signer's answers (AnswersPlaintext) to the petition's tally key.
func sealAnswers(a api.Answers, tally age.Recipient) ([]byte, error) {
	plain, err := AnswersPlaintext(a)
	if err != nil {
		return nil, err
	}
	return crypto.Seal(plain, tally)
}

// SignDocument signs an organiser's statement of type typ about a petition, over a document's
// compact JSON, and returns the statement and the exact document bytes it covers.
func SignDocument(w *crypto.Wallet, typ, petition string, doc any) (crypto.SignedStatement, json.RawMessage, error) {
	return signDocument(w, typ, petition, doc, crypto.Now())
}

// signDocument is SignDocument issued at issuedAt.
func signDocument(w *crypto.Wallet, typ, petition string, doc any, issuedAt string) (crypto.SignedStatement, json.RawMessage, error) {
	body, err := json.Marshal(doc)
	if err != nil {
		return crypto.SignedStatement{}, nil, fmt.Errorf("client: document: %w", err)
	}
	signed, err := w.SignStatement(crypto.Statement{Type: typ, Petition: petition, Document: crypto.DocumentHash(body),
		IssuedAt: issuedAt, Nonce: crypto.NewNonce()})
	return signed, body, err
}

// CreatePetition logs a petition document signed by the wallet of an organiser.
func (c *Client) CreatePetition(ctx context.Context, w *crypto.Wallet, p api.Petition) (Answer, error) {
	return c.postDocument(ctx, w, crypto.TypePetitionCreate, p.ID, p, "/api/v1/petitions")
}

// EnterPaper logs a count of paper signatures, signed by the petition's organiser.
func (c *Client) EnterPaper(ctx context.Context, w *crypto.Wallet, paper api.Paper) (Answer, error) {
	return c.postDocument(ctx, w, crypto.TypePetitionPaper, paper.Petition, paper,
		"/api/v1/petitions/"+url.PathEscape(paper.Petition)+"/paper")
}

// documentRequest is an organiser's signed statement with the document it names: a petition
// for petition.create, a paper count for petition.paper.
type documentRequest struct {
	crypto.SignedStatement
	Petition json.RawMessage `json:"petition,omitempty"`
	Paper    json.RawMessage `json:"paper,omitempty"`
}

// postDocument signs an organiser's statement of type typ about a petition over doc, and
// posts the statement with the document to path.
func (c *Client) postDocument(ctx context.Context, w *crypto.Wallet, typ, petition string, doc any, path string) (Answer, error) {
	signed, body, err := signDocument(w, typ, petition, doc, c.issuedAt())
	if err != nil {
		return Answer{}, err
	}
	req := documentRequest{SignedStatement: signed}
	if typ == crypto.TypePetitionPaper {
		req.Paper = body
	} else {
		req.Petition = body
	}
	var a Answer
	err = c.do(ctx, http.MethodPost, path, "", req, &a)
	return a, err
}

// GrantOrganiser gives a registered resident the organiser role (admin).
func (c *Client) GrantOrganiser(ctx context.Context, token, citizen string) (Answer, error) {
	var a Answer
	err := c.do(ctx, http.MethodPost, "/api/v1/admin/organisers", token, map[string]string{"citizen": citizen}, &a)
	return a, err
}

// RevokeOrganiser takes the organiser role away (admin).
func (c *Client) RevokeOrganiser(ctx context.Context, token, citizen string) (Answer, error) {
	var a Answer
	err := c.do(ctx, http.MethodDelete, "/api/v1/admin/organisers/"+url.PathEscape(citizen), token, nil, &a)
	return a, err
}
