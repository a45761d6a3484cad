package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"filippo.io/torchwood"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/page"
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

// TestWalletBrowser is a resident's whole browser session against the real binary, on a
// phone-sized chromium: create a wallet, download its backup, register with an invite link
// that names a petition (and land on it),
// consent, sign a petition (the public count moves by one), check every receipt in the
// browser, open "My data" after the CLI contributed with the browser's backup, and carry
// wallets both ways between browser and CLI, plain and passphrase-protected. Every request
// the browser made stays on 127.0.0.1, and no request, page or server log line holds a
// secret key or a key derived from one.
func TestWalletBrowser(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	data, home, downloads := t.TempDir(), t.TempDir(), t.TempDir()
	logs := &nodetest.Logs{}
	n := startNode(t, data, logs)
	tokenFile := filepath.Join(data, "admin.token")
	invites := n.invites(2)
	invite := invites[0]
	// The operator creates the petitions in their own name, from their own registered wallet.
	operator := filepath.Join(home, "operator", "wallet")
	_, err := n.cli(operator, "wallet", "init")
	require.NoError(t, err)
	_, err = n.cli(operator, "register", "--invite", invites[1], "--neighbourhood", "riverside")
	require.NoError(t, err)
	petitionText := filepath.Join(home, "petition.md")
	require.NoError(t, os.WriteFile(petitionText, []byte("We ask for benches every 200 m along the river path."), 0o600))
	const petitionID = "riverside-benches"
	_, err = n.cli(operator, "admin", "petition", "--id", petitionID, "--title", "Benches along the river",
		"--text-file", petitionText, "--threshold", "50", "--admin-token-file", tokenFile)
	require.NoError(t, err)

	bctx, requests := walletBrowser(t, ctx, downloads)
	require.NoError(t, chromedp.Listen(bctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			// "Remove the wallet from this browser?": the resident says yes.
			go chromedp.Call(bctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: true})
		}
	}))
	artifacts := artifactsDir(t)
	var pages []string
	snap := func(name string) {
		t.Helper()
		html, err := chromedp.Run(bctx, chromedp.OuterHTML(chromedp.CSS("html")))
		require.NoError(t, err)
		pages = append(pages, html)
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		path := filepath.Join(artifacts, "wallet-"+name+".png")
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s", path)
	}
	do, text := pageDo(t, bctx), pageText(t, bctx)

	// A neighbour's link with an invite code opens the page; the resident makes a wallet.
	openWalletPage(t, bctx, n.url+"/wallet?invite="+url.QueryEscape(invite)+"&petition="+petitionID)
	snap("start")
	do(chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")))
	citizen := text("#citizen")
	require.True(t, strings.HasPrefix(citizen, "c-"), citizen)
	backup := download(t, bctx, downloads, "#backup", "commons-wallet")
	w, err := crypto.LoadWallet(backup)
	require.NoError(t, err, "the backup is a plain wallet file the Go package reads")
	assert.Equal(t, citizen, w.CitizenID())
	backupText, err := os.ReadFile(backup)
	require.NoError(t, err)
	created := regexp.MustCompile(`(?m)^# created: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$`)
	assert.Equal(t, created.ReplaceAllString(string(w.Marshal()), "# created: T"), created.ReplaceAllString(string(backupText), "# created: T"),
		"the backup is line for line what commons wallet init writes")
	out, err := n.cli(backup, "wallet", "show", "--json")
	require.NoError(t, err)
	assert.Contains(t, out, `"citizen": "`+citizen+`"`, "the CLI reads the browser's backup")

	// Register with the code from the link, consent, sign.
	inviteShown, err := chromedp.Run(bctx, chromedp.Value(chromedp.CSS("#invite")))
	require.NoError(t, err)
	assert.Equal(t, invite, inviteShown, "the invite link fills in the code")
	do(chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")))
	landed, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.activeElement.closest("li")?.id ?? ""`))
	require.NoError(t, err)
	assert.Equal(t, "petition-"+petitionID, landed, "the link's petition has the focus once registered")
	do(chromedp.Click(chromedp.CSS("#grant-air-quality-daily")), chromedp.WaitVisible(chromedp.CSS("#revoke-air-quality-daily")))
	before := petitionSignatures(t, n.url, petitionID)
	do(chromedp.Click(chromedp.CSS("#sign-"+petitionID)), chromedp.WaitVisible(chromedp.CSS("#withdraw-"+petitionID)))
	assert.Equal(t, before+1, petitionSignatures(t, n.url, petitionID), "the public count moved by one")
	assert.Contains(t, text("#petition-"+petitionID+" .count"), fmt.Sprintf("%d of 50", before+1))
	snap("signed")

	// Every receipt checks out in the browser against the latest signed checkpoint.
	do(chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("ul.receipts li .checked")))
	type receiptView struct {
		Index int    `json:"index"`
		Class string `json:"class"`
		Text  string `json:"text"`
	}
	receipts, err := chromedp.Run(bctx, chromedp.Evaluate[[]receiptView](`[...document.querySelectorAll("ul.receipts li")].map(li => ({
		index: Number(li.dataset.index), class: li.querySelector(".checked")?.className ?? "", text: li.textContent }))`))
	require.NoError(t, err)
	require.Len(t, receipts, 3, "registration, consent, signature")
	for _, r := range receipts {
		assert.Equal(t, "checked ok", r.Class, "receipt %d: %s", r.Index, r.Text)
	}
	snap("receipts")

	// The ledger grows; a receipt altered on the device no longer checks out, and the page
	// says so.
	_, err = n.cli(operator, "admin", "petition", "--id", "second-petition", "--title", "A second petition",
		"--text-file", petitionText, "--admin-token-file", tokenFile)
	require.NoError(t, err)
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](tamperRecordJS("receipts", "rs[1].receipt.leaf_hash"), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	openWalletPage(t, bctx, n.url+"/wallet")
	do(chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("ul.receipts li .checked")))
	classes, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("ul.receipts li .checked")].map(s => s.className)`))
	require.NoError(t, err)
	assert.Equal(t, []string{"checked ok", "checked failed", "checked ok"}, classes)
	assert.Equal(t, "1 receipts did not check out: see below.", text("#alert"), "the ledger that grew is consistent with the one seen")

	// A ledger that does not extend the last checkpoint this browser saw is refused.
	_, err = chromedp.Run(bctx, chromedp.Evaluate[bool](tamperRecordJS("lastCheckpoint", "rs.root"), chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	openWalletPage(t, bctx, n.url+"/wallet")
	do(chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("#alert")))
	assert.Contains(t, text("#alert"), "it was rewritten or forked")

	// The consent the browser signed is in the ledger, and its signature verifies in Go.
	entry, err := api.ParseEntry(httpGet(t, n.url+"/api/v1/ledger/entries/"+itoa(uint64(receipts[1].Index))))
	require.NoError(t, err)
	require.Equal(t, api.EntryConsentGrant, entry.Type)
	signed := crypto.SignedStatement{Signature: entry.Signature, Statement: crypto.Statement{Type: crypto.TypeConsentGrant,
		Citizen: entry.Citizen, Purpose: entry.Purpose, PurposeVersion: entry.PurposeVersion, IssuedAt: entry.IssuedAt, Nonce: entry.Nonce}}
	assert.NoError(t, signed.Verify(w.SigningPublicKey()), "the browser's statement, as logged, verifies in Go")

	// The CLI uses the browser's wallet: lists consents, contributes, exports.
	out, err = n.cli(backup, "consent", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "air-quality/daily")
	readings := filepath.Join(home, "readings.json")
	means := writeReadings(t, readings, 3)
	_, err = n.cli(backup, "contribute", readings)
	require.NoError(t, err)

	// My data: the vault is downloaded, opened and charted in the browser.
	do(chromedp.Click(chromedp.CSS("#data-load")), chromedp.WaitVisible(chromedp.CSS("#data-summary")))
	assert.Contains(t, text("#data-summary"), "72 readings over 3 days")
	type chartView struct {
		Dots int      `json:"dots"`
		Days []string `json:"days"`
		PM25 []string `json:"pm25"`
	}
	chart, err := chromedp.Run(bctx, chromedp.Evaluate[chartView](`({
		dots: document.querySelectorAll("svg.chart circle.dot").length,
		days: [...document.querySelectorAll("table.daily tbody th")].map(th => th.textContent),
		pm25: [...document.querySelectorAll("table.daily tbody td")].map(td => td.textContent) })`))
	require.NoError(t, err)
	assert.Equal(t, 3, chart.Dots, "one point per day")
	var wantDays, wantMeans []string
	for _, m := range means {
		wantDays = append(wantDays, m.day)
		wantMeans = append(wantMeans, m.pm25)
	}
	assert.Equal(t, wantDays, chart.Days)
	assert.Equal(t, wantMeans, chart.PM25, "daily PM2.5 means computed on the device")
	snap("my-data")
	saved := download(t, bctx, downloads, "#data-save", "readings.json")
	savedReadings, err := os.ReadFile(saved)
	require.NoError(t, err)
	var back struct {
		Readings []json.RawMessage `json:"readings"`
	}
	require.NoError(t, json.Unmarshal(savedReadings, &back))
	assert.Len(t, back.Readings, 72, "the decrypted readings, saved from the device")
	if agePath, err := exec.LookPath("age"); err == nil {
		exported := filepath.Join(home, "export")
		_, err = n.cli(backup, "export", "--out", exported)
		require.NoError(t, err)
		files, err := filepath.Glob(filepath.Join(exported, "*.age"))
		require.NoError(t, err)
		require.Len(t, files, 3)
		plain, err := exec.Command(agePath, "-d", "-i", backup, files[0]).CombinedOutput()
		require.NoError(t, err, "Debian's age opens a vault copy with the browser's backup: %s", plain)
		assert.Contains(t, string(plain), `"readings"`)
	} else {
		t.Log("age not on PATH: skipping the `age -d -i` check of the browser's backup")
	}

	// French, by the language switch.
	do(chromedp.Click(chromedp.CSS("#lang-fr")))
	assert.Equal(t, "Votre portefeuille", text("h1"))
	snap("fr")
	do(chromedp.Click(chromedp.CSS("#lang-en")))

	// A passphrase-protected wallet file as the CLI writes it, imported into the browser, is
	// the same citizen. It is protected at a cheap work factor, in the same format: the CLI's
	// own work factor is TestPassphraseWalletCLI's to check, and the browser opens one of 18
	// below.
	const passphrase = "seven tidy owls"
	n.env = append(n.env, "COMMONS_WALLET_PASSPHRASE="+passphrase)
	cliW, err := crypto.NewWallet()
	require.NoError(t, err)
	cliWallet := filepath.Join(home, "cli", "wallet")
	require.NoError(t, os.MkdirAll(filepath.Dir(cliWallet), 0o700))
	require.NoError(t, os.WriteFile(cliWallet, cheapProtected(t, cliW, passphrase), 0o600))
	out, err = n.cli(cliWallet, "wallet", "show", "--json")
	require.NoError(t, err)
	assert.Contains(t, out, `"citizen": "`+cliW.CitizenID()+`"`, "the CLI opens it")
	do(chromedp.Click(chromedp.CSS("#forget")), chromedp.WaitVisible(chromedp.CSS("#import-file")))
	do(chromedp.SetUploadFiles(chromedp.CSS("#import-file"), []string{cliWallet}),
		chromedp.SetValue(chromedp.CSS("#import-pass"), passphrase), chromedp.Click(chromedp.CSS("#import")),
		chromedp.WaitVisible(chromedp.CSS("#citizen")))
	assert.Equal(t, cliW.CitizenID(), text("#citizen"), "the protected wallet file, imported")

	// A passphrase-protected browser wallet: its backup opens in the CLI, and the page asks for
	// the passphrase after a reload.
	do(chromedp.Click(chromedp.CSS("#forget")), chromedp.WaitVisible(chromedp.CSS("#new-pass")))
	do(chromedp.SetValue(chromedp.CSS("#new-pass"), passphrase), chromedp.SetValue(chromedp.CSS("#new-pass2"), passphrase),
		chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")))
	protectedCitizen := text("#citizen")
	protectedBackup := download(t, bctx, downloads, "#backup", "commons-wallet.age")
	b, err := os.ReadFile(protectedBackup)
	require.NoError(t, err)
	assert.True(t, crypto.IsProtected(b), "the backup of a protected wallet is an age file")
	assert.Equal(t, 18, scryptWorkFactor(t, b), "at age's default work factor, as the CLI protects")
	out, err = n.cli(protectedBackup, "wallet", "show", "--json")
	require.NoError(t, err)
	assert.Contains(t, out, `"citizen": "`+protectedCitizen+`"`, "the CLI opens the browser's protected backup")
	// Its identity, for the leak scan below, opened by the page's script: its scrypt costs the
	// race-instrumented test several times more. The CLI just opened it as the same citizen.
	identity, err := chromedp.Run(bctx, chromedp.Evaluate[string](callJS(t, `(async (file, pass) =>
		(await CommonsWalletCore.openWalletFile(new TextEncoder().encode(file), pass)).keys.identity)`, string(b), passphrase),
		chromedp.EvalAwaitPromise))
	require.NoError(t, err)
	protectedW, err := crypto.ParseWallet([]byte(identity + "\n"))
	require.NoError(t, err)
	require.Equal(t, protectedCitizen, protectedW.CitizenID())
	openWalletPage(t, bctx, n.url+"/wallet")
	do(chromedp.WaitVisible(chromedp.CSS("#unlock-pass")))
	snap("unlock")
	do(chromedp.SetValue(chromedp.CSS("#unlock-pass"), "not it"), chromedp.Click(chromedp.CSS("#unlock-button")),
		chromedp.WaitVisible(chromedp.CSS("#alert")))
	assert.Equal(t, "The passphrase does not open this wallet.", text("#alert"))
	do(chromedp.SetValue(chromedp.CSS("#unlock-pass"), passphrase), chromedp.Click(chromedp.CSS("#unlock-button")),
		chromedp.WaitVisible(chromedp.CSS("#citizen")))
	assert.Equal(t, protectedCitizen, text("#citizen"))
	snap("unlocked")

	assert.Empty(t, requests.errors(), "the browser logged no script error, policy violation or failed load")

	// Where the browser went, and what it sent.
	urls, bodies := requests.sent(t, bctx)
	var posts int
	for i, raw := range urls {
		u, err := url.Parse(strings.TrimPrefix(raw, "blob:"))
		require.NoError(t, err)
		assert.Equal(t, "127.0.0.1", u.Hostname(), "request %d left loopback: %s", i, raw)
	}
	for _, body := range bodies {
		if strings.Contains(string(body), `"signature"`) {
			posts++
		}
	}
	assert.GreaterOrEqual(t, posts, 4, "the recorder saw the signed requests (register, consent, sign, vault)")
	haystacks := map[string]string{"server log": logs.String()}
	for i, u := range urls {
		haystacks[fmt.Sprintf("request URL %d", i)] = u
	}
	for i, b := range bodies {
		haystacks[fmt.Sprintf("request body %d", i)] = string(b)
	}
	for i, p := range pages {
		haystacks[fmt.Sprintf("page %d", i)] = p
	}
	for _, wallet := range []*crypto.Wallet{w, cliW, protectedW} {
		for _, secret := range secretForms(t, wallet) {
			for where, hay := range haystacks {
				assert.NotContains(t, strings.ToLower(hay), strings.ToLower(secret), "a secret of %s in the %s", wallet.CitizenID(), where)
			}
		}
	}
	for where, hay := range haystacks {
		assert.NotContains(t, strings.ToUpper(hay), "AGE-SECRET-KEY-", "an age identity in the %s", where)
	}
}

// tamperRecordJS flips one bit of a base64 field (an expression of rs, the record) of a
// record in the wallet's IndexedDB.
func tamperRecordJS(record, field string) string {
	return `new Promise((resolve, reject) => {
	const open = indexedDB.open("commons-wallet", 1);
	open.onerror = () => reject(open.error);
	open.onsuccess = () => {
		const db = open.result;
		const tx = db.transaction("records", "readwrite");
		const store = tx.objectStore("records");
		const get = store.get("` + record + `");
		get.onsuccess = () => {
			const rs = get.result;
			const h = atob(` + field + `);
			` + field + ` = btoa(String.fromCharCode(h.charCodeAt(0) ^ 1) + h.slice(1));
			store.put(rs, "` + record + `");
		};
		tx.oncomplete = () => { db.close(); resolve(true); };
		tx.onerror = () => reject(tx.error);
	};
})`
}

// secretForms are the ways a wallet's secrets could be written: the identity, and the
// derived signing seed and the seed of its key for the test petition in hex and base64.
func secretForms(t *testing.T, w *crypto.Wallet) []string {
	t.Helper()
	id := w.Identity().String()
	seed, petitionSeeds := derivedSecrets(t, id, testPetition)
	var out []string
	out = append(out, id)
	for _, k := range [][]byte{seed, petitionSeeds[0]} {
		out = append(out, hex.EncodeToString(k), base64.StdEncoding.EncodeToString(k),
			base64.RawURLEncoding.EncodeToString(k))
	}
	return out
}

// download clicks a button that saves a file and waits for the browser to finish writing it.
func download(t *testing.T, ctx context.Context, dir, button, name string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	_ = os.Remove(path)
	require.NoError(t, chromedp.Do(ctx, chromedp.Click(chromedp.CSS(button))))
	require.True(t, eventually(ctx, func() bool {
		st, err := os.Stat(path)
		return err == nil && st.Size() > 0
	}), "download of %s", name)
	return path
}

func petitionSignatures(t *testing.T, base, id string) int {
	t.Helper()
	var p struct {
		Signatures int `json:"signatures"`
	}
	require.NoError(t, json.Unmarshal(httpGet(t, base+"/api/v1/petitions/"+id), &p))
	return p.Signatures
}

type dayMean struct{ day, pm25 string }

// writeReadings writes a JSON readings file of days×24 hourly readings in old-town, ending
// yesterday, and returns each day's PM2.5 mean as the page should show it.
func writeReadings(t *testing.T, path string, days int) []dayMean {
	t.Helper()
	type values struct {
		PM25        float64 `json:"pm2_5"`
		PM10        float64 `json:"pm10"`
		Temperature float64 `json:"temperature"`
	}
	type reading struct {
		Sensor     string `json:"sensor"`
		RecordedAt string `json:"recorded_at"`
		Cell       string `json:"cell"`
		Values     values `json:"values"`
	}
	var rs []reading
	var means []dayMean
	first := time.Now().UTC().Truncate(24*time.Hour).AddDate(0, 0, -days)
	for d := range days {
		day := first.AddDate(0, 0, d)
		sum := 0.0
		for h := range 24 {
			pm := 8 + float64(d)*3 + float64(h%5)
			sum += pm
			rs = append(rs, reading{Sensor: "balcony", RecordedAt: day.Add(time.Duration(h)*time.Hour + 5*time.Minute).Format(time.RFC3339),
				Cell: "old-town", Values: values{PM25: pm, PM10: pm * 1.6, Temperature: 9 + float64(h)/4}})
		}
		means = append(means, dayMean{day: day.Format(time.DateOnly), pm25: fmt.Sprint(float64(int(sum/24*10+0.5)) / 10)})
	}
	b, err := json.Marshal(map[string]any{"readings": rs})
	require.NoError(t, err)
	require.NoError(t, os.WriteFile(path, b, 0o600))
	return means
}

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
	// The node's noise is real (Laplace of scale 2 per question, k = 10), so only what holds
	// whatever it draws is checked here: the group every signer chose is published with a
	// count near theirs (off by more than 25 with probability 4·10⁻⁶). A group no one chose is
	// usually suppressed, but its noise alone reaches k about 0.3 % of the time, and with a
	// about ten such groups a test that required them all suppressed failed about one run in 30;
	// release.TestPetitionBreakdownThresholdsTheNoisyCountOnly checks the threshold on seeded
	// noise.
	published = 0
	for _, q := range d.Questions {
		for _, g := range q.Groups {
			if g.Answer != map[string]string{api.AskAgeBand: "45-64", api.AskNeighbourhood: "riverside"}[q.Question] {
				continue
			}
			assert.False(t, g.Suppressed, "%s %s: %+v", q.Question, g.Answer, g)
			assert.InDelta(t, others+1, g.Signers, 25, "a noisy count of the 25 signers")
			published++
		}
	}
	assert.Equal(t, 2, published, "the browser's answer to each question is in a published group")
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
	do := pageDo(t, bctx)
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
	n := startFreshNode(t, "--signature-batch-every", "0s", "--signature-batch-min", "2")
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

// TestWalletBrowserInFrench is a resident of old-town using the wallet in French on a phone:
// every word the page shows is French (no sentence of the wallet's English, no English
// stopword), a petition with paper signatures counts them as /petitions does, and a petition
// of another neighbourhood offers no Sign button but says why. Then the same page in a browser
// whose storage is switched off, and in one that could not load the script: each says what
// went wrong and what to do, instead of a blank page.
func TestWalletBrowserInFrench(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	n := startFreshNode(t)
	admin := adminTokenOf(t, n.data)
	c := client.New(n.url)
	invites, err := c.Invites(ctx, admin, 2)
	require.NoError(t, err)
	organiser, err := fixtures.NewOrganiser(ctx, c, admin, invites[1])
	require.NoError(t, err)
	now := time.Now().UTC()
	for _, p := range []api.Petition{
		{ID: "bancs-du-fleuve", Title: "Des bancs au bord du fleuve", Text: "Nous demandons des bancs tous les deux cents mètres.",
			Threshold: 100},
		{ID: "arbres-riverside", Title: "Des arbres à Riverside", Text: "Nous demandons des arbres.",
			Scope: []string{"riverside"}, Threshold: 20},
	} {
		p.Opens, p.Closes = now.Add(-time.Hour).Truncate(time.Hour), now.AddDate(0, 0, 14).Truncate(24*time.Hour)
		_, err := c.CreatePetition(ctx, organiser, p)
		require.NoError(t, err)
	}
	_, err = c.EnterPaper(ctx, organiser, api.Paper{Petition: "bancs-du-fleuve", Count: 38, Note: "signées au marché"})
	require.NoError(t, err)

	bctx, _ := walletBrowser(t, ctx, t.TempDir())
	artifacts := artifactsDir(t)
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
		require.NoError(t, err)
		path := filepath.Join(artifacts, "wallet-fr-"+name+".png")
		require.NoError(t, os.WriteFile(path, png, 0o644))
		t.Logf("screenshot: %s", path)
	}
	text := pageText(t, bctx)
	openWalletPage(t, bctx, n.url+"/wallet?lang=fr&invite="+invites[0])
	require.NoError(t, chromedp.Do(bctx, chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")),
		chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")), chromedp.WaitVisible(chromedp.CSS("#petition-bancs-du-fleuve"))))
	shot("registered")

	lang, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.documentElement.lang`))
	require.NoError(t, err)
	assert.Equal(t, "fr", lang)
	assert.Equal(t, "Accueil", text(`header nav a[href="/"]`))
	assert.Equal(t, "Portefeuille", text(`header nav a[href="/wallet"]`))
	assert.Contains(t, text("footer"), "Vos clés ne quittent jamais cet appareil")
	assert.Equal(t, "Qualité de l'air par quartier", text("#purpose-air-quality-daily h3"))
	assert.Contains(t, text("#purpose-air-quality-daily"), "par quartier et par jour")

	// Item 11: the same totals as /petitions, paper included.
	assert.Equal(t, "38 signatures sur 100 (0 en ligne, 38 sur papier)", text("#petition-bancs-du-fleuve .count"))
	// Item 12: no Sign button outside the resident's neighbourhood, and the reason.
	signs, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#sign-arbres-riverside").length`))
	require.NoError(t, err)
	assert.Zero(t, signs, "no Sign button on another neighbourhood's petition")
	assert.Contains(t, text("#petition-arbres-riverside .out-of-scope"), "Hors de votre quartier")
	signs, err = chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("#sign-bancs-du-fleuve").length`))
	require.NoError(t, err)
	assert.Equal(t, 1, signs, "a city-wide petition can be signed")

	// Item 13: no English on the French page.
	body, err := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body.innerText`))
	require.NoError(t, err)
	for _, f := range walletEnglish(t) {
		assert.NotContains(t, body, f, "English on the French wallet")
	}
	names, err := chromedp.Run(bctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll("#neighbourhood option, .card h3")].map(o => o.textContent)`))
	require.NoError(t, err)
	words := body
	for _, name := range append(names, "English", "Commons") {
		words = strings.ReplaceAll(words, name, " ")
	}
	assert.Empty(t, englishStopwords.FindAllString(words, -1), "English words on the French wallet: %q", words)

	// Item 10: storage switched off. The script throws where the page opens IndexedDB.
	blocked, err := chromedp.Call(bctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{
		Source: `Object.defineProperty(window, "indexedDB", { get() { throw new DOMException("The user denied permission to access the database.", "SecurityError"); } });`})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(n.url+"/wallet?lang=fr"), chromedp.WaitVisible(chromedp.CSS("#failure"))))
	shot("storage-off")
	failure := text("#failure")
	assert.Contains(t, failure, "Ce navigateur ne permet pas au portefeuille de garder vos clés.")
	assert.Contains(t, failure, "navigation privée")
	assert.Contains(t, failure, "denied permission", "the detail gives the browser's refusal")
	_, err = chromedp.Call(bctx, page.RemoveScriptToEvaluateOnNewDocument, page.RemoveScriptToEvaluateOnNewDocumentParams(blocked))
	require.NoError(t, err)

	// Item 10: the script does not load. The page itself says what to do.
	_, err = chromedp.Call(bctx, network.SetBlockedURLs, network.SetBlockedURLsParams{
		URLPatterns: []*network.BlockPattern{{URLPattern: "*://*:*/wallet/static/*/wallet.js", Block: true}}})
	require.NoError(t, err)
	require.NoError(t, chromedp.Do(bctx, chromedp.Navigate(n.url+"/wallet"), chromedp.WaitVisible(chromedp.CSS("#loading"))))
	shot("no-script")
	assert.Contains(t, text("#loading"), "could not run the page's script")
	assert.Contains(t, text("#loading-fr"), "n'a pas pu exécuter le script")
}

// walletEnglish are the wallet's English messages (i18n.js, const en), cut at their {params}
// into runs of at least three words.
func walletEnglish(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("../../dashboards/wallet/web/src/i18n.js")
	require.NoError(t, err)
	start := strings.Index(string(src), "const en = {")
	end := strings.Index(string(src), "const fr = {")
	require.True(t, start >= 0 && end > start)
	message := regexp.MustCompile(`(?m)^\s+\w+: "(.*)",$`)
	param := regexp.MustCompile(`\{\w+\}`)
	word := regexp.MustCompile(`\p{L}{2,}`)
	var out []string
	for _, m := range message.FindAllStringSubmatch(string(src[start:end]), -1) {
		for _, part := range param.Split(m[1], -1) {
			if part = strings.TrimSpace(part); len(word.FindAllString(part, -1)) >= 3 {
				out = append(out, part)
			}
		}
	}
	require.Greater(t, len(out), 50)
	return out
}

// englishStopwords are words a French page never holds outside a name.
var englishStopwords = regexp.MustCompile(`(?i)\b(the|and|of|your|with|is|are|this|that|these|from|per|by|which|when|only|every|not|yet|been)\b`)

// TestWalletPurposes is a resident deciding on a proposed purpose in the browser wallet, on
// a phone-sized chromium against the real binary: she approves, changes her mind and objects,
// approves again (the public counts follow each time, and the CLI with her wallet's backup
// finds her say already counted: the browser derives the same nullifier as Go); once the
// operator activates the purpose, the wallet lists it with its cost and she consents to it.
func TestWalletPurposes(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	data, home, downloads := t.TempDir(), t.TempDir(), t.TempDir()
	n := startNode(t, data, &nodetest.Logs{})
	token := filepath.Join(data, "admin.token")
	invites := n.invites(2)
	organiser := cliOrganiser(t, n, data, filepath.Join(home, "organiser", "wallet"), invites[1])
	proposal := api.PurposeProposal{ID: "pm10-study", Version: 1,
		Title:       api.Text{EN: "Weekly PM10 study", FR: "Étude hebdomadaire des PM10"},
		Description: api.Text{EN: "The university publishes the weekly mean PM10 of each neighbourhood that agrees.", FR: "L'université publie la moyenne hebdomadaire des PM10 de chaque quartier qui accepte."},
		Requester:   "University of the demo city", Readings: []string{"pm10"}, Statistics: []string{"mean"},
		Grid: release.GridNeighbourhoodWeek, EpsilonRelease: 0.35, EpsilonMonth: 1.75, RetentionDays: 14,
		Start: "2026-01-05", End: "2036-01-04", Scope: []string{"old-town", "riverside"}, ApprovalsNeeded: 1, Deadline: "2035-12-31"}
	file := filepath.Join(home, "pm10.json")
	require.NoError(t, os.WriteFile(file, must(json.Marshal(proposal)), 0o600))
	_, err := n.cli(organiser, "purpose", "propose", "--file", file)
	require.NoError(t, err)

	bctx, requests := walletBrowser(t, ctx, downloads)
	do, text := pageDo(t, bctx), pageText(t, bctx)
	counts := func() api.NeighbourhoodApprovals {
		t.Helper()
		var p api.PublicPurpose
		fetchJSON(t, n.url+"/api/v1/purposes/pm10-study", &p)
		require.NotEmpty(t, p.Approvals)
		return p.Approvals[0]
	}

	openWalletPage(t, bctx, n.url+"/wallet?invite="+url.QueryEscape(invites[0]))
	do(chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")))
	backup := download(t, bctx, downloads, "#backup", "commons-wallet")
	do(chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")))
	card := text("#purpose-pm10-study")
	assert.Contains(t, card, "Weekly PM10 study")
	assert.Contains(t, card, "Asked by University of the demo city")
	assert.Contains(t, card, "proposed — your neighbourhood decides")
	assert.Contains(t, card, "costs ε 0.05 per day of your privacy budget")
	assert.NotContains(t, card, "Share", "no consent before the neighbourhood and the operator decide")

	do(chromedp.Click(chromedp.CSS("#approve-pm10-study")), chromedp.WaitNotPresent(chromedp.CSS("#approve-pm10-study")))
	assert.Equal(t, "Your say: you approve", text("#say-pm10-study"))
	assert.Equal(t, "Ciutat Vella: 1 approve, 0 object", text("#approvals-pm10-study-old-town"))
	assert.Equal(t, api.NeighbourhoodApprovals{Neighbourhood: "old-town", Approve: 1, Met: true}, counts())
	_, err = n.cli(backup, "purpose", "approve", "pm10-study")
	assert.ErrorContains(t, err, "already_approved", "the CLI derives the browser's nullifier")

	do(chromedp.Click(chromedp.CSS("#object-pm10-study")), chromedp.WaitNotPresent(chromedp.CSS("#object-pm10-study")))
	assert.Equal(t, "Your say: you object", text("#say-pm10-study"))
	assert.Equal(t, api.NeighbourhoodApprovals{Neighbourhood: "old-town", Object: 1}, counts(), "a change of mind, counted once")
	do(chromedp.Click(chromedp.CSS("#approve-pm10-study")), chromedp.WaitNotPresent(chromedp.CSS("#approve-pm10-study")))
	assert.Equal(t, api.NeighbourhoodApprovals{Neighbourhood: "old-town", Approve: 1, Met: true}, counts())

	_, err = n.cli("", "admin", "purpose", "activate", "pm10-study", "--admin-token-file", token)
	require.NoError(t, err)
	openWalletPage(t, bctx, n.url+"/wallet")
	card = text("#purpose-pm10-study")
	assert.Contains(t, card, "Status: active")
	do(chromedp.Click(chromedp.CSS("#grant-pm10-study")), chromedp.WaitVisible(chromedp.CSS("#revoke-pm10-study")))
	out, err := n.cli(backup, "consent", "list")
	require.NoError(t, err)
	assert.Contains(t, out, "pm10-study (version 1): Weekly PM10 study")
	assert.Regexp(t, `status: active; costs ε 0.05 per day`, out)
	assert.Empty(t, requests.errors(), "no script error, no CSP violation")
}

// TestWalletChecksTheWitnessesItTrusts has the browser wallet trust a real litewitness, from
// a /wallet?witness=KEY link as a neighbourhood group would share: checking receipts then
// requires the node's checkpoint cosigned by it, which the node has. A witness the node never
// used, trusted alone, fails the check with a clear message; a malformed key is refused.
func TestWalletChecksTheWitnessesItTrusts(t *testing.T) {
	t.Parallel()
	ctx := browserContext(t)
	sshTools(t)
	w := startLitewitness(t, ctx)
	n := startFreshNode(t, "--witnesses", w.url+"="+w.vkey, "--witness-every", "100ms")
	key := strings.TrimSpace(string(httpGet(t, n.url+"/api/v1/ledger/key")))
	origin, _, _ := strings.Cut(key, "+")
	w.trust(t, ctx, origin, key)
	invite := n.invites(1)[0]

	bctx, _ := walletBrowser(t, ctx, t.TempDir())
	do := pageDo(t, bctx)
	// text reads an element's text in one evaluation: the page re-renders after each action,
	// so a node looked up first may be gone by the time it is read.
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Evaluate[string](callJS(t, `(sel) => document.querySelector(sel)?.textContent ?? ""`, sel)))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}
	openWalletPage(t, bctx, n.url+"/wallet?invite="+url.QueryEscape(invite)+"&witness="+url.QueryEscape(w.vkey))
	do(chromedp.Click(chromedp.CSS("#create")), chromedp.WaitVisible(chromedp.CSS("#citizen")), chromedp.WaitVisible(chromedp.CSS("#witness-list code")))
	assert.Equal(t, "witness.test/commons", text("#witness-list code"), "the link's witness is trusted")
	do(chromedp.SetValue(chromedp.CSS("#neighbourhood"), "old-town"), chromedp.Click(chromedp.CSS("#register-button")),
		chromedp.WaitVisible(chromedp.CSS("#registered")))
	// The registration grew the ledger; the node's next round has it cosigned.
	size := n.size()
	require.True(t, eventually(ctx, func() bool { return strings.Contains(cosignedText(n.url), "\n"+itoa(size)+"\n") }))

	do(chromedp.Click(chromedp.CSS("#check")), chromedp.WaitVisible(chromedp.CSS("ul.receipts li .checked.ok")))
	assert.Contains(t, text("#status"), "is cosigned by 1 of the 1 witnesses you trust, and the latest extends it.")

	// A witness this node never used, trusted alone: the same receipts no longer check out.
	_, other, err := ed25519.GenerateKey(rand.Reader)
	require.NoError(t, err)
	stranger, err := torchwood.NewCosignatureSigner("stranger.test/witness", other)
	require.NoError(t, err)
	do(chromedp.SetValue(chromedp.CSS("#witness-key"), stranger.Verifier().String()), chromedp.Click(chromedp.CSS("#add-witness")),
		chromedp.WaitVisible(chromedp.CSS("#witness-list li:nth-child(2)")))
	do(chromedp.Click(chromedp.CSS("#witness-list li:first-child .remove-witness")))
	require.True(t, eventually(ctx, func() bool { return text("#witness-list") == "stranger.test/witness Remove" }), text("#witness-list"))
	do(chromedp.Click(chromedp.CSS("#check")))
	require.True(t, eventually(ctx, func() bool { return text("#alert") != "" }))
	assert.Contains(t, text("#alert"), "No witness you trust has cosigned this ledger.")

	// The ledger's own key is not a witness key.
	do(chromedp.SetValue(chromedp.CSS("#witness-key"), key), chromedp.Click(chromedp.CSS("#add-witness")))
	require.True(t, eventually(ctx, func() bool { return strings.Contains(text("#alert"), "This is not a witness key") }), text("#alert"))
	assert.Equal(t, "stranger.test/witness Remove", text("#witness-list"))
}

// pageDo returns a function that runs steps on the page of bctx, failing t on an error.
func pageDo(t *testing.T, bctx context.Context) func(...chromedp.Action[chromedp.Void]) {
	return func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
}

// pageText returns a function that reads the text of the element sel selects on the page of
// bctx, trimmed, failing t on an error.
func pageText(t *testing.T, bctx context.Context) func(sel string) string {
	return func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}
}
