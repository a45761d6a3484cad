package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/store"
)

// statement accepts a signed consent or purpose statement and answers with its receipt. Petition
// signatures are not statements of the resident: they go, under the wallet's key for the
// petition, to POST /api/v1/petitions/{id}/signatures.
func (a *handlers) statement(c *fiber.Ctx) error {
	var req crypto.SignedStatement
	if err := decode(c, &req); err != nil {
		return err
	}
	switch req.Statement.Type {
	case crypto.TypePetitionSign, crypto.TypePetitionWithdraw:
		return errPetitionAct
	}
	if err := a.authenticate(c, req); err != nil {
		return err
	}
	switch req.Statement.Type {
	case crypto.TypeConsentGrant, crypto.TypeConsentRevoke:
		return a.consent(c, req)
	case crypto.TypePurposeApprove, crypto.TypePurposeObject:
		return a.purposeChoice(c, req)
	case crypto.TypePurposeRetire:
		return a.proposerRetire(c, req)
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
