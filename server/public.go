package server

import (
	"errors"
	"github.com/commons-city/commons/api"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/release"
	"github.com/commons-city/commons/store"
)

func (a *handlers) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "ledger_size": a.Ledger.Size()})
}

type purposeAnswer struct {
	*state.Purpose
	LedgerIndex uint64 `json:"ledger_index"`
	Hash        string `json:"hash"`
	// AcceptsFrom is the oldest day a share copy for the purpose is accepted for today.
	AcceptsFrom string `json:"accepts_from,omitempty"`
	// Status is proposed, active, refused, expired or retired (api.StatusActive...).
	Status string `json:"status"`
	// EpsilonPerDay is what consenting costs a resident per day.
	EpsilonPerDay float64 `json:"epsilon_per_day"`
	// Approvals are a proposed purpose's counts per neighbourhood in its scope.
	Approvals []api.NeighbourhoodApprovals `json:"approvals,omitempty"`
	// Proposed is a proposed purpose's signed document: its texts in both languages, who asks.
	Proposed *api.PurposeProposal `json:"proposed,omitempty"`
}

// listPurposes answers every purpose, with its status (purposeList).
func (a *handlers) listPurposes(c *fiber.Ctx) error { return c.JSON(a.purposeList()) }

func (a *handlers) neighbourhoods(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/geo+json")
	return c.Send(a.GeoJSON)
}

type epochsAnswer struct {
	Purpose string   `json:"purpose"`
	Epochs  []string `json:"epochs"`
	Hourly  []string `json:"hourly"`
	Weeks   []string `json:"weeks"`
}

// The grids a stats query may name; the neighbourhood × day grid is the default.
const (
	gridDay  = "neighbourhood-day"
	gridHour = "city-hour"
)

// statsAir serves releases only, on the fixed grid: without a day or a week, the released
// days of each grid and the released weeks; with a day, the stored release bytes of that day
// on the grid asked for; with an ISO week, that week's release (or a format derived from
// them). Any other query is off the grid: 404.
func (a *handlers) statsAir(c *fiber.Ctx) error {
	args := c.Queries()
	day, format, grid, week := args["day"], args["format"], args["grid"], args["week"]
	for k := range args {
		if k != "day" && k != "format" && k != "grid" && k != "week" {
			return errNotFound
		}
	}
	if week != "" {
		if day != "" || grid != "" {
			return errNotFound
		}
		return a.statsWeek(c, week, format)
	}
	if day == "" {
		if format != "" || grid != "" {
			return errNotFound
		}
		epochs, err := a.Store.Epochs(a.AirPurpose)
		if err != nil {
			return err
		}
		hourly, err := a.Store.HourlyDays(a.AirPurpose)
		if err != nil {
			return err
		}
		weeks, err := a.Store.Epochs(release.WeekPurpose(a.AirPurpose))
		if err != nil {
			return err
		}
		return c.JSON(epochsAnswer{Purpose: a.AirPurpose, Epochs: append([]string{}, epochs...),
			Hourly: append([]string{}, hourly...), Weeks: append([]string{}, weeks...)})
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return errNotFound
	}
	var body []byte
	var err error
	switch grid {
	case "", gridDay:
		body, err = a.Store.Release(a.AirPurpose, day)
	case gridHour:
		body, err = a.Store.HourlyRelease(a.AirPurpose, day)
	default:
		return errNotFound
	}
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	r := renderers{csv: func(b []byte) ([]byte, error) { return releaseCSV(b, a.grid) },
		geojson: func(b []byte) ([]byte, error) { return releaseGeoJSON(b, a.GeoJSON) },
		openaq:  func(b []byte) ([]byte, error) { return releaseOpenAQ(b, a.grid) }, file: "air-" + day}
	if grid == gridHour {
		r = renderers{csv: hourlyCSV, openaq: hourlyOpenAQ, file: "air-" + day + "-hours"}
	}
	return r.send(c, body, format)
}

// statsWeek serves a weekly release, or a format derived from it.
func (a *handlers) statsWeek(c *fiber.Ctx, week, format string) error {
	if _, err := release.WeekDays(week); err != nil {
		return errNotFound
	}
	body, err := a.Store.Release(release.WeekPurpose(a.AirPurpose), week)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return renderers{csv: func(b []byte) ([]byte, error) { return weekCSV(b, a.grid) },
		geojson: func(b []byte) ([]byte, error) { return weekGeoJSON(b, a.GeoJSON) },
		openaq:  func(b []byte) ([]byte, error) { return weekOpenAQ(b, a.grid) }, file: "air-" + week}.send(c, body, format)
}

// renderers derive a grid's formats from a stored release; a nil one is a format the grid does
// not have. file names the CSV download.
type renderers struct {
	csv, geojson, openaq func([]byte) ([]byte, error)
	file                 string
}

// send answers with the stored release bytes (format "" or json) or the format asked for.
func (r renderers) send(c *fiber.Ctx, body []byte, format string) error {
	var out []byte
	var err error
	switch {
	case format == "" || format == "json":
		c.Type("json")
		out = body
	case format == "csv" && r.csv != nil:
		out, err = r.csv(body)
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="`+r.file+`.csv"`)
	case format == "geojson" && r.geojson != nil:
		out, err = r.geojson(body)
		c.Set(fiber.HeaderContentType, "application/geo+json")
	case format == "openaq" && r.openaq != nil:
		out, err = r.openaq(body)
		c.Type("json")
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	return sendRelease(c, body, out)
}

// sendRelease answers with out, a pure function of the stored release bytes body, so the
// release's hash names it.
func sendRelease(c *fiber.Ctx, body, out []byte) error {
	etag := `"` + state.Hash(body)[:32] + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		c.Response().ResetBody()
		return c.SendStatus(fiber.StatusNotModified)
	}
	return c.Send(out)
}
