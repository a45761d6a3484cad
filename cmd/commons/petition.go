package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"text/tabwriter"
	"time"

	"github.com/commons-city/commons/ledger"
)

func petitionCmd(args []string) error {
	verb, rest, err := sub("petition", args, "sign", "withdraw", "list", "verify")
	if err != nil {
		return err
	}
	fs, g := clientFlags("petition " + verb)
	if err := fs.Parse(rest); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if verb == "list" {
		return petitionList(ctx, g)
	}
	if verb == "verify" {
		if fs.NArg() != 1 {
			return errors.New("petition verify: name the petition id")
		}
		return petitionVerify(g, fs.Arg(0))
	}
	if fs.NArg() != 1 {
		return fmt.Errorf("petition %s: name the petition id", verb)
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	id := fs.Arg(0)
	a, err := c.SignPetition(ctx, w, id, verb == "withdraw")
	if err != nil {
		return fmt.Errorf("petition %s: %w", verb, err)
	}
	if err := saveReceipt(g.wallet, savedReceipt{Kind: "petition." + verb, Petition: id, Receipt: a.Receipt}); err != nil {
		return err
	}
	return printJSON(a.Receipt)
}

func petitionList(ctx context.Context, g *global) error {
	var ps []struct {
		ID         string    `json:"id"`
		Title      string    `json:"title"`
		Signatures int       `json:"signatures"`
		Threshold  int       `json:"threshold"`
		Status     string    `json:"status"`
		Closes     time.Time `json:"closes"`
	}
	b, err := clientFor(g).Get(ctx, "/api/v1/petitions")
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, &ps); err != nil {
		return err
	}
	tw := tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSIGNATURES\tTHRESHOLD\tSTATUS\tCLOSES\tTITLE")
	for _, p := range ps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\n", p.ID, p.Signatures, p.Threshold, p.Status, p.Closes.Format(time.DateOnly), p.Title)
	}
	return tw.Flush()
}

// petitionVerify recounts a petition from the public ledger — every entry re-hashed up to the
// signed root, one vote per nullifier, withdrawals subtracted — and compares the recount with
// the total the server publishes.
func petitionVerify(g *global, id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	c := clientFor(g)
	a, err := newAuditor(ctx, c)
	if err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	fmt.Printf("ok  checkpoint signature verifies (origin %s, size %d)\n", a.latest.Origin, a.latest.Size)
	var created bool
	active := map[string]bool{}
	signed, withdrawn := 0, 0
	err = a.recompute(ctx, func(i uint64, e ledger.Entry) error {
		if e.Petition != id {
			return nil
		}
		switch e.Type {
		case ledger.EntryPetition:
			created = true
		case ledger.EntryPetitionSign:
			if active[e.Nullifier] {
				return fmt.Errorf("entry %d signs again under an active nullifier", i)
			}
			active[e.Nullifier] = true
			signed++
		case ledger.EntryPetitionRevoke:
			if !active[e.Nullifier] {
				return fmt.Errorf("entry %d withdraws a signature that is not there", i)
			}
			active[e.Nullifier] = false
			withdrawn++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("petition verify: FAILED: %w", err)
	}
	if !created {
		return fmt.Errorf("petition verify: no petition %q in the ledger", id)
	}
	total := signed - withdrawn
	fmt.Printf("ok  re-hashed all %d entries: the root matches the checkpoint\n", a.latest.Size)
	fmt.Printf("ok  recount: %d signatures (%d signed, %d withdrawn), one per nullifier\n", total, signed, withdrawn)
	var p struct {
		Signatures int `json:"signatures"`
	}
	b, err := c.Get(ctx, "/api/v1/petitions/"+id)
	if err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	if err := json.Unmarshal(b, &p); err != nil {
		return fmt.Errorf("petition verify: %w", err)
	}
	if p.Signatures != total {
		return fmt.Errorf("petition verify: FAILED: the server publishes %d signatures, the ledger holds %d", p.Signatures, total)
	}
	fmt.Printf("ok  the published total (%d) equals the recount\n", p.Signatures)
	return nil
}
