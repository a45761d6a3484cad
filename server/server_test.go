package server

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/release"
)

// errorApp is a fiber app with the production error handler and a few failing routes.
func errorApp(logs *bytes.Buffer) *fiber.App {
	app := fiber.New(fiber.Config{ErrorHandler: errorHandler(slog.New(slog.NewTextHandler(logs, nil)), nil)})
	app.Post("/decode", func(c *fiber.Ctx) error {
		var v struct {
			A int `json:"a"`
		}
		if err := decode(c, &v); err != nil {
			return err
		}
		return c.JSON(v)
	})
	app.Get("/boom", func(*fiber.Ctx) error {
		return errors.New("disk on fire at /secret/path with pm2_5=37.91")
	})
	app.Get("/invalid", func(*fiber.Ctx) error { return invalid("day", "a YYYY-MM-DD day") })
	return app
}

func call(t *testing.T, app *fiber.App, method, path, ctype, body string) (int, string, string) {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := app.Test(req, -1)
	require.NoError(t, err)
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	var eb errorBody
	if resp.StatusCode >= 400 {
		require.NoError(t, json.Unmarshal(b, &eb), "every error is a JSON body: %s", b)
	}
	return resp.StatusCode, eb.Error.Code, eb.Error.Message
}

func TestErrorsAreJSONWithFixedMessages(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	app := errorApp(&logs)
	for _, c := range []struct {
		name, method, path, ctype, body string
		status                          int
		code                            string
	}{
		{"ok", "POST", "/decode", "application/json", `{"a":1}`, 200, ""},
		{"not json", "POST", "/decode", "application/json", `{"a":`, 400, "malformed_json"},
		{"wrong type", "POST", "/decode", "application/json", `{"a":"x"}`, 400, "malformed_json"},
		{"unknown field", "POST", "/decode", "application/json", `{"a":1,"b":2}`, 400, "malformed_json"},
		{"trailing data", "POST", "/decode", "application/json", `{"a":1}{"a":2}`, 400, "malformed_json"},
		{"content type", "POST", "/decode", "text/plain", `{"a":1}`, 415, "unsupported_media_type"},
		{"no route", "GET", "/nowhere", "", "", 404, "not_found"},
		{"method", "PUT", "/boom", "", "", 405, "method_not_allowed"},
		{"invalid field", "GET", "/invalid", "", "", 422, "invalid_field"},
		{"internal", "GET", "/boom", "", "", 500, "internal"},
	} {
		status, code, msg := call(t, app, c.method, c.path, c.ctype, c.body)
		assert.Equal(t, c.status, status, c.name)
		assert.Equal(t, c.code, code, c.name)
		assert.NotContains(t, msg, "secret", c.name)
		assert.NotContains(t, msg, "37.91", c.name)
	}
	// The unexpected error's detail went to the log, not to the client.
	assert.Contains(t, logs.String(), "disk on fire")
}

func TestInviteCodes(t *testing.T) {
	t.Parallel()
	seen := map[string]bool{}
	for i := 0; i < 1000; i++ {
		code := newInviteCode()
		assert.Regexp(t, `^[a-z2-7]{4}(-[a-z2-7]{4}){4}$`, code)
		assert.False(t, seen[code])
		seen[code] = true
	}
}

func TestReleaseDownloads(t *testing.T) {
	t.Parallel()
	pm := 12.3
	d := release.AirDay{Epoch: "2026-10-01", K: 10, Noise: "none", Cells: []release.Cell{
		{Neighbourhood: "old-town", Contributors: 12, PM25: &pm},
		{Neighbourhood: "island", Suppressed: true},
	}}
	body, err := json.Marshal(d)
	require.NoError(t, err)
	grid, err := geo.Parse(geo.Default())
	require.NoError(t, err)

	csv, err := releaseCSV(body, grid)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(csv)), "\n")
	require.Len(t, lines, 3)
	assert.Equal(t, "2026-10-01,old-town,Ciutat Vella,,false,12,12.3,,,fair,10,none,0", lines[1])
	assert.Equal(t, "2026-10-01,island,L'Illa,,true,,,,,,10,none,0", lines[2], "a suppressed cell carries no figure")

	gj, err := releaseGeoJSON(body, geo.Default())
	require.NoError(t, err)
	var fc struct {
		Features []struct {
			Properties map[string]any `json:"properties"`
		} `json:"features"`
	}
	require.NoError(t, json.Unmarshal(gj, &fc))
	require.Len(t, fc.Features, len(fixtures.Neighbourhoods()))
	for _, f := range fc.Features {
		p := f.Properties
		switch p["id"] {
		case "old-town":
			assert.Equal(t, 12.3, p["pm2_5"])
			assert.Equal(t, false, p["suppressed"])
		default:
			assert.Equal(t, true, p["suppressed"], "%v has no published figure", p["id"])
			assert.NotContains(t, p, "pm2_5")
			assert.NotContains(t, p, "contributors")
		}
	}
}

func TestFiberErrorsMapToFixedAnswers(t *testing.T) {
	t.Parallel()
	assert.Equal(t, errTooLarge, fromFiber(fiber.StatusRequestEntityTooLarge))
	assert.Equal(t, errContentType, fromFiber(fiber.StatusUnsupportedMediaType))
	assert.Equal(t, "bad_request", fromFiber(fiber.StatusTeapot).code)
	assert.Equal(t, errInternal, fromFiber(fiber.StatusBadGateway))
}
