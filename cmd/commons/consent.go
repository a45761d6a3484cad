package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
)

func consentCmd(args []string) error {
	verb, rest, err := sub("consent", args, "grant", "revoke", "list")
	if err != nil {
		return err
	}
	fs, g := clientFlags("consent " + verb)
	purpose := fs.String("purpose", "", "purpose `id`, e.g. air-quality/daily")
	erase := fs.Bool("erase", false, "with revoke: also delete your vault copies on the server")
	if err := fs.Parse(rest); err != nil {
		return err
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if verb == "list" {
		return consentList(ctx, c, g)
	}
	if *purpose == "" {
		return fmt.Errorf("consent %s: --purpose is required", verb)
	}
	p, err := c.Purpose(ctx, *purpose)
	if err != nil {
		return err
	}
	var a client.Answer
	kind := crypto.TypeConsentGrant
	if verb == "grant" {
		a, err = c.Grant(ctx, w, p)
	} else {
		kind = crypto.TypeConsentRevoke
		a, err = c.Revoke(ctx, w, p, *erase)
	}
	if err != nil {
		return fmt.Errorf("consent %s: %w", verb, err)
	}
	if err := saveReceipt(g.wallet, savedReceipt{Kind: kind, Purpose: p.ID, Receipt: a.Receipt}); err != nil {
		return err
	}
	return printJSON(a.Receipt)
}

type consentView struct {
	Purpose     string `json:"purpose"`
	Version     int    `json:"version"`
	Title       string `json:"title"`
	Description string `json:"description"`
	Data        string `json:"data"`
	K           int    `json:"k"`
	Consent     string `json:"your_consent"`
}

type receiptCheck struct {
	Kind    string `json:"kind"`
	Purpose string `json:"purpose,omitempty"`
	Index   uint64 `json:"index"`
	Checked string `json:"checked"`
}

// consentList prints every purpose in plain words with the resident's choice, and re-checks
// each saved receipt against the server's latest signed checkpoint.
func consentList(ctx context.Context, c *client.Client, g *global) error {
	ps, err := c.Purposes(ctx)
	if err != nil {
		return err
	}
	au, err := newAuditor(ctx, c)
	if err != nil {
		return err
	}
	active, err := activePurposes(g.wallet, au.latest.Origin)
	if err != nil {
		return err
	}
	var views []consentView
	for _, p := range ps {
		v := consentView{Purpose: p.ID, Version: p.Version, Title: p.Title, Description: p.Description,
			Data: p.Data, K: p.Release.K, Consent: "none"}
		if on, seen := active[p.ID]; seen {
			v.Consent = map[bool]string{true: "granted", false: "withdrawn"}[on]
		}
		views = append(views, v)
	}
	rs, err := loadReceipts(g.wallet)
	if err != nil {
		return err
	}
	var checks []receiptCheck
	var failed error
	for _, r := range rs {
		if r.Log != au.latest.Origin {
			continue
		}
		chk := receiptCheck{Kind: r.Kind, Purpose: r.Purpose, Index: r.Receipt.Index}
		if size, err := au.checkReceipt(ctx, r.Receipt); err != nil {
			chk.Checked = "FAILED: " + err.Error()
			failed = errors.Join(failed, fmt.Errorf("receipt %d: %w", r.Receipt.Index, err))
		} else {
			chk.Checked = fmt.Sprintf("included in the signed checkpoint of size %d, which the latest (size %d) extends", size, au.latest.Size)
		}
		checks = append(checks, chk)
	}
	if err := printJSON(map[string]any{"purposes": views, "receipts": checks}); err != nil {
		return err
	}
	return failed
}
