package server

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/store"
)

// largeVault stores a vault of copies × size bytes for one resident, written as the node
// writes it (store.PutContribution), and returns the store and the resident's id.
func largeVault(tb testing.TB, copies, size int) (*store.Store, string) {
	tb.Helper()
	core := nodetest.New(tb, nodetest.Options{})
	const citizen = "c-vaultowner"
	day := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := 0; i < copies; {
		var envs []crypto.Envelope
		for ; i < copies && len(envs) < 16; i++ {
			b := make([]byte, size)
			_, err := rand.Read(b)
			require.NoError(tb, err)
			envs = append(envs, crypto.Envelope{Day: day.AddDate(0, 0, i).Format(time.DateOnly), Purpose: crypto.VaultPurpose, Ciphertext: b})
		}
		c := crypto.Contribution{Citizen: citizen, Nonce: fmt.Sprint(i), Envelopes: envs}
		require.NoError(tb, core.Store.PutContribution(context.Background(), c, fmt.Sprint("contribution-", i)))
	}
	return core.Store, citizen
}

// bufferedExport is how the node answered an export before it streamed: every copy read into
// memory, then the whole answer encoded at once. It is the benchmark's baseline.
func bufferedExport(st *store.Store, citizen string) ([]byte, error) {
	type vaultCopy struct {
		Day        string `json:"day"`
		Ciphertext []byte `json:"ciphertext"`
	}
	out := struct {
		Citizen string      `json:"citizen"`
		Copies  []vaultCopy `json:"copies"`
	}{Citizen: citizen, Copies: []vaultCopy{}}
	err := st.VaultCopies(citizen, func(day string, ciphertext []byte) error {
		out.Copies = append(out.Copies, vaultCopy{Day: day, Ciphertext: bytes.Clone(ciphertext)})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return json.Marshal(out)
}

// TestVaultExportStreamsInBoundedMemory exports a 16 MiB vault: the streamed answer is the
// same JSON as the buffered one, and writing it allocates less than a sixteenth of the vault
// (the buffered answer allocated several times the vault). It is not parallel: it reads the
// process's allocation counter, which parallel tests would move.
func TestVaultExportStreamsInBoundedMemory(t *testing.T) {
	const copies, size = 128, 128 << 10
	st, citizen := largeVault(t, copies, size)

	var streamed bytes.Buffer
	w := bufio.NewWriter(&streamed)
	require.NoError(t, writeVault(w, st, citizen))
	buffered, err := bufferedExport(st, citizen)
	require.NoError(t, err)
	assert.JSONEq(t, string(buffered), streamed.String(), "the same answer")

	allocated := func(export func() error) uint64 {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		require.NoError(t, export())
		runtime.ReadMemStats(&after)
		return after.TotalAlloc - before.TotalAlloc
	}
	stream := allocated(func() error { return writeVault(bufio.NewWriter(io.Discard), st, citizen) })
	buffer := allocated(func() error { _, err := bufferedExport(st, citizen); return err })
	t.Logf("a %d MiB vault: streamed export allocated %d KiB, buffered %d KiB (%.0f×)",
		copies*size>>20, stream>>10, buffer>>10, float64(buffer)/float64(max(stream, 1)))
	assert.Less(t, stream, uint64(copies*size/16), "streaming holds one copy at a time")
	assert.Greater(t, buffer, uint64(copies*size), "the baseline held the whole vault")
}

// BenchmarkVaultExport compares the streamed export with the buffered baseline on a 16 MiB
// vault; -benchmem shows the bytes each allocates per export.
func BenchmarkVaultExport(b *testing.B) {
	st, citizen := largeVault(b, 128, 128<<10)
	b.Run("baseline-buffered", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if _, err := bufferedExport(st, citizen); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("streamed", func(b *testing.B) {
		b.ReportAllocs()
		for range b.N {
			if err := writeVault(bufio.NewWriter(io.Discard), st, citizen); err != nil {
				b.Fatal(err)
			}
		}
	})
}
