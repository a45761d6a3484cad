package gateway

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/durable"
	"github.com/commons-city/commons/reading"
)

// Names in the outbox directory.
const (
	batchPrefix   = "batch-"
	readingsExt   = ".jsonl"
	uploadExt     = ".upload.json"
	tmpExt        = durable.TempSuffix
	heldDir       = "held"
	corruptSuffix = ".corrupt"
)

// maxBatchReadings closes a batch early, so that one contribution stays well under the
// server's body limit even when devices post far more often than usual.
const maxBatchReadings = 2000

// outbox is the gateway's on-disk queue, one directory:
//
//	batch-<n>.jsonl        the readings of one batch, one JSON object per line; appended and
//	                       fsync'd before the device is answered, never changed once closed
//	batch-<n>.upload.json  the batch's signed contribution, written before its first upload
//	                       attempt; replaced only by a re-signing, when the server definitely
//	                       did not store the previous one
//	held/batch-<n>.json    the readings of a batch the server refused for good, as a
//	                       reading.Batch document that `commons contribute` reads
//
// A batch is done when the server acknowledged its contribution: its readings file is deleted
// first, then its upload file, so an upload file without readings is an acknowledged leftover.
type outbox struct {
	dir    string
	logger *slog.Logger

	mu     sync.Mutex
	open   *openBatch // the batch being appended to, or nil
	closed []*batch   // batches no longer appended to, oldest first
	last   int64      // the number of the newest batch name
}

// openBatch is the batch new readings are appended to.
type openBatch struct {
	batch
	f    *os.File
	size int64
}

// batch is one closed batch.
type batch struct {
	name     string // without extension
	readings []reading.Reading
	upload   *upload // nil until sealed and signed
}

// upload is the content of an upload file.
type upload struct {
	// Signed is the contribution, sent as is on every attempt.
	Signed crypto.SignedContribution `json:"signed"`
	// Uncertain is set while an attempt may reach the server, and stays set once an attempt
	// ended without a definite answer: the server may have stored this contribution, so it is
	// never replaced by one with a new nonce.
	Uncertain bool `json:"uncertain"`
}

// openOutbox opens (creating) the outbox directory and loads every batch left in it.
// Damaged files — never written by an acknowledged step — are moved to held/ with a
// ".corrupt" suffix and logged.
func openOutbox(dir string, logger *slog.Logger) (*outbox, error) {
	if err := os.MkdirAll(filepath.Join(dir, heldDir), 0o700); err != nil {
		return nil, fmt.Errorf("gateway: outbox: %w", err)
	}
	o := &outbox{dir: dir, logger: logger}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("gateway: outbox: %w", err)
	}
	names := map[string]bool{}
	for _, e := range entries {
		n := e.Name()
		switch {
		case e.IsDir():
		case strings.HasSuffix(n, tmpExt):
			if err := os.Remove(filepath.Join(dir, n)); err != nil {
				return nil, fmt.Errorf("gateway: outbox: %w", err)
			}
		case strings.HasSuffix(n, uploadExt):
			names[strings.TrimSuffix(n, uploadExt)] = true
		case strings.HasSuffix(n, readingsExt):
			names[strings.TrimSuffix(n, readingsExt)] = true
		}
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		if num, ok := batchNumber(name); ok {
			o.last = max(o.last, num)
		}
		if err := o.load(name); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// load reads one batch left by an earlier run.
func (o *outbox) load(name string) error {
	rb, err := os.ReadFile(o.path(name + readingsExt))
	if errors.Is(err, fs.ErrNotExist) {
		// Acknowledged: the readings were deleted, the upload file had not been yet.
		if err := os.Remove(o.path(name + uploadExt)); err != nil {
			return fmt.Errorf("gateway: outbox: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("gateway: outbox: %w", err)
	}
	rs, ok := decodeReadings(rb)
	b := &batch{name: name, readings: rs}
	ub, err := os.ReadFile(o.path(name + uploadExt))
	switch {
	case errors.Is(err, fs.ErrNotExist):
	case err != nil:
		return fmt.Errorf("gateway: outbox: %w", err)
	default:
		var u upload
		if json.Unmarshal(ub, &u) != nil || u.Signed.Contribution.Nonce == "" {
			ok = false
		}
		b.upload = &u
		// A signed batch always has readings: without them it cannot be sealed again.
		ok = ok && len(rs) > 0
	}
	if !ok {
		o.logger.Warn("gateway: damaged outbox batch moved to held/", "batch", name)
		return o.quarantine(name)
	}
	if len(rs) == 0 && b.upload == nil {
		return o.removeFile(name + readingsExt)
	}
	o.closed = append(o.closed, b)
	return nil
}

// decodeReadings decodes a readings file. A last line without its newline is the torn tail
// of an append that was never acknowledged, and is skipped; any other bad line is damage.
func decodeReadings(b []byte) ([]reading.Reading, bool) {
	lines := bytes.Split(b, []byte("\n"))
	lines = lines[:len(lines)-1] // after the last newline: empty, or a torn append
	rs := make([]reading.Reading, 0, len(lines))
	for _, line := range lines {
		var r reading.Reading
		if err := json.Unmarshal(line, &r); err != nil {
			return nil, false
		}
		rs = append(rs, r)
	}
	return rs, true
}

// quarantine moves a damaged batch's files to held/, keeping them for the resident.
func (o *outbox) quarantine(name string) error {
	for _, ext := range []string{readingsExt, uploadExt} {
		err := os.Rename(o.path(name+ext), filepath.Join(o.dir, heldDir, name+ext+corruptSuffix))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("gateway: outbox: %w", err)
		}
	}
	return o.syncDirs()
}

func (o *outbox) path(file string) string { return filepath.Join(o.dir, file) }

// batchNumber parses the number of a batch name.
func batchNumber(name string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimPrefix(name, batchPrefix), 10, 64)
	return n, err == nil && strings.HasPrefix(name, batchPrefix)
}

// append stores one reading durably: when it returns nil, the reading is on disk.
func (o *outbox) append(r reading.Reading) error {
	line, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("gateway: outbox: encode reading: %w", err)
	}
	line = append(line, '\n')
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.open == nil {
		if err := o.startBatch(); err != nil {
			return err
		}
	}
	ob := o.open
	if _, err := ob.f.Write(line); err != nil {
		return o.abandon(fmt.Errorf("gateway: outbox: append: %w", err))
	}
	if err := ob.f.Sync(); err != nil {
		return o.abandon(fmt.Errorf("gateway: outbox: sync: %w", err))
	}
	ob.size += int64(len(line))
	ob.readings = append(ob.readings, r)
	if len(ob.readings) >= maxBatchReadings {
		return o.closeOpen()
	}
	return nil
}

// startBatch creates a new readings file and makes its name durable.
func (o *outbox) startBatch() error {
	o.last = max(o.last+1, time.Now().UnixNano())
	name := fmt.Sprintf("%s%020d", batchPrefix, o.last)
	f, err := os.OpenFile(o.path(name+readingsExt), os.O_WRONLY|os.O_CREATE|os.O_EXCL|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("gateway: outbox: %w", err)
	}
	if err := durable.SyncDir(o.dir); err != nil {
		f.Close()
		return err
	}
	o.open = &openBatch{batch: batch{name: name}, f: f}
	return nil
}

// abandon handles a failed append: it cuts the partial line off and closes the batch, so the
// next reading starts a new file and a damaged tail can only ever be the end of a file.
func (o *outbox) abandon(cause error) error {
	ob := o.open
	err := ob.f.Truncate(ob.size)
	if err == nil {
		err = ob.f.Sync()
	}
	if err != nil {
		o.logger.Warn("gateway: outbox: could not cut a failed append", "batch", ob.name, "err", err)
	}
	if cerr := o.closeOpen(); cerr != nil {
		o.logger.Warn("gateway: outbox: close after a failed append", "batch", ob.name, "err", cerr)
	}
	return cause
}

// closeOpen closes the open batch (o.mu held); an empty one is deleted.
func (o *outbox) closeOpen() error {
	ob := o.open
	if ob == nil {
		return nil
	}
	o.open = nil
	if err := ob.f.Close(); err != nil {
		return fmt.Errorf("gateway: outbox: %w", err)
	}
	if len(ob.readings) == 0 {
		return o.removeFile(ob.name + readingsExt)
	}
	b := ob.batch
	o.closed = append(o.closed, &b)
	return nil
}

// cut closes the open batch: readings that arrive from now on go to a new batch.
func (o *outbox) cut() error {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.closeOpen()
}

// batches returns the closed batches, oldest first.
func (o *outbox) batches() []*batch {
	o.mu.Lock()
	defer o.mu.Unlock()
	return slices.Clone(o.closed)
}

// pending counts the readings and the closed batches not yet acknowledged.
func (o *outbox) pending() (readings, batches int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, b := range o.closed {
		readings += len(b.readings)
	}
	if o.open != nil {
		readings += len(o.open.readings)
	}
	return readings, len(o.closed)
}

// saveUpload atomically replaces the batch's upload file.
func (o *outbox) saveUpload(b *batch, u upload) error {
	data, err := json.Marshal(u)
	if err != nil {
		return fmt.Errorf("gateway: outbox: encode upload: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(o.dir, b.name+uploadExt), data); err != nil {
		return fmt.Errorf("gateway: outbox: %w", err)
	}
	b.upload = &u
	return nil
}

// done forgets an acknowledged batch: readings first, then the upload file (see outbox).
func (o *outbox) done(b *batch) error {
	if err := o.removeFile(b.name + readingsExt); err != nil {
		return err
	}
	if err := o.removeFile(b.name + uploadExt); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	o.forget(b)
	return nil
}

// hold moves a refused batch's readings to held/, where the resident can inspect them and
// upload them with `commons contribute`, then forgets the batch.
func (o *outbox) hold(b *batch, reason string) error {
	data, err := reading.MarshalBatch(b.readings)
	if err != nil {
		return fmt.Errorf("gateway: outbox: hold: %w", err)
	}
	if err := durable.WriteFile(filepath.Join(o.dir, heldDir, b.name+"."+reason+".json"), data); err != nil {
		return fmt.Errorf("gateway: outbox: hold: %w", err)
	}
	return o.done(b)
}

func (o *outbox) forget(b *batch) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.closed = slices.DeleteFunc(o.closed, func(x *batch) bool { return x == b })
}

// removeFile deletes a file of the outbox and makes the deletion durable.
func (o *outbox) removeFile(file string) error {
	if err := os.Remove(o.path(file)); err != nil {
		return fmt.Errorf("gateway: outbox: %w", err)
	}
	return durable.SyncDir(o.dir)
}

func (o *outbox) syncDirs() error {
	if err := durable.SyncDir(filepath.Join(o.dir, heldDir)); err != nil {
		return err
	}
	return durable.SyncDir(o.dir)
}
