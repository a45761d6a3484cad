package store_test

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/store"
)

// BenchmarkPutContribution measures durable contributions (a share copy and a vault copy of
// 600 bytes each) from 128 concurrent residents. The baseline is one synced Badger
// transaction per contribution, from as many writers, on the same disk in the same run;
// "with-appends" sends every other request as a ledger append instead, as a busy node does.
func BenchmarkPutContribution(b *testing.B) {
	sealed := make([]byte, 600)
	contribution := func(i uint64) crypto.Contribution {
		c := fmt.Sprintf("c-%d", i%128)
		return crypto.Contribution{Citizen: c, Nonce: fmt.Sprint(i), Envelopes: []crypto.Envelope{
			{Day: day1, Purpose: air, Ciphertext: sealed}, {Day: day1, Purpose: crypto.VaultPurpose, Ciphertext: sealed},
		}}
	}
	b.Run("baseline-concurrent-synced-txn-per-contribution", func(b *testing.B) {
		db := openBenchDB(b)
		runResidents(b, func(i uint64) error {
			return db.Update(func(txn *badger.Txn) error {
				for j := range 3 {
					if err := txn.Set(fmt.Appendf(nil, "bench/%d/%d", i, j), sealed); err != nil {
						return err
					}
				}
				return nil
			})
		})
	})
	b.Run("group-commit", func(b *testing.B) {
		s, _ := openBenchStore(b)
		runResidents(b, func(i uint64) error {
			return s.PutContribution(context.Background(), contribution(i), fmt.Sprint(i))
		})
	})
	b.Run("group-commit-with-appends", func(b *testing.B) {
		s, lg := openBenchStore(b)
		entry := make([]byte, 200)
		runResidents(b, func(i uint64) error {
			if i%2 == 0 {
				return s.PutContribution(context.Background(), contribution(i), fmt.Sprint(i))
			}
			_, err := lg.Append(context.Background(), entry)
			return err
		})
	})
}

// runResidents runs op from 128 concurrent writers, as many residents uploading at once, each
// call with the next number from 1, and fails the benchmark on the first error.
func runResidents(b *testing.B, op func(i uint64) error) {
	var next atomic.Uint64
	b.SetParallelism(128)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := op(next.Add(1)); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

// openBenchDB opens a synced Badger database, as a node does.
func openBenchDB(b *testing.B) *badger.DB {
	b.Helper()
	db, err := store.OpenBadger(store.Options{Dir: b.TempDir(), Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	return db
}

// openBenchStore opens a store and a ledger on one synced Badger database.
func openBenchStore(b *testing.B) (*store.Store, *ledger.Log) {
	b.Helper()
	c := nodetest.New(b, nodetest.Options{Origin: "bench.commons.local/ledger", Synced: true})
	return c.Store, c.Ledger
}
