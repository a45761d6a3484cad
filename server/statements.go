package server

import (
	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/server/store"
)

// statement accepts a signed consent or petition statement and answers with its receipt.
func (a *api) statement(c *fiber.Ctx) error {
	s, err := a.signedStatement(c)
	if err != nil {
		return err
	}
	st := s.Statement
	switch st.Type {
	case crypto.TypeConsentGrant, crypto.TypeConsentRevoke:
		return a.consent(c, s)
	case crypto.TypePetitionSign, crypto.TypePetitionWithdraw:
		return a.petitionSignature(c, st)
	default:
		return errWrongType
	}
}

// signedStatement decodes a statement of a registered citizen and checks its signature, its
// freshness and that it carries a nonce.
func (a *api) signedStatement(c *fiber.Ctx) (crypto.SignedStatement, error) {
	var s crypto.SignedStatement
	if err := decode(c, &s); err != nil {
		return s, err
	}
	citizen, ok := a.State.Citizen(s.Statement.Citizen)
	if !ok {
		return s, errUnknownCitizen
	}
	if err := s.Verify(citizen.SigningKey); err != nil {
		return s, statementError(err)
	}
	if err := a.limitCitizen(c, s.Statement.Citizen); err != nil {
		return s, err
	}
	if err := a.fresh(s.Statement.IssuedAt); err != nil {
		return s, err
	}
	if s.Statement.Nonce == "" {
		return s, invalid("nonce", "required")
	}
	return s, nil
}

// reserve claims the statement's nonce and any other keys for the request's lifetime, and
// checks the nonce was never used.
func (a *api) reserve(st crypto.Statement, keys ...string) (func(), error) {
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

func (a *api) consent(c *fiber.Ctx, s crypto.SignedStatement) error {
	st := s.Statement
	p, ok := a.State.Purpose(st.Purpose)
	if !ok {
		return errUnknownPurpose
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
	} else if cur, ok := a.State.Consent(st.Citizen, st.Purpose); !ok || !cur.Active {
		return errNoConsent
	}
	typ := ledger.EntryConsentGrant
	if !grant {
		typ = ledger.EntryConsentRevoke
	}
	entry, err := ledger.Entry{Type: typ, Citizen: st.Citizen, Purpose: st.Purpose, PurposeVersion: st.PurposeVersion,
		Erase: st.Erase, IssuedAt: st.IssuedAt, Nonce: st.Nonce, Signature: s.Signature}.Marshal()
	if err != nil {
		return err
	}
	r, err := a.Ledger.Append(c.UserContext(), entry, ledger.Put{Key: store.NonceKey(st.Citizen, st.Nonce), Value: []byte{1}})
	if err != nil {
		return appendError(err)
	}
	if !grant {
		// Withdrawal stops all future use: share copies not yet in a release go now, and
		// "withdraw and erase" takes the vault copies too.
		if err := a.Store.DeleteUnreleased(st.Citizen, st.Purpose); err != nil {
			return err
		}
		if st.Erase {
			if err := a.Store.DeleteVault(st.Citizen); err != nil {
				return err
			}
		}
	}
	return created(c, receiptAnswer{Receipt: r})
}

// petitionSignature logs a signature or its withdrawal under the petition's nullifier, never
// the citizen id.
func (a *api) petitionSignature(c *fiber.Ctx, st crypto.Statement) error {
	p, ok := a.State.Petition(st.Petition)
	if !ok {
		return errNoPetition
	}
	if !p.Open(a.Now()) {
		return errPetitionClosed
	}
	n := a.nullifier(p.ID, st.Citizen)
	release, err := a.reserve(st, "nullifier|"+p.ID+"|"+n)
	if err != nil {
		return err
	}
	defer release()
	sign := st.Type == crypto.TypePetitionSign
	_, active := a.State.Nullifier(p.ID, n)
	switch {
	case sign && active:
		return errAlreadySigned
	case !sign && !active:
		return errNotSigned
	}
	if sign && len(p.Scope) > 0 {
		home, err := a.Store.Neighbourhood(st.Citizen)
		if err != nil {
			return err
		}
		inScope := false
		for _, s := range p.Scope {
			inScope = inScope || s == home
		}
		if !inScope {
			return errOutOfScope
		}
	}
	typ := ledger.EntryPetitionSign
	if !sign {
		typ = ledger.EntryPetitionRevoke
	}
	entry, err := ledger.Entry{Type: typ, Petition: p.ID, Nullifier: n}.Marshal()
	if err != nil {
		return err
	}
	r, err := a.Ledger.Append(c.UserContext(), entry, ledger.Put{Key: store.NonceKey(st.Citizen, st.Nonce), Value: []byte{1}})
	if err != nil {
		return appendError(err)
	}
	return created(c, receiptAnswer{Receipt: r})
}
