package server

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

// requireAdmin admits requests bearing the admin token, compared in constant time.
func (a *handlers) requireAdmin(c *fiber.Ctx) error {
	if !a.isAdmin(c) {
		return errUnauthorized
	}
	return c.Next()
}

// maxInvites bounds one invite request.
const maxInvites = 5000

type invitesAnswer struct {
	Invites []string `json:"invites"`
}

// createInvites makes one-time invite codes and logs only their hashes.
func (a *handlers) createInvites(c *fiber.Ctx) error {
	var req struct {
		Count int `json:"count"`
	}
	if err := decode(c, &req); err != nil {
		return err
	}
	if req.Count < 1 || req.Count > maxInvites {
		return invalid("count", "between 1 and 5000")
	}
	codes := make([]string, req.Count)
	errs := make([]error, req.Count)
	var wg sync.WaitGroup
	for i := range codes {
		codes[i] = newInviteCode()
		wg.Go(func() {
			entry, err := api.Entry{Type: api.EntryInvite, Hash: state.Hash([]byte(codes[i]))}.Marshal()
			if err == nil {
				_, err = a.Ledger.Append(c.UserContext(), entry)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return appendError(err)
		}
	}
	return created(c, invitesAnswer{Invites: codes})
}

// newInviteCode returns 100 random bits as five groups of four base32 characters.
func newInviteCode() string {
	var b [15]byte
	rand.Read(b[:])
	s := strings.ToLower(base32.StdEncoding.EncodeToString(b[:]))[:20]
	return s[0:4] + "-" + s[4:8] + "-" + s[8:12] + "-" + s[12:16] + "-" + s[16:20]
}

type releasesAnswer struct {
	Published int `json:"published"`
	// MoreDue says the request's time ran out with epochs still to release (a long backlog):
	// they follow on the node's next release tick, or on another request.
	MoreDue bool `json:"more_due,omitempty"`
}

// runReleases publishes every closed epoch now instead of waiting for the next tick.
func (a *handlers) runReleases(c *fiber.Ctx) error {
	start := time.Now()
	n, err := a.Releases.RunDue(c.UserContext())
	if errors.Is(err, context.DeadlineExceeded) {
		a.Logger.Info("releases run on request: out of time, the rest follow", "published", n, "took", time.Since(start))
		return c.JSON(releasesAnswer{Published: n, MoreDue: true})
	}
	if err != nil {
		return err
	}
	a.Logger.Info("releases run on request", "published", n, "took", time.Since(start))
	if a.Fediverse != nil {
		a.Fediverse.Poke() // its worker announces the new releases; the answer does not wait
	}
	return c.JSON(releasesAnswer{Published: n})
}
