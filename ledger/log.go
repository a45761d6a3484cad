package ledger

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/transparency-dev/formats/log"
	"github.com/transparency-dev/merkle/compact"
	"github.com/transparency-dev/merkle/rfc6962"
	"golang.org/x/mod/sumdb/note"
)

// Errors callers map to client answers.
var (
	// ErrNotFound is returned for an entry index or tree size beyond the log.
	ErrNotFound = errors.New("ledger: no such entry")
	// ErrClosed is returned by Append and Write after Close.
	ErrClosed = errors.New("ledger: closed")
	// ErrTooLarge is returned for an entry above MaxEntrySize.
	ErrTooLarge = errors.New("ledger: entry too large")
)

// MaxEntrySize bounds one entry, so a C2SP entry bundle (uint16 length prefixes) can carry it.
const MaxEntrySize = 65535

var (
	keyEntry = []byte("l/e/")
	keyNode  = []byte("l/n/")
	keySize  = []byte("l/size")
	keyCP    = []byte("l/cp")
)

func entryKey(i uint64) []byte { return binary.BigEndian.AppendUint64(slices.Clone(keyEntry), i) }

func nodeKey(id compact.NodeID) []byte {
	k := append(slices.Clone(keyNode), byte(id.Level))
	return binary.BigEndian.AppendUint64(k, id.Index)
}

var hasher = rfc6962.DefaultHasher

// LeafHash is the RFC 6962 hash of one entry.
func LeafHash(entry []byte) []byte { return hasher.HashLeaf(entry) }

// Options tune the sequencer.
type Options struct {
	// MaxBatch is the most requests (appends and writes) committed in one transaction (default
	// 1000).
	MaxBatch int
	// MaxBatchBytes is the most bytes (entries and private records) committed in one transaction
	// (default 2 MiB). A batch Badger finds too big is committed in halves.
	MaxBatchBytes int
	// Logger receives the log's own messages (default slog.Default()).
	Logger *slog.Logger
	// Apply, if set, is called by the sequencer with every committed batch that holds entries
	// (the index of its first entry and the entries, in log order) before any append of the
	// batch is acknowledged: the read model stays in step with the log.
	Apply func(first uint64, entries [][]byte)
	// OnCommit, if set, is called by the sequencer after every batch commit attempt with the
	// number of appends and of writes in the batch, how long writing, signing and committing it
	// took (fsync included), and the commit's error (nil when the batch is durable). It runs on
	// the sequencer goroutine, after the waiters are answered: it must be quick (metrics, not
	// I/O).
	OnCommit func(entries, writes int, took time.Duration, err error)
}

func (o Options) withDefaults() Options {
	if o.MaxBatch <= 0 {
		o.MaxBatch = 1000
	}
	if o.MaxBatchBytes <= 0 {
		o.MaxBatchBytes = 2 << 20
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return o
}

// Log is the ledger. It is safe for concurrent use.
type Log struct {
	db       *badger.DB
	signer   note.Signer
	verifier note.Verifier
	opts     Options
	factory  *compact.RangeFactory

	reqs    chan *request
	stopped chan struct{}
	closeMu sync.RWMutex // guards closed and the closing of reqs
	closed  bool

	mu         sync.RWMutex // guards size and checkpoint
	size       uint64
	checkpoint []byte

	// settling is held by the sequencer from a batch's commit until its entries are applied
	// to the read model (Options.Apply), so that Settle can wait for the read model.
	settling sync.RWMutex

	rng      *compact.Range // owned by the sequencer goroutine after Open, by Extend in a replica
	extendMu sync.Mutex     // serialises Extend
	cache    *nodeCache
}

// Open opens the log stored in db, signing new checkpoints with signer and checking old ones
// with verifier. The signer's name is the log's origin. It refuses to open a log whose stored
// tree does not match its last signed checkpoint.
func Open(db *badger.DB, signer note.Signer, verifier note.Verifier, opts Options) (*Log, error) {
	if signer.Name() != verifier.Name() || signer.KeyHash() != verifier.KeyHash() {
		return nil, errors.New("ledger: open: signer and verifier keys differ")
	}
	l := &Log{
		db: db, signer: signer, verifier: verifier, opts: opts.withDefaults(),
		factory: &compact.RangeFactory{Hash: hasher.HashChildren},
		reqs:    make(chan *request, 4096),
		stopped: make(chan struct{}),
		cache:   newNodeCache(),
	}
	if err := l.load(); err != nil {
		return nil, fmt.Errorf("ledger: open: %w", err)
	}
	go l.sequence()
	return l, nil
}

// load reads the size and the right border of the tree, and checks them against the last
// signed checkpoint.
func (l *Log) load() error {
	return l.db.View(func(txn *badger.Txn) error {
		size, err := readUint64(txn, keySize)
		if err != nil {
			return err
		}
		ids := compact.RangeNodes(0, size, nil)
		hashes := make([][]byte, len(ids))
		for i, id := range ids {
			if hashes[i], err = readValue(txn, nodeKey(id)); err != nil {
				return fmt.Errorf("read node %d/%d: %w", id.Level, id.Index, err)
			}
		}
		if l.rng, err = l.factory.NewRange(0, size, hashes); err != nil {
			return err
		}
		root, err := l.root()
		if err != nil {
			return err
		}
		if size == 0 {
			if l.signer == nil {
				return nil // an empty replica has no checkpoint until its first Extend
			}
			l.checkpoint, err = l.sign(0, root)
			return err
		}
		signed, err := readValue(txn, keyCP)
		if err != nil {
			return fmt.Errorf("read checkpoint: %w", err)
		}
		cp, err := l.openCheckpoint(signed)
		if err != nil {
			return err
		}
		if cp.Size != size || !bytes.Equal(cp.Hash, root) {
			return fmt.Errorf("stored tree (size %d) does not match the last signed checkpoint (size %d): refusing to serve a rewritten log", size, cp.Size)
		}
		l.size, l.checkpoint = size, signed
		return nil
	})
}

// root returns the root of the current range (the empty-tree hash when empty).
func (l *Log) root() ([]byte, error) {
	root, err := l.rng.GetRootHash(nil)
	if err != nil {
		return nil, err
	}
	if root == nil {
		root = hasher.EmptyRoot()
	}
	return root, nil
}

func (l *Log) sign(size uint64, root []byte) ([]byte, error) {
	body := log.Checkpoint{Origin: l.signer.Name(), Size: size, Hash: root}.Marshal()
	signed, err := note.Sign(&note.Note{Text: string(body)}, l.signer)
	if err != nil {
		return nil, fmt.Errorf("sign checkpoint: %w", err)
	}
	return signed, nil
}

func (l *Log) openCheckpoint(signed []byte) (*log.Checkpoint, error) {
	cp, _, _, err := log.ParseCheckpoint(signed, l.verifier.Name(), l.verifier)
	if err != nil {
		return nil, fmt.Errorf("parse checkpoint: %w", err)
	}
	return cp, nil
}

// Origin is the log's origin line, the name of its key.
func (l *Log) Origin() string { return l.verifier.Name() }

// Size is the number of entries covered by the latest checkpoint.
func (l *Log) Size() uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.size
}

// Checkpoint returns the latest signed checkpoint (a signed note) and its size; nil for a
// replica that holds nothing yet.
func (l *Log) Checkpoint() ([]byte, uint64) {
	l.mu.RLock()
	defer l.mu.RUnlock()
	return l.checkpoint, l.size
}

// Entry returns the bytes of entry i.
func (l *Log) Entry(i uint64) ([]byte, error) {
	if i >= l.Size() {
		return nil, ErrNotFound
	}
	var b []byte
	err := l.db.View(func(txn *badger.Txn) error {
		var err error
		b, err = readValue(txn, entryKey(i))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("ledger: entry %d: %w", i, err)
	}
	return b, nil
}

// Scan calls fn for every entry in [from, to) in order, stopping at the first error.
func (l *Log) Scan(ctx context.Context, from, to uint64, fn func(i uint64, entry []byte) error) error {
	return scan(ctx, l.db, from, min(to, l.Size()), fn)
}

// ScanStored calls fn for every entry stored in db, in order, without opening the log and so
// without its keys: tools use it to check a database before any key is at hand, for example a
// freshly restored backup.
func ScanStored(ctx context.Context, db *badger.DB, fn func(i uint64, entry []byte) error) error {
	_, size, err := StoredCheckpoint(db)
	if err != nil {
		return err
	}
	return scan(ctx, db, 0, size, fn)
}

func scan(ctx context.Context, db *badger.DB, from, to uint64, fn func(i uint64, entry []byte) error) error {
	if from >= to {
		return nil
	}
	return db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{PrefetchValues: true, PrefetchSize: 256, Prefix: keyEntry})
		defer it.Close()
		want := from
		for it.Seek(entryKey(from)); it.Valid() && want < to; it.Next() {
			if err := ctx.Err(); err != nil {
				return err
			}
			i := binary.BigEndian.Uint64(it.Item().Key()[len(keyEntry):])
			if i != want {
				return fmt.Errorf("ledger: scan: entry %d missing", want)
			}
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return fmt.Errorf("ledger: scan: %w", err)
			}
			if err := fn(i, v); err != nil {
				return err
			}
			want++
		}
		if want != to {
			return fmt.Errorf("ledger: scan: entry %d missing", want)
		}
		return nil
	})
}

func readValue(txn *badger.Txn, key []byte) ([]byte, error) {
	item, err := txn.Get(key)
	if err != nil {
		return nil, err
	}
	return item.ValueCopy(nil)
}

func readUint64(txn *badger.Txn, key []byte) (uint64, error) {
	v, err := readValue(txn, key)
	if errors.Is(err, badger.ErrKeyNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(v) != 8 {
		return 0, fmt.Errorf("corrupt %s", key)
	}
	return binary.BigEndian.Uint64(v), nil
}

// StoredCheckpoint returns the last signed checkpoint stored in db and the log size it covers,
// without checking its signature (Open does that): tools use it to describe a database before
// any key is at hand, for example a freshly restored backup. An empty log returns (nil, 0, nil).
func StoredCheckpoint(db *badger.DB) (checkpoint []byte, size uint64, err error) {
	err = db.View(func(txn *badger.Txn) error {
		if size, err = readUint64(txn, keySize); err != nil || size == 0 {
			return err
		}
		checkpoint, err = readValue(txn, keyCP)
		return err
	})
	if err != nil {
		return nil, 0, fmt.Errorf("ledger: stored checkpoint: %w", err)
	}
	return checkpoint, size, nil
}
