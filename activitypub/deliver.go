package activitypub

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"time"

	"github.com/go-fed/httpsig"

	"github.com/commons-city/commons/store"
)

// Retries: the n-th failed attempt waits firstRetry·2ⁿ⁻¹, at most maxRetryWait; after
// maxAttempts the delivery is given up (about two days of trying).
const (
	firstRetry   = time.Minute
	maxRetryWait = 6 * time.Hour
	maxAttempts  = 14
)

func newDelivery(actor, inbox string, body []byte, now time.Time) store.Delivery {
	var id struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &id) // every body is built here, with an id
	sum := sha256.Sum256([]byte(actor + "\x00" + inbox + "\x00" + id.ID))
	return store.Delivery{ID: hex.EncodeToString(sum[:16]), Actor: actor, Inbox: inbox, Body: body, Next: now}
}

// Poke makes the worker look for new events and due deliveries now, as after a release.
func (s *Service) Poke() {
	select {
	case s.poke <- struct{}{}:
	default:
	}
}

// Run is the delivery worker, until ctx ends: at start, every Every and on each Poke it
// announces new events (Announce) and makes the deliveries that are due (Deliver). It is the
// only sender: a release only stores its bytes, and the worker finds it later.
func (s *Service) Run(ctx context.Context) {
	t := time.NewTicker(s.Every)
	defer t.Stop()
	for {
		if err := s.Announce(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("activitypub: announce", "err", err)
		}
		if err := s.Deliver(ctx); err != nil && ctx.Err() == nil {
			s.Logger.Error("activitypub: deliver", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-s.poke:
		}
	}
}

// Announce queues a Create of a Note, for every follower of each actor, for each of the
// actor's events not announced yet, and marks them announced, in one write per actor. An
// event is announced once: a follower gets the events that happen after it follows.
func (s *Service) Announce(ctx context.Context) error {
	now := s.Now()
	for _, a := range s.actors() {
		posts, err := s.Source.Posts(ctx, s.origin(), a.neighbourhood)
		if err != nil {
			return fmt.Errorf("activitypub: announce: %w", err)
		}
		followers, err := s.Store.Followers(a.id)
		if err != nil {
			return fmt.Errorf("activitypub: announce: %w", err)
		}
		var events []store.Fanout
		for _, p := range posts {
			done, err := s.Store.Fanned(a.id, p.Event)
			if err != nil {
				return fmt.Errorf("activitypub: announce: %w", err)
			}
			if done {
				continue
			}
			body, err := json.Marshal(s.create(a, p))
			if err != nil {
				return fmt.Errorf("activitypub: announce: %w", err)
			}
			e := store.Fanout{Event: p.Event}
			for _, f := range followers {
				e.Deliveries = append(e.Deliveries, newDelivery(a.id, f.Inbox, body, now))
			}
			events = append(events, e)
		}
		if err := s.Store.FanOut(ctx, a.id, events); err != nil {
			return fmt.Errorf("activitypub: announce: %w", err)
		}
	}
	return nil
}

// Deliver makes every delivery that is due, at most PerSecond a second: a success or a
// refusal for good (a 4xx other than 408 and 429) leaves the queue; any other failure is
// retried later, with backoff, until maxAttempts.
func (s *Service) Deliver(ctx context.Context) error {
	queue, err := s.Store.Deliveries()
	if err != nil {
		return fmt.Errorf("activitypub: deliver: %w", err)
	}
	for _, d := range queue {
		if d.Next.After(s.Now()) {
			continue
		}
		if err := s.limiter.Wait(ctx); err != nil {
			return nil // ctx ended
		}
		status, err := s.post(ctx, d)
		permanent := status >= 400 && status < 500 && status != http.StatusRequestTimeout && status != http.StatusTooManyRequests
		switch {
		case err == nil:
			err = s.Store.Dequeue(ctx, d.ID)
		case permanent || d.Attempts+1 >= maxAttempts:
			s.Logger.Warn("activitypub: delivery given up", "host", hostOf(d.Inbox), "attempts", d.Attempts+1, "err", withoutURL(err))
			err = s.Store.Dequeue(ctx, d.ID)
		default:
			d.Attempts++
			d.Next = s.Now().Add(min(firstRetry<<(d.Attempts-1), maxRetryWait))
			s.Logger.Info("activitypub: delivery failed, will retry", "host", hostOf(d.Inbox), "attempts", d.Attempts, "next", d.Next, "err", withoutURL(err))
			err = s.Store.Reschedule(ctx, d)
		}
		if err != nil {
			return fmt.Errorf("activitypub: deliver: %w", err)
		}
	}
	return nil
}

// post makes one delivery, signed with the node's key under the sending actor's key id, and
// returns the inbox's status.
func (s *Service) post(ctx context.Context, d store.Delivery) (int, error) {
	u, err := url.Parse(d.Inbox)
	if err != nil || (u.Scheme != "https" && !(s.client == localClient && u.Scheme == "http")) {
		return http.StatusBadRequest, errors.New("the inbox is not an https URL")
	}
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), bytes.NewReader(d.Body))
	if err != nil {
		return http.StatusBadRequest, err
	}
	req.Header.Set("Content-Type", ActivityType)
	req.Header.Set("Accept", ActivityType)
	req.Header.Set("Host", u.Host)
	req.Header.Set("Date", s.Now().UTC().Format(http.TimeFormat))
	signer, _, err := httpsig.NewSigner([]httpsig.Algorithm{httpsig.RSA_SHA256}, httpsig.DigestSha256,
		[]string{httpsig.RequestTarget, "host", "date", "digest"}, httpsig.Signature, 0)
	if err != nil {
		return 0, fmt.Errorf("signer: %w", err)
	}
	if err := signer.SignRequest(s.Key, d.Actor+"#main-key", req, d.Body); err != nil {
		return 0, fmt.Errorf("sign: %w", err)
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxDocument))
	if resp.StatusCode/100 != 2 {
		return resp.StatusCode, fmt.Errorf("the inbox answered %s", resp.Status)
	}
	return resp.StatusCode, nil
}

// hostOf is the host of a follower's inbox URL: the logs name the server a delivery went to,
// never the account (who follows a neighbourhood hints where they live).
func hostOf(inbox string) string {
	u, err := url.Parse(inbox)
	if err != nil || u.Host == "" {
		return "(not a URL)"
	}
	return u.Host
}

// withoutURL is err without the URL an HTTP client error quotes.
func withoutURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
