package main

import (
	"context"
	"encoding/json"
	"fmt"
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
	out := fs.String("out", "", "`directory` to write the export to (created, mode 0700)")
	decrypt := fs.Bool("decrypt", false, "also write the decrypted readings to DIR/readings.json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return fmt.Errorf("export: --out is required")
	}
	w, c, err := g.load()
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	copies, err := c.Vault(ctx, w)
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
	fmt.Printf("exported %d vault copies (%d days) to %s\n", len(copies), len(perDay), *out)
	fmt.Printf("open one with the standard tool: age -d -i %s %s/<day>-001.age\n", g.wallet, *out)
	if *decrypt {
		fmt.Printf("decrypted %d readings to %s\n", len(all), filepath.Join(*out, "readings.json"))
	}
	return nil
}
