package ledger

import (
	"context"
	"encoding/binary"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"
)

// BenchmarkAppend measures durable appends from many concurrent writers. The baselines are what
// a log gets without group commit: one synced Badger transaction per entry, from one writer and
// from as many concurrent writers (Badger then merges some commits itself), on the same disk in
// the same run. `make bench` prints the ratios.
func BenchmarkAppend(b *testing.B) {
	entry := make([]byte, 200)
	b.Run("baseline-serial-synced-txn-per-entry", func(b *testing.B) {
		db := openDB(b, b.TempDir())
		defer db.Close()
		for i := 0; i < b.N; i++ {
			k := binary.BigEndian.AppendUint64([]byte("e/"), uint64(i))
			if err := db.Update(func(txn *badger.Txn) error { return txn.Set(k, entry) }); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("baseline-concurrent-synced-txn-per-entry", func(b *testing.B) {
		db := openDB(b, b.TempDir())
		defer db.Close()
		var next atomic.Uint64
		b.SetParallelism(128)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				k := binary.BigEndian.AppendUint64([]byte("e/"), next.Add(1))
				if err := db.Update(func(txn *badger.Txn) error { return txn.Set(k, entry) }); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("group-commit", func(b *testing.B) {
		k := newKeys(b)
		db := openDB(b, b.TempDir())
		defer db.Close()
		l := openLog(b, db, k)
		defer l.Close()
		b.SetParallelism(128)
		b.ResetTimer()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := l.Append(context.Background(), entry); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
