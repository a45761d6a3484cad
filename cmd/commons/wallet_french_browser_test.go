package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
)

// TestWalletBrowserInFrench is a resident of old-town using the wallet in French on a phone:
// every word the page shows is French (no sentence of the wallet's English, no English
// stopword), a petition with paper signatures counts them as /petitions does, and a petition
// of another neighbourhood offers no Sign button but says why. Then the same page in a browser
// whose storage is switched off, and in one that could not load the script: each says what
// went wrong and what to do, instead of a blank page.
func TestWalletBrowserInFrench(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	admin := adminTokenOf(t, data)
	c := client.New(n.url)
	invites, err := c.Invites(ctx, admin, 2)
	require.NoError(t, err)
	organiser, err := fixtures.NewOrganiser(ctx, c, admin, invites[1])
	require.NoError(t, err)
	now := time.Now().UTC()
	for _, p := range []api.Petition{
		{ID: "bancs-du-fleuve", Title: "Des bancs au bord du fleuve", Text: "Nous demandons des bancs tous les deux cents mètres.",
			Threshold: 100},
		{ID: "arbres-riverside", Title: "Des arbres à Riverside", Text: "Nous demandons des arbres.",
			Scope: []string{"riverside"}, Threshold: 20},
	} {
		p.Opens, p.Closes = now.Add(-time.Hour).Truncate(time.Hour), now.AddDate(0, 0, 14).Truncate(24*time.Hour)
		_, err := c.CreatePetition(ctx, organiser, p)
		require.NoError(t, err)
	}
	_, err = c.EnterPaper(ctx, organiser, api.Paper{Petition: "bancs-du-fleuve", Count: 38, Note: "signées au marché"})
	require.NoError(t, err)

	bctx, _ := walletBrowser(t, ctx, t.TempDir())
	artifacts := artifactsDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		path := filepath.Join(artifacts, "wallet-fr-"+name+".png")
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s", path)
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}
	openWalletPage(t, bctx, n.url+"/wallet?lang=fr&invite="+invites[0])
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")),
		chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")), chromedp.WaitVisible(chromedp.CSS("#petition-bancs-du-fleuve"))))
	shot("registered")

	lang, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	assert.Equal(t, "fr", lang)
	assert.Equal(t, "Accueil", text(`header nav a[href="/"]`))
	assert.Equal(t, "Portefeuille", text(`header nav a[href="/wallet"]`))
	assert.Contains(t, text("footer"), "Vos clés ne quittent jamais cet appareil")
	assert.Equal(t, "Qualité de l'air par quartier", text("#purpose-air-quality-daily h3"))
	assert.Contains(t, text("#purpose-air-quality-daily"), "par quartier et par jour")

	// Item 11: the same totals as /petitions, paper included.
	assert.Equal(t, "38 signatures sur 100 (0 en ligne, 38 sur papier)", text("#petition-bancs-du-fleuve .count"))
	// Item 12: no Sign button outside the resident's neighbourhood, and the reason.
	signs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#sign-arbres-riverside").length`))
	require.NoError(t, err)
	assert.Zero(t, signs, "no Sign button on another neighbourhood's petition")
	assert.Contains(t, text("#petition-arbres-riverside .out-of-scope"), "Hors de votre quartier")
	signs, err = chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#sign-bancs-du-fleuve").length`))
	require.NoError(t, err)
	assert.Equal(t, 1, signs, "a city-wide petition can be signed")

	// Item 13: no English on the French page.
	body, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
	require.NoError(t, err)
	for _, f := range walletEnglish(t) {
		assert.NotContains(t, body, f, "English on the French wallet")
	}
	names, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#neighbourhood option, .card h3")].map(o => o.textContent)`))
	require.NoError(t, err)
	words := body
	for _, name := range append(names, "English", "Commons") {
		words = strings.ReplaceAll(words, name, " ")
	}
	assert.Empty(t, englishStopwords.FindAllString(words, -1), "English words on the French wallet: %q", words)

	// Item 10: storage switched off. The script throws where the page opens IndexedDB.
	blocked, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `Object.defineProperty(window, "indexedDB", { get() { throw new DOMException("The user denied permission to access the database.", "SecurityError"); } });`})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(n.url+"/wallet?lang=fr"), chromedp.WaitVisible(chromedp.CSS("#failure"))))
	shot("storage-off")
	failure := text("#failure")
	assert.Contains(t, failure, "Ce navigateur ne permet pas au portefeuille de garder vos clés.")
	assert.Contains(t, failure, "navigation privée")
	assert.Contains(t, failure, "denied permission", "the detail gives the browser's refusal")
	_, err = chromedp.Call(bctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams(blocked))
	require.NoError(t, err)

	// Item 10: the script does not load. The page itself says what to do.
	_, err = chromedp.Call(bctx, network.SetBlockedURLs, network.SetBlockedURLsParams{
		URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/wallet/static/*/wallet.js", Block: true}}})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(n.url+"/wallet"), chromedp.WaitVisible(chromedp.CSS("#loading"))))
	shot("no-script")
	assert.Contains(t, text("#loading"), "could not run the page's script")
	assert.Contains(t, text("#loading-fr"), "n'a pas pu exécuter le script")
}

// walletEnglish are the wallet's English messages (i18n.js, const en), cut at their {params}
// into runs of at least three words.
func walletEnglish(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("../../dashboards/wallet/web/src/i18n.js")
	require.NoError(t, err)
	start := strings.Index(string(src), "const en = {")
	end := strings.Index(string(src), "const fr = {")
	require.True(t, start >= 0 && end > start)
	message := regexp.MustCompile(`(?m)^\s+\w+: "(.*)",$`)
	param := regexp.MustCompile(`\{\w+\}`)
	word := regexp.MustCompile(`\p{L}{2,}`)
	var out []string
	for _, m := range message.FindAllStringSubmatch(string(src[start:end]), -1) {
		for _, part := range param.Split(m[1], -1) {
			if part = strings.TrimSpace(part); len(word.FindAllString(part, -1)) >= 3 {
				out = append(out, part)
			}
		}
	}
	require.Greater(t, len(out), 50)
	return out
}

// englishStopwords are words a French page never holds outside a name.
var englishStopwords = regexp.MustCompile(`(?i)\b(the|and|of|your|with|is|are|this|that|these|from|per|by|which|when|only|every|not|yet|been)\b`)
