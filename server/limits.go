package server

import (
	"crypto/subtle"
	"encoding/json"
	"fmt"
	"math"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
		KeyGenerator: clientKey,
		LimitReached: func(*fiber.Ctx) error { return errRateLimited },
	})
}

// clientKey is what the per-client limits count by: the client's IPv4 address, or the /64
// network of its IPv6 address. One IPv6 host is routinely given a whole /64 (SLAAC, privacy
// addresses), so counting by address would give it 2^64 fresh budgets; a /64 is what one
// subscriber holds.
func clientKey(c *fiber.Ctx) string {
	addr, err := netip.ParseAddr(c.IP())
	if err != nil || !addr.Is6() || addr.Is4In6() {
		return c.IP()
	}
	return netip.PrefixFrom(addr, 64).Masked().String()
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

// LimitConnections caps the connections the app serves from ln at limit at once (limit ≤ 0:
// no cap). The connection beyond the cap is answered, as it is accepted and before any request,
// 503 with the JSON error body (code unavailable) and Retry-After, and closed: fasthttp's own
// refusal beyond its Concurrency is plain text, so New sets that higher than limit and this
// listener is the cap.
func LimitConnections(ln net.Listener, limit int) net.Listener {
	if limit <= 0 {
		return ln
	}
	return &limitListener{Listener: ln, limit: int64(limit)}
}

// limitListener is LimitConnections' listener: open counts the connections it handed out and
// that are not closed yet.
type limitListener struct {
	net.Listener
	limit int64
	open  atomic.Int64
}

// Accept implements net.Listener: it refuses connections beyond the cap until one is free.
func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if l.open.Add(1) <= l.limit {
			return &countedConn{Conn: c, release: func() { l.open.Add(-1) }}, nil
		}
		l.open.Add(-1)
		go refuseConn(c)
	}
}

// countedConn gives its slot back once, on its first Close.
type countedConn struct {
	net.Conn
	once    sync.Once
	release func()
}

// Close implements net.Conn.
func (c *countedConn) Close() error {
	c.once.Do(c.release)
	return c.Conn.Close()
}

// tooManyConnections is the answer beyond the cap: the JSON error body of errFull, whole.
var tooManyConnections = func() []byte {
	var body errorBody
	body.Error.Code, body.Error.Message = errFull.code, errFull.message
	b, _ := json.Marshal(body)
	return fmt.Appendf(nil, "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Type: application/json\r\n"+
		"Content-Length: %d\r\nRetry-After: 1\r\nX-Content-Type-Options: nosniff\r\n"+
		"Content-Security-Policy: default-src 'none'; frame-ancestors 'none'\r\n\r\n%s", len(b), b)
}()

// refuseConn answers a connection beyond the cap and closes it, giving a slow reader 5 s.
func refuseConn(c net.Conn) {
	c.SetWriteDeadline(time.Now().Add(5 * time.Second))
	c.Write(tooManyConnections)
	c.Close()
}
