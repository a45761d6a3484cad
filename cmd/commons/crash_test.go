package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/reading"
)

// acked is everything the server acknowledged before it was killed.
type acked struct {
	mu            sync.Mutex
	receipts      []api.Receipt
	contributions []crypto.SignedContribution
}

// TestKill9LosesNoAcknowledgedWrite kills the real server with SIGKILL several times while
// residents register, consent and contribute concurrently, then checks after each restart that
// every acknowledged statement is still in the ledger and provable under the new checkpoint,
// and every acknowledged contribution is still stored.
func TestKill9LosesNoAcknowledgedWrite(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	data := t.TempDir()
	logs := &nodetest.Logs{}
	token := func() string {
		b, err := os.ReadFile(filepath.Join(data, "admin.token"))
		require.NoError(t, err)
		return strings.TrimSpace(string(b))
	}
	var all acked
	rng := rand.New(rand.NewPCG(1, 2))
	for round := 0; round < 4; round++ {
		n := startNode(t, data, logs)
		verifyAcked(t, n, &all)
		c := client.New(n.url)
		invites, err := c.Invites(context.Background(), token(), 2000)
		require.NoError(t, err)
		air, err := c.Purpose(context.Background(), "air-quality/daily")
		require.NoError(t, err)

		var wg sync.WaitGroup
		next := make(chan string, len(invites))
		for _, inv := range invites {
			next <- inv
		}
		close(next)
		for w := 0; w < 8; w++ {
			wg.Go(func() { residentLoad(c, next, air, &all) })
		}
		time.Sleep(time.Duration(300+rng.IntN(700)) * time.Millisecond)
		require.NoError(t, n.cmd.Process.Kill())
		n.cmd.Wait()
		wg.Wait()
		all.mu.Lock()
		t.Logf("round %d: %d receipts and %d contributions acknowledged so far", round, len(all.receipts), len(all.contributions))
		all.mu.Unlock()
	}
	n := startNode(t, data, logs)
	verifyAcked(t, n, &all)
	require.NotEmpty(t, all.receipts, "the load must have been acknowledged at least once")
	require.NotEmpty(t, all.contributions)
}

// residentLoad registers, consents and contributes until the invites run out or the server
// dies; it records only what the server acknowledged.
func residentLoad(c *client.Client, invites <-chan string, air client.Purpose, all *acked) {
	ctx := context.Background()
	// Today's epoch is open until tomorrow: a restart's release run cannot close it.
	day := time.Now().UTC().Truncate(24 * time.Hour)
	for inv := range invites {
		w, err := crypto.NewWallet()
		if err != nil {
			return
		}
		a, err := c.Register(ctx, w, inv, "old-town")
		if err != nil {
			return
		}
		all.add(a.Receipt)
		if a, err = c.Grant(ctx, w, air); err != nil {
			return
		}
		all.add(a.Receipt)
		envs, err := client.Seal(w, []reading.Reading{{Sensor: "s", RecordedAt: day, Cell: "old-town",
			Values: reading.Values{PM2_5: reading.F(10)}}}, []client.Purpose{air})
		if err != nil {
			return
		}
		signed, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(), Envelopes: envs})
		if err != nil {
			return
		}
		if err := c.PostContribution(ctx, signed); err != nil {
			return
		}
		all.mu.Lock()
		all.contributions = append(all.contributions, signed)
		all.mu.Unlock()
	}
}

func (a *acked) add(r api.Receipt) {
	a.mu.Lock()
	a.receipts = append(a.receipts, r)
	a.mu.Unlock()
}

func verifyAcked(t *testing.T, n *node, all *acked) {
	t.Helper()
	ctx := context.Background()
	c := client.New(n.url)
	key, err := c.Get(ctx, "/api/v1/ledger/key")
	require.NoError(t, err)
	v, err := note.NewVerifier(strings.TrimSpace(string(key)))
	require.NoError(t, err)
	au, err := newAuditor(ctx, c)
	require.NoError(t, err)
	all.mu.Lock()
	defer all.mu.Unlock()
	for _, r := range all.receipts {
		_, err := ledger.OpenCheckpoint([]byte(r.Checkpoint), v)
		require.NoError(t, err)
		_, err = au.checkReceipt(ctx, r)
		require.NoError(t, err, "acknowledged entry %d lost or changed after kill -9", r.Index)
		var p api.InclusionProof
		b, err := c.Get(ctx, fmt.Sprintf("/api/v1/ledger/proof/inclusion?index=%d&size=%d", r.Index, au.latest.Size))
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal(b, &p))
		require.NoError(t, ledger.VerifyInclusion(au.latest, r.Index, r.LeafHash, p.Proof))
	}
	// A stored contribution's nonce is written in the same transaction as its envelopes, so
	// "replayed" proves the whole contribution survived.
	for _, sc := range all.contributions {
		err := c.PostContribution(ctx, sc)
		var ae *client.APIError
		require.True(t, errors.As(err, &ae), "contribution must be refused as a replay, got %v", err)
		assert.True(t, ae.Code == "replayed" || ae.Code == "stale_statement", "got %s", ae.Code)
	}
}

// TestKill9KeepsPendingPetitionSignatures: a petition signature is acknowledged (202, pending)
// before its batch reaches the ledger. The node is killed with SIGKILL while the signatures
// wait for a batch that would not come for an hour; restarted, it appends every one of them,
// each with a receipt that checks out, and the petition counts them all.
func TestKill9KeepsPendingPetitionSignatures(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	ctx := testContext(t)
	n := startFreshNode(t, "--signature-batch-every", "1h", "--signature-batch-min", "1000")
	c := client.New(n.url)
	admin := adminTokenOf(t, n.data)
	organiser := newOrganiser(ctx, t, c, admin)
	now := time.Now().UTC()
	const id = "crossing"
	_, err := c.CreatePetition(ctx, organiser, api.Petition{ID: id, Title: "A safe crossing", Text: "At the school gates.",
		Opens: now.Add(-time.Hour), Closes: now.AddDate(0, 0, 14), Threshold: 10})
	require.NoError(t, err)
	signers := make([]*crypto.Wallet, 6)
	for i := range signers {
		signers[i] = newResident(ctx, t, c, admin, "old-town")
		s, err := c.SignPetition(ctx, signers[i], id, false, nil)
		require.NoError(t, err)
		require.Equal(t, api.SignaturePending, s.Status, "acknowledged, waiting for its batch")
	}
	require.NoError(t, n.cmd.Process.Kill())
	n.cmd.Wait()

	n = startNode(t, n.data, n.logs) // each act appended at once
	c = client.New(n.url)
	for _, w := range signers {
		s, err := c.WaitSignature(ctx, id, w.Nullifier(id), 50*time.Millisecond)
		require.NoError(t, err)
		require.Equal(t, api.SignatureSigned, s.Status, "the acknowledged signature survived kill -9")
		require.NotNil(t, s.Receipt)
		au, err := newAuditor(ctx, c) // the latest checkpoint, which holds every batch so far
		require.NoError(t, err)
		_, err = au.checkReceipt(ctx, *s.Receipt)
		require.NoError(t, err)
	}
	p, err := c.Petition(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, len(signers), p.Signatures)
}

// soakRSSLimit is the most resident memory the server may use during the soak.
const soakRSSLimit = 256 << 20

// soakMemLimit is the GOMEMLIMIT the soak's server runs with, unless the environment sets one.
const soakMemLimit = "160MiB"

// soakPace is each resident's pause between two requests. Unpaced, four residents write ~160
// statements a second, and the server's RSS grows with the ledger it rebuilds at each restart
// (236 MiB after 3 minutes, 28,578 statements): the pace keeps the load a busy city's while
// the soak looks for leaks rather than for the data's own growth.
const soakPace = 30 * time.Millisecond

// soakDuration is $COMMONS_SOAK (a Go duration), 20 s by default; `make soak` sets minutes.
func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv("COMMONS_SOAK")
	if v == "" {
		return 20 * time.Second
	}
	d, err := time.ParseDuration(v)
	require.NoError(t, err, "COMMONS_SOAK")
	return d
}

// soakCounts are the soak's request counts, by kind.
type soakCounts struct {
	residents, statementsAcked, contributionsAcked, residentErrors atomic.Int64
	pages200, pagesOther, pages5xx, pagesDown                      atomic.Int64
	devicePosts, kills                                             atomic.Int64
}

// TestSoak runs the real server for $COMMONS_SOAK under concurrent residents (register,
// consent, contribute, sign a petition, withdraw and re-grant consent, contribute again), two
// real gateways fed by simulated airrohr sensors, and dashboard readers, while the server is
// killed with SIGKILL and restarted on the same address every few seconds. At the end: every
// acknowledged statement still proves against the final checkpoint and every acknowledged
// contribution is refused as a replay (verifyAcked), the gateways delivered everything they
// acknowledged, `commons ledger verify --all` and `serve --fsck` pass, no page answered 5xx,
// and the server's RSS stayed under 256 MiB throughout.
func TestSoak(t *testing.T) {
	t.Parallel()
	needsBinary(t)
	dur := soakDuration(t)
	// The server runs as docs/operations.md advises, with a soft memory limit for Go's
	// collector: without it the heap of a node serving ~2,000 pages a second grows past
	// 256 MiB before the collector runs (RssAnon 245 MiB, VmRSS 265 MiB in a 20 s soak).
	var env []string
	if os.Getenv("GOMEMLIMIT") == "" {
		env = append(env, "GOMEMLIMIT="+soakMemLimit)
	}
	data := t.TempDir()
	logs := &nodetest.Logs{}
	n := startNodeEnv(t, env, data, logs)
	addr := strings.TrimPrefix(n.url, "http://")
	token := adminTokenOf(t, data)
	ctx := context.Background()
	c := client.New(n.url)
	air, err := c.Purpose(ctx, "air-quality/daily")
	require.NoError(t, err)
	now := time.Now().UTC()
	organiser := newOrganiser(ctx, t, c, token)
	_, err = c.CreatePetition(ctx, organiser, api.Petition{ID: "soak-trees", Title: "Trees", Text: "Plant trees.",
		Scope: []string{"old-town"}, Opens: now.Add(-time.Hour), Closes: now.Add(48 * time.Hour), Threshold: 10})
	require.NoError(t, err)

	// Two gateways, each a consenting resident's, pointed at the server's fixed address.
	var gws []*gatewayProc
	for i := 0; i < 2; i++ {
		wallet, home := gatewayResident(t, n)
		gws = append(gws, startGateway(t, n.url, wallet, filepath.Join(t.TempDir(), "outbox"), home))
	}

	var cur atomic.Pointer[node]
	cur.Store(n)
	var all acked
	var counts soakCounts
	var peakRSS atomic.Int64
	stop := make(chan struct{})   // readers, sensors and the RSS sampler stop
	finish := make(chan struct{}) // residents finish the one they are on, then stop
	var wg, residentsWG sync.WaitGroup

	inv := &inviteSource{c: c, token: token}
	for w := 0; w < 4; w++ {
		residentsWG.Go(func() { soakResident(c, inv, air, &all, &counts, finish) })
	}
	for r := 0; r < 2; r++ {
		wg.Go(func() { soakReader(n.url, &counts, stop) })
	}
	for i, gw := range gws {
		wg.Go(func() {
			for k := 0; ; k++ {
				select {
				case <-stop:
					return
				case <-time.After(200 * time.Millisecond):
				}
				if gw.device("esp8266-14907210", "", sampleWith(t, fmt.Sprintf("%d.%02d", 20+i, k%100))) == 200 {
					counts.devicePosts.Add(1)
				}
			}
		})
	}
	var rssErr, peakParts atomic.Value
	wg.Go(func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			nd := cur.Load()
			rss, err := vmRSS(nd.cmd.Process.Pid)
			if err != nil {
				continue // between a kill and its restart
			}
			if rss > peakRSS.Load() {
				peakRSS.Store(rss)
				if m, err := procStatus(nd.cmd.Process.Pid); err == nil {
					peakParts.Store(fmt.Sprintf("RssAnon %d MiB, RssFile %d MiB, RssShmem %d MiB", m["RssAnon"]>>20, m["RssFile"]>>20, m["RssShmem"]>>20))
				}
			}
			if rss > soakRSSLimit && rssErr.Load() == nil {
				rssErr.Store(fmt.Sprintf("RSS %d MiB over the limit", rss>>20))
			}
		}
	})

	// The killer: every 2–5 s, SIGKILL and restart on the same address.
	seed := uint64(time.Now().UnixNano())
	t.Logf("kill schedule seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	end := time.Now().Add(dur)
	for time.Until(end) > 0 {
		time.Sleep(min(time.Duration(2000+rng.IntN(3000))*time.Millisecond, max(time.Until(end), 0)))
		if time.Until(end) <= 0 {
			break
		}
		nd := cur.Load()
		require.NoError(t, nd.cmd.Process.Kill())
		nd.cmd.Wait()
		counts.kills.Add(1)
		time.Sleep(time.Duration(rng.IntN(300)) * time.Millisecond)
		cur.Store(startNode(t, data, logs, "--addr", addr))
	}
	close(finish)
	residentsWG.Wait()
	close(stop)
	wg.Wait()
	n = cur.Load()

	t.Logf("soak of %s: %d kills; %.0f ledger entries; %d residents, %d statements and %d contributions acknowledged, %d resident requests failed; "+
		"pages: %d ok, %d other 4xx/3xx, %d 5xx, %d while down; %d sensor posts; peak server RSS %.1f MiB",
		dur, counts.kills.Load(), ledgerSize(t, n), counts.residents.Load(), counts.statementsAcked.Load(), counts.contributionsAcked.Load(),
		counts.residentErrors.Load(), counts.pages200.Load(), counts.pagesOther.Load(), counts.pages5xx.Load(),
		counts.pagesDown.Load(), counts.devicePosts.Load(), float64(peakRSS.Load())/(1<<20))

	// The gateways deliver everything they acknowledged once the server stays up.
	t.Logf("at the peak: %v", peakParts.Load())
	for i, gw := range gws {
		m := gw.waitMetrics("the outbox emptied after the soak", delivered)
		t.Logf("gateway %d: %d batches uploaded, %d upload failures", i, m["commons_gateway_batches_uploaded_total"],
			m["commons_gateway_upload_failures_total"])
		gw.stop()
	}
	verifyAcked(t, n, &all)
	require.NotEmpty(t, all.receipts, "the load must have been acknowledged at least once")
	require.NotEmpty(t, all.contributions)
	assert.Positive(t, counts.pages200.Load())
	assert.Zero(t, counts.pages5xx.Load(), "no page answered 5xx")
	assert.Positive(t, counts.devicePosts.Load())
	assert.Positive(t, peakRSS.Load(), "RSS was sampled")
	assert.Nil(t, rssErr.Load(), "RSS stayed under %d MiB", soakRSSLimit>>20)

	out, err := n.cli(filepath.Join(t.TempDir(), "wallet"), "ledger", "verify", "--all")
	require.NoError(t, err, out)
	assert.Contains(t, out, "root matches the checkpoint")
	out, err = n.cli("", "petition", "verify", "soak-trees")
	require.NoError(t, err, out)
	assert.Contains(t, out, "equals the recount")

	n.stop()
	fsck := &nodetest.Logs{}
	n = startNode(t, data, fsck, "--addr", addr, "--fsck")
	assert.Contains(t, fsck.String(), "ledger fsck passed")
	n.stop()
}

// inviteSource hands out invite codes, fetching more with the admin token when it runs out.
type inviteSource struct {
	mu    sync.Mutex
	c     *client.Client
	token string
	codes []string
}

func (s *inviteSource) next(ctx context.Context) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.codes) == 0 {
		codes, err := s.c.Invites(ctx, s.token, 50)
		if err != nil {
			return "", err
		}
		s.codes = codes
	}
	code := s.codes[0]
	s.codes = s.codes[1:]
	return code, nil
}

// soakStep retries one resident request until the server answers it. An acknowledgement is
// recorded by ok; a 4xx answer means the step already took effect (its acknowledgement was
// lost in a kill) or cannot: either way the resident moves on. It gives up after a minute.
func soakStep(counts *soakCounts, do func() error) bool {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		time.Sleep(soakPace)
		err := do()
		if err == nil {
			return true
		}
		counts.residentErrors.Add(1)
		var ae *client.APIError
		if errors.As(err, &ae) && ae.Status >= 400 && ae.Status < 500 && ae.Code != "conflict_in_flight" && ae.Code != "rate_limited" {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// soakResident runs residents through their life until finish is closed: register, grant,
// contribute, sign the petition, revoke, grant again, contribute again. Each step is retried
// across kills, so every resident ends consenting (an acknowledged contribution then proves
// itself by being refused as a replay).
func soakResident(c *client.Client, inv *inviteSource, air client.Purpose, all *acked, counts *soakCounts, finish <-chan struct{}) {
	ctx := context.Background()
	day := time.Now().UTC().Truncate(24 * time.Hour)
	statement := func(do func() (client.Answer, error)) func() error {
		return func() error {
			a, err := do()
			if err == nil {
				all.add(a.Receipt)
				counts.statementsAcked.Add(1)
			}
			return err
		}
	}
	contribute := func(w *crypto.Wallet) func() error {
		return func() error {
			envs, err := client.Seal(w, []reading.Reading{{Sensor: "s", RecordedAt: day, Cell: "old-town",
				Values: reading.Values{PM2_5: reading.F(10)}}}, []client.Purpose{air})
			if err != nil {
				return err
			}
			signed, err := w.SignContribution(crypto.Contribution{IssuedAt: crypto.Now(), Nonce: crypto.NewNonce(), Envelopes: envs})
			if err != nil {
				return err
			}
			if err := c.PostContribution(ctx, signed); err != nil {
				return err
			}
			all.mu.Lock()
			all.contributions = append(all.contributions, signed)
			all.mu.Unlock()
			counts.contributionsAcked.Add(1)
			return nil
		}
	}
	for {
		select {
		case <-finish:
			return
		default:
		}
		w, err := crypto.NewWallet()
		if err != nil {
			return
		}
		var code string
		if !soakStep(counts, func() (err error) { code, err = inv.next(ctx); return err }) {
			continue
		}
		// A refused registration (an acknowledgement lost in a kill, then "invalid_invite") may
		// still have registered the resident: carry on, the next steps tell.
		if soakStep(counts, statement(func() (client.Answer, error) { return c.Register(ctx, w, code, "old-town") })) {
			counts.residents.Add(1)
		}
		soakStep(counts, statement(func() (client.Answer, error) { return c.Grant(ctx, w, air) }))
		soakStep(counts, contribute(w))
		soakStep(counts, statement(func() (client.Answer, error) {
			// The soak node appends each signature at once: its receipt comes with the answer.
			a, err := c.SignPetition(ctx, w, "soak-trees", false, nil)
			if err == nil && a.Receipt == nil {
				err = fmt.Errorf("signature %s without its receipt", a.Status)
			}
			if err != nil {
				return client.Answer{}, err
			}
			return client.Answer{Receipt: *a.Receipt}, nil
		}))
		soakStep(counts, statement(func() (client.Answer, error) { return c.Revoke(ctx, w, air, false) }))
		soakStep(counts, statement(func() (client.Answer, error) { return c.Grant(ctx, w, air) }))
		soakStep(counts, contribute(w))
	}
}

// soakReader reads the public pages until stop is closed.
func soakReader(base string, counts *soakCounts, stop <-chan struct{}) {
	hc := &http.Client{Timeout: 10 * time.Second}
	paths := []string{"/", "/air", "/petitions", "/ledger", "/api/v1/stats/air"}
	for i := 0; ; i++ {
		select {
		case <-stop:
			return
		default:
		}
		resp, err := hc.Get(base + paths[i%len(paths)])
		if err != nil {
			counts.pagesDown.Add(1)
			time.Sleep(50 * time.Millisecond)
			continue
		}
		_, err = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch {
		case err != nil:
			counts.pagesDown.Add(1) // cut off by a kill
		case resp.StatusCode == 200:
			counts.pages200.Add(1)
		case resp.StatusCode >= 500:
			counts.pages5xx.Add(1)
		default:
			counts.pagesOther.Add(1)
		}
	}
}
