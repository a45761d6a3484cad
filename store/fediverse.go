package store

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/commons-city/commons/ledger"
)

// The node's ActivityPub actors keep their followers and their outgoing deliveries here,
// written through the ledger's sequencer like every record but never logged: a follower is
// not a resident, and who follows a neighbourhood is nobody else's business.

func followerKey(actor, follower string) []byte { return key("f/follower/", actor, follower) }

func fannedKey(actor, event string) []byte { return key("f/fanned/", actor, event) }

func deliveryKey(id string) []byte { return key("f/queue/", id) }

// A Follower is a remote actor following one of the node's actors.
type Follower struct {
	// ID is the follower's actor id, Inbox where its activities are delivered.
	ID    string `json:"id"`
	Inbox string `json:"inbox"`
}

// A Delivery is one signed POST still to make: an activity of one of the node's actors to a
// follower's inbox.
type Delivery struct {
	// ID names the delivery in the queue (the same activity to the same inbox has the same).
	ID string `json:"-"`
	// Actor is the sending actor's id, whose key signs the request.
	Actor string `json:"actor"`
	Inbox string `json:"inbox"`
	Body  []byte `json:"body"`
	// Attempts made so far, and when the next one is due.
	Attempts int       `json:"attempts"`
	Next     time.Time `json:"next"`
}

// Fanout is one event of an actor, with the deliveries that announce it to its followers.
type Fanout struct {
	Event      string
	Deliveries []Delivery
}

func (d Delivery) put() (ledger.Put, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return ledger.Put{}, fmt.Errorf("store: delivery: %w", err)
	}
	return ledger.Put{Key: deliveryKey(d.ID), Value: b}, nil
}

// AddFollower records a follower of actor and queues accept, the answer to its Follow, in one
// write: a follower is never stored without its answer queued.
func (s *Store) AddFollower(ctx context.Context, actor string, f Follower, accept Delivery) error {
	b, err := json.Marshal(f)
	if err != nil {
		return fmt.Errorf("store: add follower: %w", err)
	}
	d, err := accept.put()
	if err != nil {
		return err
	}
	if err := s.log.Write(ctx, ledger.Write{Puts: []ledger.Put{{Key: followerKey(actor, f.ID), Value: b}, d}}); err != nil {
		return fmt.Errorf("store: add follower: %w", err)
	}
	return nil
}

// RemoveFollower forgets a follower of actor (nothing if it was not one).
func (s *Store) RemoveFollower(ctx context.Context, actor, follower string) error {
	if err := s.log.Write(ctx, ledger.Write{Deletes: [][]byte{followerKey(actor, follower)}}); err != nil {
		return fmt.Errorf("store: remove follower: %w", err)
	}
	return nil
}

// Followers returns the followers of actor.
func (s *Store) Followers(actor string) ([]Follower, error) {
	return scanJSON[Follower](s, append(key("f/follower/", actor), sep...), "followers", nil)
}

// Fanned reports whether an event of actor was already fanned out to its followers.
func (s *Store) Fanned(actor, event string) (bool, error) {
	return s.has(fannedKey(actor, event), "fanned event")
}

// FanOut marks events of actor as announced and queues their deliveries, in one write: an
// event is announced once, and its deliveries survive a restart.
func (s *Store) FanOut(ctx context.Context, actor string, events []Fanout) error {
	var w ledger.Write
	for _, e := range events {
		w.Puts = append(w.Puts, ledger.Put{Key: fannedKey(actor, e.Event), Value: []byte{1}})
		for _, d := range e.Deliveries {
			p, err := d.put()
			if err != nil {
				return err
			}
			w.Puts = append(w.Puts, p)
		}
	}
	if len(w.Puts) == 0 {
		return nil
	}
	if err := s.log.Write(ctx, w); err != nil {
		return fmt.Errorf("store: fan out: %w", err)
	}
	return nil
}

// Deliveries returns every queued delivery.
func (s *Store) Deliveries() ([]Delivery, error) {
	return scanJSON(s, key("f/queue/"), "deliveries", func(d *Delivery, id []byte) { d.ID = string(id) })
}

// Reschedule stores a delivery's new attempt count and due time.
func (s *Store) Reschedule(ctx context.Context, d Delivery) error {
	p, err := d.put()
	if err == nil {
		err = s.log.Write(ctx, ledger.Write{Puts: []ledger.Put{p}})
	}
	if err != nil {
		return fmt.Errorf("store: reschedule delivery: %w", err)
	}
	return nil
}

// Dequeue removes a delivery that was made, or given up.
func (s *Store) Dequeue(ctx context.Context, id string) error {
	if err := s.log.Write(ctx, ledger.Write{Deletes: [][]byte{deliveryKey(id)}}); err != nil {
		return fmt.Errorf("store: dequeue delivery: %w", err)
	}
	return nil
}
