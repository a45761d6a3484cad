package dashboards

import (
	"fmt"
	"slices"
	"strings"

	"github.com/gofiber/fiber/v2"

	"github.com/commons-city/commons/api"
)

// ledgerEntries is how many of the latest entries /ledger lists.
const ledgerEntries = 20

type ledgerView struct {
	Origin     string
	Size       uint64
	Checkpoint string
	Entries    []entryRow
	Server     string
	// Cosigned is the latest checkpoint witnesses cosigned (empty without one), Witnesses how
	// many did and CosignedSize its tree size.
	Cosigned     string
	Witnesses    int
	CosignedSize string
	Index        uint64 // the latest entry, used in the inclusion proof example
}

// entryRow holds only the pseudonymous fields of an entry: never signatures, keys, nonces,
// nullifiers or bodies.
type entryRow struct {
	Index                                   uint64
	Type                                    string
	Citizen, Purpose, Petition, Epoch, Hash string
}

// Ledger answers the ledger page: the signed checkpoint and the latest entries.
func (p *Pages) Ledger(c *fiber.Ctx) error {
	l := pickLang(c)
	signed, size := p.src.Ledger.Checkpoint()
	v := ledgerView{
		Origin: p.src.Ledger.Origin(), Size: size, Checkpoint: string(signed),
		Server: c.BaseURL(),
	}
	if size > 0 {
		v.Index = size - 1
	}
	if p.src.Cosigned != nil {
		if cp, n := p.src.Cosigned(); n > 0 {
			v.Cosigned, v.Witnesses = string(cp), n
			if lines := strings.SplitN(v.Cosigned, "\n", 3); len(lines) == 3 {
				v.CosignedSize = lines[1]
			}
		}
	}
	from := size - min(size, ledgerEntries)
	err := p.src.Ledger.Scan(c.UserContext(), from, size, func(i uint64, b []byte) error {
		row := entryRow{Index: i, Type: l.t("unreadable entry")}
		if e, err := api.ParseEntry(b); err == nil {
			row = entryRow{Index: i, Type: e.Type, Citizen: e.Citizen, Purpose: e.Purpose,
				Petition: e.Petition, Epoch: e.Epoch, Hash: e.Hash}
		}
		v.Entries = append(v.Entries, row)
		return nil
	})
	if err != nil {
		return fmt.Errorf("dashboards: ledger: %w", err)
	}
	slices.Reverse(v.Entries) // newest first
	return p.show(c, l, fiber.StatusOK, page{"ledger", l.t("Ledger"), "ledger", v, "/ledger"})
}
