// Package wallet renders /wallet, the residents' browser wallet: one HTML page and one script
// that make, keep and use the resident's keys on their own device. The script is built from
// web/ (npm: age-encryption, @noble/curves, @noble/hashes) with esbuild into static/wallet.js,
// committed, and embedded here, so serving it needs no npm; `make wallet-js` rebuilds it.
//
// The page holds nothing of a resident: it is the same bytes for everyone, and an invite code
// in its URL (/wallet?invite=CODE) is read by the script, never rendered by the server. Only
// these pages may run a script, and only this one, from this origin: their content security
// policy allows 'self' scripts and connections and nothing else, while every other page of
// the site keeps script-src 'none'.
//
// The package routes nothing: the server's route table (server/routes.go) serves Page.HTML at
// /wallet and the script and stylesheet at ScriptURL and StylesheetURL.
package wallet

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"

	"github.com/gofiber/fiber/v2"
)

//go:embed templates/wallet.html static/wallet.js static/wallet.css
var assets embed.FS

// CSP is the content security policy of the wallet page: its own script, stylesheets and
// API on this origin, nothing inline, no frames, and DOM sinks guarded by Trusted Types.
const CSP = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; " +
	"form-action 'none'; frame-ancestors 'none'; base-uri 'none'; require-trusted-types-for 'script'"

// Page serves the wallet page and its content-hashed script and stylesheet.
type Page struct {
	html      []byte
	script    asset
	walletCSS asset
}

type asset struct {
	url  string
	body []byte
	mime string
}

// New renders the page once. stylesheet is the URL of the site's stylesheet (the dashboards'
// content-hashed style.css), which the page shares with the public dashboards.
func New(stylesheet string) (*Page, error) {
	if stylesheet == "" {
		return nil, errors.New("wallet: new: no stylesheet URL")
	}
	script, err := load("static/wallet.js", "text/javascript; charset=utf-8")
	if err != nil {
		return nil, err
	}
	css, err := load("static/wallet.css", "text/css; charset=utf-8")
	if err != nil {
		return nil, err
	}
	t, err := template.ParseFS(assets, "templates/wallet.html")
	if err != nil {
		return nil, fmt.Errorf("wallet: new: parse template: %w", err)
	}
	var b bytes.Buffer
	err = t.Execute(&b, struct{ Stylesheet, WalletCSS, Script string }{stylesheet, css.url, script.url})
	if err != nil {
		return nil, fmt.Errorf("wallet: new: render: %w", err)
	}
	return &Page{html: b.Bytes(), script: script, walletCSS: css}, nil
}

// load reads an embedded asset and names it by its content hash, so it can be cached for good.
func load(name, mime string) (asset, error) {
	b, err := assets.ReadFile(name)
	if err != nil {
		return asset{}, fmt.Errorf("wallet: new: %w", err)
	}
	if len(b) == 0 {
		return asset{}, fmt.Errorf("wallet: new: %s is empty", name)
	}
	sum := sha256.Sum256(b)
	base := name[len("static/"):]
	return asset{url: "/wallet/static/" + hex.EncodeToString(sum[:8]) + "/" + base, body: b, mime: mime}, nil
}

// ScriptURL is the content-hashed URL of the wallet's script (/wallet/static/<hash>/wallet.js).
func (p *Page) ScriptURL() string { return p.script.url }

// StylesheetURL is the content-hashed URL of the wallet's own stylesheet
// (/wallet/static/<hash>/wallet.css).
func (p *Page) StylesheetURL() string { return p.walletCSS.url }

// HTML answers the wallet page under its own content security policy, CSP.
func (p *Page) HTML(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentSecurityPolicy, CSP)
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderContentType, "text/html; charset=utf-8")
	return c.Send(p.html) // never modified after New
}

// Script answers the wallet's script, served at ScriptURL and cached for good.
func (p *Page) Script(c *fiber.Ctx) error { return p.script.send(c) }

// Stylesheet answers the wallet's stylesheet, served at StylesheetURL and cached for good.
func (p *Page) Stylesheet(c *fiber.Ctx) error { return p.walletCSS.send(c) }

func (a asset) send(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, a.mime)
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Send(a.body) // never modified after New
}
