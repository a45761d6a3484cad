package witness_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"filippo.io/torchwood"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
	"golang.org/x/mod/sumdb/tlog"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/witness"
)

// newSigner is a witness key made by torchwood, the reference implementation of
// tlog-cosignature, against which this package's verifier is checked.
func newSigner(t *testing.T, name string) *torchwood.CosignatureSigner {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	s, err := torchwood.NewCosignatureSigner(name, key)
	require.NoError(t, err)
	return s
}

func TestParseVerifierChecksTorchwoodCosignatures(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "witness.example/w1")
	v, err := witness.ParseVerifier(s.Verifier().String())
	require.NoError(t, err)
	assert.Equal(t, "witness.example/w1", v.Name())
	assert.Equal(t, s.KeyHash(), v.KeyHash())

	checkpoint := []byte("log.example/ledger\n3\n" + base64.StdEncoding.EncodeToString(make([]byte, 32)) + "\n")
	sig, err := s.Sign(checkpoint)
	require.NoError(t, err)
	assert.True(t, v.Verify(checkpoint, sig))
	other := bytes.Replace(checkpoint, []byte("\n3\n"), []byte("\n4\n"), 1)
	assert.False(t, v.Verify(other, sig), "a cosignature covers its checkpoint only")

	for _, bad := range []string{"", "name", "name+0000+AA==", s.Verifier().String() + "x",
		strings.Replace(s.Verifier().String(), "+", "+0", 1)} {
		_, err := witness.ParseVerifier(bad)
		assert.Error(t, err, bad)
	}
	// A plain Ed25519 note key (algorithm 1) is not a cosignature key.
	_, vkey, err := note.GenerateKey(rand.Reader, "log.example/ledger")
	require.NoError(t, err)
	_, err = witness.ParseVerifier(vkey)
	assert.ErrorContains(t, err, "not a tlog-cosignature/v1 Ed25519 key")
}

// testWitness speaks tlog-witness for one log, cosigning with torchwood's signer: it keeps
// the size it last cosigned, answers 409 with it when told another, and checks proofs.
type testWitness struct {
	t      *testing.T
	signer *torchwood.CosignatureSigner
	log    note.Verifier
	refuse bool

	mu   sync.Mutex
	size int64
	hash tlog.Hash
}

func (w *testWitness) ServeHTTP(rw http.ResponseWriter, r *http.Request) {
	w.mu.Lock()
	defer w.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	head, signed, _ := bytes.Cut(body, []byte("\n\n"))
	lines := strings.Split(string(head), "\n")
	old, _ := strconv.ParseInt(strings.TrimPrefix(lines[0], "old "), 10, 64)
	if w.refuse {
		http.Error(rw, "bad consistency proof", http.StatusUnprocessableEntity)
		return
	}
	if old != w.size {
		rw.WriteHeader(http.StatusConflict)
		fmt.Fprintf(rw, "%d\n", w.size)
		return
	}
	n, err := note.Open(signed, note.VerifierList(w.log))
	require.NoError(w.t, err)
	c, err := torchwood.ParseCheckpoint(n.Text)
	require.NoError(w.t, err)
	if old > 0 && old < c.N {
		var proof tlog.TreeProof
		for _, l := range lines[1:] {
			h, err := tlog.ParseHash(l)
			require.NoError(w.t, err)
			proof = append(proof, h)
		}
		if tlog.CheckTree(proof, c.N, c.Hash, old, w.hash) != nil {
			http.Error(rw, "bad consistency proof", http.StatusUnprocessableEntity)
			return
		}
	}
	w.size, w.hash = c.N, c.Hash
	cosigned, err := note.Sign(&note.Note{Text: n.Text}, w.signer)
	require.NoError(w.t, err)
	_, sigs, _ := bytes.Cut(cosigned, []byte("\n\n"))
	rw.Write(sigs)
}

func TestCosignerGathersCosignaturesAsTheLogGrows(t *testing.T) {
	t.Parallel()
	core := nodetest.New(t, nodetest.Options{})
	ctx := context.Background()
	w1 := &testWitness{t: t, signer: newSigner(t, "w1.example/witness"), log: core.Verifier}
	w2 := &testWitness{t: t, signer: newSigner(t, "w2.example/witness"), log: core.Verifier}
	refusing := &testWitness{t: t, signer: newSigner(t, "w3.example/witness"), log: core.Verifier, refuse: true}
	var ws []witness.Witness
	var keys []note.Verifier
	for _, w := range []*testWitness{w1, w2, refusing} {
		srv := httptest.NewServer(w)
		t.Cleanup(srv.Close)
		v, err := witness.ParseVerifier(w.signer.Verifier().String())
		require.NoError(t, err)
		ws = append(ws, witness.Witness{URL: srv.URL, Verifier: v})
		keys = append(keys, v)
	}
	logs := &nodetest.Logs{}
	c := witness.New(core.Ledger, ws, http.DefaultClient, logs.Logger())
	cosigned, n := c.Cosigned()
	assert.Nil(t, cosigned)
	assert.Zero(t, n)

	for i := range 7 {
		core.Append(t, api.Entry{Type: api.EntryInvite, Hash: fmt.Sprintf("%064d", i)})
	}
	// w2 cosigns size 7 for an earlier run of the node (another Cosigner: a restart forgets).
	n, err := witness.New(core.Ledger, ws[1:2], http.DefaultClient, logs.Logger()).Cosign(ctx)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	for i := range 3 {
		core.Append(t, api.Entry{Type: api.EntryInvite, Hash: fmt.Sprintf("%064d", 10+i)})
	}
	// This cosigner tells w2 it knows nothing (old 0): w2 answers 409 with 7, and the cosigner
	// proves 7 → 10.
	n, err = c.Cosign(ctx)
	assert.Equal(t, 2, n)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "w3.example/witness answered 422")
	assert.Contains(t, logs.String(), "witness: checkpoint not cosigned")

	for i := range 5 {
		core.Append(t, api.Entry{Type: api.EntryInvite, Hash: fmt.Sprintf("%064d", 100+i)})
	}
	n, _ = c.Cosign(ctx)
	assert.Equal(t, 2, n, "both honest witnesses cosign the grown log, with a proof from what they knew")
	cosigned, n = c.Cosigned()
	assert.Equal(t, 2, n)
	got, err := witness.Count(cosigned, core.Verifier, keys)
	require.NoError(t, err)
	assert.Equal(t, 2, got)
	assert.Contains(t, string(cosigned), "\n15\n", "the latest checkpoint")

	// A cosigned checkpoint counted with the wrong log key is refused.
	_, otherLog, err := note.GenerateKey(rand.Reader, core.Ledger.Origin())
	require.NoError(t, err)
	other, err := note.NewVerifier(otherLog)
	require.NoError(t, err)
	_, err = witness.Count(cosigned, other, keys)
	assert.Error(t, err)
}

func TestParseWitness(t *testing.T) {
	t.Parallel()
	s := newSigner(t, "w.example/witness")
	w, err := witness.ParseWitness("http://127.0.0.1:7380/=" + s.Verifier().String())
	require.NoError(t, err)
	assert.Equal(t, "http://127.0.0.1:7380", w.URL)
	assert.Equal(t, "w.example/witness", w.Verifier.Name())
	for _, bad := range []string{"http://x", "ftp://x=" + s.Verifier().String(), "http://x=nokey"} {
		_, err := witness.ParseWitness(bad)
		assert.Error(t, err, bad)
	}
}
