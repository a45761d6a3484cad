package gateway

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// OutboxStatus is what an outbox directory holds, as read by ReadOutbox.
type OutboxStatus struct {
	// Batches is the number of batches not yet acknowledged by the server, including the one
	// a running gateway is appending to.
	Batches int `json:"pending_batches"`
	// Readings is the number of readings in those batches.
	Readings int `json:"pending_readings"`
	// Signed is the number of those batches already sealed and signed, waiting for an answer.
	Signed int `json:"signed_batches"`
	// Oldest is when the oldest pending batch was started (zero if none).
	Oldest time.Time `json:"oldest,omitzero"`
	// Held is the number of files in held/: batches the server refused for good, or damaged
	// files, kept for the resident.
	Held int `json:"held_files"`
	// Damaged is the number of pending batches whose files do not decode; the gateway moves
	// them to held/ when it next starts.
	Damaged int `json:"damaged_batches,omitempty"`
}

// ReadOutbox reports what the outbox in dir holds without changing anything in it, so it is
// safe while a gateway runs on the same directory. It reads the files as the gateway does when
// it starts: a batch whose readings file is gone was acknowledged, and a torn last line is
// not a reading. A missing directory is an error satisfying errors.Is(err, fs.ErrNotExist).
func ReadOutbox(dir string) (OutboxStatus, error) {
	var st OutboxStatus
	entries, err := os.ReadDir(dir)
	if err != nil {
		return st, fmt.Errorf("gateway: outbox: %w", err)
	}
	uploads := map[string]bool{}
	var names []string
	for _, e := range entries {
		n := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(n, tmpExt):
		case strings.HasSuffix(n, uploadExt):
			uploads[strings.TrimSuffix(n, uploadExt)] = true
		case strings.HasSuffix(n, readingsExt):
			names = append(names, strings.TrimSuffix(n, readingsExt))
		}
	}
	for _, name := range names { // os.ReadDir sorts by name: oldest batch first
		b, err := os.ReadFile(filepath.Join(dir, name+readingsExt))
		if errors.Is(err, fs.ErrNotExist) {
			continue // acknowledged between the listing and now
		}
		if err != nil {
			return st, fmt.Errorf("gateway: outbox: %w", err)
		}
		rs, ok := decodeReadings(b)
		if !ok {
			st.Damaged++
			continue
		}
		if len(rs) == 0 && !uploads[name] {
			continue
		}
		st.Batches++
		st.Readings += len(rs)
		if uploads[name] {
			st.Signed++
		}
		if num, ok := batchNumber(name); ok && st.Oldest.IsZero() {
			st.Oldest = time.Unix(0, num).UTC()
		}
	}
	held, err := os.ReadDir(filepath.Join(dir, heldDir))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return st, fmt.Errorf("gateway: outbox: %w", err)
	}
	for _, e := range held {
		if !e.IsDir() && !strings.HasSuffix(e.Name(), tmpExt) {
			st.Held++
		}
	}
	return st, nil
}
