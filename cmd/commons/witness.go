package main

import (
	"context"
	"fmt"

	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/witness"
)

// checkWitnesses refuses the node's history unless at least min of the witnesses whose
// verifier keys are named cosigned a checkpoint that the latest one extends: a node that
// shows one history to its witnesses and another to this auditor fails here.
func (a *auditor) checkWitnesses(ctx context.Context, keys []string, min int) error {
	if min < 1 || min > len(keys) {
		return fmt.Errorf("--min-cosignatures %d: name between 1 and the %d witnesses given", min, len(keys))
	}
	verifiers := make([]note.Verifier, len(keys))
	for i, k := range keys {
		v, err := witness.ParseVerifier(k)
		if err != nil {
			return fmt.Errorf("--witness: %w", err)
		}
		verifiers[i] = v
	}
	raw, err := a.c.Get(ctx, "/api/v1/ledger/checkpoint/cosigned")
	if err != nil {
		return fmt.Errorf("no cosigned checkpoint: %w", err)
	}
	n, err := witness.Count(raw, a.verifier, verifiers)
	if err != nil {
		return err
	}
	cp, err := ledger.OpenCheckpoint(raw, a.verifier)
	if err != nil {
		return fmt.Errorf("cosigned checkpoint: %w", err)
	}
	if n < min {
		return fmt.Errorf("%d of the %d witnesses named cosigned the checkpoint of size %d; %d required", n, len(keys), cp.Size, min)
	}
	if cp.Size > a.latest.Size {
		return fmt.Errorf("the cosigned checkpoint (size %d) is ahead of the one served (size %d): run again", cp.Size, a.latest.Size)
	}
	if err := a.consistent(ctx, cp); err != nil {
		return fmt.Errorf("the served checkpoint does not extend the cosigned one: %w", err)
	}
	fmt.Printf("ok  %d of %d witnesses cosigned the checkpoint of size %d, which the latest extends\n", n, len(keys), cp.Size)
	return nil
}
