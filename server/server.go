// Package server is Commons' HTTP face: a fiber app whose handlers decode a request, call the
// ledger, the read model or the store, and encode the answer. Writes are authenticated by the
// citizen's signature over the request, never by a cookie. Every error has a fixed status and
// message (errors.go): a JSON body for the API and other machine paths, the site's error page
// for a browser elsewhere; details go to slog only, and never a reading, a location or a key.
package server

import (
	"bytes"
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
	"golang.org/x/time/rate"

	"github.com/commons-city/commons/activitypub"
	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/dashboards"
	"github.com/commons-city/commons/dashboards/wallet"
	"github.com/commons-city/commons/geo"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

// Config is everything the HTTP app needs, passed explicitly.
type Config struct {
	Ledger   *ledger.Log
	State    *state.State
	Store    *store.Store
	Releases *release.Engine
	// VerifierKey is the ledger's note verifier key (name+hash+base64).
	VerifierKey string
	// Cosigned, if set, returns the latest checkpoint witnesses cosigned and how many did
	// (witness.Cosigner.Cosigned): served at GET /api/v1/ledger/checkpoint/cosigned and shown
	// on /ledger.
	Cosigned func() ([]byte, int)
	// GeoJSON is the neighbourhood grid, published as is.
	GeoJSON []byte
	// AdminToken authorises /api/v1/admin; compared in constant time.
	AdminToken string
	// TallyKey returns the age recipient of a new petition's tally key (purpose
	// "petition/<id>"), creating its identity where only the release engine reads it.
	TallyKey func(petition string) (string, error)
	// PurposeKey makes the age key of an activated purpose version, where only the release
	// engine reads it, and returns its recipient.
	PurposeKey func(id string, version int) (string, error)
	// DestroyPurposeKey deletes a retired purpose version's key for good.
	DestroyPurposeKey func(id string, version int) error
	// TokenKeys makes a new petition's RSA token key (default crypto.NewTokenKey).
	TokenKeys func() (*rsa.PrivateKey, error)
	// Batcher appends accepted petition acts to the ledger (default: a batcher that appends
	// each act as it is accepted; the node runs one with its policy, NewBatcher).
	Batcher *Batcher
	// AirPurpose is the id of the daily air-quality purpose the dashboards show.
	AirPurpose string
	// BodyLimit bounds request bodies (default 4 MiB).
	BodyLimit int
	// StatementSkew is how far issued_at may be from the server's clock (default 10 min).
	StatementSkew time.Duration
	// ShareDays is how many days before today (UTC) a share copy may be for (default
	// DefaultShareDays): older days are refused for every purpose and go to the resident's
	// vault only, so that no upload can make the release engine publish days long past.
	ShareDays int
	// EnvelopeQuota bounds the bytes of sealed envelopes (vault and share copies) stored for
	// one resident (default DefaultEnvelopeQuota).
	EnvelopeQuota int64
	// RequestTimeout bounds each request's context (default 30 s).
	RequestTimeout time.Duration
	// DB, if set, serves GET /api/v1/admin/backup: an online backup of the database.
	DB Backuper
	// Metrics holds the Prometheus series the app counts (default: NewMetrics()); they are
	// served by Metrics.Handler on a listener of their own, not by the app. One Metrics serves
	// one app.
	Metrics *Metrics
	// Ready reports whether the node takes traffic: GET /readyz answers 503 while it returns
	// false, before the node can serve what it promises and once it shuts down (default:
	// always ready while the app serves).
	Ready func() bool
	// RateLimit is the most POST requests one client IP may send per minute (0: no limit).
	// Requests bearing the admin token are not limited.
	RateLimit int
	// AdminFailureLimit is the most failed admin authentications (a missing or wrong token,
	// any method) one client IP may make per minute; beyond, every admin request from it is
	// answered 429 until the minute ends (default DefaultAdminFailureLimit).
	AdminFailureLimit int
	// CitizenLimit is the most signed writes one resident may make per minute, with a burst of
	// as many (0: no limit). It is checked once the signature is verified, the write is fresh
	// and its nonce unused, so nobody can use up another resident's allowance, not even by
	// replaying their signed statements from the ledger.
	CitizenLimit int
	// MaxConnections caps concurrent connections (default 262144), when the app is served
	// through LimitConnections: the connection beyond the cap gets a JSON 503 and is closed.
	MaxConnections int
	// ProxyHeader names the header carrying the client's IP, set by a reverse proxy (for
	// example X-Real-IP); "" means the connection's peer address. It is believed only from
	// TrustedProxies.
	ProxyHeader string
	// TrustedProxies are the IP addresses or CIDR ranges of the reverse proxies whose
	// ProxyHeader is believed.
	TrustedProxies []string
	// Fediverse, if set, serves the ActivityPub actors (WebFinger, actors, inboxes, outboxes)
	// and is poked after each release run on request. It is built on the Pages (NewPages).
	Fediverse *activitypub.Service
	// Pages are the public pages, if the caller built them (NewPages) to share with Fediverse.
	Pages  *dashboards.Pages
	Now    func() time.Time
	Logger *slog.Logger
}

// handlers holds the handlers' dependencies.
type handlers struct {
	Config
	grid          *geo.Map
	backups       *backupSet
	citizens      *citizenLimiter // nil when CitizenLimit is 0
	uploads       citizenLocks    // one resident's quota check and write, one at a time
	paper         sync.Mutex      // a petition's paper bound check and entry, one at a time
	adminFailures *failureLimiter
	batcher       *Batcher
	verifiers     sync.Map // token key → crypto.TokenVerifier
	tokenKeys     sync.Map // petition id → its *rsa.PrivateKey
}

// DefaultAdminFailureLimit is the default Config.AdminFailureLimit: room for an operator's
// typos and a test battery, while a guesser gets 100 tries a minute at a 192-bit token.
const DefaultAdminFailureLimit = 100

// New builds the fiber app; tests use the same constructor as production.
func New(cfg Config) (*fiber.App, error) {
	if cfg.BodyLimit == 0 {
		cfg.BodyLimit = 4 << 20
	}
	if cfg.StatementSkew == 0 {
		cfg.StatementSkew = 10 * time.Minute
	}
	if cfg.RequestTimeout == 0 {
		cfg.RequestTimeout = 30 * time.Second
	}
	if cfg.ShareDays == 0 {
		cfg.ShareDays = DefaultShareDays
	}
	if cfg.EnvelopeQuota == 0 {
		cfg.EnvelopeQuota = DefaultEnvelopeQuota
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Metrics == nil {
		cfg.Metrics = NewMetrics()
	}
	if cfg.AdminFailureLimit == 0 {
		cfg.AdminFailureLimit = DefaultAdminFailureLimit
	}
	grid, err := geo.Parse(cfg.GeoJSON)
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	pages := cfg.Pages
	if pages == nil {
		if pages, err = NewPages(cfg); err != nil {
			return nil, err
		}
	}
	walletPage, err := wallet.New(pages.StylesheetURL())
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	app := fiber.New(fiber.Config{
		Immutable:               true,
		BodyLimit:               cfg.BodyLimit,
		ReadTimeout:             30 * time.Second,
		WriteTimeout:            30 * time.Second,
		IdleTimeout:             120 * time.Second,
		Concurrency:             concurrency(cfg.MaxConnections),
		ProxyHeader:             cfg.ProxyHeader,
		EnableTrustedProxyCheck: cfg.ProxyHeader != "",
		TrustedProxies:          cfg.TrustedProxies,
		EnableIPValidation:      true,
		// fiber calls this one only for a request fasthttp refused before routing (observe answers
		// every routed error): a request not fully read gets the plain JSON answer, never a page.
		ErrorHandler:          errorHandler(cfg.Logger, nil),
		DisableStartupMessage: true,
		AppName:               "commons",
	})
	a := &handlers{Config: cfg, grid: grid, backups: &backupSet{open: map[*backupStream]bool{}},
		adminFailures: &failureLimiter{limit: cfg.AdminFailureLimit, ips: map[string]*failureWindow{}},
		batcher:       cfg.Batcher}
	if a.batcher == nil {
		a.batcher = NewBatcher(BatchPolicy{}, cfg.Ledger, cfg.Store, cfg.State, cfg.Now, cfg.Logger)
	}
	if cfg.CitizenLimit > 0 {
		a.citizens = &citizenLimiter{perMinute: cfg.CitizenLimit, buckets: map[string]*rate.Limiter{}}
	}
	if err := cfg.Metrics.register(a); err != nil {
		return nil, err
	}
	app.Hooks().OnShutdown(a.backups.abort)
	a.routes(app, pages, walletPage)
	return app, nil
}

// concurrency is fasthttp's cap on connections served at once for a node that LimitConnections
// caps at limit: twice limit, since fasthttp counts a worker until it is back in its pool, after its
// connection closed and LimitConnections gave the slot to the next one; fasthttp's own refusal
// is plain text, and must never be the one a client meets. 0 is fasthttp's default.
func concurrency(limit int) int {
	if limit <= 0 {
		return 0
	}
	return 2 * limit
}

// NewPages builds the public pages of cfg, for New and for the ActivityPub actors, which word
// their notes as the pages' feeds do.
func NewPages(cfg Config) (*dashboards.Pages, error) {
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	pages, err := dashboards.New(dashboards.Source{Store: cfg.Store, State: cfg.State, Ledger: cfg.Ledger,
		GeoJSON: cfg.GeoJSON, AirPurpose: cfg.AirPurpose, Cosigned: cfg.Cosigned, Now: cfg.Now})
	if err != nil {
		return nil, fmt.Errorf("server: %w", err)
	}
	return pages, nil
}

// timeout gives every request a context with a deadline.
func (a *handlers) timeout(c *fiber.Ctx) error {
	ctx, cancel := context.WithTimeout(context.Background(), a.RequestTimeout)
	defer cancel()
	c.SetUserContext(ctx)
	return c.Next()
}

// securityHeaders applies to every answer: no third-party anything, no script, no sniffing, no
// framing. The wallet page alone replaces the policy with one that runs its own script.
func securityHeaders(c *fiber.Ctx) error {
	setSecurityHeaders(c)
	return c.Next()
}

func setSecurityHeaders(c *fiber.Ctx) {
	c.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'")
	c.Set("X-Content-Type-Options", "nosniff")
	c.Set("Referrer-Policy", "no-referrer")
	c.Set("X-Frame-Options", "DENY")
}

// decode parses a JSON body strictly into v: content type, unknown fields, trailing data.
func decode(c *fiber.Ctx, v any) error {
	if ct := string(c.Request().Header.ContentType()); !bytes.HasPrefix([]byte(ct), []byte(fiber.MIMEApplicationJSON)) {
		return errContentType
	}
	return jsonError(api.DecodeStrict(c.Body(), v))
}

// fresh checks a statement's issued_at against the server clock.
func (a *handlers) fresh(issuedAt string) error {
	t, err := time.Parse(time.RFC3339, issuedAt)
	if err != nil {
		return errStale
	}
	if d := a.Now().Sub(t); d > a.StatementSkew || d < -a.StatementSkew {
		return errStale
	}
	return nil
}

func created(c *fiber.Ctx, v any) error { return c.Status(fiber.StatusCreated).JSON(v) }
