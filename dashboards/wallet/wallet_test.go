package wallet

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func get(t *testing.T, app *fiber.App, path string) (*http.Response, string) {
	t.Helper()
	resp, err := app.Test(httptest.NewRequest(http.MethodGet, path, nil), -1)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, string(b)
}

// TestPage checks that the page is the same bytes for every URL (an invite code in the
// query is never rendered), that it runs only its own script under the wallet's policy, and
// that the script and stylesheet are served at their content-hashed URLs.
func TestPage(t *testing.T) {
	t.Parallel()
	p, err := New("/static/0123/style.css")
	require.NoError(t, err)
	app := fiber.New() // the wallet's routes as server/routes.go names them
	app.Get("/wallet", p.HTML)
	app.Get(p.ScriptURL(), p.Script)
	app.Get(p.StylesheetURL(), p.Stylesheet)

	resp, page := get(t, app, "/wallet")
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, CSP, resp.Header.Get("Content-Security-Policy"))
	assert.Contains(t, CSP, "script-src 'self';")
	assert.NotContains(t, CSP, "unsafe")
	_, withInvite := get(t, app, "/wallet?invite=SECRET-CODE-123")
	assert.Equal(t, page, withInvite, "the page never depends on its query")
	assert.NotContains(t, withInvite, "SECRET-CODE-123")

	scripts := regexp.MustCompile(`<script src="(/wallet/static/[0-9a-f]{16}/wallet\.js)" defer></script>`).FindAllStringSubmatch(page, -1)
	require.Len(t, scripts, 1, "one script, from this origin")
	assert.Equal(t, 1, strings.Count(page, "<script"), "no inline script")
	assert.NotContains(t, page, "style=", "no inline style")
	assert.Contains(t, page, `href="/static/0123/style.css"`, "the site's stylesheet")

	resp, js := get(t, app, scripts[0][1])
	require.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/javascript; charset=utf-8", resp.Header.Get("Content-Type"))
	assert.Contains(t, resp.Header.Get("Cache-Control"), "immutable")
	assert.Contains(t, js, "CommonsWalletCore")

	css := regexp.MustCompile(`href="(/wallet/static/[0-9a-f]{16}/wallet\.css)"`).FindStringSubmatch(page)
	require.NotNil(t, css)
	resp, _ = get(t, app, css[1])
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "text/css; charset=utf-8", resp.Header.Get("Content-Type"))

	resp, _ = get(t, app, "/wallet/static/0000000000000000/wallet.js")
	assert.Equal(t, http.StatusNotFound, resp.StatusCode, "only the current hash is served")
}

func TestNewNeedsStylesheet(t *testing.T) {
	t.Parallel()
	_, err := New("")
	assert.Error(t, err)
}
