package main

import (
	"crypto/ed25519"
	"crypto/rand"
	"net/url"
	"strings"
	"testing"

	"filippo.io/torchwood"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/nodetest"
)

// TestWalletChecksTheWitnessesItTrusts has the browser wallet trust a real litewitness, from
// a /wallet?witness=KEY link as a neighbourhood group would share: checking receipts then
// requires the node's checkpoint cosigned by it, which the node has. A witness the node never
// used, trusted alone, fails the check with a clear message; a malformed key is refused.
func TestWalletChecksTheWitnessesItTrusts(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	sshTools(t)
	w := startLitewitness(t, ctx)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{}, "--witnesses", w.url+"="+w.vkey, "--witness-every", "100ms")
	key := strings.TrimSpace(string(httpGet(t, n.url+"/api/v1/ledger/key")))
	origin, _, _ := strings.Cut(key, "+")
	w.trust(t, ctx, origin, key)
	invite := n.invites(1)[0]

	bctx, _ := walletBrowser(t, ctx, t.TempDir())
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	// text reads an element's text in one evaluation: the page re-renders after each action,
	// so a node looked up first may be gone by the time it is read.
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](callJS(t, `(sel) => document.querySelector(sel)?.textContent ?? ""`, sel)))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}
	openWalletPage(t, bctx, n.url+"/wallet?invite="+url.QueryEscape(invite)+"&witness="+url.QueryEscape(w.vkey))
	do(chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")), chromedp.WaitVisible(chromedp.CSS("#witness-list code")))
	assert.Equal(t, "witness.test/commons", text("#witness-list code"), "the link's witness is trusted")
	do(chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")))
	// The registration grew the ledger; the node's next round has it cosigned.
	size := n.size()
	require.True(t, eventually(ctx, func() bool { return strings.Contains(cosignedText(n.url), "\n"+itoa(size)+"\n") }))

	do(chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("ul.receipts li .checked.ok")))
	assert.Contains(t, text("#status"), "is cosigned by 1 of the 1 witnesses you trust, and the latest extends it.")

	// A witness this node never used, trusted alone: the same receipts no longer check out.
	_, other, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	stranger, err := torchwood.NewCosignatureSigner("stranger.test/witness", other)
	require.NoError(t, err)
	do(chromedp.SetValue(chromedp.CSS("#witness-key"), stranger.Verifier().String()), chromedp.Click(chromedp.CSS("#add-witness")),
		chromedp.WaitVisible(chromedp.CSS("#witness-list li:nth-child(2)")))
	do(chromedp.Click(chromedp.CSS("#witness-list li:first-child .remove-witness")))
	require.True(t, eventually(ctx, func() bool { return text("#witness-list") == "stranger.test/witness Remove" }), text("#witness-list"))
	do(chromedp.Click(chromedp.CSS("#check")))
	require.True(t, eventually(ctx, func() bool { return text("#alert") != "" }))
	assert.Contains(t, text("#alert"), "No witness you trust has cosigned this ledger.")

	// The ledger's own key is not a witness key.
	do(chromedp.SetValue(chromedp.CSS("#witness-key"), key), chromedp.Click(chromedp.CSS("#add-witness")))
	require.True(t, eventually(ctx, func() bool { return strings.Contains(text("#alert"), "This is not a witness key") }), text("#alert"))
	assert.Equal(t, "stranger.test/witness Remove", text("#witness-list"))
}
