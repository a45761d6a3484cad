package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"

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

// SignPetition signs a petition under the wallet's nullifier for it, or withdraws that
// signature. Answers, if any, are sealed to the petition's tally key; the statement's
// document field is their hash, so the signature covers them.
func (c *Client) SignPetition(ctx context.Context, w *crypto.Wallet, petition string, withdraw bool, answers *api.Answers) (Answer, error) {
	s := crypto.Statement{Type: crypto.TypePetitionSign, Petition: petition, Nullifier: w.Nullifier(petition)}
	if withdraw {
		s.Type = crypto.TypePetitionWithdraw
	}
	var sealed []byte
	if answers != nil && !withdraw {
		p, err := c.Petition(ctx, petition)
		if err != nil {
			return Answer{}, err
		}
		tally, err := age.ParseX25519Recipient(p.Recipient)
		if err != nil {
			return Answer{}, fmt.Errorf("client: petition %s: tally key: %w", petition, err)
		}
		if sealed, err = sealAnswers(*answers, tally); err != nil {
			return Answer{}, err
		}
		s.Document = crypto.DocumentHash(sealed)
	}
	s.IssuedAt, s.Nonce = c.issuedAt(), crypto.NewNonce()
	signed, err := w.SignStatement(s)
	if err != nil {
		return Answer{}, err
	}
	body := struct {
		crypto.SignedStatement
		Answers []byte `json:"answers,omitempty"`
	}{signed, sealed}
	var a Answer
	err = c.do(ctx, http.MethodPost, "/api/v1/statements", "", body, &a)
	return a, err
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
