package client

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/reading"
)

func journalReadings(n int) []reading.Reading {
	t0 := time.Date(2026, 10, 1, 0, 0, 0, 0, time.UTC)
	rs := make([]reading.Reading, n)
	for i := range rs {
		rs[i] = reading.Reading{Sensor: "s", RecordedAt: t0.Add(time.Duration(i) * time.Hour), Cell: "old-town",
			Values: reading.Values{PM2_5: reading.F(float64(i))}}
	}
	return rs
}

// record opens the journal at path, records rs and closes it again.
func record(t *testing.T, path string, rs []reading.Reading) {
	t.Helper()
	j, err := OpenJournal(path)
	require.NoError(t, err)
	require.NoError(t, j.Record(rs))
	require.NoError(t, j.Close())
}

// reopen opens the journal at path for the rest of the test.
func reopen(t *testing.T, path string) *Journal {
	t.Helper()
	j, err := OpenJournal(path)
	require.NoError(t, err)
	t.Cleanup(func() { j.Close() })
	return j
}

func TestJournalRemembersAcknowledgedReadingsAcrossOpens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wallet.imported")
	rs := journalReadings(10)
	j, err := OpenJournal(path)
	require.NoError(t, err)
	todo, skipped := j.Split(rs)
	assert.Len(t, todo, 10)
	assert.Zero(t, skipped)
	require.NoError(t, j.Record(rs[:4]))
	require.NoError(t, j.Close())

	st, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), st.Mode().Perm())

	j = reopen(t, path)
	assert.Equal(t, 4, j.Len())
	todo, skipped = j.Split(append(rs, rs[7])) // a reading listed twice is sent once
	assert.Equal(t, rs[4:], todo)
	assert.Equal(t, 5, skipped)

	changed := rs[0]
	changed.Values.PM2_5 = reading.F(99)
	todo, _ = j.Split([]reading.Reading{changed})
	assert.Len(t, todo, 1, "a reading with another value is another reading")
}

func TestJournalIgnoresATornLastLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wallet.imported")
	rs := journalReadings(3)
	record(t, path, rs[:2])
	// A crash in the middle of a write leaves half a line.
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	require.NoError(t, err)
	_, err = f.WriteString("0123abcd")
	require.NoError(t, err)
	require.NoError(t, f.Close())

	j, err := OpenJournal(path)
	require.NoError(t, err)
	assert.Equal(t, 2, j.Len())
	require.NoError(t, j.Record(rs[2:]))
	require.NoError(t, j.Close())

	assert.Equal(t, 3, reopen(t, path).Len(), "the next record starts on a clean line")
}

// TestJournalTornBeforeItsNewline tears a write after a whole digest but before its newline:
// the journal must not count a byte past the end of the file, or the next records would be
// glued to a NUL byte and lost at the following open (their readings uploaded again).
func TestJournalTornBeforeItsNewline(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "wallet.imported")
	rs := journalReadings(4)
	record(t, path, rs[:3])
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b[:len(b)-1], 0o600)) // the last newline never reached the disk

	record(t, path, rs[3:])
	b, err = os.ReadFile(path)
	require.NoError(t, err)
	assert.NotContains(t, string(b), "\x00")

	todo, _ := reopen(t, path).Split(rs)
	assert.Len(t, todo, 1, "only the reading whose line was torn is sent again")
}
