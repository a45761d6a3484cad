package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/client"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/fixtures"
	"github.com/commons-city/commons/nodetest"
	"github.com/commons-city/commons/petition"
	"github.com/commons-city/commons/release"
)

// TestWalletBrowserAnswers signs, in the browser, a petition that asks both optional
// questions: the form shows them with "prefer not to say" chosen; the answers chosen are
// sealed on the device to the petition's tally key and sent as the CLI sends them (the act's
// document is the hash of the sealed bytes, signed by the wallet's key for the petition, and
// it verifies in Go; the request names no citizen). No request carries an answer in clear, and IndexedDB keeps none. Other residents
// give the same answers through the Go client, the petition closes, and the breakdown
// release counts the browser's answer with theirs. The node runs in the test process, so that
// the test can move its clock past the close.
func TestWalletBrowserAnswers(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	n, clock, logs := startClockedNode(t)
	data, home := n.data, t.TempDir()
	c := client.New(n.url)
	token := adminTokenOf(t, data)
	tokenFile := filepath.Join(data, "admin.token")
	// The breakdown publishes a group from k = 10 signers (raw and noisy): 25 give the same
	// answers, so the noise (Laplace, scale 2 per question) cannot hide the group.
	const others = 24
	invites, err := c.Invites(ctx, token, others+2)
	require.NoError(t, err)

	operator := filepath.Join(home, "operator", "wallet")
	_, err = n.cli(operator, "wallet", "init")
	require.NoError(t, err)
	_, err = n.cli(operator, "register", "--invite", invites[0], "--neighbourhood", "riverside")
	require.NoError(t, err)
	resident, err := crypto.NewWallet()
	require.NoError(t, err)
	var signers []*crypto.Wallet
	for i := range others {
		w, err := crypto.NewWallet()
		require.NoError(t, err)
		_, err = c.Register(ctx, w, invites[2+i], []string{"old-town", "riverside"}[i%2])
		require.NoError(t, err)
		signers = append(signers, w)
	}

	// The resident opens the page with their wallet and registers in old-town.
	bctx, requests, do := browserResident(t, ctx, n, resident, invites[1])

	// The operator's petition asks both questions and closes when the test moves the node's
	// clock past it, by less than the statement skew (10 minutes): the browser and the CLI
	// still sign on the wall clock.
	const id = "library-sundays"
	text := filepath.Join(home, "text.md")
	require.NoError(t, os.WriteFile(text, []byte("Open the library on Sundays."), 0o600))
	closes := time.Now().UTC().Add(8 * time.Minute).Truncate(time.Second)
	out, err := n.cli(operator, "admin", "petition", "--id", id, "--title", "Library on Sundays", "--text-file", text,
		"--scope", "old-town,riverside", "--closes", closes.Format(time.RFC3339), "--threshold", "30",
		"--ask", "age_band,neighbourhood", "--admin-token-file", tokenFile)
	require.NoError(t, err, out)
	openWalletPage(t, bctx, n.url+"/wallet")

	// The questions, each labelled, "prefer not to say" chosen; the neighbourhoods are the
	// petition's scope.
	type question struct {
		Label    string   `json:"label"`
		Values   []string `json:"values"`
		Options  []string `json:"options"`
		Selected string   `json:"selected"`
	}
	type form struct {
		Legend    string     `json:"legend"`
		Questions []question `json:"questions"`
	}
	formJS := `(() => {
		const card = document.getElementById("petition-` + id + `");
		return { legend: card.querySelector("fieldset legend")?.textContent ?? "",
			questions: [...card.querySelectorAll("fieldset select")].map((s) => ({
				label: document.querySelector('label[for="' + s.id + '"]')?.textContent ?? "",
				values: [...s.options].map((o) => o.value), options: [...s.options].map((o) => o.textContent),
				selected: s.value })) };
	})()`
	shown, err := chromedp.Run(bctx, chromedp.Evaluate[form](formJS))
	require.NoError(t, err)
	assert.Equal(t, form{Legend: "Optional questions", Questions: []question{
		{Label: "Your age", Values: []string{"", "16-29", "30-44", "45-64", "65+"},
			Options: []string{"Prefer not to say", "16–29", "30–44", "45–64", "65 or over"}},
		{Label: "Your neighbourhood", Values: []string{"", "old-town", "riverside"},
			Options: []string{"Prefer not to say", "Ciutat Vella", "La Ribera"}},
	}}, shown)

	// The resident answers; the choice stays through a change of language (in French, the
	// form's words are French), and the signature goes with the answers.
	choose := func(sel, value string) {
		t.Helper()
		do(chromedp.SetValue(chromedp.CSS(sel), value))
		_, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelector("`+sel+`").dispatchEvent(new Event("change", {bubbles: true}))`))
		require.NoError(t, err)
	}
	choose("#answer-age_band-"+id, "45-64")
	choose("#answer-neighbourhood-"+id, "riverside")
	do(chromedp.Click(chromedp.CSS("#lang-fr")))
	shown, err = chromedp.Run(bctx, chromedp.Evaluate[form](formJS))
	require.NoError(t, err)
	assert.Equal(t, "Questions facultatives", shown.Legend)
	require.Len(t, shown.Questions, 2)
	assert.Equal(t, []string{"Votre âge", "Votre quartier"}, []string{shown.Questions[0].Label, shown.Questions[1].Label})
	assert.Equal(t, "Je préfère ne pas répondre", shown.Questions[0].Options[0])
	assert.Equal(t, []string{"45-64", "riverside"}, []string{shown.Questions[0].Selected, shown.Questions[1].Selected},
		"the answers chosen survive the page redrawing itself")
	do(chromedp.Click(chromedp.CSS("#lang-en")))
	do(chromedp.ScrollIntoView(chromedp.CSS("#petition-" + id)))
	png, err := chromedp.Run(bctx, chromedp.CaptureScreenshot())
	require.NoError(t, err)
	shot := filepath.Join(artifactsDir(t), "wallet-answers.png")
	require.NoError(t, os.WriteFile(shot, png, 0o644))
	t.Logf("screenshot: %s", shot)
	do(chromedp.Click(chromedp.CSS("#sign-"+id)), chromedp.WaitVisible(chromedp.CSS("#withdraw-"+id)))
	assert.Equal(t, 1, petitionSignatures(t, n.url, id))

	// What the browser sent: the CLI's request, signed by the wallet's key for the petition,
	// naming no one, with the answers sealed to the tally key.
	bodies := signBodies(t, bctx, requests)
	require.Len(t, bodies, 1, "one signature")
	sent := bodies[0]
	pub, err := crypto.VerifyAct(crypto.PetitionAct{Document: sent.Document, Key: sent.Key, Petition: sent.Petition, Type: sent.Type}, sent.Signature)
	require.NoError(t, err, "the browser's act verifies in Go")
	assert.Equal(t, crypto.TypePetitionSign, sent.Type)
	assert.Equal(t, resident.Nullifier(id), crypto.PetitionNullifier(pub), "under the wallet's key for the petition")
	_, raws := requests.sent(t, bctx)
	for _, b := range raws {
		if strings.Contains(string(b), `"petition.sign"`) {
			assert.NotContains(t, string(b), resident.CitizenID(), "the signature names no citizen")
			assert.NotContains(t, string(b), crypto.EncodeKey(resident.SigningPublicKey()))
		}
	}
	assert.NoError(t, crypto.CheckSealed(sent.Answers, petition.MaxAnswers), "the answers are an age ciphertext to one X25519 recipient")
	assert.Equal(t, crypto.DocumentHash(sent.Answers), sent.Document, "the signed document is the sealed answers' hash")
	tally, err := tallyKeys{data}.identity(id)
	require.NoError(t, err)
	plain, err := crypto.Open(sent.Answers, tally)
	require.NoError(t, err, "the petition's tally key opens the browser's answers")
	want, err := client.AnswersPlaintext(api.Answers{AgeBand: "45-64", Neighbourhood: "riverside"})
	require.NoError(t, err)
	assert.Equal(t, string(want), string(plain), "the plaintext client.SignPetition seals")

	// The answers in clear are in no request, nor in the page's storage. (The resident lives
	// in old-town: "riverside" is only their answer.)
	urls, raw := requests.sent(t, bctx)
	stored, err := chromedp.Run(bctx, chromedp.Evaluate[string](dumpRecordsJS, chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	require.Contains(t, stored, `"receipts"`, "the dump read the wallet's records")
	haystacks := map[string]string{"IndexedDB": stored}
	for i, u := range urls {
		haystacks[fmt.Sprintf("request URL %d", i)] = u
	}
	for i, b := range raw {
		haystacks[fmt.Sprintf("request body %d", i)] = string(b)
	}
	for where, hay := range haystacks {
		for _, clear := range []string{string(want), "45-64", "45–64", "age_band", "riverside"} {
			assert.NotContains(t, hay, clear, "an answer in clear in the %s", where)
		}
	}

	// The others answer alike through the Go client; the petition closes; the breakdown
	// release opens every answer, the browser's among them, and publishes both groups.
	for _, w := range signers {
		_, err := c.SignPetition(ctx, w, id, false, &api.Answers{AgeBand: "45-64", Neighbourhood: "riverside"})
		require.NoError(t, err)
	}
	require.Equal(t, others+1, petitionSignatures(t, n.url, id))
	clock.Set(time.Until(closes) + time.Second)
	published, _, err := c.RunReleases(ctx, token)
	require.NoError(t, err)
	assert.GreaterOrEqual(t, published, 1)
	p, err := c.Petition(ctx, id)
	require.NoError(t, err)
	require.NotEmpty(t, p.Breakdown, "the breakdown is released once the petition closed")
	d, err := release.ParseBreakdown(p.Breakdown)
	require.NoError(t, err)
	published = 0
	for _, q := range d.Questions {
		for _, g := range q.Groups {
			ours := g.Answer == map[string]string{api.AskAgeBand: "45-64", api.AskNeighbourhood: "riverside"}[q.Question]
			assert.Equal(t, !ours, g.Suppressed, "%s %s: %+v", q.Question, g.Answer, g)
			if ours {
				published++
				assert.InDelta(t, others+1, g.Signers, 15, "a noisy count of the 25 signers")
			}
		}
	}
	assert.Equal(t, 2, published, "one group of each question is published")
	m := regexp.MustCompile(`petition breakdown published" petition=` + id + ` answers=(\d+) unreadable=(\d+)`).FindStringSubmatch(logs.String())
	require.NotNil(t, m, "the release logged what it opened")
	assert.Equal(t, []string{fmt.Sprint(others + 1), "0"}, m[1:], "every answer opened, the browser's too")

	assert.Empty(t, requests.errors(), "the browser logged no script error, policy violation or failed load")
}

// browserResident opens the wallet page in a fresh browser, imports w's wallet file and registers
// it in old-town with invite. do runs steps on the page, failing the test on an error.
func browserResident(t *testing.T, ctx context.Context, n *node, w *crypto.Wallet, invite string) (context.Context, *requestLog, func(...chromedp.Action[chromedp.Void])) {
	t.Helper()
	file := filepath.Join(t.TempDir(), "wallet")
	require.NoError(t, os.WriteFile(file, w.Marshal(), 0o600))
	bctx, requests := walletBrowser(t, ctx, "")
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	openWalletPage(t, bctx, n.url+"/wallet?invite="+invite)
	do(chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{file}), chromedp.Click(chromedp.CSS("#import")),
		chromedp.WaitVisible(chromedp.CSS("#citizen")))
	do(chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")))
	return bctx, requests, do
}

// signBodies are the petition.sign requests the browser sent, in order.
func signBodies(t *testing.T, ctx context.Context, rl *requestLog) []api.SignatureRequest {
	t.Helper()
	_, bodies := rl.sent(t, ctx)
	var out []api.SignatureRequest
	for _, b := range bodies {
		if !strings.Contains(string(b), `"petition.sign"`) {
			continue
		}
		var s api.SignatureRequest
		require.NoError(t, json.Unmarshal(b, &s), "%s", b)
		out = append(out, s)
	}
	return out
}

// dumpRecordsJS reads every record of the wallet's IndexedDB, as JSON.
const dumpRecordsJS = `new Promise((resolve, reject) => {
	const open = indexedDB.open("commons-wallet", 1);
	open.onerror = () => reject(open.error);
	open.onsuccess = () => {
		const db = open.result;
		const req = db.transaction("records", "readonly").objectStore("records").openCursor();
		const out = {};
		req.onsuccess = () => {
			const cur = req.result;
			if (cur) { out[cur.key] = cur.value; cur.continue(); return; }
			db.close();
			resolve(JSON.stringify(out));
		};
		req.onerror = () => reject(req.error);
	};
})`

// TestWalletShowsAPendingSignatureUntilItsBatchLands runs a node that appends signatures in
// batches of two: the browser's signature is accepted and shown pending, with no receipt; once
// another resident's signature completes the batch, the wallet fetches the receipt, shows the
// petition signed, and the receipt checks against the ledger. The withdrawal goes the same
// way, after which the petition offers no signature again.
func TestWalletShowsAPendingSignatureUntilItsBatchLands(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	n := startNode(t, t.TempDir(), &nodetest.Logs{}, "--signature-batch-every", "0s", "--signature-batch-min", "2")
	c := client.New(n.url)
	token := adminTokenOf(t, n.data)
	invites, err := c.Invites(ctx, token, 3)
	require.NoError(t, err)
	organiser, err := fixtures.NewOrganiser(ctx, c, token, invites[0])
	require.NoError(t, err)
	const id = "quiet-street"
	now := time.Now().UTC().Truncate(time.Second)
	_, err = c.CreatePetition(ctx, organiser, api.Petition{ID: id, Title: "A quiet street", Text: "Fewer cars.",
		Opens: now.Add(-time.Hour), Closes: now.Add(24 * time.Hour), Threshold: 10})
	require.NoError(t, err)
	other, err := crypto.NewWallet()
	require.NoError(t, err)
	_, err = c.Register(ctx, other, invites[2], "riverside")
	require.NoError(t, err)

	resident, err := crypto.NewWallet()
	require.NoError(t, err)
	bctx, requests, do := browserResident(t, ctx, n, resident, invites[1])
	openWalletPage(t, bctx, n.url+"/wallet")
	do(chromedp.Click(chromedp.CSS("#sign-"+id)), chromedp.WaitVisible(chromedp.CSS("#pending-"+id)))
	assert.Zero(t, petitionSignatures(t, n.url, id), "alone, the signature waits for its batch")
	s, err := c.SignatureStatus(ctx, id, resident.Nullifier(id))
	require.NoError(t, err)
	assert.Equal(t, api.SignaturePending, s.Status)

	_, err = c.SignPetition(ctx, other, id, false, nil)
	require.NoError(t, err)
	require.True(t, eventually(n.ctx, func() bool { return petitionSignatures(t, n.url, id) == 2 }), "the batch of two lands")
	do(chromedp.Click(chromedp.CSS("#check-pending-"+id)), chromedp.WaitVisible(chromedp.CSS("#withdraw-"+id)))
	do(chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS(".receipts .checked.ok")))
	receipts, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.querySelector(".receipts").textContent`))
	require.NoError(t, err)
	assert.Contains(t, receipts, id, "the signature's receipt is kept")
	assert.NotContains(t, receipts, "failed")

	// The withdrawal waits in its batch too; once it lands, the petition cannot be signed again.
	do(chromedp.Click(chromedp.CSS("#withdraw-"+id)), chromedp.WaitVisible(chromedp.CSS("#pending-"+id)))
	_, err = c.SignPetition(ctx, other, id, true, nil)
	require.NoError(t, err)
	require.True(t, eventually(n.ctx, func() bool { return petitionSignatures(t, n.url, id) == 0 }), "the batch of two withdrawals lands")
	do(chromedp.Click(chromedp.CSS("#check-pending-"+id)), chromedp.WaitVisible(chromedp.CSS("#withdrawn-"+id)))
	forms, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#sign-`+id+`").length`))
	require.NoError(t, err)
	assert.Zero(t, forms, "no sign button: the token is spent")
	assert.Empty(t, requests.errors(), "the browser logged no script error, policy violation or failed load")
}
