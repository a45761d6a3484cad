// Package dashboards serves Commons' public HTML pages: the home page, the air-quality map and
// tables, the petitions and the ledger. They need no login and no JavaScript, make no request
// to another site, and read only public data: released aggregates from the store, petition
// totals and purposes from the read model, and the ledger's public entries and checkpoints.
//
// A page never shows anything of a suppressed cell but the fact that it is suppressed, and
// never a ledger field beyond the pseudonymous ones (citizen id, purpose, petition, epoch,
// hash). Templates and the stylesheet are embedded, parsed once by New, and the stylesheet is
// served at a content-hashed URL so it can be cached for good. Pages carry no inline script or
// style, so they work under a `default-src 'self'` content security policy.
package dashboards

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/dashboards/release"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/server/store"
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
	// Now is the clock petitions are judged open or closed by (time.Now if nil).
	Now func() time.Time
}

// Pages renders the public dashboards. It is safe for concurrent use.
type Pages struct {
	src    Source
	city   *cityMap
	tmpl   map[string]*template.Template
	css    []byte
	cssURL string

	mu       sync.RWMutex
	releases map[string]release.AirDay // parsed releases by epoch; releases never change
}

// pageNames are the templates, each rendered inside templates/layout.html.
var pageNames = []string{"home", "air", "petitions", "petition", "ledger", "notfound"}

// New parses templates and the map once (error on a bad template/GeoJSON), ready to mount.
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
	p := &Pages{
		src: src, city: city, css: css,
		cssURL:   "/static/" + hex.EncodeToString(sum[:8]) + "/style.css",
		tmpl:     map[string]*template.Template{},
		releases: map[string]release.AirDay{},
	}
	for _, name := range pageNames {
		t, err := template.ParseFS(assets, "templates/layout.html", "templates/"+name+".html")
		if err != nil {
			return nil, fmt.Errorf("dashboards: new: parse template %s: %w", name, err)
		}
		p.tmpl[name] = t
	}
	return p, nil
}

// Mount registers GET /, /air, /petitions, /petitions/:id, /ledger and /static/<hash>/style.css on r.
func (p *Pages) Mount(r fiber.Router) {
	r.Get("/", p.home)
	r.Get("/air", p.air)
	r.Get("/petitions", p.petitions)
	r.Get("/petitions/:id", p.petition)
	r.Get("/ledger", p.ledger)
	r.Get(p.cssURL, p.stylesheet)
}

// StylesheetURL is the content-hashed URL of the site's stylesheet, for other pages that share it.
func (p *Pages) StylesheetURL() string { return p.cssURL }

func (p *Pages) stylesheet(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "text/css; charset=utf-8")
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	return c.Send(p.css) // never modified after New
}

// layout is what templates/layout.html renders around every page.
type layout struct {
	Title  string
	Active string // the nav entry of the page: home, air, petitions or ledger
	CSS    string
	Body   any
}

var buffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// render executes a page into a pooled buffer and sends a copy of it: fiber's Send keeps the
// slice it is given, and the buffer goes back to the pool.
func (p *Pages) render(c *fiber.Ctx, status int, name, title, active string, body any) error {
	buf := buffers.Get().(*bytes.Buffer)
	defer buffers.Put(buf)
	buf.Reset()
	if err := p.tmpl[name].ExecuteTemplate(buf, "layout", layout{Title: title, Active: active, CSS: p.cssURL, Body: body}); err != nil {
		return fmt.Errorf("dashboards: render %s: %w", name, err)
	}
	c.Status(status)
	c.Set(fiber.HeaderContentType, "text/html; charset=utf-8")
	return c.Send(bytes.Clone(buf.Bytes()))
}

// notFound renders the 404 page. It never repeats what the request asked for.
func (p *Pages) notFound(c *fiber.Ctx, what string) error {
	return p.render(c, fiber.StatusNotFound, "notfound", "Not found", "", struct{ What string }{what})
}

type homeView struct {
	Residents      int
	Days           int
	LatestDay      string
	Petitions      int
	OpenPetitions  int
	CheckpointSize uint64
	Purposes       []*state.Purpose
}

func (p *Pages) home(c *fiber.Ctx) error {
	epochs, err := p.src.Store.Epochs(p.src.AirPurpose)
	if err != nil {
		return fmt.Errorf("dashboards: home: %w", err)
	}
	_, size := p.src.Ledger.Checkpoint()
	v := homeView{
		Residents: p.src.State.CitizenCount(), Days: len(epochs),
		CheckpointSize: size, Purposes: p.src.State.Purposes(),
	}
	if len(epochs) > 0 {
		v.LatestDay = epochs[len(epochs)-1]
	}
	now := p.src.Now()
	for _, pt := range p.src.State.Petitions() {
		v.Petitions++
		if pt.Open(now) {
			v.OpenPetitions++
		}
	}
	return p.render(c, fiber.StatusOK, "home", "Home", "home", v)
}
