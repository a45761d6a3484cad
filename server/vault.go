package server

import (
	"bufio"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/store"
)

// exportVault answers a signed vault.export statement with the resident's vault copies:
// {"citizen","copies":[{"day","ciphertext"}]}, the ciphertexts in standard base64. They are
// sealed to the resident: only their wallet opens them, so the answer reveals nothing to
// anyone else, and the signature keeps one resident from listing another's.
//
// The answer is streamed as it is read from the store, one copy at a time, so an export holds
// one copy and a write buffer in memory whatever the vault's size (BenchmarkVaultExport). Its
// status is sent first: a store error midway ends the body short of its closing brackets,
// which no JSON reader takes for a whole export, and is logged.
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
	c.Set(fiber.HeaderCacheControl, "no-store")
	c.Set(fiber.HeaderContentType, fiber.MIMEApplicationJSON)
	citizen := st.Citizen
	c.Context().SetBodyStreamWriter(func(w *bufio.Writer) {
		if err := writeVault(w, a.Store, citizen); err != nil {
			a.Logger.Error("vault export ended early", "err", err)
		}
	})
	return nil
}

// writeVault writes a resident's vault export to w, one copy at a time.
func writeVault(w *bufio.Writer, st *store.Store, citizen string) error {
	id, err := json.Marshal(citizen)
	if err != nil {
		return fmt.Errorf("vault export: %w", err)
	}
	w.WriteString(`{"citizen":`)
	w.Write(id)
	w.WriteString(`,"copies":[`)
	n := 0
	err = st.VaultCopies(citizen, func(day string, ciphertext []byte) error {
		if n > 0 {
			w.WriteByte(',')
		}
		n++
		// A day is YYYY-MM-DD, as the contribution that stored it was checked to be.
		w.WriteString(`{"day":"` + day + `","ciphertext":"`)
		enc := base64.NewEncoder(base64.StdEncoding, w)
		enc.Write(ciphertext)
		enc.Close()
		_, err := w.WriteString(`"}`)
		return err
	})
	if err != nil {
		return fmt.Errorf("vault export: %w", err)
	}
	w.WriteString("]}")
	if err := w.Flush(); err != nil {
		return fmt.Errorf("vault export: %w", err)
	}
	return nil
}
