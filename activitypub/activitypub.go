// Package activitypub makes the city and each neighbourhood ActivityPub actors
// (`@old-town@host`): WebFinger, actor documents with the node's public key, an outbox of the
// feed's events as Create activities of Notes, a followers collection that gives only its
// count, and an inbox that takes Follow and Undo of a Follow, each verified by its HTTP
// Signature. A worker announces every new release and petition event to every follower:
// deliveries are queued in the store (they survive a restart), retried with backoff,
// rate-limited, and never make a release wait.
//
// What leaves the node this way is what the Atom feeds say (dashboards.Post), nothing else.
package activitypub

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"time"

	"golang.org/x/time/rate"

	"github.com/commons-city/commons/dashboards"
	"github.com/commons-city/commons/store"
)

// CityActor is the preferred username of the city's actor; each neighbourhood's is its id.
const CityActor = "city"

// WebFingerPath is where actors are looked up (RFC 7033).
const WebFingerPath = "/.well-known/webfinger"

// ActivityType is the media type of ActivityPub documents.
const ActivityType = "application/activity+json"

// Source words the events the actors announce: the node's public pages.
type Source interface {
	Posts(ctx context.Context, base, neighbourhood string) ([]dashboards.Post, error)
	Neighbourhoods() []string
	NeighbourhoodName(id string) string
}

// Config is what the actors need.
type Config struct {
	Store  *store.Store
	Source Source
	// BaseURL is the node's public address ("https://commons.example"): every actor and
	// activity id is under it, and WebFinger answers for its host.
	BaseURL string
	// Key signs every delivery; its public half is in every actor document.
	Key *rsa.PrivateKey
	// Every is how often the worker looks for new events and due deliveries (default 1 min);
	// Poke makes it look at once.
	Every time.Duration
	// PerSecond is the most deliveries the worker makes per second (default 5).
	PerSecond float64
	// Now is the clock of signatures and retries (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Service is the node's ActivityPub face: its handlers and its delivery worker.
type Service struct {
	Config
	base    *url.URL
	pubPEM  string
	client  *http.Client
	limiter *rate.Limiter
	poke    chan struct{}
}

// New checks cfg and returns the service. A base URL on a loopback or private address (a
// node tried on one machine) lets the service talk to peers on such addresses, over plain
// HTTP; any other refuses them, so that an inbox cannot make the node fetch from its own
// network.
func New(cfg Config) (*Service, error) {
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") {
		return nil, fmt.Errorf("activitypub: the public URL %q is not of the form https://host[:port]", cfg.BaseURL)
	}
	u.Path = ""
	if slices.Contains(cfg.Source.Neighbourhoods(), CityActor) {
		return nil, fmt.Errorf("activitypub: a neighbourhood is named %q, the city's actor", CityActor)
	}
	if cfg.Key == nil {
		return nil, errors.New("activitypub: no key")
	}
	der, err := x509.MarshalPKIXPublicKey(&cfg.Key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("activitypub: public key: %w", err)
	}
	if cfg.Every == 0 {
		cfg.Every = time.Minute
	}
	if cfg.PerSecond == 0 {
		cfg.PerSecond = 5
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	return &Service{
		Config:  cfg,
		base:    u,
		pubPEM:  string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})),
		client:  newClient(localHost(u.Hostname())),
		limiter: rate.NewLimiter(rate.Limit(cfg.PerSecond), 1),
		poke:    make(chan struct{}, 1),
	}, nil
}

// GenerateKey makes the node's ActivityPub key: RSA 2048 bits, the one key every Fediverse
// server verifies, as a PKCS #8 PEM block.
func GenerateKey() ([]byte, error) {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("activitypub: generate key: %w", err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, fmt.Errorf("activitypub: generate key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// ParseKey reads a key made by GenerateKey.
func ParseKey(b []byte) (*rsa.PrivateKey, error) {
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, errors.New("activitypub: key: not a PEM PRIVATE KEY block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, fmt.Errorf("activitypub: key: %w", err)
	}
	rk, ok := k.(*rsa.PrivateKey)
	if !ok {
		return nil, errors.New("activitypub: key: not an RSA key")
	}
	return rk, nil
}

// actor is one of the node's actors.
type actor struct {
	name          string // preferred username: CityActor or a neighbourhood id
	neighbourhood string // "" for the city
	id            string // its URL
	page          string // its public page
	title         string
}

func (s *Service) origin() string { return s.base.String() }

// actors are the city's actor and each neighbourhood's.
func (s *Service) actors() []actor {
	out := []actor{s.cityActor()}
	for _, id := range s.Source.Neighbourhoods() {
		a, _ := s.actorNamed(id)
		out = append(out, a)
	}
	return out
}

func (s *Service) cityActor() actor {
	return actor{name: CityActor, id: s.origin() + "/" + CityActor, page: s.origin() + "/", title: "Commons"}
}

// actorNamed returns the actor of a preferred username.
func (s *Service) actorNamed(name string) (actor, bool) {
	if name == CityActor {
		return s.cityActor(), true
	}
	if !slices.Contains(s.Source.Neighbourhoods(), name) {
		return actor{}, false
	}
	return actor{name: name, neighbourhood: name, id: s.origin() + "/neighbourhoods/" + name,
		page: s.origin() + "/air", title: "Commons: " + s.Source.NeighbourhoodName(name)}, true
}
