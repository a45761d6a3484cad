package gateway

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/reading"
)

// snapshot lists every file under dir with its content, to prove ReadOutbox changes nothing.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	require.NoError(t, filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if info.IsDir() {
			out[p] = "dir"
			return nil
		}
		b, err := os.ReadFile(p)
		out[p] = string(b)
		return err
	}))
	return out
}

// TestReadOutboxStatus builds an outbox with the gateway's own code (a signed batch, a closed
// batch, an open batch with a torn tail, a held file, leftovers) and checks ReadOutbox counts
// what the gateway would deliver, agrees with the outbox's own pending count, and writes nothing.
func TestReadOutboxStatus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	o, err := openOutbox(dir, slogDiscard())
	require.NoError(t, err)
	r := reading.Reading{Sensor: "esp8266-1", Cell: "old-town", RecordedAt: time.Now().UTC().Truncate(time.Second),
		Values: reading.Values{PM2_5: reading.F(4.35)}}
	start := time.Now().UTC()
	for range 3 {
		require.NoError(t, o.append(r))
	}
	require.NoError(t, o.cut())
	first := o.batches()[0]
	require.NoError(t, o.saveUpload(first, upload{Uncertain: true}))
	for range 2 {
		require.NoError(t, o.append(r))
	}
	require.NoError(t, o.cut())
	// A batch refused for good goes to held/.
	require.NoError(t, o.append(r))
	require.NoError(t, o.cut())
	bs := o.batches()
	require.NoError(t, o.hold(bs[len(bs)-1], "refused"))
	require.NoError(t, o.append(r)) // the open batch a running gateway appends to
	_, err = o.open.f.WriteString(`{"sensor":"torn`)
	require.NoError(t, err)
	// An acknowledged leftover (upload file without readings) and a temporary file.
	require.NoError(t, os.WriteFile(filepath.Join(dir, batchPrefix+"00000000000000000001"+uploadExt), []byte(`{}`), 0o600))
	require.NoError(t, os.WriteFile(filepath.Join(dir, "x"+uploadExt+tmpExt), []byte(`partial`), 0o600))

	readings, _ := o.pending()
	before := snapshot(t, dir)
	st, err := ReadOutbox(dir)
	require.NoError(t, err)
	assert.Equal(t, before, snapshot(t, dir), "ReadOutbox is read-only")
	assert.Equal(t, 3, st.Batches, "signed, closed and open batches")
	assert.Equal(t, 6, st.Readings, "3+2+1, not the torn line")
	assert.Equal(t, readings, st.Readings, "the same count as the gateway's own")
	assert.Equal(t, 1, st.Signed)
	assert.Equal(t, 1, st.Held)
	assert.Zero(t, st.Damaged)
	assert.WithinDuration(t, start, st.Oldest, time.Minute)

	// A damaged batch is counted apart; the gateway quarantines it on its next start.
	require.NoError(t, os.WriteFile(filepath.Join(dir, batchPrefix+"00000000000000000002"+readingsExt), []byte("not json\n"), 0o600))
	st, err = ReadOutbox(dir)
	require.NoError(t, err)
	assert.Equal(t, 1, st.Damaged)
	assert.Equal(t, 3, st.Batches)

	_, err = ReadOutbox(filepath.Join(dir, "missing"))
	assert.ErrorIs(t, err, os.ErrNotExist)
	empty, err := ReadOutbox(t.TempDir())
	require.NoError(t, err)
	assert.Equal(t, OutboxStatus{}, empty)
}
