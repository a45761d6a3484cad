package server

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/store"
)

func (a *handlers) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "ledger_size": a.Ledger.Size()})
}

type purposeAnswer struct {
	*state.Purpose
	LedgerIndex uint64 `json:"ledger_index"`
	Hash        string `json:"hash"`
}

func (a *handlers) listPurposes(c *fiber.Ctx) error {
	out := []purposeAnswer{}
	for _, p := range a.State.Purposes() {
		out = append(out, purposeAnswer{Purpose: p, LedgerIndex: p.Index, Hash: p.Hash})
	}
	return c.JSON(out)
}

func (a *handlers) neighbourhoods(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/geo+json")
	return c.Send(a.GeoJSON)
}

type epochsAnswer struct {
	Purpose string   `json:"purpose"`
	Epochs  []string `json:"epochs"`
	Hourly  []string `json:"hourly"`
}

// The grids a stats query may name; the neighbourhood × day grid is the default.
const (
	gridDay  = "neighbourhood-day"
	gridHour = "city-hour"
)

// statsAir serves releases only, on the fixed grid: without a day, the released days of each
// grid; with one, the stored release bytes of that day on the grid asked for (or a format
// derived from them). Any other query is off the grid: 404.
func (a *handlers) statsAir(c *fiber.Ctx) error {
	args := c.Queries()
	day, format, grid := args["day"], args["format"], args["grid"]
	for k := range args {
		if k != "day" && k != "format" && k != "grid" {
			return errNotFound
		}
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
		return c.JSON(epochsAnswer{Purpose: a.AirPurpose, Epochs: append([]string{}, epochs...),
			Hourly: append([]string{}, hourly...)})
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
	hourly := grid == gridHour
	var out []byte
	switch {
	case format == "" || format == "json":
		c.Type("json")
		out = body
	case format == "csv" && !hourly:
		out, err = releaseCSV(body, a.grid)
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="air-`+day+`.csv"`)
	case format == "csv":
		out, err = hourlyCSV(body)
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="air-`+day+`-hours.csv"`)
	case format == "geojson" && !hourly:
		out, err = releaseGeoJSON(body, a.GeoJSON)
		c.Set(fiber.HeaderContentType, "application/geo+json")
	case format == "openaq" && !hourly:
		out, err = releaseOpenAQ(body, a.grid)
		c.Type("json")
	case format == "openaq":
		out, err = hourlyOpenAQ(body)
		c.Type("json")
	default:
		return errNotFound
	}
	if err != nil {
		return err
	}
	// Every answer is a pure function of the stored bytes, so the release's hash names it.
	etag := `"` + state.Hash(body)[:32] + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		c.Response().ResetBody()
		return c.SendStatus(fiber.StatusNotModified)
	}
	return c.Send(out)
}
