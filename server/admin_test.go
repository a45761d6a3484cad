package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// TestAdminFailuresLockOutUntilTheWindowEnds: failed admin authentications on any method count
// per client IP; at the limit, every admin request from that IP — the right token included —
// is answered 429 rate_limited with Retry-After until the minute ends on the node's clock, and
// then the right token passes again.
func TestAdminFailuresLockOutUntilTheWindowEnds(t *testing.T) {
	t.Parallel()
	clock := nodetest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&logs, nil))
	a := &handlers{Config: Config{AdminToken: "right", Now: clock.Now, Logger: logger},
		adminFailures: &failureLimiter{limit: 3, ips: map[string]*failureWindow{}}}
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(logger, nil)})
	ok := func(c *fiber.Ctx) error { return c.SendString("ok") }
	app.Get("/admin", a.requireAdmin, ok)
	app.Delete("/admin", a.requireAdmin, ok)
	send := func(method, token string) (int, string, string) {
		t.Helper()
		req := httptest.NewRequest(method, "/admin", nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := app.Test(req, -1)
		require.NoError(t, err)
		var eb errorBody
		if resp.StatusCode >= 400 {
			b, err := io.ReadAll(resp.Body)
			require.NoError(t, err)
			require.NoError(t, json.Unmarshal(b, &eb), "a JSON error body: %s", b)
		}
		return resp.StatusCode, eb.Error.Code, resp.Header.Get("Retry-After")
	}

	status, _, _ := send("GET", "right")
	assert.Equal(t, 200, status)
	for i, m := range []string{"GET", "DELETE", "GET"} {
		status, code, _ := send(m, "wrong")
		assert.Equal(t, 401, status, "failure %d", i+1)
		assert.Equal(t, "unauthorized", code)
	}
	clock.Advance(20 * time.Second)
	for _, tok := range []string{"wrong", "", "right"} {
		status, code, retry := send("DELETE", tok)
		assert.Equal(t, 429, status, "token %q while locked out", tok)
		assert.Equal(t, "rate_limited", code)
		assert.Equal(t, "40", retry, "the rest of the minute")
	}
	assert.Contains(t, logs.String(), "locked out")
	assert.NotContains(t, logs.String(), "wrong", "no token in the logs")

	clock.Advance(40 * time.Second)
	status, _, _ = send("GET", "right")
	assert.Equal(t, 200, status, "a new minute: the right token passes")
	status, _, _ = send("GET", "wrong")
	assert.Equal(t, 401, status, "and failures count afresh")
}

// An IPv6 host holds a whole /64 and can pick any address in it: the lock-out counts the /64,
// so fresh addresses in it buy no fresh guesses, while the next /64 and other IPv4 addresses
// are counted apart.
func TestAdminLockOutCountsAnIPv6NetworkOnce(t *testing.T) {
	t.Parallel()
	clock := nodetest.NewClock(time.Date(2026, 12, 7, 10, 0, 0, 0, time.UTC))
	a := &handlers{Config: Config{AdminToken: "right", Now: clock.Now, Logger: slog.New(slog.DiscardHandler)},
		adminFailures: &failureLimiter{limit: 3, ips: map[string]*failureWindow{}}}
	// app.Test's requests come from 0.0.0.0, the trusted proxy naming the client in X-Real-IP.
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(a.Logger, nil), ProxyHeader: "X-Real-IP",
		EnableTrustedProxyCheck: true, TrustedProxies: []string{"0.0.0.0"}})
	app.Get("/admin", a.requireAdmin, func(c *fiber.Ctx) error { return c.SendString("ok") })
	from := func(ip string) int {
		t.Helper()
		req := httptest.NewRequest("GET", "/admin", nil)
		req.Header.Set("Authorization", "Bearer wrong")
		req.Header.Set("X-Real-IP", ip)
		resp, err := app.Test(req, -1)
		require.NoError(t, err)
		return resp.StatusCode
	}
	for _, ip := range []string{"2001:db8:1:2::a", "2001:db8:1:2:ffff::1", "2001:db8:1:2:abcd:ef01:2345:6789"} {
		assert.Equal(t, 401, from(ip), ip)
	}
	assert.Equal(t, 429, from("2001:db8:1:2::b"), "another address of the same /64")
	assert.Equal(t, 401, from("2001:db8:1:3::a"), "the next /64 is another client")
	for _, ip := range []string{"192.0.2.1", "192.0.2.1", "192.0.2.1"} {
		assert.Equal(t, 401, from(ip))
	}
	assert.Equal(t, 429, from("192.0.2.1"))
	assert.Equal(t, 401, from("192.0.2.2"), "IPv4 addresses are counted one by one")
}
