package server

import (
	"errors"
	"fmt"
	"hash/fnv"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/reading"
	"github.com/commons-city/commons/store"
)

// maxEnvelopes bounds one contribution (a year of days, vault and share copies).
const maxEnvelopes = 800

// DefaultShareDays is how many days before today a share copy may be for, unless the node is
// configured otherwise (Config.ShareDays): two ISO weeks, so that a gateway offline over a
// fortnight still shares its readings, while no upload can reach further back. A day's
// release is published hours after it ends, so the look-back matters only for days nobody
// shared yet (docs/decisions.md).
const DefaultShareDays = 14

// DefaultEnvelopeQuota is how many bytes of sealed envelopes, vault and share copies, a
// resident may have stored, unless the node is configured otherwise (Config.EnvelopeQuota):
// 128 MiB, about two years of one sensor's readings every 145 s (the airrohr's interval),
// sealed to the vault and to one purpose (docs/decisions.md).
const DefaultEnvelopeQuota = 128 << 20

// errQuota refuses a contribution that would take a resident's stored envelopes past the
// quota. It names the quota, never the resident's usage.
func errQuota(quota int64) *apiError {
	return newErr(403, "quota_exceeded", fmt.Sprintf("this upload would take your stored envelopes past the node's quota of %d bytes", quota))
}

// citizenLocks serialises one resident's uploads between the quota check and the write, so
// that concurrent uploads cannot each pass the check and together exceed the quota. A
// resident's id picks one of 64 mutexes.
type citizenLocks [64]sync.Mutex

// lock locks the mutex of citizen and returns its unlock.
func (l *citizenLocks) lock(citizen string) func() {
	h := fnv.New32a()
	h.Write([]byte(citizen))
	m := &l[h.Sum32()%uint32(len(l))]
	m.Lock()
	return m.Unlock
}

// withinQuota refuses con when the resident's stored envelopes and con's would exceed the
// quota. The caller holds the resident's lock.
func (a *handlers) withinQuota(con crypto.Contribution) error {
	var incoming int64
	for _, e := range con.Envelopes {
		incoming += int64(len(e.Ciphertext))
	}
	var purposes []string
	for _, p := range a.State.Purposes() {
		purposes = append(purposes, p.ID)
	}
	used, err := a.Store.Usage(con.Citizen, purposes)
	if err != nil {
		return err
	}
	if used+incoming > a.EnvelopeQuota {
		a.Logger.Info("contribution refused: envelope quota", "quota_mib", a.EnvelopeQuota>>20)
		return errQuota(a.EnvelopeQuota)
	}
	return nil
}

// shareFrom is the oldest day, YYYY-MM-DD, a share copy is accepted for at the node's clock.
func (a *handlers) shareFrom() string {
	return a.Now().UTC().AddDate(0, 0, -a.ShareDays).Format(time.DateOnly)
}

// errShareTooOld refuses a contribution holding a share copy for a day before from. It names
// the node's window, never the request's days.
func errShareTooOld(from string) *apiError {
	return newErr(422, "share_day_too_old", "share copies are accepted for days from "+from+
		" on; seal older days to your vault only")
}

type contributionAnswer struct {
	Contribution string `json:"contribution"`
	Envelopes    int    `json:"envelopes"`
}

// contribute stores a signed batch of sealed envelopes. The server checks who sent it, that
// each share copy goes to a purpose the sender consents to, for a day no older than the
// look-back (shareFrom), and that each envelope is an age ciphertext; it cannot and does not
// look inside. The contribution is signed whole, so one refused envelope refuses it all and
// nothing of it is stored.
func (a *handlers) contribute(c *fiber.Ctx) error {
	var s crypto.SignedContribution
	if err := decode(c, &s); err != nil {
		return err
	}
	con := s.Contribution
	citizen, ok := a.State.Citizen(con.Citizen)
	if !ok {
		return errUnknownCitizen
	}
	id, err := s.VerifyID(citizen.SigningKey)
	if err != nil {
		return statementError(err)
	}
	if err := a.fresh(con.IssuedAt); err != nil {
		return err
	}
	if con.Nonce == "" {
		return invalid("nonce", "required")
	}
	// The allowance is charged only for a fresh nonce: a replay spends none of it.
	if used, err := a.Store.ContributionNonceUsed(con.Citizen, con.Nonce); err != nil {
		return err
	} else if used {
		return errReplay
	}
	if err := a.limitCitizen(c, con.Citizen); err != nil {
		return err
	}
	if len(con.Envelopes) == 0 || len(con.Envelopes) > maxEnvelopes {
		return invalid("envelopes", "between 1 and 800 envelopes")
	}
	tomorrow := a.Now().UTC().AddDate(0, 0, 1).Format(time.DateOnly)
	from := a.shareFrom()
	seen := map[[2]string]bool{}
	for _, e := range con.Envelopes {
		if _, err := time.Parse(time.DateOnly, e.Day); err != nil || e.Day > tomorrow {
			return invalid("day", "a YYYY-MM-DD day, not in the future")
		}
		if seen[[2]string{e.Purpose, e.Day}] {
			return invalid("envelopes", "one envelope per purpose and day")
		}
		seen[[2]string{e.Purpose, e.Day}] = true
		if crypto.CheckSealed(e.Ciphertext, reading.MaxBatchBytes) != nil {
			return errNotSealed
		}
		if e.Purpose == crypto.VaultPurpose {
			continue
		}
		p, ok := a.State.Purpose(e.Purpose)
		if !ok {
			return errUnknownPurpose
		}
		if !a.State.ActiveConsent(con.Citizen, e.Purpose) {
			return errNoConsent
		}
		if from := a.acceptsFrom(p, from); e.Day < from {
			return errShareTooOld(from)
		}
	}
	unlock := a.uploads.lock(con.Citizen)
	defer unlock()
	if err := a.withinQuota(con); err != nil {
		return err
	}
	switch err := a.Store.PutContribution(c.UserContext(), con, id); {
	case errors.Is(err, store.ErrReplay):
		return errReplay
	case errors.Is(err, store.ErrEpochClosed):
		return errEpochClosed
	case err != nil:
		return appendError(err)
	}
	return created(c, contributionAnswer{Contribution: id, Envelopes: len(con.Envelopes)})
}
