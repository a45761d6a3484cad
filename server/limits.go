package server

import (
	"crypto/subtle"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
	"golang.org/x/time/rate"
)

// requestIDKey is the Locals key of the request id.
const requestIDKey = "requestid"

// requestID gives every request a fresh random id, answered in X-Request-ID and written in
// its log lines. An id sent by the client is replaced: what we log is never a request value.
func requestID() fiber.Handler {
	assign := requestid.New(requestid.Config{Generator: utils.UUIDv4, ContextKey: requestIDKey})
	return func(c *fiber.Ctx) error {
		c.Request().Header.Del(fiber.HeaderXRequestID)
		return assign(c)
	}
}

// rateLimit returns the per-IP limiter of POST requests: RateLimit per minute, fixed window,
// answered 429 rate_limited with Retry-After. It passes every request when RateLimit is 0, and
// requests bearing the admin token (the operator's tools and the demo loader) always pass.
func (a *handlers) rateLimit() fiber.Handler {
	if a.RateLimit <= 0 {
		return func(c *fiber.Ctx) error { return c.Next() }
	}
	return limiter.New(limiter.Config{
		Next: func(c *fiber.Ctx) bool {
			return c.Method() != fiber.MethodPost || a.isAdmin(c)
		},
		Max:          a.RateLimit,
		Expiration:   time.Minute,
		KeyGenerator: func(c *fiber.Ctx) string { return c.IP() },
		LimitReached: func(*fiber.Ctx) error { return errRateLimited },
	})
}

// isAdmin reports whether the request bears the admin token, compared in constant time.
func (a *handlers) isAdmin(c *fiber.Ctx) bool {
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	return ok && a.AdminToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.AdminToken)) == 1
}

// citizenLimiter gives each resident a token bucket of signed writes: perMinute a minute, and
// a burst of citizenBurst minutes' worth. Buckets
// exist only for residents whose signature verified, so their number is bounded by the
// register; a full bucket is dropped, since it says nothing a new one would not.
type citizenLimiter struct {
	perMinute int
	mu        sync.Mutex
	buckets   map[string]*rate.Limiter
}

// citizenBurst is how many minutes' allowance a resident may spend at once: an import of ten
// years of a sensor's archive is some 300 uploads.
const citizenBurst = 5

func (l *citizenLimiter) burst() int { return citizenBurst * l.perMinute }

// allow takes one token from the resident's bucket, or says how long until there is one.
func (l *citizenLimiter) allow(citizen string, now time.Time) (time.Duration, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buckets) > 4096 {
		for id, b := range l.buckets {
			if b.TokensAt(now) >= float64(l.burst()) {
				delete(l.buckets, id)
			}
		}
	}
	b, ok := l.buckets[citizen]
	if !ok {
		b = rate.NewLimiter(rate.Limit(float64(l.perMinute)/60), l.burst())
		l.buckets[citizen] = b
	}
	r := b.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return d, false
	}
	return 0, true
}

// limitCitizen refuses a verified resident's write beyond their allowance with 429
// citizen_rate_limited and Retry-After.
func (a *handlers) limitCitizen(c *fiber.Ctx, citizen string) error {
	if a.citizens == nil {
		return nil
	}
	wait, ok := a.citizens.allow(citizen, time.Now())
	if ok {
		return nil
	}
	c.Set(fiber.HeaderRetryAfter, strconv.Itoa(int(math.Ceil(wait.Seconds()))))
	return errCitizenLimited
}
