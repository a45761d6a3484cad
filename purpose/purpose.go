// Package purpose holds the purposes a node defines itself: what each uses and publishes, and
// its release policy. A purpose is an immutable, versioned document (api.Purpose) logged as
// the body of a purpose.define entry; residents consent to one version, and their share copies
// are sealed to that version's recipient, whose identity only the release engine holds.
//
// A built-in purpose is logged by a node on its first start, with the recipient of the key it
// made for it; the node refuses to start when the ledger already names a version with another
// recipient (its key was lost or replaced). Every other purpose is proposed by an organiser
// (api.PurposeProposal), approved or objected to by the residents of each neighbourhood it
// asks, and activated by the operator where enough approved (lifecycle.go); it ends at its end
// date or when retired, its share copies deleted and its key destroyed (Retirer). Recount
// recounts a proposal's approvals from the ledger alone.
package purpose

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
)

// Air is the id of the daily air-quality purpose, the one the dashboards' /air page shows.
const Air = "air-quality/daily"

// airVersion is the current version of Air.
const airVersion = 1

// AirDaily is the current version of Air, its share copies sealed to recipient, as a new node
// logs it: PM2.5 daily, the other statistics and the hour-of-day profile weekly, Gaussian
// noise accounted in zCDP (release.PlanFor), ε = 1 per resident per day in all. Its text
// changed with issue 13's mechanism while keeping version 1; a node that logged the earlier
// text keeps it (purposes are immutable). See docs/decisions.md.
func AirDaily(recipient string) api.Purpose {
	return api.Purpose{
		ID: Air, Version: airVersion,
		Title:       "Air quality per neighbourhood",
		Description: "Your sensor's readings are used to publish, once per day, the mean PM2.5 of each neighbourhood and of the city, and once per week the mean PM2.5, PM10, temperature and humidity of each neighbourhood and the city-wide PM2.5 of each hour of the day. Each resident counts once per neighbourhood-day, per neighbourhood-week and per hour of the week, with their own mean, bounded to a narrow window. Every figure carries differential-privacy noise (ε = 1 per resident per day, δ = 10⁻⁶); a figure is shown only where its noisy count of contributors reaches 10 and it is precise enough.",
		Data:        "air-quality readings (pm10, pm2_5, temperature, humidity, the sensor's type) mapped to your neighbourhood; never your precise location",
		Recipient:   recipient,
		Release: api.ReleasePolicy{Grid: release.GridNeighbourhoodDay, K: 10,
			ClampPM25: [2]float64{0, 100}, ClampPM10: [2]float64{0, 200}, GraceHours: 2,
			Epsilon: 0.8, HourEpsilon: 0.2},
	}
}

// Definition is one built-in purpose version: its id and version, known before its key is
// read, and its document for the recipient of that key.
type Definition struct {
	ID      string
	Version int
	Define  func(recipient string) api.Purpose
}

// BuiltIn lists the purposes every node defines, in the order it logs them.
func BuiltIn() []Definition {
	return []Definition{{ID: Air, Version: airVersion, Define: AirDaily}}
}

// Ledger logs entries: a node's *ledger.Log.
type Ledger interface {
	Append(ctx context.Context, entry []byte, private ...ledger.Put) (api.Receipt, error)
}

// Logged finds the latest logged version of a purpose: a node's *state.State.
type Logged interface {
	Purpose(id string) (*state.Purpose, bool)
}

// Ensure logs p as a purpose.define entry if the ledger names no version of it yet (a node's
// first start), and refuses when the ledger holds p's version with another recipient: share
// copies sealed to the logged recipient could no longer be opened.
func Ensure(ctx context.Context, lg Ledger, logged Logged, p api.Purpose) error {
	if cur, ok := logged.Purpose(p.ID); ok {
		if cur.Version == p.Version && cur.Recipient != p.Recipient {
			return fmt.Errorf("purpose %s v%d: the logged recipient does not match keys/purposes: restore the purpose key from your backup", p.ID, p.Version)
		}
		return nil
	}
	entry, err := defineEntry(p)
	if err != nil {
		return err
	}
	if _, err := lg.Append(ctx, entry); err != nil {
		return fmt.Errorf("purpose %s v%d: log: %w", p.ID, p.Version, err)
	}
	return nil
}

// defineEntry is the purpose.define entry of p: its JSON as the body, with the body's hash.
func defineEntry(p api.Purpose) ([]byte, error) {
	body, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("purpose %s v%d: %w", p.ID, p.Version, err)
	}
	return api.Entry{Type: api.EntryPurpose, Purpose: p.ID, PurposeVersion: p.Version,
		Body: body, Hash: state.Hash(body)}.Marshal()
}
