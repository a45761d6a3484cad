package state

import (
	"context"
	"encoding/binary"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
)

const (
	millionEntries  = 1_000_000
	millionCitizens = 10_000
)

// million is a ledger of a million realistic entries (registrations, then consents granted
// and withdrawn), built once per benchmark run.
type million struct {
	dir      string
	signer   note.Signer
	verifier note.Verifier
	took     time.Duration
}

// buildMillion appends a million entries with 256 concurrent writers into a Badger in dir.
func buildMillion(dir string) (*million, error) {
	m := &million{dir: dir}
	skey, vkey, err := ledger.GenerateKey("bench.commons.localhost/ledger")
	if err != nil {
		return nil, err
	}
	if m.signer, err = note.NewSigner(skey); err != nil {
		return nil, err
	}
	if m.verifier, err = note.NewVerifier(vkey); err != nil {
		return nil, err
	}
	db, err := badger.Open(badger.DefaultOptions(m.dir).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		return nil, err
	}
	defer db.Close()
	l, err := ledger.Open(db, m.signer, m.verifier, ledger.Options{})
	if err != nil {
		return nil, err
	}
	defer l.Close()
	citizens := make([]api.Entry, millionCitizens)
	for i := range citizens {
		w, err := crypto.NewWallet()
		if err != nil {
			return nil, err
		}
		citizens[i] = api.Entry{Type: api.EntryRegister, Citizen: w.CitizenID(),
			SigningKey: crypto.EncodeKey(w.SigningPublicKey()), Recipient: w.Recipient().String(),
			Hash: Hash([]byte(w.CitizenID())), IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()}
	}
	start := time.Now()
	next := make(chan int, 1024)
	errs := make(chan error, 256)
	var wg sync.WaitGroup
	for w := 0; w < 256; w++ {
		wg.Go(func() {
			for i := range next {
				e := citizens[i%millionCitizens]
				if i >= millionCitizens {
					typ := api.EntryConsentGrant
					if (i/millionCitizens)%2 == 0 {
						typ = api.EntryConsentRevoke
					}
					e = api.Entry{Type: typ, Citizen: e.Citizen, Purpose: "air-quality/daily", PurposeVersion: 1,
						IssuedAt: e.IssuedAt, Nonce: crypto.NewNonce(), Signature: "c2ln"}
				}
				b, err := e.Marshal()
				if err == nil {
					_, err = l.Append(context.Background(), b)
				}
				if err != nil {
					errs <- err
					return
				}
			}
		})
	}
	for i := 0; i < millionEntries; i++ {
		next <- i
	}
	close(next)
	wg.Wait()
	select {
	case err := <-errs:
		return nil, err
	default:
	}
	m.took = time.Since(start)
	return m, nil
}

// BenchmarkMillion measures, on a ledger of a million entries: inclusion proofs for random
// entries (p99 reported), and a start-up — open the log, check its root against the signed
// checkpoint, replay every entry into a fresh read model. The baseline is one random Badger
// read of a tree node, measured in the same run.
func BenchmarkMillion(b *testing.B) {
	m, err := buildMillion(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("built %d entries with group commit in %s (%.0f/s)", millionEntries, m.took, millionEntries/m.took.Seconds())
	db, err := badger.Open(badger.DefaultOptions(m.dir).WithSyncWrites(true).WithLogger(nil))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	rng := rand.New(rand.NewPCG(1, 1))

	b.Run("baseline-badger-get", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			k := binary.BigEndian.AppendUint64([]byte("l/n/\x00"), rng.Uint64N(millionEntries))
			if err := db.View(func(txn *badger.Txn) error {
				item, err := txn.Get(k)
				if err != nil {
					return err
				}
				_, err = item.ValueCopy(nil)
				return err
			}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("inclusion-proof", func(b *testing.B) {
		l, err := ledger.Open(db, m.signer, m.verifier, ledger.Options{})
		if err != nil {
			b.Fatal(err)
		}
		defer l.Close()
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			if _, err := l.InclusionProof(rng.Uint64N(millionEntries), millionEntries); err != nil {
				b.Fatal(err)
			}
			lat = append(lat, time.Since(start))
		}
		b.StopTimer()
		slices.Sort(lat)
		b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	})
	b.Run("startup-open-and-replay", func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			st, err := New(slog.New(slog.DiscardHandler))
			if err != nil {
				b.Fatal(err)
			}
			l, err := ledger.Open(db, m.signer, m.verifier, ledger.Options{Apply: st.ApplyBatch})
			if err != nil {
				b.Fatal(err)
			}
			if err := st.Replay(context.Background(), l); err != nil {
				b.Fatal(err)
			}
			if st.CitizenCount() != millionCitizens {
				b.Fatalf("replayed %d citizens", st.CitizenCount())
			}
			l.Close()
		}
	})
}
