package activitypub

import (
	"encoding/json"
	"fmt"
	"html"
	"net/url"
	"strings"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/dashboards"
)

// The JSON-LD contexts of the documents: ActivityStreams, and the security vocabulary of
// publicKey.
var (
	asContext     = "https://www.w3.org/ns/activitystreams"
	actorContext  = []string{asContext, "https://w3id.org/security/v1"}
	publicAddress = "https://www.w3.org/ns/activitystreams#Public"
)

// fail answers a JSON error in the shape of the rest of the node's machine paths
// (docs/api.md, "Errors").
func fail(c *fiber.Ctx, status int, code, message string) error {
	return c.Status(status).JSON(fiber.Map{"error": fiber.Map{"code": code, "message": message}})
}

// send answers v as an ActivityStreams document.
func send(c *fiber.Ctx, contentType string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("activitypub: %w", err)
	}
	c.Set(fiber.HeaderContentType, contentType)
	c.Set(fiber.HeaderVary, "Accept")
	return c.Send(b)
}

// wantsActivity reports whether the request asks for an ActivityStreams document rather than a
// page.
func wantsActivity(c *fiber.Ctx) bool {
	accept := c.Get(fiber.HeaderAccept)
	return strings.Contains(accept, ActivityType) || strings.Contains(accept, "application/ld+json")
}

// actorOf is the actor a route names: the city's (no :id) or a neighbourhood's.
func (s *Service) actorOf(c *fiber.Ctx) (actor, bool) {
	if id := c.Params("id"); id != "" {
		return s.actorNamed(id)
	}
	return s.cityActor(), true
}

// WebFinger answers GET /.well-known/webfinger?resource=acct:<name>@<host> (or the actor's
// URL) with the actor's links.
func (s *Service) WebFinger(c *fiber.Ctx) error {
	resource := c.Query("resource")
	if resource == "" {
		return fail(c, 400, "missing_resource", "give ?resource=acct:<neighbourhood id or city>@<host>")
	}
	var name string
	if acct, ok := strings.CutPrefix(resource, "acct:"); ok {
		user, host, _ := strings.Cut(acct, "@")
		if !strings.EqualFold(host, s.base.Host) {
			return fail(c, 404, "unknown_resource", "this node answers only for accounts at "+s.base.Host)
		}
		name = user
	} else if rest, ok := strings.CutPrefix(resource, s.origin()+"/"); ok {
		name = strings.TrimPrefix(rest, "neighbourhoods/")
	}
	a, ok := s.actorNamed(name)
	if !ok {
		return fail(c, 404, "unknown_resource", "no actor of this node has this name")
	}
	return send(c, "application/jrd+json", fiber.Map{
		"subject": "acct:" + a.name + "@" + s.base.Host,
		"aliases": []string{a.id},
		"links": []fiber.Map{
			{"rel": "self", "type": ActivityType, "href": a.id},
			{"rel": "http://webfinger.net/rel/profile-page", "type": "text/html", "href": a.page},
		},
	})
}

// Actor answers an actor's document to a request for ActivityStreams; a browser is sent to
// the actor's page.
func (s *Service) Actor(c *fiber.Ctx) error {
	a, ok := s.actorOf(c)
	if !ok {
		return fail(c, 404, "unknown_actor", "no neighbourhood with this id")
	}
	if !wantsActivity(c) {
		return c.Redirect(a.page, fiber.StatusSeeOther)
	}
	summary := "Every release of the city's air-quality figures and every petition opened or closed. Figures carry noise that protects each resident."
	return send(c, ActivityType, fiber.Map{
		"@context":                  actorContext,
		"id":                        a.id,
		"type":                      "Service",
		"preferredUsername":         a.name,
		"name":                      a.title,
		"summary":                   html.EscapeString(summary),
		"url":                       a.page,
		"inbox":                     a.id + "/inbox",
		"outbox":                    a.id + "/outbox",
		"followers":                 a.id + "/followers",
		"manuallyApprovesFollowers": false,
		"publicKey": fiber.Map{
			"id":           a.id + "#main-key",
			"owner":        a.id,
			"publicKeyPem": s.pubPEM,
		},
	})
}

// Outbox answers an actor's outbox: the Create of a Note for each of its events, newest first
// (the events its Atom feed lists).
func (s *Service) Outbox(c *fiber.Ctx) error {
	a, ok := s.actorOf(c)
	if !ok {
		return fail(c, 404, "unknown_actor", "no neighbourhood with this id")
	}
	posts, err := s.Source.Posts(c.UserContext(), s.origin(), a.neighbourhood)
	if err != nil {
		return fmt.Errorf("activitypub: outbox: %w", err)
	}
	items := make([]create, len(posts))
	for i, p := range posts {
		items[i] = s.create(a, p)
		items[i].Context = ""
	}
	return send(c, ActivityType, fiber.Map{
		"@context": asContext, "id": a.id + "/outbox", "type": "OrderedCollection",
		"totalItems": len(items), "orderedItems": items,
	})
}

// Followers answers an actor's followers collection: its count only, never who they are.
func (s *Service) Followers(c *fiber.Ctx) error {
	a, ok := s.actorOf(c)
	if !ok {
		return fail(c, 404, "unknown_actor", "no neighbourhood with this id")
	}
	followers, err := s.Store.Followers(a.id)
	if err != nil {
		return fmt.Errorf("activitypub: followers: %w", err)
	}
	return send(c, ActivityType, fiber.Map{
		"@context": asContext, "id": a.id + "/followers", "type": "OrderedCollection", "totalItems": len(followers),
	})
}

// create is the Create activity announcing one event, with its Note.
type create struct {
	Context   string   `json:"@context,omitempty"`
	ID        string   `json:"id"`
	Type      string   `json:"type"`
	Actor     string   `json:"actor"`
	Published string   `json:"published"`
	To        []string `json:"to"`
	CC        []string `json:"cc"`
	Object    note     `json:"object"`
}

type note struct {
	ID           string            `json:"id"`
	Type         string            `json:"type"`
	AttributedTo string            `json:"attributedTo"`
	Published    string            `json:"published"`
	To           []string          `json:"to"`
	CC           []string          `json:"cc"`
	URL          string            `json:"url"`
	Content      string            `json:"content"`
	ContentMap   map[string]string `json:"contentMap"`
}

// create words a post as a Note in every language (contentMap; content in the default one),
// from its feed entry alone.
func (s *Service) create(a actor, p dashboards.Post) create {
	var path []string
	for seg := range strings.SplitSeq(p.Event, "/") {
		path = append(path, url.PathEscape(seg))
	}
	id := a.id + "/notes/" + strings.Join(path, "/")
	words := map[string]string{}
	for l, title := range p.Title {
		words[l] = "<p>" + html.EscapeString(title) + "</p><p>" + html.EscapeString(p.Summary[l]) +
			` <a href="` + html.EscapeString(p.Link[l]) + `">` + html.EscapeString(p.Link[l]) + "</a></p>"
	}
	def := dashboards.Languages()[0]
	at := p.At.UTC().Format(time.RFC3339)
	to, cc := []string{publicAddress}, []string{a.id + "/followers"}
	return create{
		Context: asContext, ID: id + "/create", Type: "Create", Actor: a.id, Published: at, To: to, CC: cc,
		Object: note{ID: id, Type: "Note", AttributedTo: a.id, Published: at, To: to, CC: cc,
			URL: p.Link[def], Content: words[def], ContentMap: words},
	}
}
