package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/ledger/state"
)

// BenchmarkStatementsHTTP measures signed consent statements posted over loopback HTTP to the
// real server by 128 concurrent clients: each is verified, appended to the ledger durably and
// answered with a receipt. The baseline, measured in the same run, is how fast this machine
// can only verify the Ed25519 signatures — the floor of any server that checks them.
func BenchmarkStatementsHTTP(b *testing.B) {
	w, err := crypto.NewWallet()
	if err != nil {
		b.Fatal(err)
	}
	signed, err := w.SignStatement(crypto.Statement{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily",
		PurposeVersion: 1, IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-ed25519-verify", func(b *testing.B) {
		pub := w.SigningPublicKey()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := signed.Verify(pub); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("http-durable-statement", func(b *testing.B) {
		data := b.TempDir()
		n := startNode(b, data, &syncBuffer{})
		token, err := os.ReadFile(filepath.Join(data, "admin.token"))
		if err != nil {
			b.Fatal(err)
		}
		ctx := context.Background()
		c := client.New(n.url)
		const clients = 128
		c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: clients}
		invites, err := c.Invites(ctx, strings.TrimSpace(string(token)), clients)
		if err != nil {
			b.Fatal(err)
		}
		air, err := c.Purpose(ctx, "air-quality/daily")
		if err != nil {
			b.Fatal(err)
		}
		wallets := make([]*crypto.Wallet, clients)
		for i := range wallets {
			if wallets[i], err = crypto.NewWallet(); err != nil {
				b.Fatal(err)
			}
			if _, err := c.Register(ctx, wallets[i], invites[i], "old-town"); err != nil {
				b.Fatal(err)
			}
		}
		var next atomic.Int64
		var mu sync.Mutex
		var latencies []time.Duration
		b.ResetTimer()
		var wg sync.WaitGroup
		for i := range wallets {
			wg.Go(func() {
				granted := false
				var mine []time.Duration
				for next.Add(1) <= int64(b.N) {
					start := time.Now()
					var err error
					if granted {
						_, err = c.Revoke(ctx, wallets[i], air, false)
					} else {
						_, err = c.Grant(ctx, wallets[i], air)
					}
					if err != nil {
						b.Error(err)
						return
					}
					mine = append(mine, time.Since(start))
					granted = !granted
				}
				mu.Lock()
				latencies = append(latencies, mine...)
				mu.Unlock()
			})
		}
		wg.Wait()
		b.StopTimer()
		slices.Sort(latencies)
		if len(latencies) > 0 {
			b.ReportMetric(float64(latencies[len(latencies)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(latencies[len(latencies)*99/100].Microseconds())/1000, "p99-ms")
		}
	})
}

// petitionSigners is the viral petition of issue #5: this many signatures, all at once.
const petitionSigners = 10_000

// BenchmarkPetitionSignaturesHTTP signs one petition 10,000 times over loopback HTTP, from 128
// concurrent clients, on the real server: every signature is verified, bound privately to its
// resident, appended durably and answered with a receipt. The statements are signed before
// the clock starts, so the figure is the server's. After the run the count must be exactly
// 10,000, and still be after a restart (the read model replayed from the ledger). The baseline,
// measured in the same run, is this machine's raw Ed25519 verification rate.
func BenchmarkPetitionSignaturesHTTP(b *testing.B) {
	w, err := crypto.NewWallet()
	if err != nil {
		b.Fatal(err)
	}
	signed, err := w.SignStatement(crypto.Statement{Type: crypto.TypePetitionSign, Petition: "viral",
		Nullifier: w.Nullifier("viral"), IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("baseline-ed25519-verify", func(b *testing.B) {
		pub := w.SigningPublicKey()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if err := signed.Verify(pub); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("http-10000-signatures", func(b *testing.B) {
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			n, bodies := viralPetition(b)
			b.StartTimer()
			start := time.Now()
			signAll(b, n.url, bodies)
			elapsed += time.Since(start)
			b.StopTimer()
			checkCount(b, n.url, petitionSigners)
			n.stop()
			n = startNode(b, n.data, &syncBuffer{})
			checkCount(b, n.url, petitionSigners)
			n.stop()
		}
		perSignature := float64(elapsed.Nanoseconds()) / float64(b.N*petitionSigners)
		b.ReportMetric(perSignature, "ns/op")
		b.ReportMetric(1e9/perSignature, "signatures/s")
	})
}

// viralPetition starts a node with an open petition and 10,000 registered residents, and
// returns each resident's signed petition.sign body, ready to post.
func viralPetition(b *testing.B) (*node, [][]byte) {
	n := startNode(b, b.TempDir(), &syncBuffer{})
	ctx := context.Background()
	c := client.New(n.url)
	c.HTTP.Transport = &http.Transport{MaxIdleConnsPerHost: 128}
	token := adminTokenOf(b, n.data)
	var invites []string
	for len(invites) < petitionSigners+1 {
		batch, err := c.Invites(ctx, token, min(5000, petitionSigners+1-len(invites)))
		if err != nil {
			b.Fatal(err)
		}
		invites = append(invites, batch...)
	}
	organiser, err := fixtures.NewOrganiser(ctx, c, token, invites[petitionSigners])
	if err != nil {
		b.Fatal(err)
	}
	now := time.Now().UTC()
	if _, err := c.CreatePetition(ctx, organiser, state.Petition{ID: "viral", Title: "A viral petition", Text: "Sign it.",
		Opens: now.Add(-time.Minute), Closes: now.Add(time.Hour), Threshold: petitionSigners}); err != nil {
		b.Fatal(err)
	}
	bodies := make([][]byte, petitionSigners)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < petitionSigners; i = int(next.Add(1) - 1) {
				w, err := crypto.NewWallet()
				if err == nil {
					_, err = c.Register(ctx, w, invites[i], "old-town")
				}
				var s crypto.SignedStatement
				if err == nil {
					s, err = w.SignStatement(crypto.Statement{Type: crypto.TypePetitionSign, Petition: "viral",
						Nullifier: w.Nullifier("viral"), IssuedAt: crypto.Now(), Nonce: crypto.NewNonce()})
				}
				if err == nil {
					bodies[i], err = json.Marshal(s)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return n, bodies
}

// signAll posts every body from 128 concurrent clients; each must be accepted.
func signAll(b *testing.B, url string, bodies [][]byte) {
	const clients = 128
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: time.Minute}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(bodies); i = int(next.Add(1) - 1) {
				resp, err := hc.Post(url+"/api/v1/statements", "application/json", bytes.NewReader(bodies[i]))
				if err != nil {
					b.Error(err)
					return
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusCreated {
					b.Errorf("signature %d: status %d", i, resp.StatusCode)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
}

// checkCount fails unless the viral petition's published online count is want.
func checkCount(b *testing.B, url string, want int) {
	p, err := client.New(url).Petition(context.Background(), "viral")
	if err != nil {
		b.Fatal(err)
	}
	if p.Signatures != want || p.Total != want {
		b.Fatalf("the petition counts %d online, %d in total; want %d", p.Signatures, p.Total, want)
	}
}
