package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"text/tabwriter"
	"time"
)

func petitionCmd(args []string) error {
	verb, rest, err := sub("petition", args, "sign", "withdraw", "list")
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
