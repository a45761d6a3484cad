package ledger

import (
	"context"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"
)

type keys struct {
	signer   note.Signer
	verifier note.Verifier
}

func newKeys(t testing.TB) keys {
	t.Helper()
	skey, vkey, err := GenerateKey("test.commons.local/ledger")
	require.NoError(t, err)
	s, err := note.NewSigner(skey)
	require.NoError(t, err)
	v, err := note.NewVerifier(vkey)
	require.NoError(t, err)
	return keys{s, v}
}

func openDB(t testing.TB, dir string) *badger.DB {
	t.Helper()
	db, err := badger.Open(badger.DefaultOptions(dir).WithSyncWrites(true).WithLogger(nil))
	require.NoError(t, err)
	return db
}

func openLog(t testing.TB, db *badger.DB, k keys) *Log {
	t.Helper()
	l, err := Open(db, k.signer, k.verifier, Options{})
	require.NoError(t, err)
	return l
}

func entry(i int) []byte { return fmt.Appendf(nil, `{"type":"test","n":%d}`, i) }

// tempDB opens a database in a new directory; it is closed when the test ends.
func tempDB(t testing.TB) *badger.DB {
	t.Helper()
	db := openDB(t, t.TempDir())
	t.Cleanup(func() { db.Close() })
	return db
}

// newLog opens a log with new keys on a new database; both are closed when the test ends.
func newLog(t testing.TB) (*Log, *badger.DB, keys) {
	t.Helper()
	k, db := newKeys(t), tempDB(t)
	l := openLog(t, db, k)
	t.Cleanup(func() { l.Close() })
	return l, db, k
}

// appendEntries appends entry(0) to entry(n-1), one at a time.
func appendEntries(t testing.TB, l *Log, n int) {
	t.Helper()
	for i := range n {
		_, err := l.Append(context.Background(), entry(i))
		require.NoError(t, err)
	}
}
