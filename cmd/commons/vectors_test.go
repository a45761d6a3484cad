package main

import (
	"bufio"
	"bytes"
	"context"
	stdcrypto "crypto"
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"math/big"
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
	"github.com/cloudflare/circl/blindsign/blindrsa"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/mod/sumdb/note"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/ledger"
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
	n := startFreshNode(t)
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
		admin := adminTokenOf(t, n.data)
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

// rfc9474Vector is a test vector of RFC 9474's Appendix A, in hex as the RFC prints it.
type rfc9474Vector struct {
	N, E, P, Q, D             string // the RSA key
	Msg, MsgPrefix, Salt, Inv string // the message and the client's randomness
	BlindedMsg, BlindSig, Sig string // what the client sends, receives and keeps
}

// rfc9474A1 is RFC 9474 Appendix A.1, the vector of RSABSSA-SHA384-PSS-Randomized.
var rfc9474A1 = rfc9474Vector{
	N: "aec4d69addc70b990ea66a5e70603b6fee27aafebd08f2d94cbe1250c556e047a928d635c3f45ee9b66d1bc628a03bac" +
		"9b7c3f416fe20dabea8f3d7b4bbf7f963be335d2328d67e6c13ee4a8f955e05a3283720d3e1f139c38e43e0338ad058a" +
		"9495c53377fc35be64d208f89b4aa721bf7f7d3fef837be2a80e0f8adf0bcd1eec5bb040443a2b2792fdca522a7472ae" +
		"d74f31a1ebe1eebc1f408660a0543dfe2a850f106a617ec6685573702eaaa21a5640a5dcaf9b74e397fa3af18a2f1b7c" +
		"03ba91a6336158de420d63188ee143866ee415735d155b7c2d854d795b7bc236cffd71542df34234221a0413e142d8c6" +
		"1355cc44d45bda94204974557ac2704cd8b593f035a5724b1adf442e78c542cd4414fce6f1298182fb6d8e53cef1adfd" +
		"2e90e1e4deec52999bdc6c29144e8d52a125232c8c6d75c706ea3cc06841c7bda33568c63a6c03817f722b50fcf89823" +
		"7d788a4400869e44d90a3020923dc646388abcc914315215fcd1bae11b1c751fd52443aac8f601087d8d42737c18a3fa" +
		"11ecd4131ecae017ae0a14acfc4ef85b83c19fed33cfd1cd629da2c4c09e222b398e18d822f77bb378dea3cb360b605e" +
		"5aa58b20edc29d000a66bd177c682a17e7eb12a63ef7c2e4183e0d898f3d6bf567ba8ae84f84f1d23bf8b8e261c3729e" +
		"2fa6d07b832e07cddd1d14f55325c6f924267957121902dc19b3b32948bdead5",
	E: "010001",
	P: "e1f4d7a34802e27c7392a3cea32a262a34dc3691bd87f3f310dc75673488930559c120fd0410194fb8a0da55bd0b8122" +
		"7e843fdca6692ae80e5a5d414116d4803fca7d8c30eaaae57e44a1816ebb5c5b0606c536246c7f11985d731684150b63" +
		"c9a3ad9e41b04c0b5b27cb188a692c84696b742a80d3cd00ab891f2457443dadfeba6d6daf108602be26d7071803c671" +
		"05a5426838e6889d77e8474b29244cefaf418e381b312048b457d73419213063c60ee7b0d81820165864fef93523c963" +
		"5c22210956e53a8d96322493ffc58d845368e2416e078e5bcb5d2fd68ae6acfa54f9627c42e84a9d3f2774017e32ebca" +
		"06308a12ecc290c7cd1156dcccfb2311",
	Q: "c601a9caea66dc3835827b539db9df6f6f5ae77244692780cd334a006ab353c806426b60718c05245650821d39445d3a" +
		"b591ed10a7339f15d83fe13f6a3dfb20b9452c6a9b42eaa62a68c970df3cadb2139f804ad8223d56108dfde30ba7d367" +
		"e9b0a7a80c4fdba2fd9dde6661fc73fc2947569d2029f2870fc02d8325acf28c9afa19ecf962daa7916e21afad09eb62" +
		"fe9f1cf91b77dc879b7974b490d3ebd2e95426057f35d0a3c9f45f79ac727ab81a519a8b9285932d9b2e5ccd347e59f3" +
		"f32ad9ca359115e7da008ab7406707bd0e8e185a5ed8758b5ba266e8828f8d863ae133846304a2936ad7bc7c9803879d" +
		"2fc4a28e69291d73dbd799f8bc238385",
	D: "0d43242aefe1fb2c13fbc66e20b678c4336d20b1808c558b6e62ad16a287077180b177e1f01b12f9c6cd6c52630257cc" +
		"ef26a45135a990928773f3bd2fc01a313f1dac97a51cec71cb1fd7efc7adffdeb05f1fb04812c924ed7f4a8269925dad" +
		"88bd7dcfbc4ef01020ebfc60cb3e04c54f981fdbd273e69a8a58b8ceb7c2d83fbcbd6f784d052201b88a9848186f2a45" +
		"c0d2826870733e6fd9aa46983e0a6e82e35ca20a439c5ee7b502a9062e1066493bdadf8b49eb30d9558ed85abc7afb29" +
		"b3c9bc644199654a4676681af4babcea4e6f71fe4565c9c1b85d9985b84ec1abf1a820a9bbebee0df1398aae2c85ab58" +
		"0a9f13e7743afd3108eb32100b870648fa6bc17e8abac4d3c99246b1f0ea9f7f93a5dd5458c56d9f3f81ff2216b3c368" +
		"0a13591673c43194d8e6fc93fc1e37ce2986bd628ac48088bc723d8fbe293861ca7a9f4a73e9fa63b1b6d0074f5dea2a" +
		"624c5249ff3ad811b6255b299d6bc5451ba7477f19c5a0db690c3e6476398b1483d10314afd38bbaf6e2fbdbcd62c3ca" +
		"9797a420ca6034ec0a83360a3ee2adf4b9d4ba29731d131b099a38d6a23cc463db754603211260e99d19affc902c915d" +
		"7854554aabf608e3ac52c19b8aa26ae042249b17b2d29669b5c859103ee53ef9bdc73ba3c6b537d5c34b6d8f034671d7" +
		"f3a8a6966cc4543df223565343154140fd7391c7e7be03e241f4ecfeb877a051",
	Msg:       "8f3dc6fb8c4a02f4d6352edf0907822c1210a9b32f9bdda4c45a698c80023aa6b59f8cfec5fdbb36331372ebefedae7d",
	MsgPrefix: "8417e699b219d583fb6216ae0c53ca0e9723442d02f1d1a34295527e7d929e8b",
	Salt:      "051722b35f458781397c3a671a7d3bd3096503940e4c4f1aaa269d60300ce449555cd7340100df9d46944c5356825abf",
	Inv: "80682c48982407b489d53d1261b19ec8627d02b8cda5336750b8cee332ae260de57b02d72609c1e0e9f28e2040fc65b6" +
		"f02d56dbd6aa9af8fde656f70495dfb723ba01173d4707a12fddac628ca29f3e32340bd8f7ddb557cf819f6b01e445ad" +
		"96f874ba235584ee71f6581f62d4f43bf03f910f6510deb85e8ef06c7f09d9794a008be7ff2529f0ebb69decef646387" +
		"dc767b74939265fec0223aa6d84d2a8a1cc912d5ca25b4e144ab8f6ba054b54910176d5737a2cff011da431bd5f2a0d2" +
		"d66b9e70b39f4b050e45c0d9c16f02deda9ddf2d00f3e4b01037d7029cd49c2d46a8e1fc2c0c17520af1f4b5e25ba396" +
		"afc4cd60c494a4c426448b35b49635b337cfb08e7c22a39b256dd032c00adddafb51a627f99a0e1704170ac1f1912e49" +
		"d9db10ec04c19c58f420212973e0cb329524223a6aa56c7937c5dffdb5d966b6cd4cbc26f3201dd25c80960a1a111b32" +
		"947bb78973d269fac7f5186530930ed19f68507540eed9e1bab8b00f00d8ca09b3f099aae46180e04e3584bd7ca054df" +
		"18a1504b89d1d1675d0966c4ae1407be325cdf623cf13ff13e4a28b594d59e3eadbadf6136eee7a59d6a444c9eb4e219" +
		"8e8a974f27a39eb63af2c9af3870488b8adaad444674f512133ad80b9220e09158521614f1faadfe8505ef57b7df6813" +
		"048603f0dd04f4280177a11380fbfc861dbcbd7418d62155248dad5fdec0991f",
	BlindedMsg: "aa3ee045138d874669685ffaef962c7694a9450aa9b4fd6465db9b3b75a522bb921c4c0fdcdfae9667593255099cff51" +
		"f5d3fd65e8ffb9d3b3036252a6b51b6edfb3f40382b2bbf34c0055e4cbcc422850e586d84f190cd449af11dc65545f5f" +
		"e26fd89796eb87da4bda0c545f397cddfeeb56f06e28135ec74fd477949e7677f6f36cfae8fd5c1c5898b03b9c244cf6" +
		"d1a4fb7ad1cb43aff5e80cb462fac541e72f67f0a50f1843d1759edfaae92d1a916d3f0efaf4d650db416c3bf8abdb54" +
		"14a78cebc97de676723cb119e77aea489f2bbf530c440ebc5a75dccd3ebf5a412a5f346badd61bee588e5917bdcce9dc" +
		"33c882e39826951b0b8276c6203971947072b726e935816056ff5cb11a71ca2946478584126bb877acdf87255f26e6cc" +
		"a4e0878801307485d3b7bb89b289551a8b65a7a6b93db010423d1406e149c87731910306e5e410b41d4da3234624e74f" +
		"92845183e323cf7eb244f212a695f8856c675fbc3a021ce649e22c6f0d053a9d238841cf3afdc2739f99672a419ae13c" +
		"17f1f8a3bc302ec2e7b98e8c353898b7150ad8877ec841ea6e4b288064c254fefd0d049c3ad196bf7ffa535e74585d01" +
		"20ce728036ed500942fbd5e6332c298f1ffebe9ff60c1e117b274cf0cb9d70c36ee4891528996ec1ed0b178e9f3c0c0e" +
		"6120885f39e8ccaadbb20f3196378c07b1ff22d10049d3039a7a92fe7efdd95d",
	BlindSig: "3f4a79eacd4445fca628a310d41e12fcd813c4d43aa4ef2b81226953248d6d00adfee6b79cb88bfa1f99270369fd063c" +
		"023e5ed546719b0b2d143dd1bca46b0e0e615fe5c63d95c5a6b873b8b50bc52487354e69c3dfbf416e7aca18d5842c89" +
		"b676efdd38087008fa5a810161fcdec26f20ccf2f1e6ab0f9d2bb93e051cb9e86a9b28c5bb62fd5f5391379f887c0f70" +
		"6a08bcc3b9e7506aaf02485d688198f5e22eefdf837b2dd919320b17482c5cc54271b4ccb41d267629b3f844fd63750b" +
		"01f5276c79e33718bb561a152acb2eb36d8be75bce05c9d1b94eb609106f38226fb2e0f5cd5c5c39c59dda166862de49" +
		"8b8d92f6bcb41af433d65a2ac23da87f39764cb64e79e74a8f4ce4dd567480d967cefac46b6e9c06434c371563583435" +
		"7edd2ce6f105eea854ac126ccfa3de2aac5607565a4e5efaac5eed491c335f6fc97e6eb7e9cea3e12de38dfb315220c0" +
		"a3f84536abb2fdd722813e083feda010391ac3d8fd1cd9212b5d94e634e69ebcc800c4d5c4c1091c64afc37acf563c7f" +
		"c0a6e4c082bc55544f50a7971f3fb97d5853d72c3af34ffd5ce123998be5360d1059820c66a81e1ee6d9c1803b5b62af" +
		"6bc877526df255b6d1d835d8c840bebbcd6cc0ee910f17da37caf8488afbc08397a1941fcc79e76a5888a95b3d5405e1" +
		"3f737bea5c78d716a48eb9dc0aec8de39c4b45c6914ad4a8185969f70b1adf46",
	Sig: "191e941c57510e22d29afad257de5ca436d2316221fe870c7cb75205a6c071c2735aed0bc24c37f3d5bd960ab97a829a" +
		"508f966bbaed7a82645e65eadaf24ab5e6d9421392c5b15b7f9b640d34fec512846a3100b80f75ef51064602118c1a77" +
		"d28d938f6efc22041d60159a518d3de7c4d840c9c68109672d743d299d8d2577ef60c19ab463c716b3fa75fa56f57353" +
		"49d414a44df12bf0dd44aa3e10822a651ed4cb0eb6f47c9bd0ef14a034a7ac2451e30434d513eb22e68b7587a8de9b4e" +
		"63a059d05c8b22c7c51e2cfee2d8bef511412e93c859a13726d87c57d1bc4c2e68ab121562f839c3a3d233e87ed63c69" +
		"b7e57525367753fbebcc2a9805a2802659f5888b2c69115bf865559f10d906c09d048a0d71bfee4b33857393ec2b69e4" +
		"51433496d02c9a7910abb954317720bbde9e69108eafc3e90bad3d5ca4066d7b1e49013fa04e948104a1dd82b12509ec" +
		"b146e948c54bd8bfb5e6d18127cd1f7a93c3cf9f2d869d5a78878c03fe808a0d799e910be6f26d18db61c485b303631d" +
		"3568368fc41986d08a95ea6ac0592240c19d7b22416b9c82ae6241e211dd5610d0baaa9823158f9c32b66318f5529491" +
		"b7eeadcaa71898a63bac9d95f4aa548d5e97568d744fc429104e32edd9c87519892a198a30d333d427739ffb9607b092" +
		"e910ae37771abf2adb9f63bc058bf58062ad456cb934679795bbdfcdfad5e0f2",
}

// blindVectorJS runs the browser's blind signature client against the RFC vector: the injected
// rand gives the message prefix, then the PSS salt, then the blinding factor r. It also
// finalizes a blind signature with one bit flipped, which must throw.
const blindVectorJS = `(async (spki, msg, prefix, salt, r, blindSig) => {
	const B = CommonsBlindRSA, W = CommonsWalletCore, b = W.fromBase64;
	const queue = [b(prefix), b(salt), b(r)];
	const rand = (len) => queue.shift();
	const prepared = await B.prepare(b(msg), rand);
	const { blindedMsg, inv } = await B.blind(spki, prepared, rand);
	const sig = await B.finalize(spki, prepared, b(blindSig), inv);
	const wrong = b(blindSig);
	wrong[wrong.length - 1] ^= 1;
	let refused = "finalized";
	try { await B.finalize(spki, prepared, wrong, inv); } catch (e) { refused = e.message; }
	return { prepared: W.toBase64(prepared), blindedMsg: W.toBase64(blindedMsg), inv: W.toBase64(inv),
		sig: W.toBase64(sig), verified: await B.verify(spki, prepared, sig), refused };
})`

// blindVectorResult is what blindVectorJS returns.
type blindVectorResult struct {
	Prepared   []byte `json:"prepared"`
	BlindedMsg []byte `json:"blindedMsg"`
	Inv        []byte `json:"inv"`
	Sig        []byte `json:"sig"`
	Verified   bool   `json:"verified"`
	Refused    string `json:"refused"`
}

// TestBlindRSAVectors checks the wallet's RFC 9474 client (blindrsa.js) against RFC 9474's
// own vector for RSABSSA-SHA384-PSS-Randomized: with the RFC's randomness injected, the
// browser prepares the RFC's input message, blinds it to the RFC's blinded message with the
// RFC's inverse, and finalizes the RFC's blind signature into the RFC's signature, which its
// verify accepts; circl's signer, given the browser's blinded message and the RFC's private
// key, answers the RFC's blind signature; and a blind signature with one bit flipped makes
// finalize throw.
func TestBlindRSAVectors(t *testing.T) {
	t.Parallel()
	v := rfc9474A1
	sk := &rsa.PrivateKey{
		PublicKey: rsa.PublicKey{N: hexInt(t, v.N), E: int(hexInt(t, v.E).Int64())},
		D:         hexInt(t, v.D),
		Primes:    []*big.Int{hexInt(t, v.P), hexInt(t, v.Q)},
	}
	require.NoError(t, sk.Validate(), "the RFC's key")
	sk.Precompute()
	size := (sk.N.BitLen() + 7) / 8
	// The RFC gives the inverse of the blinding factor; the browser draws r itself.
	inv := hexInt(t, v.Inv)
	r := new(big.Int).ModInverse(inv, sk.N)
	require.NotNil(t, r)

	ctx := browserContext(t)
	n := startFreshNode(t)
	bctx, rl := walletBrowser(t, ctx, "")
	openWalletPage(t, bctx, n.url+"/wallet")

	js, err := chromedp.Run(bctx, chromedp.Evaluate[blindVectorResult](callJS(t, blindVectorJS, spkiOf(t, &sk.PublicKey),
		unhex(t, v.Msg), unhex(t, v.MsgPrefix), unhex(t, v.Salt), r.FillBytes(make([]byte, size)), unhex(t, v.BlindSig)),
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	assert.Equal(t, hex.EncodeToString(append(unhex(t, v.MsgPrefix), unhex(t, v.Msg)...)), hex.EncodeToString(js.Prepared), "input_msg = msg_prefix || msg")
	assert.Equal(t, v.BlindedMsg, hex.EncodeToString(js.BlindedMsg), "blinded_msg")
	assert.Equal(t, inv.FillBytes(make([]byte, size)), js.Inv, "inv")
	assert.Equal(t, v.Sig, hex.EncodeToString(js.Sig), "sig")
	assert.True(t, js.Verified, "the browser verifies the RFC's signature")
	assert.Contains(t, js.Refused, "invalid signature", "a flipped blind signature does not finalize")

	blindSig, err := blindrsa.NewSigner(sk).BlindSign(js.BlindedMsg)
	require.NoError(t, err)
	assert.Equal(t, v.BlindSig, hex.EncodeToString(blindSig), "circl signs the browser's blinded message as the RFC does")
	verifier, err := blindrsa.NewVerifier(blindrsa.SHA384PSSRandomized, &sk.PublicKey)
	require.NoError(t, err)
	assert.NoError(t, verifier.Verify(js.Prepared, js.Sig), "circl verifies the browser's signature")
	assert.Empty(t, rl.errors())
}

// blindJS prepares and blinds a message in the browser, twice, with its own randomness.
const blindJS = `(async (spki, msg) => {
	const B = CommonsBlindRSA, W = CommonsWalletCore;
	const prepared = await B.prepare(W.fromBase64(msg));
	const again = await B.prepare(W.fromBase64(msg));
	const { blindedMsg, inv } = await B.blind(spki, prepared);
	const other = await B.blind(spki, prepared);
	return { prepared: W.toBase64(prepared), again: W.toBase64(again), blindedMsg: W.toBase64(blindedMsg),
		inv: W.toBase64(inv), otherBlindedMsg: W.toBase64(other.blindedMsg) };
})`

// finalizeJS finalizes the signer's blind signature, checks the result with verify (as is
// and with a bit flipped), and tries to finalize wrong blind signatures.
const finalizeJS = `(async (spki, prepared, blindSig, inv, wrongSigs) => {
	const B = CommonsBlindRSA, W = CommonsWalletCore, b = W.fromBase64;
	const sig = await B.finalize(spki, b(prepared), b(blindSig), b(inv));
	const flipped = sig.slice();
	flipped[0] ^= 0x80;
	const refused = [];
	for (const w of wrongSigs) {
		try { await B.finalize(spki, b(prepared), b(w), b(inv)); refused.push("finalized"); } catch (e) { refused.push(e.message); }
	}
	return { sig: W.toBase64(sig), verified: await B.verify(spki, b(prepared), sig),
		flippedVerified: await B.verify(spki, b(prepared), flipped), refused };
})`

// verifyJS is the browser's verdict on each (prepared message, signature) pair.
const verifyJS = `(async (spki, pairs) => {
	const B = CommonsBlindRSA, b = CommonsWalletCore.fromBase64;
	const out = [];
	for (const [m, s] of pairs) out.push(await B.verify(spki, b(m), b(s)));
	return out;
})`

// keyErrorsJS is what blind says of keys it must refuse.
const keyErrorsJS = `(async (keys) => {
	const out = [];
	for (const k of keys) {
		try { await CommonsBlindRSA.blind(k, new Uint8Array(40)); out.push("blinded"); } catch (e) { out.push(e.message); }
	}
	return out;
})`

// TestBlindRSAInterop runs RFC 9474 RSABSSA-SHA384-PSS-Randomized between the browser and
// circl (the server's implementation) on a fresh 2048-bit key, both ways: the browser
// prepares and blinds, circl blind-signs, the browser finalizes, and circl verifies; circl's
// client blinds and finalizes, and the browser's verify accepts its signature. A signature
// with a bit flipped is refused by both, a wrong blind signature makes finalize throw, and
// keys that are not RSA or are under 2048 bits are refused.
func TestBlindRSAInterop(t *testing.T) {
	t.Parallel()
	sk, err := rsa.GenerateKey(rand.Reader, 2048)
	require.NoError(t, err)
	spki := spkiOf(t, &sk.PublicKey)
	signer := blindrsa.NewSigner(sk)
	verifier, err := blindrsa.NewVerifier(blindrsa.SHA384PSSRandomized, &sk.PublicKey)
	require.NoError(t, err)

	ctx := browserContext(t)
	n := startFreshNode(t)
	bctx, rl := walletBrowser(t, ctx, "")
	openWalletPage(t, bctx, n.url+"/wallet")

	t.Run("browser client, circl signer", func(t *testing.T) {
		msg := []byte("petition riverside-trees token")
		type blinded struct {
			Prepared        []byte `json:"prepared"`
			Again           []byte `json:"again"`
			BlindedMsg      []byte `json:"blindedMsg"`
			Inv             []byte `json:"inv"`
			OtherBlindedMsg []byte `json:"otherBlindedMsg"`
		}
		b, err := chromedp.Run(bctx, chromedp.Evaluate[blinded](callJS(t, blindJS, spki, msg), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Len(t, b.Prepared, 32+len(msg))
		assert.Equal(t, msg, b.Prepared[32:], "prepared = 32 random bytes || msg")
		assert.NotEqual(t, b.Prepared[:32], b.Again[:32], "each preparation draws its own prefix")
		assert.Len(t, b.BlindedMsg, 256)
		assert.Len(t, b.Inv, 256)
		assert.NotEqual(t, b.BlindedMsg, b.OtherBlindedMsg, "each blinding draws its own r")

		blindSig, err := signer.BlindSign(b.BlindedMsg)
		require.NoError(t, err)
		otherSig, err := signer.BlindSign(b.OtherBlindedMsg)
		require.NoError(t, err)
		flippedBlindSig := append([]byte(nil), blindSig...)
		flippedBlindSig[len(flippedBlindSig)-1] ^= 1
		type finalized struct {
			Sig             []byte   `json:"sig"`
			Verified        bool     `json:"verified"`
			FlippedVerified bool     `json:"flippedVerified"`
			Refused         []string `json:"refused"`
		}
		f, err := chromedp.Run(bctx, chromedp.Evaluate[finalized](callJS(t, finalizeJS, spki, b.Prepared, blindSig, b.Inv,
			[][]byte{otherSig, flippedBlindSig, blindSig[1:]}), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		assert.NoError(t, verifier.Verify(b.Prepared, f.Sig), "circl verifies the browser's finalized signature")
		digest := sha512.Sum384(b.Prepared)
		assert.NoError(t, rsa.VerifyPSS(&sk.PublicKey, stdcrypto.SHA384, digest[:], f.Sig, &rsa.PSSOptions{SaltLength: 48}),
			"it is a plain RSA-PSS signature: the standard library verifies it")
		assert.True(t, f.Verified, "the browser verifies it too")
		assert.False(t, f.FlippedVerified, "the browser refuses it with a bit flipped")
		flipped := append([]byte(nil), f.Sig...)
		flipped[0] ^= 0x80
		assert.Error(t, verifier.Verify(b.Prepared, flipped), "circl refuses it with a bit flipped")
		require.Len(t, f.Refused, 3)
		assert.Contains(t, f.Refused[0], "invalid signature", "another message's blind signature")
		assert.Contains(t, f.Refused[1], "invalid signature", "a flipped blind signature")
		assert.Contains(t, f.Refused[2], "unexpected input size", "a short blind signature")
	})

	t.Run("circl client, browser verifier", func(t *testing.T) {
		client, err := blindrsa.NewClient(blindrsa.SHA384PSSRandomized, &sk.PublicKey)
		require.NoError(t, err)
		prepared, err := client.Prepare(rand.Reader, []byte("petition clean-air-at-schools token"))
		require.NoError(t, err)
		blinded, state, err := client.Blind(rand.Reader, prepared)
		require.NoError(t, err)
		blindSig, err := signer.BlindSign(blinded)
		require.NoError(t, err)
		sig, err := client.Finalize(state, blindSig)
		require.NoError(t, err)
		flippedSig := append([]byte(nil), sig...)
		flippedSig[len(flippedSig)/2] ^= 1
		flippedMsg := append([]byte(nil), prepared...)
		flippedMsg[0] ^= 1
		require.Error(t, verifier.Verify(prepared, flippedSig), "circl refuses a flipped signature")
		require.Error(t, verifier.Verify(flippedMsg, sig), "circl refuses a flipped message")
		got, err := chromedp.Run(bctx, chromedp.Evaluate[[]bool](callJS(t, verifyJS, spki,
			[][][]byte{{prepared, sig}, {prepared, flippedSig}, {flippedMsg, sig}, {prepared, sig[1:]}}), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		assert.Equal(t, []bool{true, false, false, false}, got, "the browser accepts circl's signature and nothing altered or cut")
	})

	t.Run("keys refused", func(t *testing.T) {
		small, err := rsa.GenerateKey(rand.Reader, 1024)
		require.NoError(t, err)
		got, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](callJS(t, keyErrorsJS,
			[]string{spkiOf(t, &small.PublicKey), "bm90IGEga2V5"}), chromedp.EvalAwaitPromise))
		require.NoError(t, err)
		require.Len(t, got, 2)
		assert.Contains(t, got[0], "1024-bit modulus is too small")
		assert.Contains(t, got[1], "not an RSA public key")
	})
	assert.Empty(t, rl.errors())
}

// spkiOf is pk as the wallet receives public keys: SPKI DER in standard base64.
func spkiOf(t *testing.T, pk *rsa.PublicKey) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(pk)
	require.NoError(t, err)
	return base64.StdEncoding.EncodeToString(der)
}

func unhex(t *testing.T, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	require.NoError(t, err)
	return b
}

func hexInt(t *testing.T, s string) *big.Int {
	t.Helper()
	x, ok := new(big.Int).SetString(s, 16)
	require.True(t, ok, "hex integer %.16s…", s)
	return x
}
