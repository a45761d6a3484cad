// Package witness has the ledger's checkpoints cosigned by witnesses: it submits each new
// checkpoint with its consistency proof to every witness the operator trusts (the C2SP
// tlog-witness protocol), keeps the latest checkpoint with the cosignatures gathered, and
// verifies cosignatures (C2SP tlog-cosignature). A witness refuses a checkpoint that does not
// extend the last one it cosigned, so a node cannot show two histories to two people without
// one of them missing the witnesses' cosignatures.
package witness

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/mod/sumdb/note"
)

// algCosignatureV1 is the signature algorithm byte of a tlog-cosignature/v1 key.
const algCosignatureV1 = 0x04

// cosignatureVerifier verifies tlog-cosignature/v1 signatures: a timestamp and an Ed25519
// signature over "cosignature/v1\ntime <t>\n" and the checkpoint.
type cosignatureVerifier struct {
	name string
	hash uint32
	key  ed25519.PublicKey
}

func (v *cosignatureVerifier) Name() string    { return v.name }
func (v *cosignatureVerifier) KeyHash() uint32 { return v.hash }
func (v *cosignatureVerifier) Verify(msg, sig []byte) bool {
	if len(sig) != 8+ed25519.SignatureSize {
		return false
	}
	t := binary.BigEndian.Uint64(sig)
	m := fmt.Appendf(nil, "cosignature/v1\ntime %d\n%s", t, msg)
	return ed25519.Verify(v.key, m, sig[8:])
}

// ParseVerifier parses a witness's verifier key, "<name>+<hash>+<base64 of 0x04 and its
// Ed25519 public key>" (c2sp.org/signed-note, c2sp.org/tlog-cosignature).
func ParseVerifier(vkey string) (note.Verifier, error) {
	name, rest, ok1 := strings.Cut(vkey, "+")
	hash16, key64, ok2 := strings.Cut(rest, "+")
	hash, err1 := strconv.ParseUint(hash16, 16, 32)
	key, err2 := base64.StdEncoding.DecodeString(key64)
	if !ok1 || !ok2 || name == "" || strings.ContainsAny(name, " \t\n") || len(hash16) != 8 || err1 != nil || err2 != nil {
		return nil, fmt.Errorf("witness: %q is not a verifier key (name+hash+key)", vkey)
	}
	if len(key) != 1+ed25519.PublicKeySize || key[0] != algCosignatureV1 {
		return nil, fmt.Errorf("witness: %s: not a tlog-cosignature/v1 Ed25519 key", name)
	}
	h := sha256.New()
	h.Write([]byte(name + "\n"))
	h.Write(key)
	if uint32(hash) != binary.BigEndian.Uint32(h.Sum(nil)) {
		return nil, fmt.Errorf("witness: %s: the key hash does not match the key", name)
	}
	return &cosignatureVerifier{name: name, hash: uint32(hash), key: ed25519.PublicKey(key[1:])}, nil
}

// Witness is one witness the operator trusts.
type Witness struct {
	// URL is its tlog-witness base URL: checkpoints are posted to URL + "/add-checkpoint".
	URL string
	// Verifier checks its cosignatures; its name is the witness's name.
	Verifier note.Verifier
}

// ParseWitness parses the operator's "URL=VKEY" naming of a witness.
func ParseWitness(s string) (Witness, error) {
	url, vkey, ok := strings.Cut(s, "=")
	if !ok || !(strings.HasPrefix(url, "http://") || strings.HasPrefix(url, "https://")) {
		return Witness{}, fmt.Errorf("witness: %q: want URL=VERIFIER-KEY, the URL http:// or https://", s)
	}
	v, err := ParseVerifier(vkey)
	if err != nil {
		return Witness{}, err
	}
	return Witness{URL: strings.TrimSuffix(url, "/"), Verifier: v}, nil
}

// Log is what the cosigner reads of the ledger.
type Log interface {
	// Checkpoint is the latest signed checkpoint and the size it commits to.
	Checkpoint() ([]byte, uint64)
	// ConsistencyProof proves that the tree of size to extends the tree of size from.
	ConsistencyProof(from, to uint64) ([][]byte, error)
}

// Cosigner gathers cosignatures of the log's checkpoints. It is safe for concurrent use.
type Cosigner struct {
	log       Log
	witnesses []Witness
	client    *http.Client
	logger    *slog.Logger

	mu       sync.Mutex // guards the fields below
	known    []uint64   // per witness, the size it last cosigned (as far as this node knows)
	cosigned []byte     // the latest checkpoint with its cosignatures
	count    int        // how many witnesses cosigned it
}

// New returns a cosigner of log's checkpoints by witnesses. The client's timeout bounds each
// submission.
func New(log Log, witnesses []Witness, client *http.Client, logger *slog.Logger) *Cosigner {
	return &Cosigner{log: log, witnesses: witnesses, client: client, logger: logger, known: make([]uint64, len(witnesses))}
}

// Cosigned returns the latest checkpoint that witnesses cosigned, with their cosignatures
// after the node's signature, and how many witnesses signed it; nil before the first.
func (c *Cosigner) Cosigned() ([]byte, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.cosigned, c.count
}

// Run submits the log's checkpoint each time it has grown, at most once every interval, until
// ctx ends. A witness that fails is tried again at the next round.
func (c *Cosigner) Run(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var last uint64
	for {
		if _, size := c.log.Checkpoint(); size != last {
			if _, err := c.Cosign(ctx); err == nil {
				last = size
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// Cosign submits the log's current checkpoint to every witness and keeps the cosignatures
// they return. It returns how many cosigned it, and an error naming the witnesses that did
// not (each is logged).
func (c *Cosigner) Cosign(ctx context.Context) (int, error) {
	signed, size := c.log.Checkpoint()
	if size == 0 {
		return 0, errors.New("witness: the log is empty: nothing to cosign")
	}
	lines := make([][]byte, len(c.witnesses))
	errs := make([]error, len(c.witnesses))
	var wg sync.WaitGroup
	for i := range c.witnesses {
		wg.Go(func() { lines[i], errs[i] = c.submit(ctx, i, signed, size) })
	}
	wg.Wait()
	cosigned := bytes.Clone(signed)
	n := 0
	for i, line := range lines {
		if errs[i] != nil {
			c.logger.Warn("witness: checkpoint not cosigned", "witness", c.witnesses[i].Verifier.Name(), "size", size, "err", errs[i])
			continue
		}
		cosigned = append(cosigned, line...)
		n++
	}
	if n > 0 {
		c.mu.Lock()
		c.cosigned, c.count = cosigned, n
		c.mu.Unlock()
		c.logger.Debug("witness: checkpoint cosigned", "size", size, "cosignatures", n)
	}
	return n, errors.Join(errs...)
}

// maxResponse bounds what a witness may answer.
const maxResponse = 64 << 10

// submit posts the checkpoint of size to witness i with a consistency proof from the size it
// knows, learning that size from a 409 answer once, and returns its verified cosignature line.
func (c *Cosigner) submit(ctx context.Context, i int, signed []byte, size uint64) ([]byte, error) {
	w := c.witnesses[i]
	c.mu.Lock()
	old := c.known[i]
	c.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if old > size {
			return nil, fmt.Errorf("witness %s knows a larger tree (%d) than this log's (%d): this node's history was rolled back", w.Verifier.Name(), old, size)
		}
		var proof [][]byte
		if old > 0 && old < size {
			p, err := c.log.ConsistencyProof(old, size)
			if err != nil {
				return nil, fmt.Errorf("witness %s: proof from %d to %d: %w", w.Verifier.Name(), old, size, err)
			}
			proof = p
		}
		body := fmt.Appendf(nil, "old %d\n", old)
		for _, h := range proof {
			body = append(body, base64.StdEncoding.EncodeToString(h)+"\n"...)
		}
		body = append(append(body, '\n'), signed...)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL+"/add-checkpoint", bytes.NewReader(body))
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", w.Verifier.Name(), err)
		}
		resp, err := c.client.Do(req)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", w.Verifier.Name(), err)
		}
		answer, err := io.ReadAll(io.LimitReader(resp.Body, maxResponse))
		resp.Body.Close()
		if err != nil {
			return nil, fmt.Errorf("witness %s: read answer: %w", w.Verifier.Name(), err)
		}
		switch {
		case resp.StatusCode == http.StatusConflict && attempt == 0:
			known, err := strconv.ParseUint(strings.TrimSpace(string(answer)), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("witness %s: 409 without a tree size: %q", w.Verifier.Name(), firstLine(answer))
			}
			old = known
			continue
		case resp.StatusCode != http.StatusOK:
			return nil, fmt.Errorf("witness %s answered %s: %s", w.Verifier.Name(), resp.Status, firstLine(answer))
		}
		line, err := verifiedLine(signed, answer, w.Verifier)
		if err != nil {
			return nil, fmt.Errorf("witness %s: %w", w.Verifier.Name(), err)
		}
		c.mu.Lock()
		c.known[i] = size
		c.mu.Unlock()
		return line, nil
	}
}

// verifiedLine returns the one signature line of answer made by v over the checkpoint.
func verifiedLine(signed, answer []byte, v note.Verifier) ([]byte, error) {
	for line := range bytes.Lines(answer) {
		n, err := note.Open(append(bytes.Clone(signed), line...), note.VerifierList(v))
		if err != nil {
			continue
		}
		for _, s := range n.Sigs {
			if s.Name == v.Name() && s.Hash == v.KeyHash() {
				return line, nil
			}
		}
	}
	return nil, fmt.Errorf("no valid cosignature in its answer %q", firstLine(answer))
}

func firstLine(b []byte) string {
	line, _, _ := bytes.Cut(b, []byte("\n"))
	return string(line[:min(len(line), 200)])
}

// Count returns how many of the witnesses (their verifiers) validly cosigned the checkpoint
// note cosigned, after checking the log's own signature with logVerifier.
func Count(cosigned []byte, logVerifier note.Verifier, witnesses []note.Verifier) (int, error) {
	n, err := note.Open(cosigned, note.VerifierList(append([]note.Verifier{logVerifier}, witnesses...)...))
	if err != nil {
		return 0, fmt.Errorf("witness: open cosigned checkpoint: %w", err)
	}
	logSigned := false
	seen := map[string]bool{}
	for _, s := range n.Sigs {
		if s.Name == logVerifier.Name() && s.Hash == logVerifier.KeyHash() {
			logSigned = true
			continue
		}
		seen[s.Name+"+"+strconv.FormatUint(uint64(s.Hash), 16)] = true
	}
	if !logSigned {
		return 0, errors.New("witness: the cosigned checkpoint lacks the log's own signature")
	}
	return len(seen), nil
}
