package server

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/gofiber/fiber/v2"
)

// Backuper writes a consistent online backup of the node's database while it serves:
// *badger.DB is one (Badger's protobuf stream, readable by badger.DB.Load).
type Backuper interface {
	Backup(w io.Writer, since uint64) (uint64, error)
}

// BackupChecksumTrailer is the HTTP trailer of GET /api/v1/admin/backup: the hex SHA-256 of
// the whole body, sent only once the backup is complete. A client that reads the body to its
// end and finds the trailer missing, empty or different holds an incomplete backup.
const BackupChecksumTrailer = "Commons-Backup-Sha256"

// backupStall bounds how long the backup may wait for the client to take more bytes; it
// replaces the server's fixed WriteTimeout, which a large backup would outlast.
const backupStall = 30 * time.Second

// errClientGone ends a backup whose client stopped reading; errShutdown one still running
// when the server's shutdown timeout runs out.
var (
	errClientGone = errors.New("the client closed the connection")
	errShutdown   = errors.New("the server is shutting down")
)

// backupSet holds the backup streams in flight, so that shutdown can stop them: a backup can
// last longer than the shutdown timeout, and the database must not close under it.
type backupSet struct {
	mu   sync.Mutex
	open map[*backupStream]bool
}

func (b *backupSet) add(s *backupStream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.open[s] = true
}

func (b *backupSet) remove(s *backupStream) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.open, s)
}

// abort stops every backup in flight at its next or current write; it runs as a fiber
// OnShutdown hook, once the shutdown timeout has passed.
func (b *backupSet) abort() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	for s := range b.open {
		s.pipe.CloseWithError(errShutdown)
	}
	return nil
}

// backup streams a full online backup of the database (chunked), then its checksum as a
// trailer. Keys are files beside the database, not in it: they are never in a backup.
func (a *handlers) backup(c *fiber.Ctx) error {
	if a.DB == nil {
		return errNotFound
	}
	if err := c.Response().Header.SetTrailer(BackupChecksumTrailer); err != nil {
		return fmt.Errorf("server: backup: %w", err)
	}
	c.Set(fiber.HeaderContentType, fiber.MIMEOctetStream)
	c.Set(fiber.HeaderContentDisposition, `attachment; filename="commons.backup"`)
	c.Set(fiber.HeaderCacheControl, "no-store")
	pr, pw := io.Pipe()
	s := &backupStream{pipe: pr, sum: sha256.New(), header: &c.Response().Header, conn: c.Context().Conn(),
		logger: a.Logger, requestID: c.Locals(requestIDKey), started: time.Now(), set: a.backups}
	a.backups.add(s)
	go func() {
		// Badger writes from one goroutine; the pipe hands each write to the server's writer.
		var err error
		s.version, err = a.DB.Backup(io.MultiWriter(pw, s.sum), 0)
		if err != nil {
			err = fmt.Errorf("server: backup: %w", err)
		}
		pw.CloseWithError(err)
	}()
	c.Context().SetBodyStream(s, -1)
	return nil
}

// backupStream is the response body of a backup. The server's own goroutine calls Read and
// Close, so everything touching the response (the trailer, the deadline) happens there; the
// Badger goroutine only writes into the pipe.
type backupStream struct {
	pipe      *io.PipeReader
	sum       hash.Hash                           // written by the Badger goroutine; read after the pipe's EOF
	header    interface{ Set(key, value string) } // the response's, for the trailer
	conn      net.Conn
	logger    *slog.Logger
	requestID any
	started   time.Time
	version   uint64 // set by the Badger goroutine before the pipe's EOF
	n         int64
	done      bool // the pipe ended: complete or failed
	set       *backupSet
}

// Read passes the backup on, moving the write deadline forward while the client keeps up. At
// the end of a complete backup it sets the checksum trailer, which the server writes next.
func (s *backupStream) Read(p []byte) (int, error) {
	if err := s.conn.SetWriteDeadline(time.Now().Add(backupStall)); err != nil {
		return 0, fmt.Errorf("server: backup: %w", err)
	}
	n, err := s.pipe.Read(p)
	s.n += int64(n)
	s.done = err != nil
	switch {
	case errors.Is(err, io.EOF):
		s.header.Set(BackupChecksumTrailer, hex.EncodeToString(s.sum.Sum(nil)))
		s.logger.Info("backup streamed", "bytes", s.n, "version", s.version,
			"took", time.Since(s.started), "request_id", s.requestID)
	case err != nil:
		s.logger.Error("backup failed: the client gets no checksum", "bytes", s.n,
			"request_id", s.requestID, "err", err)
	}
	return n, err
}

// Close is called by the server when the response ends, complete or not; an unfinished backup
// is stopped at its next write.
func (s *backupStream) Close() error {
	s.set.remove(s)
	if !s.done {
		s.logger.Warn("backup abandoned: the client stopped reading", "bytes", s.n, "request_id", s.requestID)
		s.pipe.CloseWithError(errClientGone)
	}
	return nil
}
