package server

import (
	"crypto/ed25519"
	"crypto/rsa"
	"encoding/base64"
	"errors"
	"fmt"
	"sort"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/petition"
	"github.com/commons-city/commons/store"
)

// MaxTokensPerRequest bounds the petitions one token request names.
const MaxTokensPerRequest = 256

// tokensRequest is the body of POST /api/v1/petitions/tokens (api.TokensAnswer answers it): a
// resident's signed petition.tokens statement, whose document is crypto.TokenRequestDocument
// of the blinded messages, and one blinded message per petition.
type tokensRequest struct {
	crypto.SignedStatement
	Blinded map[string][]byte `json:"blinded"`
}

// issueTokens blind-signs a registered resident's token for every petition the request names
// that is open, in the resident's scope and holds a token key; the others are named in the
// answer's refusals. A resident is issued one token per petition: the same blinded message is
// signed again (a second device of the same wallet blinds the same way), another is refused.
// Each new issuance is kept privately (the blinded message's digest, under the resident and
// the petition) and logged without naming the resident (petition.issue, in the next shuffled
// batch); a wallet asks for every open petition of its scope whenever it syncs, so neither
// says whether the resident will sign.
func (a *handlers) issueTokens(c *fiber.Ctx) error {
	var req tokensRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	st := req.Statement
	if st.Type != crypto.TypePetitionTokens {
		return errWrongType
	}
	if len(req.Blinded) == 0 || len(req.Blinded) > MaxTokensPerRequest {
		return invalid("blinded", fmt.Sprintf("1 to %d petitions", MaxTokensPerRequest))
	}
	encoded := make(map[string]string, len(req.Blinded))
	for id, b := range req.Blinded {
		encoded[id] = base64.StdEncoding.EncodeToString(b)
	}
	if crypto.TokenRequestDocument(encoded) != st.Document {
		return errBadSignature
	}
	if err := a.authenticate(c, req.SignedStatement); err != nil {
		return err
	}
	home, err := a.Store.Neighbourhood(st.Citizen)
	if err != nil {
		return err
	}
	now := a.Now()
	ids := make([]string, 0, len(req.Blinded))
	keys := []string{}
	for id := range req.Blinded {
		ids = append(ids, id)
		keys = append(keys, "issue|"+id+"|"+st.Citizen)
	}
	sort.Strings(ids)
	release, err := a.reserve(st, keys...)
	if err != nil {
		return err
	}
	defer release()
	out := api.TokensAnswer{Tokens: map[string][]byte{}, Refused: map[string]string{}}
	refuse := func(id string, err error) {
		var ae *apiError
		if errors.As(petitionError(err), &ae) {
			out.Refused[id] = ae.code
		}
	}
	var records []ledger.Put
	for _, id := range ids {
		p, ok := a.State.Petition(id)
		if !ok {
			refuse(id, errNoPetition)
			continue
		}
		if err := petition.CanIssue(&p.Petition, p.TokenKey != "", home, now); err != nil {
			refuse(id, err)
			continue
		}
		blinded := req.Blinded[id]
		issued, err := a.Store.Issued(id, st.Citizen)
		if err != nil {
			return err
		}
		if issued != "" && issued != store.BlindedDigest(blinded) {
			refuse(id, errIssued)
			continue
		}
		sk, err := a.tokenKey(id)
		if err != nil {
			return err
		}
		sig, err := crypto.BlindSign(sk, blinded)
		if err != nil {
			refuse(id, invalid("blinded", "an RSA-2048 blinded message of 256 bytes"))
			continue
		}
		out.Tokens[id] = sig
		if issued == "" {
			// The entry names no one, and waits for the next shuffled batch: it counts the
			// petition's tokens without saying whose, or whose registration it followed.
			e, err := api.Entry{Type: api.EntryPetitionIssue, Petition: id}.Marshal() // its epoch is its batch's
			if err != nil {
				return err
			}
			pending, err := store.PendingIssue(id, e)
			if err != nil {
				return err
			}
			records = append(records, store.IssuedRecord(id, st.Citizen, blinded), pending)
		}
	}
	if len(records) == 0 {
		if err := a.Store.UseNonce(c.UserContext(), st.Citizen, st.Nonce); err != nil {
			return err
		}
		return c.JSON(out)
	}
	records = append(records, store.NonceRecord(st.Citizen, st.Nonce))
	if err := a.Ledger.Write(c.UserContext(), ledger.Write{Puts: records}); err != nil {
		return appendError(err)
	}
	a.batcher.accepted(c.UserContext())
	return c.JSON(out)
}

// petitionAct accepts a signature or its withdrawal, signed by the wallet's key for the
// petition and naming no one: a signature spends a token the node issued blind for the
// petition and that key, under the nullifier that is the key's hash; a withdrawal is signed by
// the same key. The act is stored durably, pending, and answered 202; it is appended to the
// ledger with the next batch (Batcher), and its receipt is then at
// GET /api/v1/petitions/{id}/signatures/{nullifier}.
func (a *handlers) petitionAct(c *fiber.Ctx) error {
	var req api.SignatureRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	p, ok := a.State.Petition(c.Params("id"))
	if !ok {
		return errNoPetition
	}
	now := a.Now()
	if err := petition.CheckAct(&p.Petition, req, now); err != nil {
		return petitionError(err)
	}
	act := crypto.PetitionAct{Document: req.Document, Key: req.Key, Petition: req.Petition, Type: req.Type}
	pub, err := crypto.VerifyAct(act, req.Signature)
	if err != nil {
		return statementError(err)
	}
	sign := req.Type == crypto.TypePetitionSign
	if sign {
		if err := a.verifyToken(p.ID, p.TokenKey, pub, req.Randomizer, req.Token); err != nil {
			return petitionError(err)
		}
	}
	nullifier := crypto.PetitionNullifier(pub)
	release, err := a.State.Reserve("nullifier|" + p.ID + "|" + nullifier)
	if err != nil {
		return errBusy
	}
	defer release()
	// A signature's double spending is refused atomically by PutPending (the spent mark); the
	// read model answers for a signature already logged. A withdrawal needs to know whether
	// the signature is still pending.
	var slot petition.Slot
	if n, ok := a.State.NullifierEntry(p.ID, nullifier); ok {
		slot = petition.Slot{Seen: true, Logged: true, Active: n.Active}
	} else if !sign {
		if slot.Seen, err = a.Store.NullifierSpent(p.ID, nullifier, crypto.TypePetitionSign); err != nil {
			return err
		}
	}
	if err := slot.Check(sign); err != nil {
		return petitionError(err)
	}
	e := api.Entry{Type: api.EntryPetitionRevoke, Petition: p.ID, Nullifier: nullifier, SigningKey: req.Key,
		Signature: req.Signature}
	if sign {
		e.Type, e.Hash, e.Randomizer, e.Token = api.EntryPetitionSign, req.Document, req.Randomizer, req.Token
	}
	entry, err := e.Marshal()
	if err != nil {
		return err
	}
	pending := store.Pending{Petition: p.ID, Nullifier: nullifier, Type: req.Type, Entry: entry,
		Answers: req.Answers, Asks: len(p.Ask) > 0}
	if err := a.Store.PutPending(c.UserContext(), pending); errors.Is(err, store.ErrSpent) {
		if sign {
			return errAlreadySigned
		}
		return errWithdrawn
	} else if err != nil {
		return appendError(err)
	}
	a.batcher.accepted(c.UserContext())
	status := api.SignatureStatus{Nullifier: nullifier, Status: api.SignaturePending}
	if a.batcher.Policy().immediate() {
		// Appended already: answer with the receipt.
		if status, err = a.signatureStatus(p.ID, nullifier); err != nil {
			return err
		}
	}
	return c.Status(fiber.StatusAccepted).JSON(status)
}

// verifyToken checks a token against the petition's token key, keeping one verifier per key.
func (a *handlers) verifyToken(id, tokenKey string, pub ed25519.PublicKey, randomizer, token []byte) error {
	if tokenKey == "" {
		return petition.ErrNoTokenKey
	}
	v, ok := a.verifiers.Load(tokenKey)
	if !ok {
		pk, err := crypto.DecodeTokenKey(tokenKey)
		if err != nil {
			return fmt.Errorf("server: petition %s: %w", id, err)
		}
		tv, err := crypto.NewTokenVerifier(pk)
		if err != nil {
			return err
		}
		v, _ = a.verifiers.LoadOrStore(tokenKey, tv)
	}
	if v.(crypto.TokenVerifier).Verify(id, pub, randomizer, token) != nil {
		return petition.ErrBadToken
	}
	return nil
}

// signatureStatus is where a nullifier's acts stand: pending while one waits for its batch,
// then signed or withdrawn with the receipt of its latest entry.
func (a *handlers) signatureStatus(id, nullifier string) (api.SignatureStatus, error) {
	out := api.SignatureStatus{Nullifier: nullifier, Status: api.SignaturePending}
	for _, typ := range []string{crypto.TypePetitionSign, crypto.TypePetitionWithdraw} {
		pending, err := a.Store.IsPending(id, nullifier, typ)
		if err != nil || pending {
			return out, err
		}
	}
	n, ok := a.State.NullifierEntry(id, nullifier)
	if !ok {
		// Its batch may have landed between the two reads: the pending record is deleted
		// when the batch commits, and the entry reaches the read model just after.
		a.Ledger.Settle()
		if n, ok = a.State.NullifierEntry(id, nullifier); !ok {
			return out, errNotFound
		}
	}
	out.Status = api.SignatureWithdrawn
	if n.Active {
		out.Status = api.SignatureSigned
	}
	r, err := a.receiptOf(n.Index)
	if err != nil {
		return out, err
	}
	out.Receipt = &r
	return out, nil
}

// signature answers GET /api/v1/petitions/{id}/signatures/{nullifier}.
func (a *handlers) signature(c *fiber.Ctx) error {
	if _, ok := a.State.Petition(c.Params("id")); !ok {
		return errNoPetition
	}
	n := c.Params("nullifier")
	if !crypto.ValidNullifier(n) {
		return errNotFound
	}
	out, err := a.signatureStatus(c.Params("id"), n)
	if err != nil {
		return err
	}
	return c.JSON(out)
}

// receiptOf is the receipt of entry index under the latest checkpoint.
func (a *handlers) receiptOf(index uint64) (api.Receipt, error) {
	cp, size := a.Ledger.Checkpoint()
	p, err := a.Ledger.ProveInclusion(index, size)
	if err != nil {
		return api.Receipt{}, fmt.Errorf("server: receipt: %w", err)
	}
	return api.Receipt{Index: index, LeafHash: p.LeafHash, Checkpoint: string(cp), Proof: p.Proof}, nil
}

// tokenKey is a petition's RSA token key, read from the store once and kept (parsing and
// precomputing it costs more than the signature).
func (a *handlers) tokenKey(id string) (*rsa.PrivateKey, error) {
	if k, ok := a.tokenKeys.Load(id); ok {
		return k.(*rsa.PrivateKey), nil
	}
	sk, err := a.Store.TokenKey(id)
	if err != nil {
		return nil, err
	}
	k, _ := a.tokenKeys.LoadOrStore(id, sk)
	return k.(*rsa.PrivateKey), nil
}

// newTokenKey makes a petition's token key with the configured source.
func (a *handlers) newTokenKey() (*rsa.PrivateKey, error) {
	if a.TokenKeys != nil {
		return a.TokenKeys()
	}
	return crypto.NewTokenKey()
}
