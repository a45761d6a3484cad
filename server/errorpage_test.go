package server

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"testing"

	"github.com/commons-city/commons/nodetest"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const browserAccept = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"

// TestMistypedPagesAnswerTheErrorPage checks that a browser asking for a page that does not
// exist gets the site's 404 page, in its language and under the pages' security headers.
func TestMistypedPagesAnswerTheErrorPage(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nil)
	for _, path := range []string{"/petition", "/airquality", "/nowhere", "/air/nope", "/wallet/static/0/wallet.js"} {
		resp := n.do(t, "GET", path, "", "Accept", browserAccept)
		body := readBody(t, resp)
		assert.Equal(t, 404, resp.StatusCode, path)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), path)
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "script-src 'none'", path)
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		assert.Contains(t, body, `<html lang="en">`, path)
		assert.Contains(t, body, "<h1>Not found</h1>", path)
		assert.Contains(t, body, "There is no page at this address.", path)
		assert.Contains(t, body, `<p class="brand"><a href="/">Commons</a></p>`, "%s: the way home", path)
		assert.Contains(t, body, `<a href="/air">Air quality</a>`, "%s: the nav", path)

		resp = n.do(t, "GET", path, "", "Accept", browserAccept, "Accept-Language", "fr-FR,fr;q=0.9")
		body = readBody(t, resp)
		assert.Equal(t, 404, resp.StatusCode, path)
		assert.Contains(t, body, `<html lang="fr">`, path)
		assert.Contains(t, body, "<h1>Introuvable</h1>", path)
		assert.Contains(t, body, "Il n&#39;y a aucune page à cette adresse.", path)
		assert.Contains(t, body, `href="/?lang=en"`, "%s: the switch leads home, never back to the request", path)
	}
	// A trailing slash still reaches the page (fiber's routing is not strict), as before.
	assert.Equal(t, 200, n.do(t, "GET", "/air/", "", "Accept", browserAccept).StatusCode)
}

// TestErrorPageNeverEchoesTheRequest asks for a path, a query and a language cookie that
// carry markup: the 404 page repeats none of them.
func TestErrorPageNeverEchoesTheRequest(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nil)
	for _, target := range []string{"/<script>x</script>", "/%3Cscript%3Ex%3C/script%3E", "/nowhere?q=<script>x</script>", "/x\"><img/src=x/onerror=alert(1)>"} {
		req := httptest.NewRequest("GET", "/", nil)
		req.RequestURI = target // sent as is, unescaped, on the request line
		req.Header.Set("Accept", browserAccept)
		req.Header.Set("Cookie", "lang=<script>x</script>")
		resp, err := n.app.Test(req, -1)
		require.NoError(t, err)
		body := readBody(t, resp)
		assert.Equal(t, 404, resp.StatusCode, target)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), target)
		assert.NotContains(t, body, "<script", target)
		assert.NotContains(t, body, "script>x", target)
		assert.NotContains(t, body, "onerror", target)
		assert.NotContains(t, body, "%3C", target)
	}
}

// TestMachinePathsAnswerJSONErrors checks that the API, the tlog tiles, the probes and the
// metrics answer errors as JSON even to a browser, and that elsewhere the Accept header
// decides: a client that prefers JSON gets JSON, one that says nothing (curl) gets the page.
func TestMachinePathsAnswerJSONErrors(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nil)
	for _, c := range []struct {
		path, accept string
		status       int
		code         string
	}{
		{"/api/v1/nope", browserAccept, 404, "not_found"},
		{"/api/v1/nope", "", 404, "not_found"},
		{"/api", browserAccept, 404, "not_found"},
		{"/api/v1/petitions/nope", browserAccept, 404, "unknown_petition"},
		{"/ledger/nope", browserAccept, 404, "not_found"},
		{"/ledger/tile/64/000", browserAccept, 404, "not_found"},
		{"/healthz/nope", browserAccept, 404, "not_found"},
		{"/readyz/nope", browserAccept, 404, "not_found"},
		{"/metrics/nope", browserAccept, 404, "not_found"},
		{"/nowhere", "application/json", 404, "not_found"},
		// The mistyped pages of issue 18 (TestMistypedPagesAnswerTheErrorPage: HTML for a
		// browser) stay JSON for an API client.
		{"/petition", "application/json", 404, "not_found"},
		{"/airquality", "application/json", 404, "not_found"},
		{"/nowhere", "application/json, text/html;q=0.5", 404, "not_found"},
	} {
		resp := n.do(t, "GET", c.path, "", "Accept", c.accept)
		var eb errorBody
		require.NoError(t, json.Unmarshal([]byte(readBody(t, resp)), &eb), "%s (Accept %q)", c.path, c.accept)
		assert.Equal(t, c.status, resp.StatusCode, c.path)
		assert.Equal(t, c.code, eb.Error.Code, c.path)
		assert.Equal(t, "application/json", resp.Header.Get("Content-Type"), c.path)
	}
	for _, accept := range []string{"", "*/*", "text/html"} {
		resp := n.do(t, "GET", "/nowhere", "", "Accept", accept)
		assert.Equal(t, 404, resp.StatusCode, accept)
		assert.Equal(t, "text/html; charset=utf-8", resp.Header.Get("Content-Type"), "Accept %q", accept)
	}
	// The pages themselves are unchanged: /ledger is a page, its 404s for a petition too.
	resp := n.do(t, "GET", "/petitions/nope", "", "Accept", browserAccept)
	assert.Equal(t, 404, resp.StatusCode)
	assert.Contains(t, readBody(t, resp), "There is no petition with that id.")
}

// TestErrorHandlerNegotiates checks the error handler's choice on its own, with a stand-in
// page: fixed statuses either way, the detail only in the log, and JSON when the page fails.
func TestErrorHandlerNegotiates(t *testing.T) {
	t.Parallel()
	var pageErr error
	page := func(c *fiber.Ctx, status int) error {
		if pageErr != nil {
			return pageErr
		}
		c.Set(fiber.HeaderContentType, fiber.MIMETextHTMLCharsetUTF8)
		return c.Status(status).SendString("<p>page</p>")
	}
	var logs nodetest.Logs
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(slog.New(slog.NewTextHandler(&logs, nil)), page)})
	boom := func(*fiber.Ctx) error { return errors.New("disk on fire at /secret/path") }
	app.Get("/boom", boom)
	app.Get("/api/boom", boom)
	get := func(path string) (int, string) {
		req := httptest.NewRequest("GET", path, nil)
		req.Header.Set("Accept", browserAccept)
		resp, err := app.Test(req, -1)
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		return resp.StatusCode, string(b)
	}
	status, body := get("/boom")
	assert.Equal(t, 500, status)
	assert.Equal(t, "<p>page</p>", body)
	status, body = get("/api/boom")
	assert.Equal(t, 500, status)
	assert.JSONEq(t, `{"error":{"code":"internal","message":"the server could not complete the request"}}`, body)
	status, body = get("/nowhere")
	assert.Equal(t, 404, status)
	assert.Equal(t, "<p>page</p>", body)

	pageErr = errors.New("template broke")
	status, body = get("/nowhere")
	assert.Equal(t, 404, status, "a failed page keeps the status")
	assert.JSONEq(t, `{"error":{"code":"not_found","message":"no such resource"}}`, body)
	assert.Contains(t, logs.String(), "template broke")
	assert.Contains(t, logs.String(), "disk on fire")
	assert.NotContains(t, body, "secret")
}

func TestMachinePath(t *testing.T) {
	t.Parallel()
	for path, want := range map[string]bool{
		"/api": true, "/api/v1/purposes": true, "/healthz": true, "/readyz": true, "/metrics": true,
		"/ledger/checkpoint": true, "/ledger/tile/0/000": true,
		"/": false, "/ledger": false, "/ledger/": false, "/air": false, "/apis": false, "/metricsx": false,
		"/wallet": false, "/petitions/x": false, "/API/v1/x": false,
	} {
		assert.Equal(t, want, machinePath(path), path)
	}
}
