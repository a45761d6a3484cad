package server

import (
	"crypto/subtle"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/gofiber/fiber/v2/middleware/limiter"
	"github.com/gofiber/fiber/v2/middleware/requestid"
	"github.com/gofiber/fiber/v2/utils"
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
func (a *api) rateLimit() fiber.Handler {
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
func (a *api) isAdmin(c *fiber.Ctx) bool {
	got, ok := strings.CutPrefix(c.Get(fiber.HeaderAuthorization), "Bearer ")
	return ok && a.AdminToken != "" && subtle.ConstantTimeCompare([]byte(got), []byte(a.AdminToken)) == 1
}
