package activitypub_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-fed/httpsig"
	"github.com/gofiber/fiber/v2"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/activitypub"
	"github.com/commons-city/commons/dashboards"
	"github.com/commons-city/commons/nodetest"
)

// source is a Source whose posts the test sets.
type source struct {
	mu    sync.Mutex
	posts []dashboards.Post
}

func (s *source) Posts(context.Context, string, string) ([]dashboards.Post, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]dashboards.Post(nil), s.posts...), nil
}

func (s *source) Neighbourhoods() []string        { return []string{"old-town"} }
func (s *source) NeighbourhoodName(string) string { return "Ciutat Vella" }

// add puts a post in front, as a new event.
func (s *source) add(event string, at time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := dashboards.Post{Tag: "tag:test," + at.Format(time.DateOnly) + ":" + event, Event: event, At: at, Kind: "release",
		Title:   map[string]string{"en": "Air quality on " + event, "fr": "Qualité de l'air le " + event},
		Summary: map[string]string{"en": "City — 12.0 µg/m³.", "fr": "Ville — 12,0 µg/m³."},
		Link:    map[string]string{"en": "http://x/air?lang=en", "fr": "http://x/air?lang=fr"}}
	s.posts = append([]dashboards.Post{p}, s.posts...)
}

// peer is a remote actor, bob, on loopback: it serves its actor document and records what
// its inbox receives, once it verified the node's signature.
type peer struct {
	t        *testing.T
	url      string
	key      *rsa.PrivateKey
	nodeKey  *rsa.PublicKey
	status   atomic.Int32 // what the inbox answers
	mu       sync.Mutex
	received []string
	attempts int
}

func newPeer(t *testing.T, nodeKey *rsa.PublicKey) *peer {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	p := &peer{t: t, key: key, nodeKey: nodeKey}
	p.status.Store(http.StatusAccepted)
	srv := httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(srv.Close)
	p.url = srv.URL
	return p
}

func (p *peer) id() string { return p.url + "/users/bob" }

func (p *peer) serve(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/users/bob":
		der, _ := x509.MarshalPKIXPublicKey(&p.key.PublicKey)
		w.Header().Set("Content-Type", activitypub.ActivityType)
		json.NewEncoder(w).Encode(map[string]any{
			"@context": "https://www.w3.org/ns/activitystreams", "id": p.id(), "type": "Person",
			"inbox": p.id() + "/inbox",
			"publicKey": map[string]string{"id": p.id() + "#main-key", "owner": p.id(),
				"publicKeyPem": string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))},
		})
	case r.Method == http.MethodPost && r.URL.Path == "/users/bob/inbox":
		body, _ := io.ReadAll(r.Body)
		v, err := httpsig.NewVerifier(r)
		if err == nil {
			err = v.Verify(p.nodeKey, httpsig.RSA_SHA256)
		}
		p.mu.Lock()
		defer p.mu.Unlock()
		p.attempts++
		if !assert.NoError(p.t, err, "the node's signature verifies") {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		status := int(p.status.Load())
		if status/100 == 2 {
			p.received = append(p.received, string(body))
		}
		w.WriteHeader(status)
	default:
		http.NotFound(w, r)
	}
}

func (p *peer) got() (received []string, attempts int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.received...), p.attempts
}

// node is a Service on a nodetest core, served on loopback with the node's routes.
type node struct {
	core *nodetest.Core
	svc  *activitypub.Service
	key  *rsa.PrivateKey
	src  *source
	url  string
}

func newNode(t *testing.T) *node {
	t.Helper()
	core := nodetest.New(t, nodetest.Options{})
	b, err := activitypub.GenerateKey()
	require.NoError(t, err)
	key, err := activitypub.ParseKey(b)
	require.NoError(t, err)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n := &node{core: core, key: key, src: &source{}, url: "http://" + ln.Addr().String()}
	n.svc = n.service(t, 1000)
	app := fiber.New(fiber.Config{DisableStartupMessage: true})
	app.Get(activitypub.WebFingerPath, n.svc.WebFinger)
	for _, a := range []string{"/city", "/neighbourhoods/:id"} {
		app.Get(a, n.svc.Actor)
		app.Get(a+"/outbox", n.svc.Outbox)
		app.Get(a+"/followers", n.svc.Followers)
		app.Post(a+"/inbox", n.svc.Inbox)
	}
	go app.Listener(ln)
	t.Cleanup(func() { app.Shutdown() })
	return n
}

// service is a new Service on the node's (re)opened core, as after a restart.
func (n *node) service(t *testing.T, perSecond float64) *activitypub.Service {
	svc, err := activitypub.New(activitypub.Config{Store: n.core.Store, Source: n.src, BaseURL: n.url, Key: n.key,
		PerSecond: perSecond, Now: n.core.Clock.Now, Logger: n.core.Logger})
	require.NoError(t, err)
	return svc
}

// signed is a POST of body to url signed by key as keyID, dated date, covering headers.
func signed(t *testing.T, url string, body []byte, key *rsa.PrivateKey, keyID string, date time.Time, headers ...string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", activitypub.ActivityType)
	req.Header.Set("Host", req.URL.Host)
	req.Header.Set("Date", date.UTC().Format(http.TimeFormat))
	if headers == nil {
		headers = []string{httpsig.RequestTarget, "host", "date", "digest"}
	}
	s, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256, headers, httpsig.Signature, 0)
	require.NoError(t, err)
	require.NoError(t, s.SignRequest(key, keyID, req, body))
	return req
}

// do sends req and returns its status and JSON error code.
func do(t *testing.T, req *http.Request) (int, string) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var e struct {
		Error struct{ Code, Message string }
	}
	_ = json.NewDecoder(resp.Body).Decode(&e)
	return resp.StatusCode, e.Error.Code
}

func follow(p *peer, object string) []byte {
	b, _ := json.Marshal(map[string]any{"@context": "https://www.w3.org/ns/activitystreams",
		"id": p.url + "/follows/1", "type": "Follow", "actor": p.id(), "object": object})
	return b
}

func getJSON(t *testing.T, url, accept string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	req.Header.Set("Accept", accept)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	var m map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&m)
	return resp.StatusCode, m
}

// TestWebFingerActorsAndCollections: the city and old-town are found through WebFinger and
// described with the node's public key; a browser is sent to the page; the followers
// collection is a count, never a list; the outbox lists the events, newest first.
func TestWebFingerActorsAndCollections(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	host := strings.TrimPrefix(n.url, "http://")
	for _, name := range []string{"old-town", "city"} {
		status, jrd := getJSON(t, n.url+activitypub.WebFingerPath+"?resource=acct:"+name+"@"+host, "")
		require.Equal(t, http.StatusOK, status, name)
		assert.Equal(t, "acct:"+name+"@"+host, jrd["subject"])
	}
	for resource, want := range map[string]int{"": 400, "acct:nowhere@" + host: 404, "acct:old-town@elsewhere.example": 404} {
		status, body := getJSON(t, n.url+activitypub.WebFingerPath+"?resource="+resource, "")
		assert.Equal(t, want, status, resource)
		assert.NotEmpty(t, body["error"].(map[string]any)["code"], resource)
	}

	actor := n.url + "/neighbourhoods/old-town"
	status, doc := getJSON(t, actor, activitypub.ActivityType)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, actor, doc["id"])
	assert.Equal(t, actor+"/inbox", doc["inbox"])
	assert.Equal(t, actor+"/outbox", doc["outbox"])
	pub := doc["publicKey"].(map[string]any)
	assert.Equal(t, actor+"#main-key", pub["id"])
	block, _ := pem.Decode([]byte(pub["publicKeyPem"].(string)))
	require.NotNil(t, block)
	k, err := x509.ParsePKIXPublicKey(block.Bytes)
	require.NoError(t, err)
	assert.True(t, n.key.PublicKey.Equal(k), "the actor's key is the node's")
	status, _ = getJSON(t, actor, "text/html")
	assert.Equal(t, http.StatusSeeOther, status, "a browser is sent to the page")
	status, _ = getJSON(t, n.url+"/neighbourhoods/nowhere", activitypub.ActivityType)
	assert.Equal(t, http.StatusNotFound, status)

	status, followers := getJSON(t, actor+"/followers", activitypub.ActivityType)
	require.Equal(t, http.StatusOK, status)
	assert.Equal(t, 0.0, followers["totalItems"])
	assert.NotContains(t, followers, "orderedItems")
	assert.NotContains(t, followers, "first")

	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	n.src.add("release/air/2026-05-01", day)
	n.src.add("release/air/2026-05-02", day.AddDate(0, 0, 1))
	status, outbox := getJSON(t, n.url+"/city/outbox", activitypub.ActivityType)
	require.Equal(t, http.StatusOK, status)
	items := outbox["orderedItems"].([]any)
	require.Len(t, items, 2)
	first := items[0].(map[string]any)
	assert.Equal(t, "Create", first["type"])
	note := first["object"].(map[string]any)
	assert.Equal(t, n.url+"/city/notes/release/air/2026-05-02", note["id"])
	assert.Equal(t, "<p>Air quality on release/air/2026-05-02</p><p>City — 12.0 µg/m³. <a href=\"http://x/air?lang=en\">http://x/air?lang=en</a></p>", note["content"])
	assert.Contains(t, note["contentMap"].(map[string]any)["fr"], "Qualité de l&#39;air")
}

// TestInboxRefusesWhatItCannotVerify: an inbox POST unsigned, signed without the digest, with
// a body changed after signing, signed with a key that is not the actor's, dated two hours
// off, or signed by another actor than the activity's is refused with 401 JSON; too large a
// body with 413; another activity, or a Follow of another actor, with 422. None of them stores
// a follower or queues a delivery; then a good Follow does both, and its Accept is delivered
// signed.
func TestInboxRefusesWhatItCannotVerify(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	p := newPeer(t, &n.key.PublicKey)
	inbox := n.url + "/neighbourhoods/old-town/inbox"
	actor := n.url + "/neighbourhoods/old-town"
	now := n.core.Clock.Now()
	good := follow(p, actor)
	other, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	keyID := p.id() + "#main-key"

	unsigned, err := http.NewRequest(http.MethodPost, inbox, bytes.NewReader(good))
	require.NoError(t, err)
	changed := signed(t, inbox, good, p.key, keyID, now)
	changed.Body = io.NopCloser(bytes.NewReader(follow(p, actor+"x")))
	changed.ContentLength = int64(len(follow(p, actor+"x")))
	impostor, _ := json.Marshal(map[string]any{"id": p.url + "/f", "type": "Follow", "actor": "http://127.0.0.1:1/users/eve", "object": actor})
	like, _ := json.Marshal(map[string]any{"id": p.url + "/l", "type": "Like", "actor": p.id(), "object": actor})
	large := append(bytes.Repeat([]byte(" "), 70<<10), good...)
	for name, c := range map[string]struct {
		req    *http.Request
		status int
		code   string
	}{
		"unsigned":               {unsigned, 401, "bad_signature"},
		"digest not signed":      {signed(t, inbox, good, p.key, keyID, now, httpsig.RequestTarget, "host", "date"), 401, "bad_signature"},
		"body changed":           {changed, 401, "bad_signature"},
		"not the actor's key":    {signed(t, inbox, good, other, keyID, now), 401, "bad_signature"},
		"two hours off":          {signed(t, inbox, good, p.key, keyID, now.Add(-2*time.Hour)), 401, "bad_signature"},
		"actor is not signer":    {signed(t, inbox, impostor, p.key, keyID, now), 401, "bad_signature"},
		"too large":              {signed(t, inbox, large, p.key, keyID, now), 413, "body_too_large"},
		"a Like":                 {signed(t, inbox, like, p.key, keyID, now), 422, "unsupported_activity"},
		"Follow of someone else": {signed(t, inbox, follow(p, n.url+"/city"), p.key, keyID, now), 422, "wrong_object"},
	} {
		status, code := do(t, c.req)
		assert.Equal(t, c.status, status, name)
		assert.Equal(t, c.code, code, name)
	}
	fs, err := n.core.Store.Followers(actor)
	require.NoError(t, err)
	assert.Empty(t, fs)
	queue, err := n.core.Store.Deliveries()
	require.NoError(t, err)
	assert.Empty(t, queue)

	status, _ := do(t, signed(t, inbox, good, p.key, keyID, now))
	require.Equal(t, http.StatusAccepted, status)
	fs, err = n.core.Store.Followers(actor)
	require.NoError(t, err)
	assert.Equal(t, p.id()+"/inbox", fs[0].Inbox)
	require.NoError(t, n.svc.Deliver(context.Background()))
	received, _ := p.got()
	require.Len(t, received, 1)
	assert.Contains(t, received[0], `"type":"Accept"`)
	assert.Contains(t, received[0], `"id":"`+p.url+`/follows/1"`)

	undo, _ := json.Marshal(map[string]any{"id": p.url + "/u", "type": "Undo", "actor": p.id(),
		"object": map[string]any{"id": p.url + "/follows/1", "type": "Follow", "actor": p.id(), "object": actor}})
	status, _ = do(t, signed(t, inbox, undo, p.key, keyID, now))
	require.Equal(t, http.StatusAccepted, status)
	fs, err = n.core.Store.Followers(actor)
	require.NoError(t, err)
	assert.Empty(t, fs)
}

// TestDeliveriesSurviveARestartAndBackOff: a new event is queued for the follower in the
// store; an inbox that fails gets it again after 1, then 2 minutes of the node's clock, not
// before; the queue survives a restart of the node and is delivered after it, once; an event
// is never announced twice; an inbox that refuses for good (410) is not retried.
func TestDeliveriesSurviveARestartAndBackOff(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	p := newPeer(t, &n.key.PublicKey)
	ctx := context.Background()
	actor := n.url + "/neighbourhoods/old-town"
	day := time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC)
	n.src.add("release/air/2026-04-30", day.AddDate(0, 0, -1))
	require.NoError(t, n.svc.Announce(ctx), "events before the follow are marked, sent to nobody")
	status, _ := do(t, signed(t, actor+"/inbox", follow(p, actor), p.key, p.id()+"#main-key", n.core.Clock.Now()))
	require.Equal(t, http.StatusAccepted, status)
	require.NoError(t, n.svc.Deliver(ctx))
	_, attempts := p.got()
	require.Equal(t, 1, attempts, "the Accept")

	n.src.add("release/air/2026-05-01", day)
	p.status.Store(http.StatusServiceUnavailable)
	require.NoError(t, n.svc.Announce(ctx))
	require.NoError(t, n.svc.Deliver(ctx))
	queue, err := n.core.Store.Deliveries()
	require.NoError(t, err)
	require.Len(t, queue, 1, "old-town's Create to its one follower")
	assert.Equal(t, actor, queue[0].Actor)
	assert.Equal(t, 1, queue[0].Attempts)
	assert.Equal(t, n.core.Clock.Now().Add(time.Minute), queue[0].Next)
	_, attempts = p.got()
	assert.Equal(t, 2, attempts)
	require.NoError(t, n.svc.Deliver(ctx))
	_, attempts = p.got()
	assert.Equal(t, 2, attempts, "nothing is retried before it is due")
	n.core.Clock.Advance(time.Minute)
	require.NoError(t, n.svc.Deliver(ctx))
	_, attempts = p.got()
	assert.Equal(t, 3, attempts)
	queue, err = n.core.Store.Deliveries()
	require.NoError(t, err)
	require.Len(t, queue, 1)
	assert.Equal(t, 2, queue[0].Attempts)
	assert.Equal(t, n.core.Clock.Now().Add(2*time.Minute), queue[0].Next, "backoff doubles")

	// A restart: a new service on the reopened store delivers the queue once it is due.
	n.core.Reopen(t)
	n.svc = n.service(t, 1000)
	p.status.Store(http.StatusAccepted)
	n.core.Clock.Advance(2 * time.Minute)
	require.NoError(t, n.svc.Announce(ctx))
	require.NoError(t, n.svc.Deliver(ctx))
	received, _ := p.got()
	require.Len(t, received, 2, "the Accept, then the Create, once")
	assert.Contains(t, received[1], `"type":"Create"`)
	assert.Contains(t, received[1], actor+"/notes/release/air/2026-05-01")
	queue, err = n.core.Store.Deliveries()
	require.NoError(t, err)
	assert.Empty(t, queue)

	for _, body := range received {
		assert.NotContains(t, body, "2026-04-30", "an event from before the follow is not sent")
	}

	// Refused for good: dropped after one attempt.
	n.src.add("release/air/2026-05-02", day.AddDate(0, 0, 1))
	p.status.Store(http.StatusGone)
	require.NoError(t, n.svc.Announce(ctx))
	require.NoError(t, n.svc.Deliver(ctx))
	_, before := p.got()
	queue, err = n.core.Store.Deliveries()
	require.NoError(t, err)
	assert.Empty(t, queue)
	n.core.Clock.Advance(time.Hour)
	require.NoError(t, n.svc.Deliver(ctx))
	_, attempts = p.got()
	assert.Equal(t, before, attempts)

	// The logs name the follower's server, never its account.
	logs := n.core.Logs.String()
	assert.Contains(t, logs, "activitypub: delivery failed, will retry")
	assert.Contains(t, logs, "activitypub: delivery given up")
	assert.Contains(t, logs, "host="+strings.TrimPrefix(p.url, "http://"))
	assert.NotContains(t, logs, "/users/bob", "who follows a neighbourhood never reaches the logs")
}

// TestDeliveriesAreRateLimited: with one delivery allowed every two hours, a round makes one
// and leaves the other queued, since waiting would outlast the round's context (no clock is
// read: the limiter refuses a wait it knows to be too long).
func TestDeliveriesAreRateLimited(t *testing.T) {
	t.Parallel()
	n := newNode(t)
	n.svc = n.service(t, 1.0/7200)
	p := newPeer(t, &n.key.PublicKey)
	actor := n.url + "/neighbourhoods/old-town"
	require.NoError(t, n.svc.Announce(context.Background()))
	status, _ := do(t, signed(t, actor+"/inbox", follow(p, actor), p.key, p.id()+"#main-key", n.core.Clock.Now()))
	require.Equal(t, http.StatusAccepted, status)
	n.src.add("release/air/2026-05-01", time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC))
	require.NoError(t, n.svc.Announce(context.Background()))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	require.NoError(t, n.svc.Deliver(ctx))
	_, attempts := p.got()
	assert.Equal(t, 1, attempts)
	queue, err := n.core.Store.Deliveries()
	require.NoError(t, err)
	assert.Len(t, queue, 1, "the other waits for the next round")
}
