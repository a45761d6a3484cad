package client

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/commons-city/commons/reading"
)

// digestSize is the length of a reading's digest in the journal: 96 bits keep accidental
// collisions out of reach for any one resident's history while the journal stays small.
const digestSize = 12

type digest [digestSize]byte

// Journal remembers, on the resident's own disk, which readings the server has acknowledged,
// so that an interrupted import resumes where it stopped and a file imported twice is not
// uploaded twice. It holds one line per reading: the hex of a truncated SHA-256 of the
// reading's JSON. The digests are only as private as the readings they hash; the journal lives
// beside the wallet.
type Journal struct {
	f    *os.File
	seen map[digest]struct{}
}

// OpenJournal opens (or creates, mode 0600) the journal at path and reads what it holds. A
// torn last line, left by a crash during a write, is ignored: its readings were not yet
// recorded, so they are sent again.
func OpenJournal(path string) (*Journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("client: journal: %w", err)
	}
	j := &Journal{f: f, seen: map[digest]struct{}{}}
	r := bufio.NewReader(f)
	var good int64
	for {
		// Only a line with its newline is whole: a write torn before the newline is dropped,
		// even when its digest made it to the disk.
		line, err := r.ReadSlice('\n')
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, bufio.ErrBufferFull) {
				f.Close()
				return nil, fmt.Errorf("client: journal: read: %w", err)
			}
			break
		}
		var d digest
		if len(line) != 2*digestSize+1 {
			break
		}
		if _, err := hex.Decode(d[:], line[:2*digestSize]); err != nil {
			break
		}
		j.seen[d] = struct{}{}
		good += int64(len(line))
	}
	// Drop anything after the last whole line, so new lines start clean.
	if err := f.Truncate(good); err != nil {
		f.Close()
		return nil, fmt.Errorf("client: journal: %w", err)
	}
	if _, err := f.Seek(good, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("client: journal: %w", err)
	}
	return j, nil
}

func digestOf(r reading.Reading) digest {
	b, err := json.Marshal(r)
	if err != nil {
		// A Reading is plain data; Marshal cannot fail on it.
		panic(fmt.Sprintf("client: journal: marshal reading: %v", err))
	}
	sum := sha256.Sum256(b)
	var d digest
	copy(d[:], sum[:])
	return d
}

// Len is the number of readings recorded as acknowledged.
func (j *Journal) Len() int { return len(j.seen) }

// Split returns the readings not yet acknowledged, in their order, and how many were skipped.
// A reading listed twice among rs is kept once.
func (j *Journal) Split(rs []reading.Reading) (todo []reading.Reading, skipped int) {
	batch := map[digest]struct{}{}
	for _, r := range rs {
		d := digestOf(r)
		if _, ok := j.seen[d]; ok {
			skipped++
			continue
		}
		if _, ok := batch[d]; ok {
			skipped++
			continue
		}
		batch[d] = struct{}{}
		todo = append(todo, r)
	}
	return todo, skipped
}

// Record notes readings as acknowledged and syncs the journal to disk before returning.
func (j *Journal) Record(rs []reading.Reading) error {
	buf := make([]byte, 0, len(rs)*(2*digestSize+1))
	for _, r := range rs {
		d := digestOf(r)
		j.seen[d] = struct{}{}
		buf = hex.AppendEncode(buf, d[:])
		buf = append(buf, '\n')
	}
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("client: journal: write: %w", err)
	}
	if err := j.f.Sync(); err != nil {
		return fmt.Errorf("client: journal: sync: %w", err)
	}
	return nil
}

// Close closes the journal file.
func (j *Journal) Close() error { return j.f.Close() }
