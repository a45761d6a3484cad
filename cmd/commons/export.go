package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/reading"
)

// exportCmd writes the resident's vault as .age files that the standard `age -d -i WALLET`
// opens, and with --decrypt also the readings in the JSON format `commons contribute` takes.
func exportCmd(args []string) error {
	fs, g := clientFlags("export")
	g.jsonFlag(fs)
	out := fs.String("out", "", "`directory` to write the export to (created, mode 0700)")
	decrypt := fs.Bool("decrypt", false, "also write the decrypted readings to DIR/readings.json")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *out == "" {
		return usagef("export: --out DIR is required")
	}
	s, err := g.open(10 * time.Minute)
	if err != nil {
		return err
	}
	defer s.close()
	w := s.w
	copies, err := s.c.Vault(s.ctx, w)
	if err != nil {
		return fmt.Errorf("export: %w", err)
	}
	if err := os.MkdirAll(*out, 0o700); err != nil {
		return fmt.Errorf("export: %w", err)
	}
	var all []reading.Reading
	perDay := map[string]int{}
	for _, vc := range copies {
		perDay[vc.Day]++
		name := filepath.Join(*out, fmt.Sprintf("%s-%03d.age", vc.Day, perDay[vc.Day]))
		if err := os.WriteFile(name, vc.Ciphertext, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
		if !*decrypt {
			continue
		}
		plain, err := crypto.Open(vc.Ciphertext, w.Identity())
		if err != nil {
			return fmt.Errorf("export: %s: %w", name, err)
		}
		b, err := reading.UnmarshalBatch(plain)
		if err != nil {
			return fmt.Errorf("export: %s: %w", name, err)
		}
		all = append(all, b.Readings...)
	}
	if *decrypt {
		b, err := json.MarshalIndent(map[string]any{"readings": all}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(*out, "readings.json"), b, 0o600); err != nil {
			return fmt.Errorf("export: %w", err)
		}
	}
	summary := map[string]any{"dir": *out, "copies": len(copies), "days": len(perDay)}
	if *decrypt {
		summary["readings"] = len(all)
	}
	return g.show(summary, func(tw io.Writer) {
		fmt.Fprintf(tw, "exported %s (%s) to %s\n", plural(len(copies), "vault copy", "vault copies"), plural(len(perDay), "day"), *out)
		fmt.Fprintf(tw, "open one with the standard tool: age -d -i %s %s/<day>-001.age\n", g.wallet, *out)
		if *decrypt {
			fmt.Fprintf(tw, "decrypted %s to %s\n", plural(len(all), "reading"), filepath.Join(*out, "readings.json"))
		}
	})
}
