package server

import (
	"context"
	"crypto/rand"
	"encoding/base32"
	"errors"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger/state"
)

// requireAdmin admits requests bearing the admin token, compared in constant time, on every
// method. A client IP that failed AdminFailureLimit times within a minute is answered 429
// rate_limited, with Retry-After, until that minute ends — whatever token it sends, so that a
// guess made meanwhile is not even compared. An IPv6 client is counted by its /64 (clientKey).
func (a *handlers) requireAdmin(c *fiber.Ctx) error {
	now, ip := a.Now(), clientKey(c)
	if wait, locked := a.adminFailures.locked(ip, now); locked {
		c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
		return errRateLimited
	}
	if !a.isAdmin(c) {
		if a.adminFailures.fail(ip, now) {
			a.Logger.Warn("admin authentication failures: client locked out for the rest of the minute",
				"failures", a.adminFailures.limit, "request_id", c.Locals(requestIDKey))
		}
		return errUnauthorized
	}
	return c.Next()
}

// failureWindow is one client IP's failed admin authentications in the minute from start.
type failureWindow struct {
	start time.Time
	count int
}

// failureLimiter counts failed admin authentications per client IP in fixed one-minute
// windows, on the handlers' clock.
type failureLimiter struct {
	limit int
	mu    sync.Mutex
	ips   map[string]*failureWindow
}

// adminFailureWindow is the window of failureLimiter.
const adminFailureWindow = time.Minute

// locked reports whether ip has used up its failures in its current window, and how long until
// that window ends.
func (l *failureLimiter) locked(ip string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	w, ok := l.ips[ip]
	if !ok || !now.Before(w.start.Add(adminFailureWindow)) || w.count < l.limit {
		return 0, false
	}
	return w.start.Add(adminFailureWindow).Sub(now), true
}

// fail counts one failure of ip and reports whether it was the last one allowed. Windows that
// ended are dropped once more than 4096 IPs are held.
func (l *failureLimiter) fail(ip string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.ips) > 4096 {
		for k, w := range l.ips {
			if !now.Before(w.start.Add(adminFailureWindow)) {
				delete(l.ips, k)
			}
		}
	}
	w, ok := l.ips[ip]
	if !ok || !now.Before(w.start.Add(adminFailureWindow)) {
		w = &failureWindow{start: now}
		l.ips[ip] = w
	}
	w.count++
	return w.count == l.limit
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

// runReleases publishes every closed epoch now instead of waiting for the next tick. It takes no
// parameters: its body is empty or the JSON object {}, and any other body is refused like a
// malformed one before anything runs.
func (a *handlers) runReleases(c *fiber.Ctx) error {
	if len(c.Body()) > 0 {
		var none struct{}
		if err := decode(c, &none); err != nil {
			return err
		}
	}
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
