package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/durable"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/ledger/state"
	"github.com/commons-city/commons/server"
	"github.com/commons-city/commons/store"
)

// dataFormat is the version of the data directory's layout this binary reads and writes:
// DIR/badger with the key spaces of docs/architecture.md, DIR/keys, DIR/admin.token. A change
// an older binary would misread gets a new number.
//
// Format 3: petition signatures spend tokens the node issued blind (petition.key,
// petition.issue), under nullifiers that hash a per-petition wallet key, and are appended in
// shuffled batches; the store binds no resident to a nullifier. A format-2 directory is
// upgraded at start (upgradeData): its bindings become issuance records without the nullifier,
// and its open petitions get a token key; its logged signatures stay countable.
// Format 2: petition signatures are logged under nullifiers the residents' wallets derive, bound
// to residents by private records; petitions are signed by organisers and carry a tally key.
// Format 1 logged nullifiers keyed by a node secret (keys/nullifier.key), which this binary
// cannot check, so it refuses format 1 rather than miscount its petitions.
const dataFormat = 3

// formatFile names the data format of a data directory, in one line: "commons-data 1".
const formatFile = "FORMAT"

// checkDataFormat accepts a data directory this binary can serve. It writes DIR/FORMAT into a
// directory without a database (a first start), and refuses a FORMAT naming a newer version or
// not readable as one, and a database without a FORMAT.
func checkDataFormat(dir string) error {
	path := filepath.Join(dir, formatFile)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, statErr := os.Stat(filepath.Join(dir, "badger"))
		switch {
		case statErr == nil:
			return fmt.Errorf("%s holds a badger/ database but no %s file, so its format is unknown. A Commons "+
				"build from before format versioning wrote format 1, which this binary does not read (it reads format %d): "+
				"serve it with the Commons release that made it", dir, formatFile, dataFormat)
		case !errors.Is(statErr, fs.ErrNotExist):
			return fmt.Errorf("data format: %w", statErr)
		}
		return writeDataFormat(dir)
	}
	if err != nil {
		return fmt.Errorf("data format: %w", err)
	}
	v, err := parseDataFormat(b)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if v > dataFormat {
		return fmt.Errorf("%s was written by a newer Commons (data format %d; this binary reads format %d): run that version or a later one", dir, v, dataFormat)
	}
	if v == 1 {
		return fmt.Errorf("%s is data format 1, which this binary does not read (it reads format %d): format 1 logged "+
			"petition signatures under nullifiers keyed by the node's keys/nullifier.key, and this version checks nullifiers "+
			"derived from residents' wallets, so it would miscount those petitions. Keep serving %s with the Commons "+
			"release that wrote it until its petitions close, or start a new data directory", dir, dataFormat, dir)
	}
	return nil
}

// parseDataFormat reads "commons-data N" (one line, N ≥ 1).
func parseDataFormat(b []byte) (int, error) {
	fields := strings.Fields(string(b))
	if len(fields) == 2 && fields[0] == "commons-data" {
		if v, err := strconv.Atoi(fields[1]); err == nil && v >= 1 && strings.Count(string(b), "\n") <= 1 {
			return v, nil
		}
	}
	return 0, fmt.Errorf("not a Commons data format line (want %q): refusing to guess what this directory holds", fmt.Sprintf("commons-data %d", dataFormat))
}

// writeDataFormat writes DIR/FORMAT for this binary's format, durably.
func writeDataFormat(dir string) error {
	if err := durable.WriteFile(filepath.Join(dir, formatFile), fmt.Appendf(nil, "commons-data %d\n", dataFormat)); err != nil {
		return fmt.Errorf("data format: %w", err)
	}
	return nil
}

// upgradeData brings a data directory of format 2 (or a restored format-2 backup) to format 3,
// and is a no-op on one already there: the private bindings of residents to nullifiers become
// issuance records without the nullifier (store.UpgradeSigners), and every petition still open
// at now without a token key gets one (a petition.key entry). It then writes DIR/FORMAT.
func upgradeData(ctx context.Context, dir string, lg *ledger.Log, stor *store.Store, st *state.State, now time.Time, logger *slog.Logger) error {
	n, err := stor.UpgradeSigners(ctx)
	if err != nil {
		return fmt.Errorf("data format: %w", err)
	}
	var keys []ledger.Logged
	for _, p := range st.Petitions() {
		if p.TokenKey != "" || !now.Before(p.Closes) {
			continue
		}
		sk, err := crypto.NewTokenKey()
		if err != nil {
			return fmt.Errorf("data format: %w", err)
		}
		e, err := server.TokenKeyEntry(p.ID, sk)
		if err != nil {
			return fmt.Errorf("data format: %w", err)
		}
		keys = append(keys, e)
	}
	if len(keys) > 0 {
		if _, err := lg.AppendAll(ctx, keys); err != nil {
			return fmt.Errorf("data format: %w", err)
		}
	}
	if n > 0 || len(keys) > 0 {
		logger.Info("data upgraded to format 3", "signer bindings removed", n, "petitions given a token key", len(keys))
	}
	return writeDataFormat(dir)
}

// errFormat1 says a database holds format-1 petitions.
var errFormat1 = errors.New("its ledger holds petitions of data format 1 (created by the operator, signatures " +
	"under nullifiers keyed by the node's keys/nullifier.key), which this binary does not read: restore it with the " +
	"Commons release that made the backup")

// checkLedgerFormat refuses a database whose ledger holds entries of data format 1: petitions
// without an organiser or a tally key, signatures without their day. Without petitions the two
// formats hold the same entries, so such a database is served as format 2.
func checkLedgerFormat(db *badger.DB) error {
	err := ledger.ScanStored(context.Background(), db, func(i uint64, b []byte) error {
		if !bytes.Contains(b, []byte(`"type":"petition.`)) {
			return nil // only petition entries changed between the formats
		}
		e, err := api.ParseEntry(b)
		if err != nil {
			return fmt.Errorf("ledger entry %d: %w", i, err)
		}
		switch e.Type {
		case api.EntryPetition:
			if e.Citizen == "" || e.Recipient == "" {
				return errFormat1
			}
		case api.EntryPetitionSign, api.EntryPetitionRevoke:
			if e.Epoch == "" {
				return errFormat1
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("data format: %w", err)
	}
	return nil
}
