package server

import (
	"errors"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/store"
)

// vaultCopy is one of the resident's own sealed envelopes.
type vaultCopy struct {
	Day        string `json:"day"`
	Ciphertext []byte `json:"ciphertext"`
}

type vaultAnswer struct {
	Citizen string      `json:"citizen"`
	Copies  []vaultCopy `json:"copies"`
}

// exportVault answers a signed vault.export statement with the resident's vault copies. They
// are sealed to the resident: only their wallet opens them, so the answer reveals nothing to
// anyone else, and the signature keeps one resident from listing another's.
func (a *handlers) exportVault(c *fiber.Ctx) error {
	s, err := a.signedStatement(c)
	if err != nil {
		return err
	}
	st := s.Statement
	if st.Type != crypto.TypeVaultExport {
		return errWrongType
	}
	if err := a.Store.UseNonce(c.UserContext(), st.Citizen, st.Nonce); errors.Is(err, store.ErrReplay) {
		return errReplay
	} else if err != nil {
		return appendError(err)
	}
	out := vaultAnswer{Citizen: st.Citizen, Copies: []vaultCopy{}}
	err = a.Store.VaultCopies(st.Citizen, func(day string, ciphertext []byte) error {
		out.Copies = append(out.Copies, vaultCopy{Day: day, Ciphertext: ciphertext})
		return nil
	})
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "no-store")
	return c.JSON(out)
}
