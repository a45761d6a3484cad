package server

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/dashboards/wallet"
)

// TestOnlyTheWalletRunsScript checks the content security policies: every page and answer
// forbids script, except the wallet page, which allows only its own.
func TestOnlyTheWalletRunsScript(t *testing.T) {
	t.Parallel()
	n := newTestNode(t, nil)
	for _, path := range []string{"/", "/air", "/about/accuracy", "/petitions", "/ledger", "/api/v1/purposes", "/nowhere"} {
		csp := n.do(t, "GET", path, "").Header.Get("Content-Security-Policy")
		assert.Contains(t, csp, "script-src 'none'", "%s", path)
		assert.Contains(t, csp, "default-src 'self'", "%s", path)
	}
	resp := n.do(t, "GET", "/wallet", "")
	require.Equal(t, 200, resp.StatusCode)
	assert.Equal(t, wallet.CSP, resp.Header.Get("Content-Security-Policy"))
	assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"), "an invite code in the URL is never sent on")
}
