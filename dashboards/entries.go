package dashboards

import (
	"context"
	"fmt"
	"strconv"
	"sync"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/ledger"
)

// releaseEntries finds the ledger entry of each release of one purpose, reading the public log
// once and then only the entries appended since. Entries never change, so neither do indexes.
type releaseEntries struct {
	purpose string

	mu      sync.Mutex
	scanned uint64
	index   map[string]uint64 // ledger epoch → entry index
}

// find returns the index of the release.publish entry of epoch, if it is logged.
func (r *releaseEntries) find(ctx context.Context, lg *ledger.Log, epoch string) (uint64, bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, ok := r.index[epoch]; ok {
		return i, true, nil
	}
	size := lg.Size()
	if size > r.scanned {
		err := lg.Scan(ctx, r.scanned, size, func(i uint64, b []byte) error {
			if e, err := api.ParseEntry(b); err == nil && e.Type == api.EntryRelease && e.Purpose == r.purpose {
				r.index[e.Epoch] = i
			}
			return nil
		})
		if err != nil {
			return 0, false, fmt.Errorf("find release entry: %w", err)
		}
		r.scanned = size
	}
	i, ok := r.index[epoch]
	return i, ok, nil
}

// entryURL is where anyone fetches the exact bytes of a ledger entry.
func entryURL(i uint64) string { return "/api/v1/ledger/entries/" + strconv.FormatUint(i, 10) }
