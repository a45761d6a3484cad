package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/client/gateway"
	"github.com/commons-city/commons/crypto"
)

// statusPurpose is one purpose with this resident's consent, from the saved receipts.
type statusPurpose struct {
	Purpose string `json:"purpose"`
	Version int    `json:"version,omitempty"`
	Title   string `json:"title,omitempty"`
	Consent string `json:"your_consent"` // none, granted, withdrawn
	// Since is when the current grant was given (granted), or when it was withdrawn.
	Since *time.Time `json:"since,omitempty"`
	// Shared lists every period the purpose could receive share copies of your readings.
	Shared []sharePeriod `json:"shared,omitempty"`
}

type sharePeriod struct {
	From  time.Time  `json:"from"`
	Until *time.Time `json:"until,omitempty"` // absent while the grant stands
	For   string     `json:"for"`
}

type statusVault struct {
	Copies   int    `json:"copies"`
	Days     int    `json:"days"`
	FirstDay string `json:"first_day,omitempty"`
	LastDay  string `json:"last_day,omitempty"`
}

type statusOutbox struct {
	Dir string `json:"dir"`
	gateway.OutboxStatus
}

// statusCmd prints what the commons holds for this resident and what is still on the way:
// consents (from the receipts saved beside the wallet), the vault on the server (through the
// signed vault export), and the gateway's outbox.
func statusCmd(args []string) error {
	flags, g := clientFlags("status")
	g.jsonFlag(flags)
	outbox := flags.String("outbox", "", "gateway outbox `directory` (default: gateway-outbox beside the wallet)")
	if _, err := parseArgs(flags, args, 0, 0, ""); err != nil {
		return err
	}
	s, err := g.open(time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, c, w := s.ctx, s.c, s.w
	out := map[string]any{"citizen": w.CitizenID(), "server": g.server}

	// The server's side. If it cannot be reached, the local parts are still shown.
	var serverErr error
	log, err := serverOrigin(ctx, c)
	if err != nil {
		serverErr = err
	}
	purposes, err := statusPurposes(g, log, serverErr == nil)
	if err != nil {
		return err
	}
	if serverErr == nil {
		ps, err := c.Purposes(ctx)
		if err != nil {
			serverErr = fmt.Errorf("purposes: %w", err)
		}
		purposes = mergePurposes(ps, purposes)
	}
	out["purposes"] = purposes
	if serverErr == nil {
		copies, err := c.Vault(ctx, w)
		if err != nil {
			serverErr = fmt.Errorf("vault: %w", err)
		} else {
			v := statusVault{Copies: len(copies)}
			days := map[string]bool{}
			for _, vc := range copies {
				days[vc.Day] = true
				if v.FirstDay == "" || vc.Day < v.FirstDay {
					v.FirstDay = vc.Day
				}
				if vc.Day > v.LastDay {
					v.LastDay = vc.Day
				}
			}
			v.Days = len(days)
			out["vault"] = v
		}
	}
	if serverErr != nil {
		out["server_error"] = serverErr.Error()
	}

	dir := *outbox
	if dir == "" {
		dir = filepath.Join(filepath.Dir(g.wallet), "gateway-outbox")
	}
	st, err := gateway.ReadOutbox(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist) && *outbox == "":
		out["outbox"] = nil // no gateway ran beside this wallet
	case err != nil:
		return fmt.Errorf("status: %w", err)
	default:
		out["outbox"] = statusOutbox{Dir: dir, OutboxStatus: st}
	}
	if err := g.show(out, func(tw io.Writer) { statusText(tw, out) }); err != nil {
		return err
	}
	if serverErr != nil {
		fmt.Fprintln(os.Stderr, "commons: status: the server could not be asked:", serverErr)
	}
	return nil
}

// statusText writes the status for people.
func statusText(w io.Writer, out map[string]any) {
	fmt.Fprintf(w, "citizen\t%s\n", out["citizen"])
	fmt.Fprintf(w, "server\t%s\n", out["server"])
	for _, p := range out["purposes"].([]statusPurpose) {
		fmt.Fprintf(w, "consent to %s\t%s", p.Purpose, p.Consent)
		if p.Since != nil {
			fmt.Fprintf(w, " since %s", p.Since.Format(time.RFC3339))
		}
		fmt.Fprintln(w)
		for _, sp := range p.Shared {
			fmt.Fprintf(w, "  shared\tfrom %s, for %s\n", sp.From.Format(time.RFC3339), sp.For)
		}
	}
	if v, ok := out["vault"].(statusVault); ok {
		fmt.Fprintf(w, "vault\t%s", plural(v.Copies, "copy", "copies"))
		if v.Days > 0 {
			fmt.Fprintf(w, " over %s, %s to %s", plural(v.Days, "day"), v.FirstDay, v.LastDay)
		}
		fmt.Fprintln(w)
	}
	switch o := out["outbox"].(type) {
	case statusOutbox:
		fmt.Fprintf(w, "gateway outbox\t%s: %s waiting (%s, %d signed), %s held\n", o.Dir,
			plural(o.Batches, "batch", "batches"), plural(o.Readings, "reading"), o.Signed, plural(o.Held, "file"))
	default:
		fmt.Fprintln(w, "gateway outbox\tnone beside this wallet")
	}
}

// statusPurposes replays the saved receipts of this server's log (of every log if the
// server's is unknown) into each purpose's consent history.
func statusPurposes(g *global, log string, known bool) ([]statusPurpose, error) {
	rs, err := loadReceipts(g.wallet)
	if err != nil {
		return nil, err
	}
	byID := map[string]*statusPurpose{}
	var order []string
	for _, r := range rs {
		if r.Purpose == "" || (known && r.Log != log) {
			continue
		}
		p := byID[r.Purpose]
		if p == nil {
			p = &statusPurpose{Purpose: r.Purpose, Consent: "none"}
			byID[r.Purpose] = p
			order = append(order, r.Purpose)
		}
		at := r.At
		switch r.Kind {
		case crypto.TypeConsentGrant:
			if p.Consent != "granted" {
				p.Shared = append(p.Shared, sharePeriod{From: at})
			}
			p.Consent, p.Since = "granted", &at
		case crypto.TypeConsentRevoke:
			if p.Consent == "granted" && len(p.Shared) > 0 {
				p.Shared[len(p.Shared)-1].Until = &at
			}
			p.Consent, p.Since = "withdrawn", &at
		}
	}
	now := time.Now().UTC()
	out := make([]statusPurpose, 0, len(order))
	for _, id := range order {
		p := byID[id]
		for i := range p.Shared {
			end := now
			if p.Shared[i].Until != nil {
				end = *p.Shared[i].Until
			}
			p.Shared[i].For = end.Sub(p.Shared[i].From).Round(time.Second).String()
		}
		out = append(out, *p)
	}
	return out, nil
}

// mergePurposes lists every purpose the server offers, with the resident's consent history,
// then any purpose the receipts name that the server no longer lists.
func mergePurposes(server []client.Purpose, mine []statusPurpose) []statusPurpose {
	byID := map[string]statusPurpose{}
	for _, p := range mine {
		byID[p.Purpose] = p
	}
	var out []statusPurpose
	for _, sp := range server {
		p, ok := byID[sp.ID]
		if !ok {
			p = statusPurpose{Purpose: sp.ID, Consent: "none"}
		}
		p.Version, p.Title = sp.Version, sp.Title
		out = append(out, p)
		delete(byID, sp.ID)
	}
	for _, p := range mine {
		if _, left := byID[p.Purpose]; left {
			out = append(out, p)
		}
	}
	return out
}
