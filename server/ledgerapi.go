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
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Type("json")
	return c.Send(b)
}

type inclusionAnswer struct {
	Index    uint64   `json:"index"`
	Size     uint64   `json:"size"`
	LeafHash []byte   `json:"leaf_hash"`
	Proof    [][]byte `json:"proof"`
}

type consistencyAnswer struct {
	From  uint64   `json:"from"`
	To    uint64   `json:"to"`
	Proof [][]byte `json:"proof"`
}

func queryUint(c *fiber.Ctx, name string) (uint64, error) {
	v, err := strconv.ParseUint(c.Query(name), 10, 64)
	if err != nil {
		return 0, invalid(name, "a non-negative integer is required")
	}
	return v, nil
}

func (a *handlers) inclusionProof(c *fiber.Ctx) error {
	index, err := queryUint(c, "index")
	if err != nil {
		return err
	}
	size, err := queryUint(c, "size")
	if err != nil {
		return err
	}
	p, err := a.Ledger.InclusionProof(index, size)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	leaf, err := a.Ledger.LeafHashAt(index)
	if err != nil {
		return err
	}
	return c.JSON(inclusionAnswer{Index: index, Size: size, LeafHash: leaf, Proof: nonNil(p)})
}

func (a *handlers) consistencyProof(c *fiber.Ctx) error {
	from, err := queryUint(c, "from")
	if err != nil {
		return err
	}
	to, err := queryUint(c, "to")
	if err != nil {
		return err
	}
	p, err := a.Ledger.ConsistencyProof(from, to)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	return c.JSON(consistencyAnswer{From: from, To: to, Proof: nonNil(p)})
}

// nonNil makes an empty proof encode as [] rather than null.
func nonNil(p [][]byte) [][]byte {
	if p == nil {
		return [][]byte{}
	}
	return p
}

// tile serves a C2SP tlog-tiles hash tile or entry bundle. Tiles never change once served.
func (a *handlers) tile(c *fiber.Ctx) error {
	p, err := ledger.ParseTilePath("tile/" + c.Params("*"))
	if err != nil {
		return errNotFound
	}
	b, err := a.Ledger.Tile(p)
	if errors.Is(err, ledger.ErrNotFound) {
		return errNotFound
	}
	if err != nil {
		return err
	}
	c.Set(fiber.HeaderCacheControl, "public, max-age=31536000, immutable")
	c.Set(fiber.HeaderContentType, "application/octet-stream")
	return c.Send(b)
}
