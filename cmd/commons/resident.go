package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/durable"
	"github.com/commons-city/commons/reading"
)

func walletCmd(args []string) error {
	verb, rest, err := sub("wallet", args, "init", "show")
	if err != nil {
		return err
	}
	fs, g := clientFlags("wallet " + verb)
	g.jsonFlag(fs)
	var out *string
	var protect *bool
	if verb == "init" {
		out = fs.String("out", "", "where to write the new wallet (default: --wallet)")
		protect = fs.Bool("passphrase", false, "encrypt the wallet with a passphrase (age scrypt)")
	}
	if _, err := parseArgs(fs, rest, 0, 0, ""); err != nil {
		return err
	}
	if verb == "show" {
		w, err := g.loadWallet()
		if err != nil {
			return err
		}
		return showWallet(g, w)
	}
	path := g.wallet
	if *out != "" {
		path = *out
	}
	w, err := crypto.NewWallet()
	if err != nil {
		return err
	}
	save := w.Save
	if *protect || g.passphraseFile != "" {
		if _, err := os.Stat(path); err == nil {
			return fmt.Errorf("wallet init: %s already exists; it was not touched", path)
		}
		pass, err := g.newPassphrase()
		if err != nil {
			return err
		}
		save = func(path string) error { return w.SaveProtected(path, pass) }
	}
	if err := save(path); errors.Is(err, crypto.ErrWalletExists) {
		return fmt.Errorf("wallet init: %s already exists; it was not touched", path)
	} else if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wallet written to %s (mode 0600) — keep a backup: it is the only key to your data\n", path)
	return showWallet(g, w)
}

// showWallet prints the wallet's citizen id and public keys.
func showWallet(g *global, w *crypto.Wallet) error {
	v := map[string]string{
		"citizen":     w.CitizenID(),
		"recipient":   w.Recipient().String(),
		"signing_key": crypto.EncodeKey(w.SigningPublicKey()),
	}
	return g.show(v, func(out io.Writer) {
		fmt.Fprintf(out, "citizen id\t%s\n", v["citizen"])
		fmt.Fprintf(out, "recipient\t%s\t(age encrypts to it)\n", v["recipient"])
		fmt.Fprintf(out, "signing key\t%s\n", v["signing_key"])
	})
}

func registerCmd(args []string) error {
	fs, g := clientFlags("register")
	g.jsonFlag(fs)
	invite := fs.String("invite", "", "one-time invite `code` from the operator")
	hood := fs.String("neighbourhood", "", "your neighbourhood: its `id` or its name (commons neighbourhoods lists them)")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *invite == "" || *hood == "" {
		return usagef("register: --invite and --neighbourhood are required")
	}
	s, err := g.open(time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	grid, err := s.c.Neighbourhoods(s.ctx)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	id, err := neighbourhood(grid, *hood)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	a, err := s.c.Register(s.ctx, s.w, *invite, id)
	if err != nil {
		return fmt.Errorf("register: %w", err)
	}
	if err := saveReceipt(g.wallet, savedReceipt{Kind: crypto.TypeRegister, Receipt: a.Receipt}); err != nil {
		return err
	}
	return g.show(a, func(w io.Writer) {
		fmt.Fprintf(w, "registered %s in %s (%s): ledger entry %d, under the signed checkpoint of size %d\n",
			s.w.CitizenID(), grid.Name(id), id, a.Receipt.Index, checkpointSize(a.Receipt.Checkpoint))
	})
}

// savedReceipt is one receipt kept beside the wallet, to check later against newer checkpoints.
type savedReceipt struct {
	Kind     string      `json:"kind"`
	Purpose  string      `json:"purpose,omitempty"`
	Petition string      `json:"petition,omitempty"`
	Log      string      `json:"log"` // the ledger's origin: receipts follow the log, not its URL
	At       time.Time   `json:"at"`
	Receipt  api.Receipt `json:"receipt"`
}

func receiptsPath(wallet string) string { return wallet + ".receipts.json" }

func loadReceipts(wallet string) ([]savedReceipt, error) {
	b, err := os.ReadFile(receiptsPath(wallet))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var rs []savedReceipt
	if err := json.Unmarshal(b, &rs); err != nil {
		return nil, fmt.Errorf("%s: %w", receiptsPath(wallet), err)
	}
	return rs, nil
}

func saveReceipt(wallet string, r savedReceipt) error {
	rs, err := loadReceipts(wallet)
	if err != nil {
		return err
	}
	r.At, r.Log = time.Now().UTC(), origin(r.Receipt.Checkpoint)
	b, err := json.MarshalIndent(append(rs, r), "", "  ")
	if err != nil {
		return err
	}
	return durable.WriteFile(receiptsPath(wallet), b)
}

// origin is the first line of a checkpoint: the log it belongs to.
func origin(checkpoint string) string {
	o, _, _ := strings.Cut(checkpoint, "\n")
	return o
}

// serverOrigin asks a server which log it keeps: the name of its verifier key.
func serverOrigin(ctx context.Context, c *client.Client) (string, error) {
	b, err := c.Get(ctx, "/api/v1/ledger/key")
	if err != nil {
		return "", fmt.Errorf("ledger key: %w", err)
	}
	name, _, _ := strings.Cut(string(b), "+")
	return name, nil
}

// activePurposes are the purposes whose latest saved receipt in this log is a grant.
func activePurposes(wallet, log string) (map[string]bool, error) {
	rs, err := loadReceipts(wallet)
	if err != nil {
		return nil, err
	}
	active := map[string]bool{}
	for _, r := range rs {
		if r.Log != log || r.Purpose == "" {
			continue
		}
		active[r.Purpose] = r.Kind == crypto.TypeConsentGrant
	}
	return active, nil
}

// consentedPurposes are the server's purposes that the resident's saved receipts show as
// granted, in this server's log: the purposes a contribution is sealed to.
func consentedPurposes(ctx context.Context, c *client.Client, wallet string) ([]client.Purpose, error) {
	log, err := serverOrigin(ctx, c)
	if err != nil {
		return nil, err
	}
	active, err := activePurposes(wallet, log)
	if err != nil {
		return nil, err
	}
	ps, err := c.Purposes(ctx)
	if err != nil {
		return nil, fmt.Errorf("purposes: %w", err)
	}
	var out []client.Purpose
	for _, p := range ps {
		if active[p.ID] && p.Active() {
			out = append(out, p)
		}
	}
	return out, nil
}

func contributeCmd(args []string) error {
	fs, g := clientFlags("contribute")
	g.jsonFlag(fs)
	journalPath := fs.String("journal", "", "where acknowledged readings are remembered, so an interrupted import resumes (default WALLET.imported)")
	paths, err := parseArgs(fs, args, 1, -1, "one or more files or folders (CSV, Sensor.Community archive CSV, or JSON)")
	if err != nil {
		return err
	}
	files, err := inputFiles(paths)
	if err != nil {
		return fmt.Errorf("contribute: %w", err)
	}
	s, err := g.open(30 * time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	ctx, c, w := s.ctx, s.c, s.w
	grid, err := c.Neighbourhoods(ctx)
	if err != nil {
		return fmt.Errorf("contribute: %w", err)
	}
	sum := importSummary{Files: len(files), RejectedBy: map[string]int{}}
	var all []reading.Reading
	for _, f := range files {
		rs, rejected, err := reading.ParseFile(f, grid.Locate, reading.Options{Now: time.Now()})
		if err != nil {
			return fmt.Errorf("contribute: %w", err)
		}
		sum.Rows += len(rs) + len(rejected)
		sum.Rejected += len(rejected)
		for _, r := range rejected {
			sum.RejectedBy[r.Reason]++
		}
		if len(files) <= 10 {
			for _, r := range rejected {
				fmt.Fprintf(os.Stderr, "%s: %s\n", f, r.Error())
			}
		}
		all = append(all, rs...)
	}
	if *journalPath == "" {
		*journalPath = g.wallet + ".imported"
	}
	j, err := client.OpenJournal(*journalPath)
	if err != nil {
		return fmt.Errorf("contribute: %w", err)
	}
	defer j.Close()
	todo, skipped := j.Split(all)
	sum.AlreadyImported = skipped
	if len(todo) > 0 {
		purposes, err := consentedPurposes(ctx, c, g.wallet)
		if err != nil {
			return fmt.Errorf("contribute: %w", err)
		}
		sum.SealedTo = []string{crypto.VaultPurpose}
		for _, p := range purposes {
			sum.SealedTo = append(sum.SealedTo, p.ID)
		}
		released, err := c.Released(ctx)
		if err != nil {
			return fmt.Errorf("contribute: %w", err)
		}
		vaultOnly := map[string]bool{}
		shareFrom := map[string]string{}
		for _, p := range purposes {
			shareFrom[p.ID] = p.AcceptsFrom
		}
		bar := newProgressBar(os.Stderr, "uploading")
		ups, err := c.Upload(ctx, w, todo, purposes, client.UploadOptions{
			Progress: bar.update,
			Closed: func(purpose, day string) bool {
				if released[purpose][day] || day < shareFrom[purpose] {
					vaultOnly[day] = true
					return true
				}
				return false
			},
			Acked: func(rs []reading.Reading) error {
				sum.Imported += len(rs)
				return j.Record(rs)
			},
		})
		bar.finish()
		sum.Uploads = len(ups)
		sum.VaultOnlyDays = len(vaultOnly)
		sum.VaultOnly = slices.Sorted(maps.Keys(vaultOnly))
		if err != nil {
			g.show(sum, sum.text)
			return fmt.Errorf("contribute: %d of %d readings uploaded, run the same command again to resume: %w", sum.Imported, len(todo), err)
		}
	}
	if sum.Imported == 0 && sum.AlreadyImported == 0 {
		g.show(sum, sum.text)
		return errors.New("contribute: no valid readings to upload")
	}
	return g.show(sum, sum.text)
}

// importSummary is what `commons contribute` reports: rows read, imported, skipped as already
// imported, rejected with the count for each reason, and the days that went to the vault only
// because their release was already published or they are older than the server's look-back
// for share copies (the purpose's accepts_from).
type importSummary struct {
	Files           int            `json:"files"`
	Rows            int            `json:"rows"`
	Imported        int            `json:"imported"`
	AlreadyImported int            `json:"already_imported"`
	Rejected        int            `json:"rejected"`
	RejectedBy      map[string]int `json:"rejected_by_reason"`
	SealedTo        []string       `json:"sealed_to,omitempty"`
	VaultOnlyDays   int            `json:"vault_only_days"`
	VaultOnly       []string       `json:"vault_only,omitempty"`
	Uploads         int            `json:"uploads"`
}

// text writes the summary for people.
func (sum importSummary) text(w io.Writer) {
	fmt.Fprintf(w, "imported %s from %s (%s read", plural(sum.Imported, "reading"), plural(sum.Files, "file"), plural(sum.Rows, "row"))
	if sum.AlreadyImported > 0 {
		fmt.Fprintf(w, ", %d already imported before", sum.AlreadyImported)
	}
	fmt.Fprintf(w, ", %d rejected)\n", sum.Rejected)
	for _, reason := range slices.Sorted(maps.Keys(sum.RejectedBy)) {
		fmt.Fprintf(w, "  rejected\t%s: %s\n", plural(sum.RejectedBy[reason], "row"), reason)
	}
	if len(sum.SealedTo) > 0 {
		fmt.Fprintf(w, "sealed to %s, in %s\n", strings.Join(sum.SealedTo, ", "), plural(sum.Uploads, "upload"))
	}
	if sum.VaultOnlyDays > 0 {
		fmt.Fprintf(w, "%s already published: those readings went to your vault only\n", plural(sum.VaultOnlyDays, "day"))
	}
}

// inputFiles expands folders into the .csv and .json files they hold (recursively, in name
// order, skipping hidden entries); named files are taken as they are.
func inputFiles(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		st, err := os.Stat(a)
		if err != nil {
			return nil, err
		}
		if !st.IsDir() {
			out = append(out, a)
			continue
		}
		err = filepath.WalkDir(a, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != a && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			ext := strings.ToLower(filepath.Ext(path))
			if d.Type().IsRegular() && (ext == ".csv" || ext == ".json") {
				out = append(out, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	if len(out) == 0 {
		return nil, errors.New("no .csv or .json files found")
	}
	return out, nil
}
