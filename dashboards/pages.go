// Package dashboards renders Commons' public HTML pages: the home page, the air-quality map and
// tables, the petitions and the ledger. They need no login and no JavaScript, make no request
// to another site, and read only public data: released aggregates from the store, petition
// totals and purposes from the read model, and the ledger's public entries and checkpoints.
//
// A page never shows anything of a suppressed cell but the fact that it is suppressed, and
// never a ledger field beyond the pseudonymous ones (citizen id, purpose, petition, epoch,
// hash). Templates and the stylesheet are embedded, parsed once by New, and the stylesheet is
// served at a content-hashed URL so it can be cached for good. Pages carry no inline script or
// style, so they work under a `default-src 'self'` content security policy.
//
// The package routes nothing: its handlers are fiber.Handler methods of Pages, and the
// server's route table (server/routes.go) names the path of each.
package dashboards

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

//go:embed templates/*.html static/style.css
var assets embed.FS

// Source is what the pages read. All of it is public or released data.
type Source struct {
	// Store holds the releases.
	Store *store.Store
	// State is the read model: purposes, petitions and their totals, the resident count.
	State *state.State
	// Ledger is the public log.
	Ledger *ledger.Log
	// GeoJSON is the neighbourhood FeatureCollection.
	GeoJSON []byte
	// AirPurpose is the purpose whose daily releases /air shows ("air-quality/daily").
	AirPurpose string
	// Cosigned, if set, returns the latest checkpoint witnesses cosigned and how many did.
	Cosigned func() ([]byte, int)
	// Now is the clock petitions are judged open or closed by (time.Now if nil).
	Now func() time.Time
}

// Pages renders the public dashboards. It is safe for concurrent use.
type Pages struct {
	src     Source
	city    *cityMap
	tmpl    map[lang]map[string]*template.Template
	css     []byte
	cssURL  string
	version string // a hash of every embedded asset: part of every ETag

	mu       sync.RWMutex
	releases map[string]release.AirDay  // parsed releases by epoch; releases never change
	weeks    map[string]release.AirWeek // parsed weekly releases by ISO week
	hashes   map[string]string          // release hashes by ledger epoch
	cache    map[string][]byte          // rendered release pages by ETag
	days     releasedDays               // the released days and weeks, as of a ledger size

	entries releaseEntries
}

// releasedDays are the released days and ISO weeks, read when the ledger was size entries
// long: every release is logged, so they stay true until the log grows.
type releasedDays struct {
	size   uint64
	read   bool
	epochs []string
	weeks  []string
}

// released returns the released days and weeks, reading the store again only when the
// ledger has grown. The ledger's size is read first: a release is stored in the transaction
// that logs it, before the size moves, so a list read after the size is never older than it.
// Callers must not modify the slices.
func (p *Pages) released() (days, weeks []string, err error) {
	size := p.src.Ledger.Size()
	p.mu.RLock()
	d := p.days
	p.mu.RUnlock()
	if d.read && d.size == size {
		return d.epochs, d.weeks, nil
	}
	epochs, err := p.src.Store.Epochs(p.src.AirPurpose)
	if err != nil {
		return nil, nil, err
	}
	ws, err := p.src.Store.Epochs(release.WeekPurpose(p.src.AirPurpose))
	if err != nil {
		return nil, nil, err
	}
	d = releasedDays{size: size, read: true, epochs: epochs, weeks: ws}
	p.mu.Lock()
	p.days = d
	p.mu.Unlock()
	return d.epochs, d.weeks, nil
}

// pageNames are the templates, each rendered inside templates/layout.html.
var pageNames = []string{"home", "air", "accuracy", "petitions", "petition", "purposes", "purpose", "ledger", "error"}

// New parses templates and the map once (error on a bad template/GeoJSON), ready to serve.
func New(src Source) (*Pages, error) {
	if src.Store == nil || src.State == nil || src.Ledger == nil {
		return nil, errors.New("dashboards: new: store, state and ledger are required")
	}
	if src.AirPurpose == "" {
		return nil, errors.New("dashboards: new: no air purpose")
	}
	if src.Now == nil {
		src.Now = time.Now
	}
	city, err := parseMap(src.GeoJSON)
	if err != nil {
		return nil, fmt.Errorf("dashboards: new: %w", err)
	}
	css, err := assets.ReadFile("static/style.css")
	if err != nil {
		return nil, fmt.Errorf("dashboards: new: read stylesheet: %w", err)
	}
	sum := sha256.Sum256(css)
	version, err := assetsVersion()
	if err != nil {
		return nil, fmt.Errorf("dashboards: new: %w", err)
	}
	p := &Pages{
		src: src, city: city, css: css, version: version,
		cssURL:   "/static/" + hex.EncodeToString(sum[:8]) + "/style.css",
		tmpl:     map[lang]map[string]*template.Template{},
		releases: map[string]release.AirDay{},
		weeks:    map[string]release.AirWeek{},
		hashes:   map[string]string{},
		cache:    map[string][]byte{},
		entries:  releaseEntries{purpose: src.AirPurpose, index: map[string]uint64{}},
	}
	for _, l := range languages {
		p.tmpl[l] = map[string]*template.Template{}
		for _, name := range pageNames {
			t, err := template.New(name).Funcs(l.funcs()).ParseFS(assets, "templates/layout.html", "templates/partials.html", "templates/"+name+".html")
			if err != nil {
				return nil, fmt.Errorf("dashboards: new: parse template %s: %w", name, err)
			}
			p.tmpl[l][name] = t
		}
	}
	return p, nil
}

// assetsVersion hashes every embedded template and the stylesheet, so that an ETag changes
// when a new build renders the same data differently.
func assetsVersion() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(assets, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := assets.ReadFile(path)
		h.Write([]byte(path))
		h.Write(b)
		return err
	})
	if err != nil {
		return "", fmt.Errorf("hash assets: %w", err)
	}
	return hex.EncodeToString(h.Sum(nil)[:8]), nil
}

// StylesheetURL is the content-hashed URL of the site's stylesheet (/static/<hash>/style.css),
// where the route table serves Stylesheet and other pages link to it.
func (p *Pages) StylesheetURL() string { return p.cssURL }

// Stylesheet answers the site's stylesheet, served at StylesheetURL and cached for good.
func (p *Pages) Stylesheet(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Send(p.css) // never modified after New
}

// layout is what templates/layout.html renders around every page.
type layout struct {
	Lang      lang
	Title     string
	Active    string // the nav entry of the page: home, air, petitions or ledger
	CSS       string
	Switch    []langLink
	Guarantee *guaranteeView // nil before the air purpose is defined
	Feeds     []atomLink     // the city's feed, then each neighbourhood's, in the page's language
	Body      any
}

// langLink is the current page in another language.
type langLink struct {
	Lang lang
	Name string
	URL  string
}

// page is one page to render; self is its path and query as the page checked them, for the
// language switcher.
type page struct {
	name, title, active string
	body                any
	self                string
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a page into a pooled buffer and returns a copy of it: the buffer goes back
// to the pool.
func (p *Pages) render(l lang, pg page) ([]byte, error) {
	buf := buffers.Get().(*bytes.Buffer)
	defer buffers.Put(buf)
	buf.Reset()
	v := layout{Lang: l, Title: pg.title, Active: pg.active, CSS: p.cssURL, Guarantee: p.guarantee(l), Feeds: p.feedLinks(l), Body: pg.body}
	for _, other := range languages {
		if other != l {
			v.Switch = append(v.Switch, langLink{Lang: other, Name: langName[other], URL: switchURL(pg.self, other)})
		}
	}
	if err := p.tmpl[l][pg.name].ExecuteTemplate(buf, "layout", v); err != nil {
		return nil, fmt.Errorf("dashboards: render %s: %w", pg.name, err)
	}
	return bytes.Clone(buf.Bytes()), nil
}

// send answers with a rendered page under its ETag, or 304 when the client has it. Pages vary
// with the language, chosen from the cookie and Accept-Language.
func send(c *fiber.Ctx, status int, etag string, body []byte) error {
	c.Set(fiber.HeaderVary, "Accept-Language, Cookie")
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Set(fiber.HeaderETag, etag)
	if status == fiber.StatusOK && c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, "text/html; charset=utf-8")
	return c.Send(body) // body is never modified after render
}

// show renders a page that is not a release (its data changes with the ledger) and sends it
// under an ETag of its bytes.
func (p *Pages) show(c *fiber.Ctx, l lang, status int, pg page) error {
	body, err := p.render(l, pg)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(body)
	return send(c, status, `"`+hex.EncodeToString(sum[:16])+`"`, body)
}

// errorView is what templates/error.html shows: a fixed heading and sentence, never anything
// of the request.
type errorView struct {
	Heading, What string
}

// Error answers status with the site's error page in the visitor's language: a fixed heading
// and sentence for the kind of error (not found, a refused request, a server fault) and links
// to the main pages, in the site's layout. It never repeats anything of the request. It is
// the page the server's error handler answers to page requests.
func (p *Pages) Error(c *fiber.Ctx, status int) error {
	l := pickLang(c)
	switch {
	case status == fiber.StatusNotFound:
		return p.errorPage(c, l, status, l.t("Not found"), l.t("There is no page at this address."))
	case status >= fiber.StatusInternalServerError:
		return p.errorPage(c, l, status, l.t("Something went wrong"), l.t("The server could not show this page. Please try again in a moment."))
	}
	return p.errorPage(c, l, status, l.t("Request refused"), l.t("The server cannot answer this request as it was sent."))
}

// notFound renders the 404 page saying what is missing. It never repeats what the request
// asked for.
func (p *Pages) notFound(c *fiber.Ctx, l lang, what string) error {
	return p.errorPage(c, l, fiber.StatusNotFound, l.t("Not found"), what)
}

// errorPage renders the error page under status, with a heading and a sentence of ours. Its
// language switch leads to the home page, never back to the request.
func (p *Pages) errorPage(c *fiber.Ctx, l lang, status int, heading, what string) error {
	return p.show(c, l, status, page{"error", heading, "", errorView{heading, what}, "/"})
}

type homeView struct {
	Residents      int
	Days           int
	LatestDay      string
	LatestLabel    string
	Latest         *releaseFacts
	Petitions      int
	OpenPetitions  int
	CheckpointSize uint64
	Purposes       []homePurpose
}

// homePurpose is a purpose residents can consent to, titled and described in the page's
// language: a built-in purpose from the catalogue, an activated proposal from its own text.
type homePurpose struct {
	ID                 string
	Version            int
	Title, Description string
}

// Home answers the home page: the residents, the latest released day, petitions and purposes.
func (p *Pages) Home(c *fiber.Ctx) error {
	l := pickLang(c)
	epochs, _, err := p.released()
	if err != nil {
		return fmt.Errorf("dashboards: home: %w", err)
	}
	_, size := p.src.Ledger.Checkpoint()
	v := homeView{
		Residents: p.src.State.CitizenCount(), Days: len(epochs),
		CheckpointSize: size,
	}
	for _, d := range p.src.State.Purposes() {
		hp := homePurpose{ID: d.ID, Version: d.Version, Title: l.t(d.Title), Description: l.t(d.Description)}
		if prop, ok := p.src.State.ProposalVersion(d.ID, d.Version); ok && l == french {
			hp.Title, hp.Description = prop.Title.FR, prop.Description.FR
		}
		v.Purposes = append(v.Purposes, hp)
	}
	if len(epochs) > 0 {
		v.LatestDay = epochs[len(epochs)-1]
		v.LatestLabel = l.longDate(v.LatestDay)
		d, err := p.release(v.LatestDay)
		if err != nil {
			return fmt.Errorf("dashboards: home: %w", err)
		}
		facts, err := p.dayFacts(c, l, d)
		if err != nil {
			return fmt.Errorf("dashboards: home: %w", err)
		}
		v.Latest = &facts
	}
	now := p.src.Now()
	for _, pt := range p.src.State.Petitions() {
		v.Petitions++
		if pt.Open(now) {
			v.OpenPetitions++
		}
	}
	return p.show(c, l, fiber.StatusOK, page{"home", l.t("Home"), "home", v, "/"})
}
