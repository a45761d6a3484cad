package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"filippo.io/age"
	"filippo.io/age/armor"
	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	cdplog "github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/petition"
)

// vectorIdentity is a fixed wallet for the cross-implementation vectors (made once with
// age-keygen). What it derives is computed by the Go packages in the test, never written here.
const vectorIdentity = "AGE-SECRET-KEY-1U4KDJ6NL0JET7U5ZHP4LMXP3S730E6R2Z4EG3QP6XDTAJ89DLYNS5JQ33Z"

// derivedSecrets are the HKDF outputs of docs/wallet.md's table, computed independently of
// package crypto (which keeps them private), for the vectors and the leak scans: the signing
// seed, and the seed of the wallet's key for each petition named.
func derivedSecrets(t *testing.T, identity string, petitions ...string) (seed []byte, petitionSeeds [][]byte) {
	t.Helper()
	seed, err := hkdf.Key(sha256.New, []byte(identity), []byte("commons/v1"), "commons/v1 statement signing ed25519", 32)
	require.NoError(t, err)
	for _, p := range petitions {
		ps, err := hkdf.Key(sha256.New, []byte(identity), []byte("commons/v1"), "commons/v1 petition key ed25519\n"+p, 32)
		require.NoError(t, err)
		petitionSeeds = append(petitionSeeds, ps)
	}
	return seed, petitionSeeds
}

// walletBrowser starts headless chromium for the wallet tests with a phone's screen (390×844,
// mobile, touch), downloading into downloads, and records every request it makes.
func walletBrowser(t *testing.T, ctx context.Context, downloads string) (context.Context, *requestLog) {
	t.Helper()
	bctx := headless(t, ctx)
	rl := &requestLog{}
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		rl.mu.Lock()
		defer rl.mu.Unlock()
		switch e := ev.(type) {
		case *network.EventRequestWillBeSent:
			rl.events = append(rl.events, *e)
		case *cdplog.EventEntryAdded:
			if e.Entry.Level == cdplog.EntryLevelError {
				rl.problems = append(rl.problems, string(e.Entry.Source)+": "+e.Entry.Text)
			}
		case *runtime.EventExceptionThrown:
			rl.problems = append(rl.problems, "exception: "+e.ExceptionDetails.Text)
		}
	}), "start chromium")
	_, err := chromedp.Call(bctx, network.Enable, network.EnableParams{})
	require.NoError(t, err)
	_, err = chromedp.Call(bctx, cdplog.Enable, cdp.Empty{})
	require.NoError(t, err)
	_, err = chromedp.Call(bctx, runtime.Enable, cdp.Empty{})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch)))
	if downloads != "" {
		events := true
		_, err = chromedp.CallBrowser(bctx, browser.SetDownloadBehavior, browser.SetDownloadBehaviorParams{
			Behavior: browser.SetDownloadBehaviorBehaviorAllow, DownloadPath: downloads, EventsEnabled: &events})
		require.NoError(t, err)
	}
	return bctx, rl
}

// requestLog is every request the browser sent, and every error it logged (a script
// exception, a content security policy violation, a failed load).
type requestLog struct {
	mu       sync.Mutex
	events   []network.EventRequestWillBeSent
	problems []string
}

// errors returns what the browser logged as errors so far.
func (rl *requestLog) errors() []string {
	rl.mu.Lock()
	defer rl.mu.Unlock()
	return slices.Clone(rl.problems)
}

// sent returns each request's URL and body. Bodies the event did not carry are asked for.
func (rl *requestLog) sent(t *testing.T, ctx context.Context) (urls []string, bodies [][]byte) {
	t.Helper()
	rl.mu.Lock()
	events := slices.Clone(rl.events)
	rl.mu.Unlock()
	for _, e := range events {
		urls = append(urls, e.Request.URL)
		if !e.Request.HasPostData {
			continue
		}
		var body []byte
		for _, entry := range e.Request.PostDataEntries {
			body = append(body, entry.Bytes...)
		}
		if len(body) == 0 {
			r, err := chromedp.Call(ctx, network.GetRequestPostData, network.GetRequestPostDataParams{RequestID: e.RequestID})
			require.NoError(t, err, "post data of %s", e.Request.URL)
			body = r.PostData
		}
		bodies = append(bodies, body)
	}
	return urls, bodies
}

// openWalletPage loads /wallet and waits until the script has read the server's purposes.
func openWalletPage(t *testing.T, ctx context.Context, pageURL string) {
	t.Helper()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(pageURL))
	require.NoError(t, err)
	require.EqualValues(t, http.StatusOK, resp.Status)
	require.NoError(t, chromedp.Do(ctx, chromedp.WaitReady(chromedp.CSS(`#app[data-ready="true"]`))))
}

// jsVector is what the browser script derives and signs for one wallet file.
type jsVector struct {
	Citizen       string            `json:"citizen"`
	Recipient     string            `json:"recipient"`
	Seed          string            `json:"seed"`
	PetitionSeeds map[string]string `json:"petitionSeeds"`
	PublicKey     string            `json:"publicKey"`
	Nullifiers    map[string]string `json:"nullifiers"`
	// The token protocol for one petition and token key: the blinded message, the randomizer,
	// the token finalised from the Go node's blind signature, the request document and the act.
	Blinded    []byte            `json:"blinded"`
	Randomizer []byte            `json:"randomizer"`
	Token      []byte            `json:"token"`
	Document   string            `json:"document"`
	Act        map[string]string `json:"act"`
	Statements []struct {
		Canonical string                 `json:"canonical"`
		Signed    crypto.SignedStatement `json:"signed"`
	} `json:"statements"`
	BadField string `json:"badField"`
}

const vectorJS = `(async (file, petitions, statements, spki, blindSig) => {
	const W = CommonsWalletCore, B = CommonsBlindRSA;
	const { keys } = await W.openWalletFile(new TextEncoder().encode(file), "");
	const out = {
		citizen: keys.citizen, recipient: keys.recipient, seed: W.toHex(keys.seed),
		petitionSeeds: Object.fromEntries(petitions.map((p) => [p, W.toHex(W.petitionKey(keys, p).seed)])),
		publicKey: W.toBase64(keys.publicKey),
		nullifiers: Object.fromEntries(petitions.map((p) => [p, W.nullifier(keys, p)])),
		statements: statements.map((st) => {
			const signed = W.signStatement(keys, st);
			return { canonical: W.canonicalStatement(signed.statement), signed };
		}),
	};
	const p = petitions[0];
	const rand = W.blindingRandom(keys, p, spki);
	const prepared = await B.prepare(W.tokenMessage(p, W.petitionKey(keys, p).publicKey), rand);
	const b = await B.blind(spki, prepared, rand);
	out.blinded = W.toBase64(b.blindedMsg);
	out.randomizer = W.toBase64(prepared.slice(0, 32));
	out.token = W.toBase64(await B.finalize(spki, prepared, W.fromBase64(blindSig), b.inv));
	out.document = W.tokenRequestDocument({ [p]: out.blinded, "x": "AAAA" });
	out.act = W.signAct(keys, { type: "petition.sign", petition: p, document: "ab" });
	try { W.canonicalStatement({ ...statements[0], invite: "a b" }); out.badField = "accepted"; }
	catch (e) { out.badField = e.code; }
	return out;
})`

// TestWalletVectors checks the bundled browser script against the Go packages: for a fixed
// wallet and fresh random ones, the same derived keys, citizen id, petition keys and
// nullifiers, canonical statement bytes and Ed25519 signatures; statements signed in the
// browser verify in Go; the token protocol gives the same blinded message, randomizer, request
// document and signed act in both, and the token the browser finalises from the Go node's blind
// signature verifies in Go; passphrase-protected wallet files open both ways; and the script's checkpoint and
// inclusion-proof checks accept the real ledger's and refuse altered ones.
func TestWalletVectors(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	data := t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	bctx, _ := walletBrowser(t, ctx, "")
	openWalletPage(t, bctx, n.url+"/wallet")

	files := []string{"# a fixed wallet\n" + vectorIdentity + "\n"}
	for range 3 {
		w, err := crypto.NewWallet()
		require.NoError(t, err)
		files = append(files, string(w.Marshal()))
	}
	petitions := []string{"riverside-trees", "clean-air-at-schools", "x"}
	statements := []crypto.Statement{
		{Type: crypto.TypeRegister, Invite: "inv-123_ABC", Neighbourhood: "old-town", Recipient: "age1placeholder",
			SigningKey: "c2lnbmluZy1rZXk=", IssuedAt: "2026-11-27T10:00:00Z", Nonce: "n0nce-1"},
		{Type: crypto.TypeConsentGrant, Purpose: "air-quality/daily", PurposeVersion: 3, IssuedAt: "2026-11-27T10:00:01Z", Nonce: "n2"},
		{Type: crypto.TypeConsentRevoke, Purpose: "air-quality/daily", PurposeVersion: 1, Erase: true, IssuedAt: "2026-11-27T10:00:02Z", Nonce: "n3"},
		{Type: crypto.TypePetitionSign, Petition: "riverside-trees", IssuedAt: "2026-11-27T10:00:03Z", Nonce: "n4"},
		{Type: crypto.TypePetitionWithdraw, Petition: "riverside-trees", IssuedAt: "2026-11-27T10:00:04Z", Nonce: "n5"},
		{Type: crypto.TypeVaultExport, IssuedAt: "2026-11-27T10:00:05Z", Nonce: "n6"},
		{Type: crypto.TypePetitionCreate, Petition: "riverside-trees", Document: "3q2+7w==", IssuedAt: "2026-11-27T10:00:06Z", Nonce: "n7"},
	}
	tokenKey, err := crypto.NewTokenKey()
	require.NoError(t, err)
	spki, err := crypto.EncodeTokenKey(&tokenKey.PublicKey)
	require.NoError(t, err)
	verifier, err := crypto.NewTokenVerifier(&tokenKey.PublicKey)
	require.NoError(t, err)
	for _, file := range files {
		w, err := crypto.ParseWallet([]byte(file))
		require.NoError(t, err)
		sts := slices.Clone(statements)
		req, err := w.BlindToken(petitions[0], &tokenKey.PublicKey)
		require.NoError(t, err)
		blindSig, err := crypto.BlindSign(tokenKey, req.Blinded)
		require.NoError(t, err)
		js, err := chromedp.Run(bctx, chromedp.Evaluate[jsVector](callJS(t, vectorJS, file, petitions, sts, spki,
			base64.StdEncoding.EncodeToString(blindSig)), chromedp.EvalAwaitPromise))
		require.NoError(t, err)

		seed, petitionSeeds := derivedSecrets(t, w.Identity().String(), petitions...)
		assert.Equal(t, hex.EncodeToString(seed), js.Seed, "Ed25519 seed")
		for i, p := range petitions {
			assert.Equal(t, hex.EncodeToString(petitionSeeds[i]), js.PetitionSeeds[p], "the key of petition %s", p)
		}
		assert.Equal(t, req.Blinded, js.Blinded, "the same blinded message from Go and the browser")
		assert.Equal(t, req.Randomizer, js.Randomizer)
		token, err := req.Finalize(blindSig)
		require.NoError(t, err)
		assert.Equal(t, token, js.Token, "the same token")
		pk, err := w.PetitionKey(petitions[0])
		require.NoError(t, err)
		assert.NoError(t, verifier.Verify(petitions[0], pk.Public().(ed25519.PublicKey), js.Randomizer, js.Token), "the browser's token verifies in Go")
		assert.Equal(t, crypto.TokenRequestDocument(map[string]string{petitions[0]: base64.StdEncoding.EncodeToString(req.Blinded), "x": "AAAA"}), js.Document)
		act, sig, err := crypto.SignAct(pk, crypto.PetitionAct{Type: crypto.TypePetitionSign, Petition: petitions[0], Document: "ab"})
		require.NoError(t, err)
		assert.Equal(t, map[string]string{"type": act.Type, "petition": act.Petition, "document": act.Document, "key": act.Key, "signature": sig}, js.Act)
		_, err = crypto.VerifyAct(crypto.PetitionAct{Type: js.Act["type"], Petition: js.Act["petition"], Document: js.Act["document"], Key: js.Act["key"]}, js.Act["signature"])
		assert.NoError(t, err, "the browser's act verifies in Go")
		assert.Equal(t, w.SigningPublicKey(), ed25519.NewKeyFromSeed(seed).Public(), "the documented derivation is package crypto's")
		assert.Equal(t, crypto.EncodeKey(w.SigningPublicKey()), js.PublicKey)
		assert.Equal(t, w.CitizenID(), js.Citizen)
		assert.Equal(t, w.Recipient().String(), js.Recipient)
		for _, p := range petitions {
			assert.Equal(t, w.Nullifier(p), js.Nullifiers[p], "nullifier of %s", p)
		}
		require.Len(t, js.Statements, len(sts))
		for i, st := range sts {
			signed, err := w.SignStatement(st)
			require.NoError(t, err)
			canonical, err := signed.Statement.Canonical()
			require.NoError(t, err)
			assert.Equal(t, string(canonical), js.Statements[i].Canonical, "canonical bytes of %s", st.Type)
			assert.Equal(t, signed, js.Statements[i].Signed, "signed %s", st.Type)
			assert.NoError(t, js.Statements[i].Signed.Verify(w.SigningPublicKey()), "the browser's %s verifies in Go", st.Type)
		}
		assert.Equal(t, "bad_field:invite", js.BadField, "the script refuses what Go's canonical form refuses")
		_, err = crypto.Statement{Type: crypto.TypeRegister, Invite: "a b"}.Canonical()
		assert.ErrorIs(t, err, crypto.ErrBadField)
	}

	t.Run("language", func(t *testing.T) {
		ua, err := chromedp.Run(bctx, chromedp.Evaluate[string]("navigator.userAgent"))
		require.NoError(t, err)
		for _, c := range []struct{ accept, lang, title string }{
			{"fr-CA,fr;q=0.9", "fr", "Votre portefeuille"},
			{"de-DE,en;q=0.5", "en", "Your wallet"},
			{"es-ES", "en", "Your wallet"},
		} {
			_, err = chromedp.Call(bctx, emulation.SetUserAgentOverride, emulation.SetUserAgentOverrideParams{UserAgent: ua, AcceptLanguage: c.accept})
			require.NoError(t, err)
			openWalletPage(t, bctx, n.url+"/wallet")
			type view struct {
				Lang  string `json:"lang"`
				Title string `json:"title"`
			}
			v, err := chromedp.Run(bctx, chromedp.Evaluate[view](`({lang: document.documentElement.lang, title: document.querySelector("h1").textContent})`))
			require.NoError(t, err)
			assert.Equal(t, view{c.lang, c.title}, v, "a browser that accepts %s", c.accept)
		}
	})

	t.Run("passphrase", func(t *testing.T) {
		// Both sides protect at a cheap work factor, in the same format; the product's own (18)
		// is checked where a wallet is protected for a resident (TestWalletBrowser,
		// TestPassphraseWalletCLI).
		w, err := crypto.ParseWallet([]byte(files[1]))
		require.NoError(t, err)
		goProtected := cheapProtected(t, w, "correct horse")
		inGo, err := crypto.ParseProtectedWallet(goProtected, "correct horse")
		require.NoError(t, err, "crypto opens it: it is the format crypto writes")
		require.Equal(t, w.CitizenID(), inGo.CitizenID())
		type opened struct {
			Citizen string `json:"citizen"`
			Wrong   string `json:"wrong"`
			Browser string `json:"browser"`
		}
		js, err := chromedp.Run(bctx, chromedp.Evaluate[opened](callJS(t, `(async (goFile, plain, workFactor) => {
			const W = CommonsWalletCore, enc = new TextEncoder();
			const { keys } = await W.openWalletFile(enc.encode(goFile), "correct horse");
			let wrong = "opened";
			try { await W.openWalletFile(enc.encode(goFile), "wrong horse"); } catch (e) { wrong = e.code; }
			return { citizen: keys.citizen, wrong, browser: await W.protect(plain, "correct horse", workFactor) };
		})`, string(goProtected), files[1], cheapWorkFactor), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		assert.Equal(t, w.CitizenID(), js.Citizen, "a wallet Go protected opens in the browser")
		assert.Equal(t, "passphrase_wrong", js.Wrong)
		assert.True(t, crypto.IsProtected([]byte(js.Browser)))
		assert.Equal(t, cheapWorkFactor, scryptWorkFactor(t, []byte(js.Browser)), "the work factor asked for")
		back, err := crypto.ParseProtectedWallet([]byte(js.Browser), "correct horse")
		require.NoError(t, err, "a wallet the browser protected opens in Go")
		assert.Equal(t, w.CitizenID(), back.CitizenID())
		_, err = crypto.ParseProtectedWallet([]byte(js.Browser), "wrong horse")
		assert.ErrorIs(t, err, crypto.ErrWrongPassphrase)
	})

	t.Run("answers", func(t *testing.T) {
		// The browser seals a petition's answers as client.SignPetition does: the same
		// plaintext, binary age to the tally key, and the document hash of the sealed bytes.
		tally, err := age.GenerateX25519Identity()
		require.NoError(t, err)
		sets := []api.Answers{{AgeBand: "30-44", Neighbourhood: "old-town"}, {AgeBand: "65+"},
			{Neighbourhood: "riverside"}, {}}
		goSealed, err := crypto.Seal([]byte(`{"v":1,"age_band":"16-29"}`), tally.Recipient())
		require.NoError(t, err)
		type sealedView struct {
			Plain    string `json:"plain"`
			Sealed   []byte `json:"sealed"`
			Document string `json:"document"`
		}
		type answersView struct {
			Sealed     []sealedView `json:"sealed"`
			GoDocument string       `json:"goDocument"`
			Refused    []string     `json:"refused"`
		}
		js, err := chromedp.Run(bctx, chromedp.Evaluate[answersView](callJS(t, `(async (tally, sets, goSealed) => {
			const W = CommonsWalletCore;
			const sealed = [];
			for (const a of sets) {
				const s = await W.sealAnswers(tally, a);
				sealed.push({ plain: W.answersJSON(a) ?? "", sealed: s ? W.toBase64(s.sealed) : null, document: s?.document ?? "" });
			}
			const refused = [];
			for (const [key, a] of [["age1notakey", sets[0]], ["", sets[0]], [tally.toUpperCase(), sets[0]],
				[tally, { age_band: "30-40" }], [tally, { neighbourhood: "old town" }], [tally, { neighbourhood: "<b>" }]]) {
				try { await W.sealAnswers(key, a); refused.push("sealed"); } catch (e) { refused.push(e.code); }
			}
			return { sealed, goDocument: W.documentHash(W.fromBase64(goSealed)), refused };
		})`, tally.Recipient().String(), sets, goSealed), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Len(t, js.Sealed, len(sets))
		for i, a := range sets {
			got := js.Sealed[i]
			if a == (api.Answers{}) {
				assert.Equal(t, sealedView{}, got, "nothing answered, nothing sealed")
				continue
			}
			want, err := client.AnswersPlaintext(a)
			require.NoError(t, err)
			assert.Equal(t, string(want), got.Plain, "the plaintext the Go client seals for %+v", a)
			assert.Len(t, got.Plain, 192, "padded: the length says nothing of the answers")
			assert.NoError(t, crypto.CheckSealed(got.Sealed, petition.MaxAnswers), "binary age to one X25519 recipient, as the server checks")
			assert.Equal(t, crypto.DocumentHash(got.Sealed), got.Document, "the browser's document hash is crypto.DocumentHash")
			plain, err := crypto.Open(got.Sealed, tally)
			require.NoError(t, err, "the tally key opens what the browser sealed")
			assert.Equal(t, string(want), string(plain))
		}
		assert.Equal(t, crypto.DocumentHash(goSealed), js.GoDocument, "the browser hashes sealed bytes as Go does")
		assert.Equal(t, []string{"tally_key", "tally_key", "tally_key", "bad_field:age_band", "bad_field:neighbourhood",
			"bad_field:neighbourhood"}, js.Refused)
	})

	t.Run("ledger", func(t *testing.T) {
		// A few entries, so the proofs have several levels.
		c := client.New(n.url)
		admin := adminTokenOf(t, data)
		invites, err := c.Invites(ctx, admin, 5)
		require.NoError(t, err)
		var receipts []api.Receipt
		for _, code := range invites {
			w, err := crypto.NewWallet()
			require.NoError(t, err)
			a, err := c.Register(ctx, w, code, "old-town")
			require.NoError(t, err)
			receipts = append(receipts, a.Receipt)
		}
		key := strings.TrimSpace(string(httpGet(t, n.url+"/api/v1/ledger/key")))
		cpText := httpGet(t, n.url+"/api/v1/ledger/checkpoint")
		verifier, err := note.NewVerifier(key)
		require.NoError(t, err)
		cp, err := ledger.OpenCheckpoint(cpText, verifier)
		require.NoError(t, err)

		type checked struct {
			Size    string   `json:"size"`
			Root    string   `json:"root"`
			Origin  string   `json:"origin"`
			Refused []string `json:"refused"`
		}
		tampered := strings.Replace(string(cpText), "\n"+itoa(cp.Size)+"\n", "\n"+itoa(cp.Size+1)+"\n", 1)
		require.NotEqual(t, string(cpText), tampered)
		js, err := chromedp.Run(bctx, chromedp.Evaluate[checked](callJS(t, `((cp, key, tampered) => {
			const W = CommonsWalletCore;
			const c = W.openCheckpoint(cp, key);
			const refused = [];
			for (const [text, k] of [[tampered, key], [cp, key.replace(/\+[0-9a-f]{8}\+/, "+00000000+")]]) {
				try { W.openCheckpoint(text, k); refused.push("accepted"); } catch (e) { refused.push(e.code); }
			}
			return { size: String(c.size), root: W.toBase64(c.root), origin: c.origin, refused };
		})`, string(cpText), key, tampered)))
		require.NoError(t, err)
		assert.Equal(t, itoa(cp.Size), js.Size)
		assert.Equal(t, base64.StdEncoding.EncodeToString(cp.Hash), js.Root)
		assert.Equal(t, cp.Origin, js.Origin)
		assert.Equal(t, []string{"checkpoint_signature", "ledger_key"}, js.Refused)

		// Consistency from every earlier size to the latest, as the page checks the ledger only grew.
		for from := uint64(1); from < cp.Size; from++ {
			var p struct {
				Proof [][]byte `json:"proof"`
			}
			require.NoError(t, json.Unmarshal(httpGet(t, n.url+"/api/v1/ledger/proof/consistency?from="+itoa(from)+"&to="+itoa(cp.Size)), &p))
			older := rootAt(t, n.url, from)
			proof := make([]string, len(p.Proof))
			for i, h := range p.Proof {
				proof[i] = base64.StdEncoding.EncodeToString(h)
			}
			js, err := chromedp.Run(bctx, chromedp.Evaluate[[]bool](callJS(t, `((from, to, proof, older, newer) => {
				const W = CommonsWalletCore, b = (s) => W.fromBase64(s), ps = proof.map(b);
				const flipped = (a) => { const c = a.slice(); c[0] ^= 1; return c; };
				return [
					W.verifyConsistency(from, to, ps, b(older), b(newer)),
					W.verifyConsistency(from, to, ps, flipped(b(older)), b(newer)),
					W.verifyConsistency(from, to, ps, b(older), flipped(b(newer))),
					ps.length > 0 && W.verifyConsistency(from, to, [flipped(ps[0]), ...ps.slice(1)], b(older), b(newer)),
					W.verifyConsistency(to, from, ps, b(newer), b(older)),
				];
			})`, from, cp.Size, proof, base64.StdEncoding.EncodeToString(older), base64.StdEncoding.EncodeToString(cp.Hash))))
			require.NoError(t, err)
			assert.Equal(t, []bool{true, false, false, false, false}, js, "consistency %d→%d", from, cp.Size)
		}

		for _, r := range receipts {
			entry := httpGet(t, n.url+"/api/v1/ledger/entries/"+itoa(r.Index))
			var p struct {
				LeafHash []byte   `json:"leaf_hash"`
				Proof    [][]byte `json:"proof"`
			}
			require.NoError(t, json.Unmarshal(httpGet(t, n.url+"/api/v1/ledger/proof/inclusion?index="+itoa(r.Index)+"&size="+itoa(cp.Size)), &p))
			require.NoError(t, ledger.VerifyInclusion(cp, r.Index, p.LeafHash, p.Proof), "Go accepts the proof")
			type incl struct {
				Leaf     string `json:"leaf"`
				OK       bool   `json:"ok"`
				OtherIdx bool   `json:"otherIndex"`
				BadLeaf  bool   `json:"badLeaf"`
				BadProof bool   `json:"badProof"`
			}
			proof := make([]string, len(p.Proof))
			for i, h := range p.Proof {
				proof[i] = base64.StdEncoding.EncodeToString(h)
			}
			js, err := chromedp.Run(bctx, chromedp.Evaluate[incl](callJS(t, `((entry, index, size, proof, root) => {
				const W = CommonsWalletCore, b = (s) => W.fromBase64(s);
				const leaf = W.leafHash(b(entry)), ps = proof.map(b), r = b(root);
				const flipped = (a) => { const c = a.slice(); c[0] ^= 1; return c; };
				return {
					leaf: W.toBase64(leaf),
					ok: W.verifyInclusion(index, size, leaf, ps, r),
					otherIndex: W.verifyInclusion(index + 1, size, leaf, ps, r),
					badLeaf: W.verifyInclusion(index, size, flipped(leaf), ps, r),
					badProof: ps.length > 0 && W.verifyInclusion(index, size, leaf, [flipped(ps[0]), ...ps.slice(1)], r),
				};
			})`, base64.StdEncoding.EncodeToString(entry), r.Index, cp.Size, proof, base64.StdEncoding.EncodeToString(cp.Hash))))
			require.NoError(t, err)
			assert.Equal(t, base64.StdEncoding.EncodeToString(ledger.LeafHash(entry)), js.Leaf, "leaf hash of entry %d", r.Index)
			assert.True(t, js.OK, "the script accepts the proof of entry %d", r.Index)
			assert.False(t, js.OtherIdx || js.BadLeaf || js.BadProof, "the script refuses an altered proof of entry %d: %+v", r.Index, js)
		}
	})
}

// cheapWorkFactor is the scrypt work factor (log2) at which the cross-implementation tests
// protect wallets: milliseconds instead of the seconds of the product's 18, on either side.
const cheapWorkFactor = 10

// cheapProtected is w's wallet file protected as crypto.Wallet.MarshalProtected does (age's
// scrypt recipient, ASCII-armored), at cheapWorkFactor.
func cheapProtected(t *testing.T, w *crypto.Wallet, passphrase string) []byte {
	t.Helper()
	r, err := age.NewScryptRecipient(passphrase)
	require.NoError(t, err)
	r.SetWorkFactor(cheapWorkFactor)
	var out bytes.Buffer
	aw := armor.NewWriter(&out)
	ew, err := age.Encrypt(aw, r)
	require.NoError(t, err)
	_, err = ew.Write(w.Marshal())
	require.NoError(t, err)
	require.NoError(t, ew.Close())
	require.NoError(t, aw.Close())
	return out.Bytes()
}

// scryptWorkFactor reads the work factor (log2) of a protected wallet file from its scrypt
// stanza, without opening it.
func scryptWorkFactor(t *testing.T, file []byte) int {
	t.Helper()
	sc := bufio.NewScanner(armor.NewReader(bytes.NewReader(bytes.TrimLeft(file, " \t\r\n"))))
	var header []string
	for len(header) < 2 && sc.Scan() {
		header = append(header, sc.Text())
	}
	require.Len(t, header, 2, "an age header: %v", sc.Err())
	require.Equal(t, "age-encryption.org/v1", header[0])
	stanza := strings.Fields(header[1]) // -> scrypt SALT LOG2N
	require.Len(t, stanza, 4, header[1])
	require.Equal(t, "scrypt", stanza[1], header[1])
	n, err := strconv.Atoi(stanza[3])
	require.NoError(t, err)
	return n
}

// rootAt recomputes the ledger's root at size from its entries, as an auditor would.
func rootAt(t *testing.T, base string, size uint64) []byte {
	t.Helper()
	var leaves [][]byte
	for i := range size {
		leaves = append(leaves, ledger.LeafHash(httpGet(t, base+"/api/v1/ledger/entries/"+itoa(i))))
	}
	return rfc6962Root(leaves)
}

// rfc6962Root is RFC 6962's Merkle tree hash over leaf hashes.
func rfc6962Root(leaves [][]byte) []byte {
	if len(leaves) == 1 {
		return leaves[0]
	}
	k := 1
	for k*2 < len(leaves) {
		k *= 2
	}
	h := sha256.New()
	h.Write([]byte{1})
	h.Write(rfc6962Root(leaves[:k]))
	h.Write(rfc6962Root(leaves[k:]))
	return h.Sum(nil)
}

// callJS is a call of a JavaScript function expression with JSON-encoded arguments.
func callJS(t *testing.T, fn string, args ...any) string {
	t.Helper()
	parts := make([]string, len(args))
	for i, a := range args {
		b, err := json.Marshal(a)
		require.NoError(t, err)
		parts[i] = string(b)
	}
	return "(" + fn + ")(" + strings.Join(parts, ", ") + ")"
}

// httpGet is the body of a GET of url, which must answer 200.
func httpGet(t testing.TB, url string) []byte {
	t.Helper()
	status, b := httpGetAny(t, url)
	require.Equal(t, http.StatusOK, status, "GET %s: %s", url, b)
	return b
}

// httpGetAny is the status and body of a GET of url, whatever the status.
func httpGetAny(t testing.TB, url string) (int, []byte) {
	t.Helper()
	resp, err := http.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, b
}

func itoa(v uint64) string { return strconv.FormatUint(v, 10) }
