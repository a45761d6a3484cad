// The /wallet page: create, import or open the resident's wallet, register, consent, sign
// petitions, check receipts and open "My data" — all on the device. The secret key lives in
// this module's memory and in IndexedDB (encrypted when the resident chose a passphrase); it
// is never put in a request, a log line or the page.

import * as core from "./core.js";
import * as blindrsa from "./blindrsa.js";
import * as store from "./store.js";
import * as api from "./api.js";
import { pickLanguage, texts, translator } from "./i18n.js";
import { METRICS, dailyMeans, lineChart } from "./chart.js";

const enc = new TextEncoder();

const state = {
  lang: "en",
  t: translator("en"),
  record: null, // the stored wallet record
  keys: null, // derived keys, in memory once the wallet is open
  receipts: [],
  pending: [], // petition acts not yet in the ledger: {kind, petition, nullifier}
  tokens: {}, // petition id → {randomizer, token}, finalised
  registered: false,
  neighbourhood: null, // the neighbourhood this browser registered with, if it did
  ledgerKey: null,
  lastCheckpoint: null, // {size, root}: the latest checkpoint this browser verified
  witnesses: [], // verifier keys of the witnesses the resident trusts
  purposes: [],
  petitions: [],
  neighbourhoods: [],
  checks: new Map(), // receipt index → {ok: true, size, origin} or {ok: false, err}
  // Answers chosen for a petition's questions, by petition id, until it is signed: in this
  // page's memory only (never stored), and sent only sealed to the petition's tally key.
  answers: new Map(),
  data: null, // {readings, days}
  metric: "pm2_5",
  invite: new URLSearchParams(location.search).get("invite") ?? "",
  // A link to /wallet?witness=KEY (from a neighbourhood group) adds a witness to trust.
  linkedWitness: new URLSearchParams(location.search).get("witness") ?? "",
  // A link to /wallet?petition=ID brings the resident to that petition once registered.
  linked: new URLSearchParams(location.search).get("petition") ?? "",
  linkPending: new URLSearchParams(location.search).has("petition"),
  busy: false,
};

// h builds an element: attributes (on* become listeners), then children (strings or nodes).
function h(tag, attrs = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false || v === null) continue;
    if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else if (v === true) e.setAttribute(k, "");
    else e.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    e.append(typeof c === "string" ? document.createTextNode(c) : c);
  }
  return e;
}

const slug = (s) => s.replace(/[^a-zA-Z0-9-]/g, "-");

// say puts a message in the live region; alert makes it assertive (errors).
function say(text, alert = false) {
  document.getElementById(alert ? "alert" : "status").textContent = text;
  document.getElementById(alert ? "status" : "alert").textContent = "";
}

function errorText(err) {
  const t = state.t;
  if (err instanceof api.ApiError) {
    return err.code === "network" ? t("network") : t("error", { message: err.message || err.code });
  }
  if (err instanceof core.WalletError) {
    return err.code.startsWith("bad_field:") ? t("error", { message: err.code }) : t(err.code, err.params);
  }
  return t("error", { message: String(err?.message ?? err) });
}

// act runs one user action with a busy state, reporting success or the error.
async function act(fn) {
  if (state.busy) return;
  state.busy = true;
  const app = document.getElementById("app");
  app.setAttribute("aria-busy", "true");
  say(state.t("busy"));
  try {
    const msg = await fn();
    render();
    say(msg ?? "");
  } catch (err) {
    render();
    say(errorText(err), true);
  } finally {
    state.busy = false;
    app.removeAttribute("aria-busy");
  }
}

// ---- wallet ----

async function saveWallet(fileBytes, isProtected, keys) {
  state.record = { file: fileBytes, protected: isProtected, citizen: keys.citizen, recipient: keys.recipient };
  await store.put("wallet", state.record);
  state.keys = keys;
}

// forgetSession drops what the page kept of the previous wallet: its receipts, its
// registration and its neighbourhood. A new or imported wallet starts from nothing.
async function forgetSession() {
  state.receipts = [];
  state.registered = false;
  state.neighbourhood = null;
  await store.put("receipts", []);
  await store.put("registered", false);
  await store.remove("neighbourhood");
}

async function createWallet(pass, again) {
  if (pass !== again) throw new core.WalletError("passphrases_differ");
  const keys = await core.deriveKeys(await core.newIdentity());
  const plain = core.marshalWallet(keys, core.now());
  const file = pass === "" ? plain : await core.protect(plain, pass);
  await forgetSession();
  await saveWallet(enc.encode(file), pass !== "", keys);
  return state.t("done_create");
}

async function importWallet(input, pass) {
  const f = input.files?.[0];
  if (!f) throw new core.WalletError("no_file");
  const bytes = new Uint8Array(await f.arrayBuffer());
  const { keys } = await core.openWalletFile(bytes, pass);
  await forgetSession();
  await saveWallet(bytes, core.isProtected(bytes), keys);
  return state.t("done_import");
}

async function unlock(pass) {
  const { keys } = await core.openWalletFile(state.record.file, pass);
  if (keys.citizen !== state.record.citizen) throw new core.WalletError("wallet_invalid");
  state.keys = keys;
  await syncTokens();
  return state.t("done_import");
}

// saveFile hands bytes made on the device to the browser's download, without a request.
function saveFile(bytes, name, type) {
  const a = h("a", { href: URL.createObjectURL(new Blob([bytes], { type })), download: name });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(a.href), 10000);
}

function backup() {
  const r = state.record;
  saveFile(r.file, r.protected ? "commons-wallet.age" : "commons-wallet", "application/octet-stream");
}

async function forget() {
  if (!confirm(state.t("forget_confirm"))) return;
  // The wallet and what is the resident's go; the node's pinned key and last checkpoint are
  // public and stay, so a later wallet here still notices a changed key or a forked ledger.
  for (const name of ["wallet", "receipts", "registered", "neighbourhood", "pending", "tokens"]) await store.remove(name);
  Object.assign(state, { record: null, keys: null, receipts: [], registered: false, neighbourhood: null, data: null,
    pending: [], tokens: {} });
  state.checks.clear();
  state.answers.clear();
}

// ---- statements ----

// send signs a statement and posts it, with extra fields beside it in the body.
async function send(path, st, extra = {}) {
  const signed = core.signStatement(state.keys, { ...st, issued_at: core.now(), nonce: core.newNonce() });
  return api.postJSON(path, { ...signed, ...extra });
}

async function keep(kind, fields, receipt) {
  state.receipts.push({ kind, ...fields, receipt });
  await store.put("receipts", state.receipts);
}

async function register(invite, neighbourhood) {
  try {
    const a = await send("/api/v1/citizens", {
      type: "citizen.register", invite: invite.trim(), neighbourhood,
      recipient: state.keys.recipient, signing_key: core.toBase64(state.keys.publicKey),
    });
    await keep("citizen.register", {}, a.receipt);
    // The server keeps a resident's neighbourhood private: the wallet remembers the one it
    // registered with, to offer only the petitions open to it.
    state.neighbourhood = neighbourhood;
    await store.put("neighbourhood", neighbourhood);
  } catch (err) {
    if (!(err instanceof api.ApiError && err.code === "already_registered")) throw err;
  }
  state.registered = true;
  await store.put("registered", true);
  await syncTokens();
  return state.t("done_register");
}

async function consent(p, grant, erase) {
  const type = grant ? "consent.grant" : "consent.revoke";
  const a = await send("/api/v1/statements", { type, purpose: p.id, purpose_version: p.version, erase: !grant && erase });
  await keep(type, { purpose: p.id }, a.receipt);
  state.purposes = await api.getJSON("/api/v1/purposes");
  return state.t(grant ? "done_grant" : "done_revoke", { purpose: purposeTitle(p) });
}

// choose approves or objects to a proposed purpose, under the wallet's nullifier on that
// proposal version (core.purposeNullifier), as client.ChoosePurpose does; the purposes are
// fetched again to show the new counts.
async function choose(p, approve) {
  const type = approve ? "purpose.approve" : "purpose.object";
  const a = await send("/api/v1/statements", { type, purpose: p.id, purpose_version: p.version,
    nullifier: core.purposeNullifier(state.keys, p.id, p.version) });
  await keep(type, { purpose: p.id }, a.receipt);
  state.purposes = await api.getJSON("/api/v1/purposes");
  return state.t(approve ? "done_approve" : "done_object", { purpose: purposeTitle(p) });
}

// syncTokens asks the node, once registered, for the wallet's token for every open petition
// it has none for, whether or not the resident will sign: the request says nothing of intent.
// The node signs blind (RFC 9474, blindrsa.js); the blinding's randomness is derived from the
// wallet (core.blindingRandom), so another device of the same wallet is answered the same
// token. The tokens are kept on this device; petitions the node issues none for (out of the
// resident's scope) are asked again at the next sync.
async function syncTokens() {
  if (!state.keys || !state.registered) return;
  const wanted = state.petitions.filter((p) => p.status === "open" && p.token_key && !state.tokens[p.id]);
  if (wanted.length === 0) return;
  const pending = {};
  const blinded = {};
  for (const p of wanted) {
    const rand = core.blindingRandom(state.keys, p.id, p.token_key);
    const prepared = await blindrsa.prepare(core.tokenMessage(p.id, core.petitionKey(state.keys, p.id).publicKey), rand);
    const b = await blindrsa.blind(p.token_key, prepared, rand);
    pending[p.id] = { prepared, inv: b.inv, key: p.token_key };
    blinded[p.id] = core.toBase64(b.blindedMsg);
  }
  const a = await send("/api/v1/petitions/tokens", { type: "petition.tokens", document: core.tokenRequestDocument(blinded) }, { blinded });
  for (const [id, sig] of Object.entries(a.tokens ?? {})) {
    const r = pending[id];
    if (!r) continue;
    const token = await blindrsa.finalize(r.key, r.prepared, core.fromBase64(sig), r.inv);
    state.tokens[id] = { randomizer: core.toBase64(r.prepared.slice(0, 32)), token: core.toBase64(token) };
  }
  await store.put("tokens", state.tokens);
}

// petition signs or withdraws, with the wallet's key for the petition and nothing that names
// the resident. A signature spends the petition's token and carries the answers to its
// questions (from the sign form), if any, sealed here to the petition's tally key, the act's
// document being the hash of the sealed bytes. The node appends acts to the ledger in
// shuffled batches: until the act's batch lands it is pending, and its receipt is fetched
// then (checkPending).
async function petition(p, sign, answers = {}) {
  const type = sign ? "petition.sign" : "petition.withdraw";
  const act = { type, petition: p.id };
  const extra = {};
  if (sign) {
    await syncTokens();
    const tok = state.tokens[p.id];
    if (!tok) throw new core.WalletError("no_token");
    Object.assign(extra, tok);
    const sealed = p.ask?.length ? await core.sealAnswers(p.recipient, askedAnswers(p, answers)) : null;
    if (sealed) {
      act.document = sealed.document;
      extra.answers = core.toBase64(sealed.sealed);
    }
  }
  const a = await api.postJSON("/api/v1/petitions/" + encodeURIComponent(p.id) + "/signatures", { ...core.signAct(state.keys, act), ...extra });
  if (sign) state.answers.delete(p.id);
  state.pending = [...state.pending.filter((q) => q.petition !== p.id), { kind: type, petition: p.id, nullifier: a.nullifier }];
  await store.put("pending", state.pending);
  await checkPending();
  const fresh = await api.getJSON("/api/v1/petitions/" + encodeURIComponent(p.id));
  state.petitions = state.petitions.map((q) => (q.id === fresh.id ? fresh : q));
  if (state.pending.some((q) => q.petition === p.id)) return state.t(sign ? "done_sign_pending" : "done_withdraw_pending");
  return state.t(sign ? "done_sign" : "done_withdraw", { n: fresh.signatures });
}

// checkPending asks the node where each pending act stands, and keeps the receipt of each
// one whose batch is in the ledger.
async function checkPending() {
  const still = [];
  for (const q of state.pending) {
    const s = await api.getJSON(`/api/v1/petitions/${encodeURIComponent(q.petition)}/signatures/${q.nullifier}`);
    if (s.status === "pending" || !s.receipt) still.push(q);
    else await keep(q.kind, { petition: q.petition }, s.receipt);
  }
  state.pending = still;
  await store.put("pending", state.pending);
  return state.t(still.length ? "still_pending" : "pending_done");
}

// askedAnswers keeps the answers to the questions the petition asks ("" for "prefer not to
// say").
function askedAnswers(p, answers) {
  return Object.fromEntries((p.ask ?? []).map((q) => [q, answers[q] ?? ""]));
}

// latestChoice is the kind of the newest receipt for a purpose or petition, or "";
// prefix, if given, keeps only the kinds it starts ("consent.", "purpose.").
function latestChoice(field, id, prefix = "") {
  for (let i = state.receipts.length - 1; i >= 0; i--) {
    const r = state.receipts[i];
    if (r[field] === id && r.kind.startsWith(prefix)) return r.kind;
  }
  return "";
}

// ---- receipts ----

// ledgerKey fetches the ledger's verifier key and pins it on first use.
async function pinnedLedgerKey() {
  const key = (await api.getText("/api/v1/ledger/key")).trim();
  core.parseVerifierKey(key);
  if (state.ledgerKey === null) {
    state.ledgerKey = key;
    await store.put("ledgerKey", key);
  } else if (state.ledgerKey !== key) {
    throw new core.WalletError("ledger_key_changed");
  }
  return key;
}

// checkReceipt verifies a receipt under its own signed checkpoint and under the latest one,
// and that the ledger still serves the entry it covers.
async function checkReceipt(r, key, latest) {
  const leaf = core.fromBase64(r.receipt.leaf_hash);
  const own = core.openCheckpoint(r.receipt.checkpoint, key);
  const proof = r.receipt.proof.map(core.fromBase64);
  if (own.size > latest.size || !core.verifyInclusion(r.receipt.index, own.size, leaf, proof, own.root)) {
    throw new core.WalletError("proof_failed");
  }
  const p = await api.getJSON(`/api/v1/ledger/proof/inclusion?index=${r.receipt.index}&size=${latest.size}`);
  if (p.leaf_hash !== r.receipt.leaf_hash ||
      !core.verifyInclusion(r.receipt.index, latest.size, leaf, p.proof.map(core.fromBase64), latest.root)) {
    throw new core.WalletError("proof_failed");
  }
  const entry = await api.getBytes(`/api/v1/ledger/entries/${r.receipt.index}`);
  if (core.toBase64(core.leafHash(entry)) !== r.receipt.leaf_hash) throw new core.WalletError("entry_differs");
}

// consistentWithLastSeen checks that the latest checkpoint extends the last one this browser
// saw (a forked or rewritten ledger fails here), then remembers the latest.
async function consistentWithLastSeen(latest) {
  const last = state.lastCheckpoint;
  if (last !== null) {
    const size = BigInt(last.size);
    const root = core.fromBase64(last.root);
    let ok = size <= latest.size;
    if (ok && size > 0n) {
      const p = await api.getJSON(`/api/v1/ledger/proof/consistency?from=${size}&to=${latest.size}`);
      ok = core.verifyConsistency(size, latest.size, p.proof.map(core.fromBase64), root, latest.root);
    }
    if (!ok) throw new core.WalletError("ledger_inconsistent", { size: last.size });
  }
  state.lastCheckpoint = { size: String(latest.size), root: core.toBase64(latest.root) };
  await store.put("lastCheckpoint", state.lastCheckpoint);
}

// checkCosigned requires the node's latest cosigned checkpoint to carry the cosignature of at
// least one witness the resident trusts, and the latest checkpoint to extend it.
async function checkCosigned(key, latest) {
  let text;
  try {
    text = await api.getText("/api/v1/ledger/checkpoint/cosigned");
  } catch (err) {
    if (err instanceof api.ApiError && err.code === "not_cosigned") throw new core.WalletError("not_cosigned");
    throw err;
  }
  const cp = core.openCheckpoint(text, key);
  const n = core.countCosignatures(text, state.witnesses);
  if (n === 0) throw new core.WalletError("not_cosigned");
  let ok = cp.size <= latest.size;
  if (ok && cp.size === latest.size) ok = core.toBase64(cp.root) === core.toBase64(latest.root);
  if (ok && cp.size > 0n && cp.size < latest.size) {
    const p = await api.getJSON(`/api/v1/ledger/proof/consistency?from=${cp.size}&to=${latest.size}`);
    ok = core.verifyConsistency(cp.size, latest.size, p.proof.map(core.fromBase64), cp.root, latest.root);
  }
  if (!ok) throw new core.WalletError("cosigned_inconsistent");
  return state.t("cosigned_ok", { size: cp.size, n, m: state.witnesses.length });
}

async function addWitness(key) {
  const w = core.parseWitnessKey(key);
  const k = key.trim();
  if (!state.witnesses.includes(k)) {
    state.witnesses = [...state.witnesses, k];
    await store.put("witnesses", state.witnesses);
  }
  return state.t("witness_added", { name: w.name });
}

async function removeWitness(key) {
  state.witnesses = state.witnesses.filter((k) => k !== key);
  await store.put("witnesses", state.witnesses);
  return state.t("witness_removed", { name: key.split("+")[0] });
}

async function checkReceipts() {
  const key = await pinnedLedgerKey();
  const latest = core.openCheckpoint(await api.getText("/api/v1/ledger/checkpoint"), key);
  await consistentWithLastSeen(latest);
  const cosigned = state.witnesses.length > 0 ? " " + (await checkCosigned(key, latest)) : "";
  state.checks.clear();
  let failed = 0;
  for (const r of state.receipts) {
    try {
      await checkReceipt(r, key, latest);
      state.checks.set(r.receipt.index, { ok: true, size: latest.size, origin: latest.origin });
    } catch (err) {
      failed++;
      state.checks.set(r.receipt.index, { ok: false, err });
    }
  }
  if (failed > 0) throw new core.WalletError("checks_failed", { n: failed });
  return state.t("checked_ok", { size: latest.size, origin: latest.origin }) + cosigned;
}

// ---- my data ----

async function loadData() {
  const answer = await send("/api/v1/vault", { type: "vault.export" });
  const readings = [];
  for (const c of answer.copies) {
    const batch = await core.decryptVaultCopy(state.keys.identity, core.fromBase64(c.ciphertext));
    readings.push(...batch.readings);
  }
  readings.sort((a, b) => (a.recorded_at < b.recorded_at ? -1 : 1));
  state.data = { readings, days: [...new Set(readings.map((r) => r.recorded_at.slice(0, 10)))] };
  const present = METRICS.filter((m) => dailyMeans(readings, m.key).length > 0);
  if (present.length > 0 && !present.some((m) => m.key === state.metric)) state.metric = present[0].key;
  return state.data.readings.length === 0 ? state.t("data_none")
    : state.t("data_summary", { readings: readings.length, days: state.data.days.length, first: state.data.days[0], last: state.data.days.at(-1) });
}

function saveReadings() {
  saveFile(JSON.stringify({ readings: state.data.readings }, null, 2), "readings.json", "application/json");
}

// ---- rendering ----

function field(id, label, input) {
  return h("div", { class: "field" }, h("label", { for: id }, label), input);
}

function section(id, heading, ...body) {
  return h("section", { id, "aria-labelledby": id + "-h" }, h("h2", { id: id + "-h", tabindex: "-1" }, heading), ...body);
}

function languageSwitch() {
  const t = state.t;
  return h("nav", { class: "lang", "aria-label": t("language") },
    ...[["en", "English"], ["fr", "Français"]].map(([code, name]) =>
      h("button", { type: "button", id: "lang-" + code, lang: code, "aria-pressed": String(state.lang === code),
        onclick: () => setLanguage(code) }, name)));
}

function setupView() {
  const t = state.t;
  const p1 = h("input", { id: "new-pass", type: "password", autocomplete: "new-password" });
  const p2 = h("input", { id: "new-pass2", type: "password", autocomplete: "new-password" });
  const file = h("input", { id: "import-file", type: "file" });
  const ip = h("input", { id: "import-pass", type: "password", autocomplete: "current-password" });
  return section("setup", t("setup_heading"),
    h("form", { id: "create-form", onsubmit: (e) => { e.preventDefault(); act(() => createWallet(p1.value, p2.value)); } },
      h("h3", {}, t("create_heading")), h("p", {}, t("create_help")),
      field("new-pass", t("passphrase"), p1), field("new-pass2", t("passphrase_again"), p2),
      h("button", { type: "submit", id: "create" }, t("create"))),
    h("form", { id: "import-form", onsubmit: (e) => { e.preventDefault(); act(() => importWallet(file, ip.value)); } },
      h("h3", {}, t("import_heading")), h("p", {}, t("import_help")),
      field("import-file", t("wallet_file"), file), field("import-pass", t("import_passphrase"), ip),
      h("button", { type: "submit", id: "import" }, t("import"))));
}

function unlockView() {
  const t = state.t;
  const p = h("input", { id: "unlock-pass", type: "password", autocomplete: "current-password" });
  return section("unlock", t("unlock_heading"),
    h("p", {}, t("unlock_help")),
    h("p", {}, t("citizen") + " ", h("code", { class: "citizen" }, state.record.citizen)),
    h("form", { onsubmit: (e) => { e.preventDefault(); act(() => unlock(p.value)); } },
      field("unlock-pass", t("passphrase_open"), p),
      h("button", { type: "submit", id: "unlock-button" }, t("unlock"))),
    h("button", { type: "button", class: "secondary", id: "forget", onclick: () => act(forget) }, t("forget")));
}

function walletView() {
  const t = state.t;
  return section("wallet", t("wallet_heading"),
    h("dl", { class: "figures keys" },
      h("div", {}, h("dt", {}, t("citizen")), h("dd", {}, h("code", { class: "citizen", id: "citizen" }, state.keys.citizen))),
      h("div", {}, h("dt", {}, t("recipient")), h("dd", {}, h("code", { id: "recipient" }, state.keys.recipient)))),
    h("p", {}, t(state.record.protected ? "protected_yes" : "protected_no")),
    h("p", {}, h("button", { type: "button", id: "backup", onclick: backup }, t("backup"))),
    h("p", { class: "note" }, t("backup_help")),
    h("p", { class: "note" }, t("storage_note")),
    h("p", {}, h("button", { type: "button", class: "secondary", id: "forget", onclick: () => act(forget) }, t("forget"))));
}

function registerView() {
  const t = state.t;
  if (state.registered) return h("p", { id: "registered" }, t("registered"));
  const invite = h("input", { id: "invite", type: "text", autocomplete: "off", spellcheck: "false", value: state.invite,
    oninput: (e) => { state.invite = e.target.value; } });
  const nb = h("select", { id: "neighbourhood", required: true },
    h("option", { value: "", selected: true, disabled: true }, t("choose")),
    ...state.neighbourhoods.map((n) => h("option", { value: n.id }, n.name)));
  return section("register", t("register_heading"),
    h("form", { onsubmit: (e) => { e.preventDefault(); act(() => register(invite.value, nb.value)); } },
      field("invite", t("invite"), invite), field("neighbourhood", t("neighbourhood"), nb),
      h("button", { type: "submit", id: "register-button" }, t("register"))));
}

function policyWords(p) {
  const t = state.t;
  const r = p.release ?? {};
  const out = [];
  if (p.data) out.push(t("uses", { data: text(p.data) }));
  if (r.grid) out.push(t("policy_grid", { grid: text(r.grid), k: r.k }));
  if (r.clamp_pm2_5 && r.clamp_pm10) {
    out.push(t("policy_clamp", { pm25: `${r.clamp_pm2_5[0]}–${r.clamp_pm2_5[1]}`, pm10: `${r.clamp_pm10[0]}–${r.clamp_pm10[1]}` }));
  }
  if (r.grid) out.push(t("policy_noise", { eps: r.epsilon || 1, week: r.week_epsilon || 7 }));
  if (r.grace_hours) out.push(t("policy_grace", { hours: r.grace_hours }));
  return out;
}

// purposeTitle and purposeDescription are a purpose's texts in the page's language: a
// proposal's own, in both languages, or a built-in purpose's through texts.
function purposeTitle(p) {
  return p.proposed?.title?.[state.lang] || text(p.title);
}

function purposeDescription(p) {
  return p.proposed?.description?.[state.lang] || text(p.description);
}

function purposesView() {
  const t = state.t;
  return section("purposes", t("purposes_heading"),
    h("ul", { class: "cards" }, ...state.purposes.map((p) => {
      const status = p.status || "active";
      const head = [h("h3", {}, purposeTitle(p)), h("p", {}, purposeDescription(p))];
      if (p.proposed) head.push(h("p", { class: "meta" }, t("asked_by", { who: p.proposed.requester })));
      head.push(h("p", { class: "meta", id: "status-" + slug(p.id) }, t("purpose_status", { status: t("status_" + status) }),
        " · ", t("purpose_cost", { eps: String(Number(Number(p.epsilon_per_day ?? 1).toPrecision(3))) })));
      if (status === "proposed") return h("li", { class: "card", id: "purpose-" + slug(p.id) }, ...head, proposalView(p));
      if (status !== "active") return h("li", { class: "card", id: "purpose-" + slug(p.id) }, ...head);
      const kind = latestChoice("purpose", p.id, "consent.");
      const choice = kind === "consent.grant" ? "granted" : kind === "consent.revoke" ? "withdrawn" : "none";
      const erase = h("input", { type: "checkbox", id: "erase-" + slug(p.id) });
      return h("li", { class: "card", id: "purpose-" + slug(p.id) },
        ...head,
        h("ul", { class: "policy" }, ...policyWords(p).map((w) => h("li", {}, w))),
        h("p", { class: "meta" }, t("version", { v: p.version }), " · ", h("strong", { class: "choice" }, t("your_choice", { state: t("state_" + choice) }))),
        choice === "granted"
          ? h("div", { class: "actions" },
            h("div", { class: "check" }, erase, h("label", { for: "erase-" + slug(p.id) }, t("erase"))),
            h("button", { type: "button", class: "secondary", id: "revoke-" + slug(p.id), onclick: () => act(() => consent(p, false, erase.checked)) }, t("revoke")))
          : h("div", { class: "actions" },
            h("button", { type: "button", id: "grant-" + slug(p.id), onclick: () => act(() => consent(p, true, false)) }, t("grant"))));
    })));
}

// proposalView is a proposed purpose's counts per neighbourhood and the resident's say:
// approve or object, changeable while the proposal is open.
function proposalView(p) {
  const t = state.t;
  const names = new Map(state.neighbourhoods.map((n) => [n.id, n.name]));
  const kind = latestChoice("purpose", p.id, "purpose.");
  const mine = kind === "purpose.approve" ? "approved" : kind === "purpose.object" ? "objected" : "none";
  return h("div", {},
    h("p", {}, t("approvals_help", { n: p.proposed?.approvals_needed ?? "?", deadline: p.proposed?.deadline ?? "" })),
    h("ul", { class: "policy" }, ...(p.approvals ?? []).map((a) =>
      h("li", { id: "approvals-" + slug(p.id) + "-" + slug(a.neighbourhood) },
        t("approvals_line", { name: names.get(a.neighbourhood) ?? a.neighbourhood, approve: a.approve, object: a.object })))),
    h("p", { class: "meta" }, h("strong", { class: "choice", id: "say-" + slug(p.id) }, t("your_say", { state: t("say_" + mine) }))),
    h("div", { class: "actions" },
      mine === "approved" ? null : h("button", { type: "button", id: "approve-" + slug(p.id), onclick: () => act(() => choose(p, true)) }, t("approve")),
      mine === "objected" ? null : h("button", { type: "button", class: "secondary", id: "object-" + slug(p.id), onclick: () => act(() => choose(p, false)) }, t("object"))));
}

// questionOptions are a question's answers as [value, label]: the age bands, or the
// neighbourhoods the petition's breakdown counts (its scope, or the whole city).
function questionOptions(p, q) {
  const t = state.t;
  if (q === "age_band") return core.AGE_BANDS.map((b) => [b, b === "65+" ? t("age_65_plus") : b.replace("-", "–")]);
  if (q !== "neighbourhood") return null;
  const names = new Map(state.neighbourhoods.map((n) => [n.id, n.name]));
  const ids = p.scope?.length ? p.scope : state.neighbourhoods.map((n) => n.id);
  return ids.map((id) => [id, names.get(id) ?? id]);
}

// signForm is the sign button, with the petition's optional questions before it: each a
// labelled choice whose default, "prefer not to say", sends no answer.
function signForm(p) {
  const t = state.t;
  const questions = (p.ask ?? []).map((q) => [q, questionOptions(p, q)]).filter(([, opts]) => opts);
  const chosen = state.answers.get(p.id) ?? {};
  return h("form", { class: "sign", onsubmit: (e) => {
    e.preventDefault();
    const answers = Object.fromEntries(new FormData(e.target));
    act(() => petition(p, true, answers));
  } },
    questions.length === 0 ? null : h("fieldset", { class: "questions" },
      h("legend", {}, t("ask_legend")),
      h("p", { class: "note" }, t("ask_help")),
      ...questions.map(([q, opts]) => {
        const id = `answer-${q}-${slug(p.id)}`;
        const select = h("select", { id, name: q,
          onchange: (e) => { state.answers.set(p.id, { ...state.answers.get(p.id), [q]: e.target.value }); } },
          h("option", { value: "", selected: !chosen[q] }, t("prefer_not")),
          ...opts.map(([value, label]) => h("option", { value, selected: chosen[q] === value }, label)));
        return field(id, t("ask_" + q), select);
      })),
    h("div", { class: "actions" }, h("button", { type: "submit", id: "sign-" + slug(p.id) }, t("sign"))));
}

// inScope reports whether the resident may sign p: its scope is the whole city, or names the
// neighbourhood this wallet registered with (unknown for a wallet registered elsewhere: the
// server then decides).
function inScope(p) {
  return !p.scope?.length || !state.neighbourhood || p.scope.includes(state.neighbourhood);
}

// signatureCount is a petition's count as /petitions shows it: online and paper signatures
// together (the API's total, petition.Progress's basis), against the threshold.
function signatureCount(p) {
  const t = state.t;
  const count = t("signatures", { n: p.total ?? p.signatures, threshold: p.threshold });
  return p.paper ? count + " " + t("signatures_split", { online: p.signatures, paper: p.paper }) : count;
}

function petitionsView() {
  const t = state.t;
  if (state.petitions.length === 0) return section("petitions", t("petitions_heading"), h("p", {}, t("no_petitions")));
  return section("petitions", t("petitions_heading"),
    h("ul", { class: "cards" }, ...state.petitions.map((p) => {
      const waiting = state.pending.find((q) => q.petition === p.id);
      const signed = waiting ? waiting.kind === "petition.sign" : latestChoice("petition", p.id) === "petition.sign";
      // A withdrawn signature's token is spent: the petition cannot be signed again.
      const withdrawn = !waiting && latestChoice("petition", p.id) === "petition.withdraw";
      const open = p.status === "open";
      return h("li", { class: p.id === state.linked ? "card linked" : "card", id: "petition-" + slug(p.id) },
        h("h3", { tabindex: "-1" }, h("a", { href: "/petitions/" + encodeURIComponent(p.id) }, p.title)),
        h("p", { class: "meta" }, h("span", { class: "count" }, signatureCount(p)),
          " · ", t("status_" + p.status), open ? " · " + t("closes", { date: p.closes.slice(0, 10) }) : ""),
        waiting ? h("p", { class: "choice pending", id: "pending-" + slug(p.id) }, t("pending_" + waiting.kind),
          " ", h("button", { type: "button", class: "secondary", id: "check-pending-" + slug(p.id), onclick: () => act(checkPending) }, t("check_pending")))
        : signed ? h("p", { class: "choice" }, t("signed"))
        : withdrawn ? h("p", { class: "choice", id: "withdrawn-" + slug(p.id) }, t("withdrawn_once")) : null,
        !open || waiting || withdrawn ? null : !signed && !inScope(p)
          ? h("p", { class: "note out-of-scope" }, t("not_in_scope"))
          : signed
          ? h("div", { class: "actions" },
            h("button", { type: "button", class: "secondary", id: "withdraw-" + slug(p.id), onclick: () => act(() => petition(p, false)) }, t("withdraw")))
          : signForm(p));
    })));
}

// checkText says, in the page's language, how a receipt's check went.
function checkText(c) {
  const t = state.t;
  if (c.ok) return t("checked_ok", { size: c.size, origin: c.origin });
  return t("checked_failed", { reason: c.err instanceof core.WalletError ? t(c.err.code) : errorText(c.err) });
}

function receiptsView() {
  const t = state.t;
  return section("receipts", t("receipts_heading"),
    h("p", {}, t("receipts_help")),
    state.receipts.length === 0 ? h("p", {}, t("no_receipts")) :
      h("ul", { class: "receipts" }, ...state.receipts.map((r) => {
        const c = state.checks.get(r.receipt.index);
        return h("li", { "data-index": r.receipt.index },
          t("receipt_line", { kind: t("kind_" + (r.kind === "citizen.register" ? "register" : r.kind)), what: r.purpose ?? r.petition ?? "", index: r.receipt.index }),
          c ? h("span", { class: c.ok ? "checked ok" : "checked failed" }, " " + checkText(c)) : null);
      })),
    state.ledgerKey ? h("p", { class: "note" }, t("key_pinned", { key: state.ledgerKey })) : null,
    state.receipts.length > 0 ? h("button", { type: "button", id: "check", onclick: () => act(checkReceipts) }, t("check")) : null,
    witnessesView());
}

function witnessesView() {
  const t = state.t;
  return h("div", { class: "witnesses" },
    h("h3", {}, t("witnesses_heading")),
    h("p", { class: "note" }, t("witnesses_help")),
    state.witnesses.length === 0 ? null : h("ul", { id: "witness-list" }, ...state.witnesses.map((k) =>
      h("li", {}, h("code", {}, k.split("+")[0]), " ",
        h("button", { type: "button", class: "remove-witness", onclick: () => act(() => removeWitness(k)) }, t("remove_witness"))))),
    h("label", { for: "witness-key" }, t("witness_label")),
    h("input", { id: "witness-key", type: "text", autocomplete: "off", spellcheck: "false" }),
    h("button", { type: "button", id: "add-witness",
      onclick: () => act(() => addWitness(document.getElementById("witness-key").value)) }, t("add_witness")));
}

function dataView() {
  const t = state.t;
  const parts = [h("p", {}, t("data_help")),
    h("button", { type: "button", id: "data-load", onclick: () => act(loadData) }, t("data_load"))];
  const d = state.data;
  if (d && d.readings.length === 0) parts.push(h("p", { id: "data-summary" }, t("data_none")));
  if (d && d.readings.length > 0) {
    parts.push(h("p", { id: "data-summary" }, t("data_summary", { readings: d.readings.length, days: d.days.length, first: d.days[0], last: d.days.at(-1) })));
    const present = METRICS.filter((m) => dailyMeans(d.readings, m.key).length > 0);
    const select = h("select", { id: "metric", onchange: (e) => { state.metric = e.target.value; render(); } },
      ...present.map((m) => h("option", { value: m.key, selected: m.key === state.metric }, t(m.key))));
    parts.push(field("metric", t("data_metric"), select));
    const m = METRICS.find((x) => x.key === state.metric);
    const pts = dailyMeans(d.readings, m.key);
    if (pts.length > 0) {
      const vals = pts.map((p) => p.mean);
      const title = t("chart_title", { metric: t(m.key) });
      parts.push(h("figure", { class: "personal" }, lineChart(pts, title, t("chart_desc", { min: Math.min(...vals), max: Math.max(...vals), unit: m.unit, days: pts.length })),
        h("figcaption", {}, title + " (" + m.unit + ")")));
      parts.push(h("table", { class: "daily" },
        h("thead", {}, h("tr", {}, h("th", { scope: "col" }, t("date")), h("th", { scope: "col" }, `${t(m.key)} (${m.unit})`))),
        h("tbody", {}, ...pts.map((p) => h("tr", {}, h("th", { scope: "row" }, p.day), h("td", {}, String(p.mean)))))));
    }
    parts.push(h("button", { type: "button", class: "secondary", id: "data-save", onclick: saveReadings }, t("data_download")));
  }
  return section("data", t("data_heading"), ...parts);
}

// text is a server-given text (a purpose's title, description or data, a release grid) in
// the page's language when the wallet knows its translation, else as the server gave it.
function text(s) {
  return texts[state.lang]?.[s] ?? s;
}

// chrome translates the page's own header and footer: each element with data-t shows that
// key, each with data-t-label has it as its aria-label.
function chrome() {
  const t = state.t;
  document.documentElement.lang = state.lang;
  document.title = t("title") + " · Commons";
  for (const e of document.querySelectorAll("[data-t]")) e.textContent = t(e.dataset.t);
  for (const e of document.querySelectorAll("[data-t-label]")) e.setAttribute("aria-label", t(e.dataset.tLabel));
}

// fail replaces the page with what went wrong and what to do, in the page's language: the
// wallet could not use this browser's storage, or its script failed.
function fail(key, err) {
  const t = state.t;
  chrome();
  const app = document.getElementById("app");
  app.replaceChildren(h("h1", {}, t("title")),
    h("div", { class: "failure", id: "failure", role: "alert" },
      h("p", {}, h("strong", {}, t(key))), h("p", {}, t(key + "_help")),
      h("p", { class: "note" }, t("failure_detail", { message: String(err?.message ?? err ?? "") }))));
  app.dataset.failed = key;
}

function render() {
  const t = state.t;
  const focused = document.activeElement?.id;
  chrome();
  const app = document.getElementById("app");
  const views = [h("h1", {}, t("title")), languageSwitch(), h("p", { class: "lead" }, t("lead"))];
  if (!state.record) views.push(setupView());
  else if (!state.keys) views.push(unlockView());
  else views.push(walletView(), registerView(), purposesView(), petitionsView(), receiptsView(), dataView());
  app.replaceChildren(...views);
  if (state.linkPending && state.keys && state.registered) {
    const heading = document.querySelector(`#petition-${slug(state.linked)} h3`);
    if (heading) {
      state.linkPending = false;
      heading.focus();
      heading.scrollIntoView({ block: "center" });
      return;
    }
  }
  if (!focused) return;
  // Focus stays on the control the resident used; when that control is gone (the view
  // changed), it moves to the first heading of the new view rather than to the page's top.
  const again = document.getElementById(focused) ?? app.querySelector("section h2");
  again?.focus();
}

function setLanguage(lang) {
  state.lang = lang;
  state.t = translator(lang);
  try { localStorage.setItem("commons-lang", lang); } catch { /* storage may be off */ }
  say("");
  render();
}

async function start() {
  let saved = null;
  try { saved = localStorage.getItem("commons-lang"); } catch { /* storage may be off */ }
  const asked = new URLSearchParams(location.search).get("lang");
  state.lang = pickLanguage(asked ?? saved, navigator.languages ?? [navigator.language]);
  state.t = translator(state.lang);
  chrome();
  let records;
  try {
    records = await Promise.all(
      ["wallet", "receipts", "registered", "ledgerKey", "lastCheckpoint", "neighbourhood", "witnesses", "pending", "tokens"].map((k) => store.get(k)));
  } catch (err) {
    fail("storage_failed", err);
    return;
  }
  const [record, receipts, registered, ledgerKey, lastCheckpoint, neighbourhood, witnesses, pending, tokens] = records;
  state.pending = pending ?? [];
  state.tokens = tokens ?? {};
  state.witnesses = witnesses ?? [];
  state.neighbourhood = neighbourhood ?? null;
  state.record = record ?? null;
  state.receipts = receipts ?? [];
  state.registered = registered ?? false;
  state.ledgerKey = ledgerKey ?? null;
  state.lastCheckpoint = lastCheckpoint ?? null;
  if (state.linkedWitness !== "") {
    try {
      await addWitness(state.linkedWitness);
    } catch (err) {
      say(errorText(err), true);
    }
  }
  if (state.record && !state.record.protected) {
    state.keys = (await core.openWalletFile(state.record.file, "")).keys;
  }
  render();
  try {
    const [purposes, petitions, geo] = await Promise.all([
      api.getJSON("/api/v1/purposes"), api.getJSON("/api/v1/petitions"), api.getJSON("/api/v1/neighbourhoods")]);
    state.purposes = purposes;
    state.petitions = petitions;
    state.neighbourhoods = geo.features.map((f) => ({ id: f.properties.id, name: f.properties.name }))
      .sort((a, b) => a.name.localeCompare(b.name));
    render();
  } catch (err) {
    say(errorText(err), true);
    return;
  }
  try {
    // A wallet that syncs asks for its tokens and for the receipts of its pending acts.
    await syncTokens();
    if (state.keys && state.pending.length > 0) await checkPending();
    render();
  } catch (err) {
    say(errorText(err), true);
  }
  document.getElementById("app").dataset.ready = "true";
}

// The pure functions, for the cross-implementation tests and for anyone auditing the page
// from the browser console. They hold no key: each takes the keys it uses.
globalThis.CommonsWalletCore = Object.freeze({ ...core });
// RFC 9474 blind signatures (blindrsa.js), for the same tests and audits.
globalThis.CommonsBlindRSA = Object.freeze({ ...blindrsa });

if (document.getElementById("app")) {
  // Whatever the page did not expect leaves a message rather than a blank or frozen page.
  start().catch((err) => fail("script_failed", err));
}
