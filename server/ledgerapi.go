package server

import (
	"errors"
	"strconv"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/ledger"
)

func (a *handlers) checkpoint(c *fiber.Ctx) error {
	cp, _ := a.Ledger.Checkpoint()
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Type("txt", "utf-8")
	return c.Send(cp)
}

// errNotCosigned answers a node with no witness, or none that cosigned yet.
var errNotCosigned = newErr(404, "not_cosigned", "no checkpoint of this node has been cosigned by a witness")

// cosignedCheckpoint serves the latest checkpoint that witnesses cosigned: the node's signed
// checkpoint followed by their cosignature lines (c2sp.org/tlog-cosignature).
func (a *handlers) cosignedCheckpoint(c *fiber.Ctx) error {
	if a.Cosigned == nil {
		return errNotCosigned
	}
	cp, n := a.Cosigned()
	if n == 0 {
		return errNotCosigned
	}
	c.Set(fiber.HeaderCacheControl, "no-cache")
	c.Type("txt", "utf-8")
	return c.Send(cp)
}

func (a *handlers) verifierKey(c *fiber.Ctx) error {
	c.Type("txt", "utf-8")
	return c.SendString(a.VerifierKey + "\n")
}

// entry serves the exact bytes of one entry; they never change, so they cache forever.
func (a *handlers) entry(c *fiber.Ctx) error {
	i, err := strconv.ParseUint(c.Params("index"), 10, 64)
	if err != nil {
		return errNotFound
	}
	b, err := a.Ledger.Entry(i)
	return sendImmutable(c, fiber.MIMEApplicationJSON, b, err)
}

func queryUint(c *fiber.Ctx, name string) (uint64, error) {
	v, err := strconv.ParseUint(c.Query(name), 10, 64)
	if err != nil {
		return 0, invalid(name, "a non-negative integer is required")
	}
	return v, nil
}

// serveProof serves a proof between two points of the log, named by the query parameters first
// and second (non-negative integers): prove reads it from the ledger and shapes the answer.
func serveProof[T any](first, second string, prove func(x, y uint64) (T, error)) fiber.Handler {
	return func(c *fiber.Ctx) error {
		x, err := queryUint(c, first)
		if err != nil {
			return err
		}
		y, err := queryUint(c, second)
		if err != nil {
			return err
		}
		v, err := prove(x, y)
		if err != nil {
			return ledgerError(err)
		}
		return c.JSON(v)
	}
}

// ledgerError answers a read beyond the log (an index, size or tile it does not have yet) as
// not found.
func ledgerError(err error) error {
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	return err
}

// tile serves a C2SP tlog-tiles hash tile or entry bundle. Tiles never change once served.
func (a *handlers) tile(c *fiber.Ctx) error {
	p, err := ledger.ParseTilePath("tile/" + c.Params("*"))
	if err != nil {
		return errNotFound
	}
	b, err := a.Ledger.Tile(p)
	return sendImmutable(c, fiber.MIMEOctetStream, b, err)
}

// sendImmutable answers a read of the ledger, b or err: bytes the ledger holds never change,
// so they cache forever; a read beyond the log is not found.
func sendImmutable(c *fiber.Ctx, contentType string, b []byte, err error) error {
	if err != nil {
		return ledgerError(err)
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderContentType, contentType)
	return c.Send(b)
}
