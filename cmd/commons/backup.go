package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dgraph-io/badger/v4"

	"github.com/commons-city/commons/durable"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/server"
	"github.com/commons-city/commons/store"
)

// keysWarning is said by backup and restore, and in docs/operations.md.
const keysWarning = "Keys are NOT in the backup: back up DATA/keys (and DATA/admin.token) separately, off the machine."

// backupCmd is `commons backup --out FILE`: it asks the running server for an online backup
// and writes it to FILE (mode 0600) atomically, with FILE.sha256 beside it.
func backupCmd(args []string) error {
	fs, g := clientFlags("backup")
	g.adminFlag(fs)
	out := fs.String("out", "", "backup `file` to write (replaced atomically once complete)")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *out == "" {
		return usagef("backup: --out FILE is required")
	}
	token, err := g.adminToken()
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	s := g.connect(6 * time.Hour)
	defer s.close()
	started := time.Now()
	n, sum, err := fetchBackup(s.ctx, strings.TrimRight(g.server, "/"), token, *out)
	if err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	fmt.Printf("wrote %s: %d bytes in %s, sha256 %s (also in %s.sha256)\n%s\n",
		*out, n, time.Since(started).Round(time.Millisecond), sum, *out, keysWarning)
	return nil
}

// fetchBackup streams the server's backup into a temporary file beside out, checks it against
// the checksum trailer, and renames it to out.
func fetchBackup(ctx context.Context, url, token, out string) (int64, string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url+"/api/v1/admin/backup", nil)
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		var eb struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
		if json.Unmarshal(body, &eb) == nil && eb.Error.Code != "" {
			return 0, "", fmt.Errorf("server said %d %s: %s", resp.StatusCode, eb.Error.Code, eb.Error.Message)
		}
		return 0, "", fmt.Errorf("server said %s", resp.Status)
	}
	h := sha256.New()
	var n int64
	err = durable.Write(out, func(f *os.File) error {
		var err error
		if n, err = io.Copy(io.MultiWriter(f, h), resp.Body); err != nil {
			return fmt.Errorf("the stream broke after %d bytes: %w", n, err)
		}
		got, want := hex.EncodeToString(h.Sum(nil)), resp.Trailer.Get(server.BackupChecksumTrailer)
		switch {
		case want == "":
			return fmt.Errorf("the server sent %d bytes but no checksum: the backup failed on the server (see its log), "+
				"or a proxy on the way dropped the checksum trailer (back up from the node's own address)", n)
		case got != want:
			return fmt.Errorf("checksum mismatch: got %s, the server sent %s", got, want)
		}
		return nil
	})
	if err != nil {
		return 0, "", err
	}
	sum := hex.EncodeToString(h.Sum(nil))
	line := fmt.Sprintf("%s  %s\n", sum, filepath.Base(out))
	if err := durable.Write(out+".sha256", func(f *os.File) error {
		_, err := f.WriteString(line)
		return err
	}); err != nil {
		return 0, "", err
	}
	return n, sum, nil
}

// restoreCmd is `commons restore --in FILE --data DIR`: it loads a backup into an empty data
// directory. The keys are not in it: the operator copies them back before serving.
func restoreCmd(args []string) error {
	fs := newFlagSet("restore")
	in := fs.String("in", "", "backup `file` written by commons backup")
	data := fs.String("data", "", "data `directory` to create: it must not exist or be empty")
	if _, err := parseArgs(fs, args, 0, 0, ""); err != nil {
		return err
	}
	if *in == "" || *data == "" {
		return usagef("restore: --in FILE and --data DIR are required")
	}
	logger := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	started := time.Now()
	r, err := restore(*in, *data, logger)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	fmt.Printf("restored %s into %s in %s (%d bytes, sha256 %s, %s)\n", *in, *data,
		time.Since(started).Round(time.Millisecond), r.bytes, r.sum, r.checked)
	fmt.Printf("ledger: %s; the backed-up checkpoint:\n%s\n", plural(int(r.size), "entry", "entries"), indent(string(r.checkpoint)))
	fmt.Printf("%s\nBefore `commons serve --data %s`, copy the node's keys/ into %s/keys (and admin.token, or a new one is made); "+
		"the node refuses to start on a database without its keys. Start it once with --fsck to re-hash the restored ledger.\n",
		keysWarning, *data, *data)
	return nil
}

// restored describes a finished restore.
type restored struct {
	bytes      int64
	sum        string
	checked    string // what the checksum was compared with
	size       uint64
	checkpoint []byte
}

// restore loads the backup into DIR/badger through a temporary directory, so that a failed
// restore leaves no half-loaded database, checks that its ledger is of this binary's data
// format, then writes DIR/FORMAT.
func restore(in, dir string, logger *slog.Logger) (*restored, error) {
	if err := requireEmptyDir(dir); err != nil {
		return nil, err
	}
	f, err := os.Open(in)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	want, checked, err := sidecarSum(in)
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	tmp := filepath.Join(dir, "badger.restoring")
	if err := os.RemoveAll(tmp); err != nil {
		return nil, err
	}
	r := &restored{checked: checked}
	load := func() error {
		db, err := store.OpenBadger(store.Options{Dir: tmp, Logger: logger})
		if err != nil {
			return err
		}
		h := sha256.New()
		counted := &countingReader{r: io.TeeReader(f, h)}
		if err := db.Load(counted, 256); err != nil {
			db.Close()
			return fmt.Errorf("load %s after %d bytes: %w", in, counted.n, err)
		}
		r.bytes, r.sum = counted.n, hex.EncodeToString(h.Sum(nil))
		if want != "" && r.sum != want {
			db.Close()
			return fmt.Errorf("%s does not match %s.sha256 (%s): the file is damaged", in, in, want)
		}
		if r.checkpoint, r.size, err = ledger.StoredCheckpoint(db); err != nil {
			db.Close()
			return err
		}
		// A backup carries no FORMAT file: refuse one whose ledger this binary would misread,
		// as checkDataFormat refuses such a directory, before writing FORMAT for it.
		if err := checkLedgerFormat(db); err != nil {
			db.Close()
			return fmt.Errorf("%s: %w", in, err)
		}
		return db.Close()
	}
	if err := load(); err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	if err := os.Rename(tmp, filepath.Join(dir, "badger")); err != nil {
		return nil, err
	}
	if err := writeDataFormat(dir); err != nil {
		return nil, err
	}
	return r, nil
}

// sidecarSum reads FILE.sha256 if the backup has one.
func sidecarSum(in string) (sum, checked string, err error) {
	b, err := os.ReadFile(in + ".sha256")
	if errors.Is(err, os.ErrNotExist) {
		return "", "no " + filepath.Base(in) + ".sha256 beside it to check against", nil
	}
	if err != nil {
		return "", "", err
	}
	fields := strings.Fields(string(b))
	if len(fields) == 0 || len(fields[0]) != 64 {
		return "", "", fmt.Errorf("%s.sha256 is not a sha256sum line", in)
	}
	return fields[0], "matches " + filepath.Base(in) + ".sha256", nil
}

// requireEmptyDir accepts a directory that does not exist or holds nothing.
func requireEmptyDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("%s is not empty (it holds %s): restore only into a new or empty directory, and move the old one aside yourself", dir, entries[0].Name())
	}
	return nil
}

// countingReader counts the bytes read through it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// indent prefixes every non-empty line of s with four spaces.
func indent(s string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n")
}

// onlineBackups hands the database to the server's backup endpoint until Close, which refuses
// new backups and waits for those running to end (the server stops them when it shuts down):
// the database is never closed under a running backup.
type onlineBackups struct {
	db      *badger.DB
	mu      sync.RWMutex // held for reading by each running backup
	closing atomic.Bool
}

// errShuttingDown refuses a backup once the node is shutting down.
var errShuttingDown = errors.New("the node is shutting down")

// Backup implements server.Backuper.
func (o *onlineBackups) Backup(w io.Writer, since uint64) (uint64, error) {
	o.mu.RLock()
	defer o.mu.RUnlock()
	if o.closing.Load() {
		return 0, errShuttingDown
	}
	// As badger.DB.Backup, but with one producer: Badger gives each producer its own read
	// transaction, so with several the backup is not one point in time, and a ledger written
	// meanwhile can restore with a tree that does not match its signed checkpoint.
	stream := o.db.NewStream()
	stream.LogPrefix, stream.SinceTs, stream.NumGo = "DB.Backup", since, 1
	return stream.Backup(w, since)
}

// Close refuses new backups and waits for those running to end.
func (o *onlineBackups) Close() {
	o.closing.Store(true)
	o.mu.Lock()
	defer o.mu.Unlock()
}
