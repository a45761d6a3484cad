package server

import (
	"errors"
	"time"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/server/store"
)

func (a *api) healthz(c *fiber.Ctx) error {
	return c.JSON(fiber.Map{"status": "ok", "ledger_size": a.Ledger.Size()})
}

type purposeAnswer struct {
	*state.Purpose
	LedgerIndex uint64 `json:"ledger_index"`
	Hash        string `json:"hash"`
}

func (a *api) listPurposes(c *fiber.Ctx) error {
	out := []purposeAnswer{}
	for _, p := range a.State.Purposes() {
		out = append(out, purposeAnswer{Purpose: p, LedgerIndex: p.Index, Hash: p.Hash})
	}
	return c.JSON(out)
}

func (a *api) neighbourhoods(c *fiber.Ctx) error {
	c.Set(fiber.HeaderContentType, "application/geo+json")
	return c.Send(a.GeoJSON)
}

type epochsAnswer struct {
	Purpose string   `json:"purpose"`
	Epochs  []string `json:"epochs"`
}

// statsAir serves releases only, on the fixed grid: without a day, the list of released
// days; with one, the stored release bytes. Any other query is off the grid: 404.
func (a *api) statsAir(c *fiber.Ctx) error {
	args := c.Queries()
	day, format := args["day"], args["format"]
	for k := range args {
		if k != "day" && k != "format" {
			return errNotFound
		}
	}
	if day == "" {
		if format != "" {
			return errNotFound
		}
		epochs, err := a.Store.Epochs(a.AirPurpose)
		if err != nil {
			return err
		}
		return c.JSON(epochsAnswer{Purpose: a.AirPurpose, Epochs: append([]string{}, epochs...)})
	}
	if _, err := time.Parse(time.DateOnly, day); err != nil {
		return errNotFound
	}
	body, err := a.Store.Release(a.AirPurpose, day)
	if errors.Is(err, store.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	etag := `"` + state.Hash(body)[:32] + `"`
	c.Set(fiber.HeaderETag, etag)
	c.Set(fiber.HeaderCacheControl, "public, max-age=3600")
	if c.Get(fiber.HeaderIfNoneMatch) == etag {
		return c.SendStatus(fiber.StatusNotModified)
	}
	switch format {
	case "", "json":
		c.Type("json")
		return c.Send(body)
	case "csv":
		out, err := releaseCSV(body, a.grid)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "text/csv; charset=utf-8")
		c.Set(fiber.HeaderContentDisposition, `attachment; filename="air-`+day+`.csv"`)
		return c.Send(out)
	case "geojson":
		out, err := releaseGeoJSON(body, a.GeoJSON)
		if err != nil {
			return err
		}
		c.Set(fiber.HeaderContentType, "application/geo+json")
		return c.Send(out)
	default:
		return errNotFound
	}
}
