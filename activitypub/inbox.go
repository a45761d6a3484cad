package activitypub

import (
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/go-fed/httpsig"
	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/store"
)

// Bounds on what a peer can make the node read.
const (
	maxActivity = 64 << 10  // an inbox POST's body
	maxDocument = 256 << 10 // a fetched actor or key document
	dateSkew    = time.Hour // how far a signed Date may be from the node's clock
)

// errSignature is why an inbox POST's signature is refused; its text is the client's message.
type errSignature string

func (e errSignature) Error() string { return string(e) }

// activity is the part of an incoming activity the inbox reads.
type activity struct {
	ID     string          `json:"id"`
	Type   string          `json:"type"`
	Actor  json.RawMessage `json:"actor"`
	Object json.RawMessage `json:"object"`
}

// idOf reads an id that is either a string or an object with an "id".
func idOf(raw json.RawMessage) string {
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var o struct {
		ID string `json:"id"`
	}
	if json.Unmarshal(raw, &o) == nil {
		return o.ID
	}
	return ""
}

// Inbox takes a Follow of the actor, or the Undo of one, signed by its sender (HTTP
// Signatures, draft-cavage, with a Digest of the body). Anything unsigned, badly signed, or
// signed by another actor than the activity's is refused with 401; other activities with 422.
func (s *Service) Inbox(c *fiber.Ctx) error {
	a, ok := s.actorOf(c)
	if !ok {
		return fail(c, 404, "unknown_actor", "no neighbourhood with this id")
	}
	body := c.Body()
	if len(body) > maxActivity {
		return fail(c, 413, "body_too_large", fmt.Sprintf("an activity is at most %d bytes", maxActivity))
	}
	uri := c.Request().URI()
	target := &url.URL{Path: string(uri.Path()), RawQuery: string(uri.QueryString())}
	r := &http.Request{Method: c.Method(), URL: target, Host: string(c.Request().Host()), Header: http.Header{}}
	for k, v := range c.Request().Header.All() {
		r.Header.Add(string(k), string(v))
	}
	sender, err := s.verify(c.UserContext(), r, body)
	var bad errSignature
	if errors.As(err, &bad) {
		s.Logger.Info("activitypub: inbox refused a signature", "actor", a.name, "why", err)
		return fail(c, 401, "bad_signature", bad.Error())
	}
	if err != nil {
		return err
	}
	var act activity
	if json.Unmarshal(body, &act) != nil || act.Type == "" {
		return fail(c, 400, "malformed_json", "the body is not an ActivityStreams activity")
	}
	if idOf(act.Actor) != sender.ID {
		return fail(c, 401, "bad_signature", "the activity's actor is not the signer")
	}
	switch act.Type {
	case "Follow":
		if idOf(act.Object) != a.id {
			return fail(c, 422, "wrong_object", "a Follow sent here must follow "+a.id)
		}
		if sender.Inbox == "" {
			return fail(c, 422, "no_inbox", "the follower's actor document names no inbox")
		}
		accept, err := s.accept(a, act, sender)
		if err != nil {
			return err
		}
		if err := s.Store.AddFollower(c.UserContext(), a.id, store.Follower{ID: sender.ID, Inbox: sender.Inbox}, accept); err != nil {
			return err
		}
		s.Logger.Info("activitypub: new follower", "actor", a.name)
		s.Poke()
	case "Undo":
		var undone activity
		if json.Unmarshal(act.Object, &undone) == nil && undone.Type != "" &&
			(undone.Type != "Follow" || idOf(undone.Actor) != sender.ID) {
			return fail(c, 422, "unsupported_activity", "this inbox undoes only the sender's own Follow")
		}
		if err := s.Store.RemoveFollower(c.UserContext(), a.id, sender.ID); err != nil {
			return err
		}
		s.Logger.Info("activitypub: follower left", "actor", a.name)
	default:
		return fail(c, 422, "unsupported_activity", "this inbox takes Follow and Undo of a Follow only")
	}
	return c.SendStatus(fiber.StatusAccepted)
}

// accept is the queued answer to a Follow.
func (s *Service) accept(a actor, follow activity, to *remoteActor) (store.Delivery, error) {
	sum := sha256.Sum256([]byte(follow.ID + "\x00" + to.ID))
	body, err := json.Marshal(map[string]any{
		"@context": asContext,
		"id":       a.id + "/accepts/" + hex.EncodeToString(sum[:16]),
		"type":     "Accept",
		"actor":    a.id,
		"object":   map[string]any{"id": follow.ID, "type": "Follow", "actor": to.ID, "object": a.id},
	})
	if err != nil {
		return store.Delivery{}, fmt.Errorf("activitypub: accept: %w", err)
	}
	return newDelivery(a.id, to.Inbox, body, s.Now()), nil
}

// remoteActor is what the node reads of a peer's actor document.
type remoteActor struct {
	ID    string `json:"id"`
	Inbox string `json:"inbox"`
	key   crypto.PublicKey
}

// publicKey is a key as actor documents give it.
type publicKey struct {
	ID           string `json:"id"`
	Owner        string `json:"owner"`
	PublicKeyPem string `json:"publicKeyPem"`
}

// verify checks an inbox POST's HTTP Signature with go-fed/httpsig, after checking that it
// covers the request target, the host, the date and the body's digest, and returns the actor
// whose key signed it. Its errSignature errors are the sender's fault.
func (s *Service) verify(ctx context.Context, r *http.Request, body []byte) (*remoteActor, error) {
	v, err := httpsig.NewVerifier(r)
	if err != nil {
		return nil, errSignature("the request carries no valid HTTP Signature")
	}
	signed := signedHeaders(r.Header.Get("Signature"))
	for _, h := range []string{httpsig.RequestTarget, "host", "date", "digest"} {
		if !slices.Contains(signed, h) {
			return nil, errSignature("the signature must cover (request-target), host, date and digest")
		}
	}
	date, err := http.ParseTime(r.Header.Get("Date"))
	if err != nil || s.Now().Sub(date).Abs() > dateSkew {
		return nil, errSignature("the Date header is missing or more than an hour from the node's clock")
	}
	if !digestMatches(r.Header.Get("Digest"), body) {
		return nil, errSignature("the Digest header does not match the body (SHA-256 is required)")
	}
	sender, err := s.fetchKey(ctx, v.KeyId())
	if err != nil {
		return nil, err
	}
	algo := httpsig.RSA_SHA256
	if _, ok := sender.key.(ed25519.PublicKey); ok {
		algo = httpsig.ED25519
	}
	if err := v.Verify(sender.key, algo); err != nil {
		return nil, errSignature("the signature does not verify with the sender's key")
	}
	return sender, nil
}

// signedHeaders are the header names a draft-cavage Signature header lists as signed.
func signedHeaders(signature string) []string {
	for param := range strings.SplitSeq(signature, ",") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(param), "headers="); ok {
			return strings.Fields(strings.ToLower(strings.Trim(v, `"`)))
		}
	}
	return []string{"date"} // the draft's default
}

// digestMatches reports whether a Digest header (RFC 3230) holds the SHA-256 of body.
func digestMatches(header string, body []byte) bool {
	sum := sha256.Sum256(body)
	want := base64.StdEncoding.EncodeToString(sum[:])
	for d := range strings.SplitSeq(header, ",") {
		alg, value, _ := strings.Cut(strings.TrimSpace(d), "=")
		if strings.EqualFold(alg, "SHA-256") && value == want {
			return true
		}
	}
	return false
}

// fetchKey reads the key keyID names and the actor that owns it: the key is either in the
// actor's document (keyID is the actor's URL with a fragment) or a document of its own that
// names its owner.
func (s *Service) fetchKey(ctx context.Context, keyID string) (*remoteActor, error) {
	var doc struct {
		ID           string          `json:"id"`
		Inbox        string          `json:"inbox"`
		Owner        string          `json:"owner"`
		PublicKeyPem string          `json:"publicKeyPem"`
		PublicKey    json.RawMessage `json:"publicKey"`
	}
	if err := s.fetch(ctx, keyID, &doc); err != nil {
		return nil, err
	}
	var found *publicKey
	if doc.PublicKeyPem != "" && doc.ID == keyID {
		found = &publicKey{ID: doc.ID, Owner: doc.Owner, PublicKeyPem: doc.PublicKeyPem}
	} else {
		var keys []publicKey
		var one publicKey
		if json.Unmarshal(doc.PublicKey, &one) == nil {
			keys = []publicKey{one}
		} else if json.Unmarshal(doc.PublicKey, &keys) != nil {
			keys = nil
		}
		for i := range keys {
			if keys[i].ID == keyID && keys[i].Owner == doc.ID {
				found = &keys[i]
			}
		}
	}
	if found == nil || found.Owner == "" {
		return nil, errSignature("the signature's keyId does not name a key with an owner")
	}
	key, err := parsePublicKey(found.PublicKeyPem)
	if err != nil {
		return nil, err
	}
	sender := &remoteActor{ID: doc.ID, Inbox: doc.Inbox}
	if sender.ID != found.Owner {
		sender = &remoteActor{}
		if err := s.fetch(ctx, found.Owner, sender); err != nil {
			return nil, err
		}
		if sender.ID != found.Owner {
			return nil, errSignature("the key's owner document is not the owner")
		}
	}
	sender.key = key
	return sender, nil
}

func parsePublicKey(p string) (crypto.PublicKey, error) {
	block, _ := pem.Decode([]byte(p))
	if block == nil {
		return nil, errSignature("the sender's publicKeyPem is not PEM")
	}
	if k, err := x509.ParsePKIXPublicKey(block.Bytes); err == nil {
		switch k.(type) {
		case *rsa.PublicKey, ed25519.PublicKey:
			return k, nil
		}
	}
	if k, err := x509.ParsePKCS1PublicKey(block.Bytes); err == nil {
		return k, nil
	}
	return nil, errSignature("the sender's key is neither RSA nor Ed25519")
}

// fetch reads a peer's ActivityStreams document into v, within maxDocument bytes.
func (s *Service) fetch(ctx context.Context, rawURL string, v any) error {
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "https" && !(s.client == localClient && u.Scheme == "http")) {
		return errSignature("the keyId is not an https URL")
	}
	u.Fragment = ""
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return errSignature("the keyId is not a URL")
	}
	req.Header.Set("Accept", ActivityType+`, application/ld+json; profile="https://www.w3.org/ns/activitystreams"`)
	resp, err := s.client.Do(req)
	if err != nil {
		s.Logger.Info("activitypub: fetch of a sender's key failed", "host", u.Host, "err", withoutURL(err))
		return errSignature("the sender's key could not be fetched")
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxDocument+1))
	if err != nil || resp.StatusCode != http.StatusOK || len(b) > maxDocument || json.Unmarshal(b, v) != nil {
		return errSignature("the sender's key document could not be read")
	}
	return nil
}

// localClient talks to peers on loopback and private addresses over plain HTTP too: only for
// a node whose own address is one (a node tried on one machine, the tests).
var localClient = &http.Client{Timeout: 20 * time.Second}

// publicClient refuses to connect to loopback, private, link-local and unspecified addresses,
// whatever a peer's URL resolves to.
var publicClient = &http.Client{
	Timeout: 20 * time.Second,
	Transport: &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{Timeout: 10 * time.Second, Control: func(_, address string, _ syscall.RawConn) error {
			host, _, err := net.SplitHostPort(address)
			if err != nil {
				return err
			}
			if ip := net.ParseIP(host); ip == nil || localIP(ip) {
				return fmt.Errorf("activitypub: refusing to connect to %s, a local address", host)
			}
			return nil
		}}).DialContext,
		TLSHandshakeTimeout:   10 * time.Second,
		ResponseHeaderTimeout: 10 * time.Second,
		MaxIdleConnsPerHost:   2,
	},
	CheckRedirect: func(req *http.Request, via []*http.Request) error {
		if len(via) >= 3 || req.URL.Scheme != "https" {
			return errors.New("activitypub: too many redirects, or one away from https")
		}
		return nil
	},
}

func localIP(ip net.IP) bool {
	return ip.IsLoopback() || ip.IsPrivate() || ip.IsUnspecified() || ip.IsLinkLocalUnicast() ||
		ip.IsLinkLocalMulticast() || ip.IsMulticast()
}

// localHost reports whether a host name or address is loopback or private.
func localHost(host string) bool {
	if host == "localhost" || strings.HasSuffix(host, ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && localIP(ip)
}

func newClient(local bool) *http.Client {
	if local {
		return localClient
	}
	return publicClient
}
