package mirror

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger"
)

// keyAir holds the id of the source's air purpose, whose releases the mirror copies.
var keyAir = []byte("m/air")

// pendingRelease is a release.publish entry whose bytes the mirror does not hold yet.
type pendingRelease struct {
	index uint64
	raw   []byte
	entry api.Entry
}

// releases copies the bytes of every pending release entry: each must hash to the entry's
// hash, and the entry must be proved included under the source's signed checkpoint. A release
// the source does not serve yet stays pending; one whose bytes differ is refused (and shown).
// Only the air releases are copied: the node serves a petition's breakdown only as a CSV
// derived from it, so its logged bytes cannot be fetched.
func (m *Mirror) releases(ctx context.Context) error {
	pending, err := m.pending()
	if err != nil || len(pending) == 0 {
		return err
	}
	air, err := m.airPurpose(ctx)
	if err != nil {
		return err
	}
	signed, size := m.log.Checkpoint()
	cp, err := ledger.OpenCheckpoint(signed, m.verifier)
	if err != nil {
		return fmt.Errorf("mirror: releases: %w", err)
	}
	for _, p := range pending {
		path, ok := releasePath(air, p.entry)
		if !ok {
			m.o.Logger.Info("mirror: release not copied: the node serves no bytes for it",
				"purpose", p.entry.Purpose, "epoch", p.entry.Epoch, "ledger_index", p.index)
			if err := m.store(p.index, nil, nil); err != nil {
				return err
			}
			continue
		}
		body, err := m.fetch(ctx, path)
		var se *statusError
		if errors.As(err, &se) && se.status == http.StatusNotFound {
			continue // not served yet: stays pending
		}
		if err != nil {
			return fmt.Errorf("mirror: release %s %s: %w", p.entry.Purpose, p.entry.Epoch, err)
		}
		if got := hashOf(body); got != p.entry.Hash {
			why := fmt.Sprintf("the source serves bytes hashing to %s for the release logged at %d with hash %s", got, p.index, p.entry.Hash)
			m.mu.Lock()
			m.refused[p.index] = why
			m.mu.Unlock()
			m.o.Logger.Error("mirror: release refused: its bytes differ from the logged hash",
				"purpose", p.entry.Purpose, "epoch", p.entry.Epoch, "ledger_index", p.index)
			continue
		}
		proof, err := m.log.InclusionProof(p.index, size)
		if err != nil {
			return fmt.Errorf("mirror: release %s %s: %w", p.entry.Purpose, p.entry.Epoch, err)
		}
		if err := ledger.VerifyInclusion(cp, p.index, ledger.LeafHash(p.raw), proof); err != nil {
			return fmt.Errorf("mirror: release %s %s: %w", p.entry.Purpose, p.entry.Epoch, err)
		}
		if err := m.store(p.index, releaseKey(p.entry.Purpose, p.entry.Epoch), body); err != nil {
			return err
		}
		m.mu.Lock()
		delete(m.refused, p.index)
		m.mu.Unlock()
		m.o.Logger.Info("mirror: release copied", "purpose", p.entry.Purpose, "epoch", p.entry.Epoch,
			"ledger_index", p.index, "bytes", len(body))
	}
	return nil
}

// releasePath is where the source serves the logged bytes of a release of the air purpose: a
// day's or an ISO week's (both logged under the purpose's id).
func releasePath(air string, e api.Entry) (string, bool) {
	if e.Purpose != air {
		return "", false
	}
	if _, err := time.Parse(time.DateOnly, e.Epoch); err == nil {
		return "/api/v1/stats/air?day=" + url.QueryEscape(e.Epoch), true
	}
	if isWeek(e.Epoch) {
		return "/api/v1/stats/air?week=" + url.QueryEscape(e.Epoch), true
	}
	return "", false
}

// isWeek reports whether epoch names an ISO week, as in 2026-W49.
func isWeek(epoch string) bool {
	y, w, ok := strings.Cut(epoch, "-W")
	return ok && len(y) == 4 && len(w) == 2 && strings.Trim(y+w, "0123456789") == ""
}

// airPurpose is the id of the source's air purpose: learnt from its release index once, then
// kept.
func (m *Mirror) airPurpose(ctx context.Context) (string, error) {
	b, err := m.get(keyAir)
	if err != nil || b != nil {
		return string(b), err
	}
	idx, err := m.fetch(ctx, "/api/v1/stats/air")
	if err != nil {
		return "", fmt.Errorf("mirror: release index: %w", err)
	}
	var v struct {
		Purpose string `json:"purpose"`
	}
	if err := json.Unmarshal(idx, &v); err != nil || v.Purpose == "" {
		return "", fmt.Errorf("mirror: release index: no purpose named (%v)", err)
	}
	if err := m.db.Update(func(txn *badger.Txn) error { return txn.Set(keyAir, []byte(v.Purpose)) }); err != nil {
		return "", fmt.Errorf("mirror: release index: %w", err)
	}
	return v.Purpose, nil
}

// pending lists the release entries waiting for their bytes, in log order.
func (m *Mirror) pending() ([]pendingRelease, error) {
	var out []pendingRelease
	err := m.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, Prefix: keyPending})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			raw, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			e, err := api.ParseEntry(raw)
			if err != nil {
				return err
			}
			out = append(out, pendingRelease{index: binary.BigEndian.Uint64(it.Item().Key()[len(keyPending):]), raw: raw, entry: e})
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("mirror: pending releases: %w", err)
	}
	return out, nil
}

// store keeps a release's bytes (when key is set) and clears its pending mark, atomically.
func (m *Mirror) store(index uint64, key, body []byte) error {
	err := m.db.Update(func(txn *badger.Txn) error {
		if key != nil {
			if err := txn.Set(key, body); err != nil {
				return err
			}
		}
		return txn.Delete(pendingKey(index))
	})
	if err != nil {
		return fmt.Errorf("mirror: store release: %w", err)
	}
	return nil
}

// Release returns the bytes of a copied release of the air purpose (epoch a day or an ISO
// week), or nil.
func (m *Mirror) Release(epoch string) ([]byte, error) {
	air, err := m.get(keyAir)
	if err != nil || air == nil {
		return nil, err
	}
	return m.get(releaseKey(string(air), epoch))
}

// Releases lists the copied releases of the air purpose: its id, the days and the weeks.
func (m *Mirror) Releases() (purpose string, days, weeks []string, err error) {
	air, err := m.get(keyAir)
	if err != nil || air == nil {
		return "", []string{}, []string{}, err
	}
	days, weeks = []string{}, []string{}
	prefix := releaseKey(string(air), "")
	err = m.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: prefix})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			epoch := string(it.Item().Key()[len(prefix):])
			if isWeek(epoch) {
				weeks = append(weeks, epoch)
			} else {
				days = append(days, epoch)
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, nil, fmt.Errorf("mirror: releases: %w", err)
	}
	return string(air), days, weeks, nil
}
