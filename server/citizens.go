package server

import (
	"errors"

	"filippo.io/age"
	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/store"
)

// receiptAnswer is the body of every accepted statement.
type receiptAnswer struct {
	Citizen string      `json:"citizen,omitempty"`
	Receipt api.Receipt `json:"receipt"`
}

// register accepts a signed citizen.register statement carrying a one-time invite code.
// The ledger logs the citizen's public keys and the invite's hash; the neighbourhood is kept
// as a private record written in the same transaction.
func (a *handlers) register(c *fiber.Ctx) error {
	var s crypto.SignedStatement
	if err := decode(c, &s); err != nil {
		return err
	}
	st := s.Statement
	if st.Type != crypto.TypeRegister {
		return errWrongType
	}
	pub, err := crypto.DecodeKey(st.SigningKey)
	if err != nil {
		return invalid("signing_key", "not a base64 Ed25519 public key")
	}
	if err := s.Verify(pub); err != nil {
		return statementError(err)
	}
	if err := a.fresh(st.IssuedAt); err != nil {
		return err
	}
	if _, err := age.ParseX25519Recipient(st.Recipient); err != nil {
		return invalid("recipient", "not an age X25519 recipient")
	}
	if !a.grid.Has(st.Neighbourhood) {
		return errNeighbourhood
	}
	if st.Nonce == "" {
		return invalid("nonce", "required")
	}
	inviteHash := state.Hash([]byte(st.Invite))
	release, err := a.State.Reserve("invite|"+inviteHash, "citizen|"+st.Citizen)
	if err != nil {
		return errBusy
	}
	defer release()
	if _, ok := a.State.Citizen(st.Citizen); ok {
		return errRegistered
	}
	if exists, used := a.State.Invite(inviteHash); !exists || used {
		return errInvite
	}
	r, err := a.appendEntry(c, api.Entry{Type: api.EntryRegister, Citizen: st.Citizen, SigningKey: st.SigningKey,
		Recipient: st.Recipient, Hash: inviteHash, IssuedAt: st.IssuedAt, Nonce: st.Nonce},
		store.CitizenRecord(st.Citizen, st.Neighbourhood), store.NonceRecord(st.Citizen, st.Nonce))
	if err != nil {
		return err
	}
	return created(c, receiptAnswer{Citizen: st.Citizen, Receipt: r})
}

func statementError(err error) error {
	if errors.Is(err, crypto.ErrBadField) {
		return invalid("statement", "a field has characters outside the canonical set")
	}
	return errBadSignature
}

// appendEntry logs e with the private records written in the same transaction, and maps the
// ledger's refusals to client answers.
func (a *handlers) appendEntry(c *fiber.Ctx, e api.Entry, private ...ledger.Put) (api.Receipt, error) {
	entry, err := e.Marshal()
	if err != nil {
		return api.Receipt{}, err
	}
	r, err := a.Ledger.Append(c.UserContext(), entry, private...)
	if err != nil {
		return api.Receipt{}, appendError(err)
	}
	return r, nil
}

func appendError(err error) error {
	if errors.Is(err, ledger.ErrClosed) {
		return errUnavailable
	}
	if errors.Is(err, ledger.ErrTooLarge) {
		return errTooLarge
	}
	return err
}
