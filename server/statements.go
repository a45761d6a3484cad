package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/store"
)

// statementRequest is the body of POST /api/v1/statements: a signed statement and, with a
// petition signature, the signer's answers sealed to the petition's tally key (the statement's
// document field is their hash, so the signature covers them).
type statementRequest struct {
	crypto.SignedStatement
	Answers []byte `json:"answers,omitempty"`
}

// statement accepts a signed consent or petition statement and answers with its receipt.
func (a *handlers) statement(c *fiber.Ctx) error {
	var req statementRequest
	if err := decode(c, &req); err != nil {
		return err
	}
	if err := a.authenticate(c, req.SignedStatement); err != nil {
		return err
	}
	switch req.Statement.Type {
	case crypto.TypeConsentGrant, crypto.TypeConsentRevoke:
		if len(req.Answers) > 0 {
			return invalid("answers", "only with a petition signature")
		}
		return a.consent(c, req.SignedStatement)
	case crypto.TypePetitionSign, crypto.TypePetitionWithdraw:
		return a.petitionSignature(c, req)
	case crypto.TypePurposeApprove, crypto.TypePurposeObject, crypto.TypePurposeRetire:
		if len(req.Answers) > 0 {
			return invalid("answers", "only with a petition signature")
		}
		if req.Statement.Type == crypto.TypePurposeRetire {
			return a.proposerRetire(c, req.SignedStatement)
		}
		return a.purposeChoice(c, req.SignedStatement)
	default:
		return errWrongType
	}
}

// signedStatement decodes a statement of a registered citizen and authenticates it.
func (a *handlers) signedStatement(c *fiber.Ctx) (crypto.SignedStatement, error) {
	var s crypto.SignedStatement
	if err := decode(c, &s); err != nil {
		return s, err
	}
	return s, a.authenticate(c, s)
}

// authenticate checks that a statement names a registered citizen, that its signature
// verifies with that citizen's key, that it is fresh, that it carries a nonce not used yet,
// and that the citizen is within their allowance of writes. The allowance is charged last:
// signed statements are public in the ledger, so a replay of one must not spend it.
func (a *handlers) authenticate(c *fiber.Ctx, s crypto.SignedStatement) error {
	citizen, ok := a.State.Citizen(s.Statement.Citizen)
	if !ok {
		return errUnknownCitizen
	}
	if err := s.Verify(citizen.SigningKey); err != nil {
		return statementError(err)
	}
	if err := a.fresh(s.Statement.IssuedAt); err != nil {
		return err
	}
	if s.Statement.Nonce == "" {
		return invalid("nonce", "required")
	}
	if used, err := a.Store.NonceUsed(s.Statement.Citizen, s.Statement.Nonce); err != nil {
		return err
	} else if used {
		return errReplay
	}
	return a.limitCitizen(c, s.Statement.Citizen)
}

// reserve claims the statement's nonce and any other keys for the request's lifetime, and
// checks the nonce was never used.
func (a *handlers) reserve(st crypto.Statement, keys ...string) (func(), error) {
	release, err := a.State.Reserve(append(keys, "nonce|"+st.Citizen+"|"+st.Nonce)...)
	if err != nil {
		return nil, errBusy
	}
	used, err := a.Store.NonceUsed(st.Citizen, st.Nonce)
	if err != nil {
		release()
		return nil, err
	}
	if used {
		release()
		return nil, errReplay
	}
	return release, nil
}

func (a *handlers) consent(c *fiber.Ctx, s crypto.SignedStatement) error {
	st := s.Statement
	p, ok := a.State.Purpose(st.Purpose)
	if !ok {
		return a.notActive(st.Purpose)
	}
	release, err := a.reserve(st, "consent|"+st.Citizen+"|"+st.Purpose)
	if err != nil {
		return err
	}
	defer release()
	grant := st.Type == crypto.TypeConsentGrant
	if grant {
		if st.PurposeVersion != p.Version {
			return errOldVersion
		}
		if a.State.ActiveConsent(st.Citizen, st.Purpose) {
			return errAlreadyGranted
		}
		if err := a.consentAllowed(st.Citizen, p); err != nil {
			return err
		}
	} else if cur, ok := a.State.Consent(st.Citizen, st.Purpose); !ok || !cur.Active || a.State.Retired(p.ID, p.Version) {
		return errNoConsent // a retired purpose's consents lapsed with it
	}
	typ := api.EntryConsentGrant
	if !grant {
		typ = api.EntryConsentRevoke
	}
	r, err := a.appendEntry(c, api.Entry{Type: typ, Citizen: st.Citizen, Purpose: st.Purpose, PurposeVersion: st.PurposeVersion,
		Erase: st.Erase, IssuedAt: st.IssuedAt, Nonce: st.Nonce, Signature: s.Signature},
		store.NonceRecord(st.Citizen, st.Nonce))
	if err != nil {
		return err
	}
	if !grant {
		// Withdrawal stops all future use: share copies not yet in a release go now, and
		// "withdraw and erase" takes the vault copies too.
		if err := a.Store.DeleteUnreleased(c.UserContext(), st.Citizen, st.Purpose); err != nil {
			return err
		}
		if st.Erase {
			if err := a.Store.DeleteVault(c.UserContext(), st.Citizen); err != nil {
				return err
			}
		}
	}
	return created(c, receiptAnswer{Receipt: r})
}
