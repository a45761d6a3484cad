package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/petition"
)

// auditor checks a server's ledger with the server's published verifier key.
type auditor struct {
	c         *client.Client
	key       string
	verifier  note.Verifier
	latest    *log.Checkpoint
	latestRaw []byte
}

func newAuditor(ctx context.Context, c *client.Client) (*auditor, error) {
	key, err := c.Get(ctx, "/api/v1/ledger/key")
	if err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	a := &auditor{c: c, key: string(bytes.TrimSpace(key))}
	if a.verifier, err = note.NewVerifier(a.key); err != nil {
		return nil, fmt.Errorf("ledger key: %w", err)
	}
	if a.latestRaw, err = c.Get(ctx, "/api/v1/ledger/checkpoint"); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	if a.latest, err = ledger.OpenCheckpoint(a.latestRaw, a.verifier); err != nil {
		return nil, err
	}
	return a, nil
}

// consistent checks that the latest checkpoint extends an older one.
func (a *auditor) consistent(ctx context.Context, older *log.Checkpoint) error {
	var p api.ConsistencyProof
	b, err := a.c.Get(ctx, fmt.Sprintf("/api/v1/ledger/proof/consistency?from=%d&to=%d", older.Size, a.latest.Size))
	if err != nil {
		return fmt.Errorf("consistency proof: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("consistency proof: %w", err)
	}
	return ledger.VerifyConsistency(older, a.latest, p.Proof)
}

// checkReceipt verifies a receipt's own proof under its signed checkpoint, that the latest
// checkpoint extends that one, and that the server still serves the same entry bytes.
func (a *auditor) checkReceipt(ctx context.Context, r api.Receipt) (uint64, error) {
	cp, err := ledger.OpenCheckpoint([]byte(r.Checkpoint), a.verifier)
	if err != nil {
		return 0, err
	}
	if err := ledger.VerifyInclusion(cp, r.Index, r.LeafHash, r.Proof); err != nil {
		return 0, err
	}
	if err := a.consistent(ctx, cp); err != nil {
		return 0, err
	}
	entry, err := a.c.Get(ctx, "/api/v1/ledger/entries/"+strconv.FormatUint(r.Index, 10))
	if err != nil {
		return 0, fmt.Errorf("entry %d: %w", r.Index, err)
	}
	if !bytes.Equal(ledger.LeafHash(entry), r.LeafHash) {
		return 0, fmt.Errorf("%w: entry %d is not the one the receipt covers", ledger.ErrProof, r.Index)
	}
	return cp.Size, nil
}

// auditState is what `ledger verify` remembers between runs.
type auditState struct {
	Server     string `json:"server"`
	Key        string `json:"key"`
	Checkpoint string `json:"checkpoint"`
}

func ledgerCmd(args []string) error {
	verb, rest, err := sub("ledger", args, "verify")
	if err != nil {
		return err
	}
	flags, g := clientFlags("ledger " + verb)
	statePath := flags.String("state", "", "`file` keeping the verifier key and last checkpoint seen (default: ledger-state.json beside the wallet)")
	all := flags.Bool("all", false, "also fetch every entry and recompute the root")
	var witnesses []string
	flags.Func("witness", "a witness's verifier `KEY` (repeat for each): refuse a checkpoint they did not cosign", func(k string) error {
		witnesses = append(witnesses, k)
		return nil
	})
	minCosignatures := flags.Int("min-cosignatures", 1, "with --witness, how many of the witnesses named must have cosigned (`N`)")
	if _, err := parseArgs(flags, rest, 0, 0, ""); err != nil {
		return err
	}
	if *statePath == "" {
		*statePath = filepath.Join(filepath.Dir(g.wallet), "ledger-state.json")
	}
	s := g.connect(30 * time.Minute)
	defer s.close()
	ctx := s.ctx
	a, err := newAuditor(ctx, s.c)
	if err != nil {
		return fmt.Errorf("ledger verify: %w", err)
	}
	fmt.Printf("ok  checkpoint signature verifies with key %s\n", a.key)
	fmt.Printf("    origin %s, size %d\n", a.latest.Origin, a.latest.Size)
	if len(witnesses) > 0 {
		if err := a.checkWitnesses(ctx, witnesses, *minCosignatures); err != nil {
			return fmt.Errorf("ledger verify: FAILED: %w", err)
		}
	}

	var prev auditState
	b, err := os.ReadFile(*statePath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		fmt.Printf("--  no earlier checkpoint in %s: trusting this key from now on\n", *statePath)
	case err != nil:
		return err
	default:
		if err := json.Unmarshal(b, &prev); err != nil {
			return fmt.Errorf("ledger verify: %s: %w", *statePath, err)
		}
		if prev.Key != a.key {
			return fmt.Errorf("ledger verify: FAILED: the server's key changed since the last run (was %s)", prev.Key)
		}
		old, err := ledger.OpenCheckpoint([]byte(prev.Checkpoint), a.verifier)
		if err != nil {
			return fmt.Errorf("ledger verify: saved checkpoint: %w", err)
		}
		if err := a.consistent(ctx, old); err != nil {
			return fmt.Errorf("ledger verify: FAILED: %w", err)
		}
		fmt.Printf("ok  consistent with the checkpoint saved last time (size %d → %d): nothing was rewritten\n", old.Size, a.latest.Size)
	}
	if *all {
		if err := a.recompute(ctx, nil); err != nil {
			return fmt.Errorf("ledger verify: FAILED: %w", err)
		}
		fmt.Printf("ok  re-hashed all %d entries: the root matches the checkpoint\n", a.latest.Size)
	}
	out, err := json.MarshalIndent(auditState{Server: g.server, Key: a.key, Checkpoint: string(a.latestRaw)}, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(*statePath), 0o700); err != nil {
		return err
	}
	return os.WriteFile(*statePath, out, 0o600)
}

// entries walks every entry up to the latest checkpoint with recompute, for a recount.
func (a *auditor) entries(ctx context.Context) petition.Entries {
	return func(visit func(uint64, api.Entry) error) error { return a.recompute(ctx, visit) }
}

// recompute fetches every entry, in C2SP entry bundles of up to 256, rebuilds the root with a
// compact range and compares it with the latest checkpoint; visit, if set, sees each entry.
func (a *auditor) recompute(ctx context.Context, visit func(i uint64, e api.Entry) error) error {
	h := rfc6962.DefaultHasher
	rf := &compact.RangeFactory{Hash: h.HashChildren}
	r := rf.NewEmptyRange(0)
	for first := uint64(0); first < a.latest.Size; first += ledger.TileWidth {
		width := min(a.latest.Size-first, ledger.TileWidth)
		path := ledger.TilePath{Entries: true, Index: first / ledger.TileWidth, Width: int(width)}
		bundle, err := a.c.Get(ctx, "/ledger/"+path.String())
		if err != nil {
			return fmt.Errorf("entries %d…: %w", first, err)
		}
		raws, err := ledger.ParseEntryBundle(bundle)
		if err != nil {
			return fmt.Errorf("entries %d…: %w", first, err)
		}
		if uint64(len(raws)) != width {
			return fmt.Errorf("%w: entry bundle %s holds %d entries, not %d", ledger.ErrProof, path, len(raws), width)
		}
		for j, raw := range raws {
			i := first + uint64(j)
			e, err := api.ParseEntry(raw)
			if err != nil {
				return fmt.Errorf("entry %d: %w", i, err)
			}
			if err := r.Append(h.HashLeaf(raw), nil); err != nil {
				return err
			}
			if visit != nil {
				if err := visit(i, e); err != nil {
					return err
				}
			}
		}
	}
	root, err := r.GetRootHash(nil)
	if err != nil {
		return err
	}
	if root == nil {
		root = h.EmptyRoot()
	}
	if !bytes.Equal(root, a.latest.Hash) {
		return fmt.Errorf("%w: recomputed root differs from the checkpoint's", ledger.ErrProof)
	}
	return nil
}
