package main

import (
	"context"
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

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/commons-city/commons/api"
	"github.com/commons-city/commons/crypto"
	"github.com/commons-city/commons/nodetest"
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
	do := func(steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		require.NoError(t, chromedp.Do(bctx, steps...))
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(bctx, chromedp.Text(chromedp.CSS(sel)))
		require.NoError(t, err)
		return strings.TrimSpace(s)
	}

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
