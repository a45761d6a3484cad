package mirror

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
)

// BenchmarkMirrorCatchUp is a fresh mirror copying a 20,000-entry ledger (entries the size of
// a consent statement, one release) from a source on loopback: the checkpoint, 79 entry
// bundles, the re-hash to the signed root, the Badger writes and the release.
func BenchmarkMirrorCatchUp(b *testing.B) {
	const n, workers = 20000, 100
	k := newKeys(b)
	h := newHistory(b, k, 0, "")
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += workers {
				e, err := api.Entry{Type: api.EntryConsentGrant, Citizen: fmt.Sprintf("c-%040d", i), Purpose: testAir,
					PurposeVersion: 1, IssuedAt: "2026-12-01T10:00:00Z", Nonce: strings.Repeat("n", 32),
					Signature: strings.Repeat("s", 88)}.Marshal()
				if err == nil {
					_, err = h.log.Append(context.Background(), e)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	require.NoError(b, <-errs)
	h.release(b, "2026-12-01", []byte(`{"epoch":"2026-12-01"}`))
	src := newSource(b, k, h)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		m := openMirror(b, tempDB(b), src, b.TempDir(), k.public, io.Discard)
		b.StartTimer()
		require.NoError(b, m.Sync(context.Background()))
		b.StopTimer()
		require.Equal(b, uint64(n+1), m.Ledger().Size())
		b.StartTimer()
	}
	b.ReportMetric(float64(n+1)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}
