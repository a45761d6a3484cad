// The wallet's cryptography, as pure functions: the same derivation, statement bytes and
// signatures as the Go package crypto (crypto/wallet.go, statement.go, signed.go), the wallet
// file format of `commons wallet init`, and the checks of a ledger receipt (C2SP signed-note
// checkpoints, RFC 6962 inclusion proofs). Nothing here touches the network or the page.

import * as age from "age-encryption";
import { ed25519 } from "@noble/curves/ed25519.js";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha256 } from "@noble/hashes/sha2.js";

const enc = new TextEncoder();
const dec = new TextDecoder();

// Derivation constants: crypto/wallet.go.
const HKDF_SALT = "commons/v1";
const LABEL_SIGNING = "commons/v1 statement signing ed25519";
// Petition keys and tokens: crypto/token.go.
const LABEL_PETITION_KEY = "commons/v1 petition key ed25519\n";
const LABEL_TOKEN_BLINDING = "commons/v1 petition token blinding\n";
const DOMAIN_NULLIFIER = "commons/v1 petition nullifier\n";
const DOMAIN_TOKEN = "commons/v1 petition token\n";
const DOMAIN_ACT = "commons/v1 petition act\n";
// Signature domains: crypto/signed.go.
const DOMAIN_STATEMENT = "commons/v1 statement\n";

const ARMOR_HEADER = "-----BEGIN AGE ENCRYPTED FILE-----";
const BINARY_HEADER = "age-encryption.org/v1";

export function toHex(b) {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

export function toBase64(b) {
  let s = "";
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

export function fromBase64(s) {
  const bin = atob(s);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function base64url(b) {
  return toBase64(b).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

// base32lower encodes bytes as lower-case RFC 4648 base32 without padding.
function base32lower(b) {
  const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
  let bits = 0;
  let value = 0;
  let out = "";
  for (const x of b) {
    value = (value << 8) | x;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let i = 0;
  for (const p of parts) {
    out.set(p, i);
    i += p.length;
  }
  return out;
}

function equalBytes(a, b) {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

// WalletError carries a code the page translates; it never quotes the key or passphrase.
export class WalletError extends Error {
  constructor(code, params = {}) {
    super(code);
    this.code = code;
    this.params = params;
  }
}

// citizenId is "c-" and the lower-case unpadded base32 of the first 15 bytes of
// SHA-256(Ed25519 public key).
export function citizenId(publicKey) {
  return "c-" + base32lower(sha256(publicKey).slice(0, 15));
}

// deriveKeys derives the wallet's keys from its identity string (AGE-SECRET-KEY-1…, upper
// case) exactly as crypto/wallet.go does.
export async function deriveKeys(identity) {
  const ikm = enc.encode(identity);
  const salt = enc.encode(HKDF_SALT);
  const seed = hkdf(sha256, ikm, salt, enc.encode(LABEL_SIGNING), 32);
  const publicKey = ed25519.getPublicKey(seed);
  return {
    identity,
    recipient: await age.identityToRecipient(identity),
    seed,
    publicKey,
    citizen: citizenId(publicKey),
  };
}

// purposeNullifier is the resident's nullifier on a purpose proposal version, as
// crypto.PurposeNullifierScope names it: the nullifier of "purpose:ID@VERSION".
export function purposeNullifier(keys, purpose, version) {
  return nullifier(keys, `purpose:${purpose}@${version}`);
}

// petitionKey is the Ed25519 key the wallet derives for one petition alone: its seed is
// HKDF-SHA-256 of the identity with the label "commons/v1 petition key ed25519\n" and the
// petition id.
export function petitionKey(keys, petition) {
  const seed = hkdf(sha256, enc.encode(keys.identity), enc.encode(HKDF_SALT), enc.encode(LABEL_PETITION_KEY + petition), 32);
  return { seed, publicKey: ed25519.getPublicKey(seed) };
}

// nullifier is the lower-case hex SHA-256 of "commons/v1 petition nullifier\n" and the
// petition key: only this wallet can derive it, or sign under it.
export function nullifier(keys, petition) {
  return toHex(sha256(concat(enc.encode(DOMAIN_NULLIFIER), petitionKey(keys, petition).publicKey)));
}

// tokenMessage is what a petition token signs: the petition and the wallet's key for it.
export function tokenMessage(petition, publicKey) {
  return enc.encode(DOMAIN_TOKEN + petition + "\n" + toBase64(publicKey));
}

// blindingRandom is the deterministic randomness of a token's blinding (rand for blindrsa's
// prepare and blind): SHA-256(seed ‖ uint32 counter) blocks, the seed derived from the wallet,
// the petition and its token key, so every device of the wallet sends the node the same
// blinded message, as crypto.BlindingStream does.
export function blindingRandom(keys, petition, tokenKey) {
  const seed = hkdf(sha256, enc.encode(keys.identity), enc.encode(HKDF_SALT),
    enc.encode(LABEL_TOKEN_BLINDING + petition + "\n" + tokenKey), 32);
  let counter = 0;
  let buf = new Uint8Array(0);
  return (len) => {
    const out = new Uint8Array(len);
    for (let n = 0; n < len;) {
      if (buf.length === 0) {
        const c = new Uint8Array(4);
        new DataView(c.buffer).setUint32(0, counter++);
        buf = sha256(concat(seed, c));
      }
      const k = Math.min(buf.length, len - n);
      out.set(buf.subarray(0, k), n);
      buf = buf.subarray(k);
      n += k;
    }
    return out;
  };
}

// tokenRequestDocument is the document of a petition.tokens statement: the hex SHA-256 of one
// line "<petition> <blinded message, base64>\n" per petition, in petition order.
export function tokenRequestDocument(blinded) {
  const ids = Object.keys(blinded).sort();
  return toHex(sha256(enc.encode(ids.map((id) => id + " " + blinded[id] + "\n").join(""))));
}

// signAct signs a petition act ({type, petition, document?}) with the wallet's key for the
// petition, as crypto.SignAct does: the canonical JSON {document, key, petition, type}.
export function signAct(keys, act) {
  const k = petitionKey(keys, act.petition);
  const full = { ...(act.document ? { document: act.document } : {}), key: toBase64(k.publicKey), petition: act.petition, type: act.type };
  for (const [name, v] of Object.entries(full)) checkField(name, v);
  const msg = enc.encode(JSON.stringify(full));
  return { ...full, signature: toBase64(ed25519.sign(concat(enc.encode(DOMAIN_ACT), msg), k.seed)) };
}

// parseIdentityFile reads a plain wallet file: comment and blank lines are skipped, exactly
// one X25519 identity must remain. It returns the identity in canonical (upper) case.
export async function parseIdentityFile(text) {
  let found = null;
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    if (found !== null) throw new WalletError("wallet_many");
    found = line;
  }
  if (found === null) throw new WalletError("wallet_none");
  const upper = found.toUpperCase();
  if (!upper.startsWith("AGE-SECRET-KEY-1") || upper.startsWith("AGE-SECRET-KEY-PQ-")) {
    throw new WalletError("wallet_invalid");
  }
  try {
    await age.identityToRecipient(upper);
  } catch {
    throw new WalletError("wallet_invalid");
  }
  return upper;
}

// isProtected reports whether wallet file bytes are an age file (a passphrase-protected
// wallet), armored or binary.
export function isProtected(bytes) {
  const head = dec.decode(bytes.slice(0, 64)).trimStart();
  return head.startsWith(ARMOR_HEADER) || head.startsWith(BINARY_HEADER);
}

// marshalWallet is the plain wallet file, as crypto.Wallet.Marshal writes it.
export function marshalWallet(keys, created) {
  return (
    "# Commons wallet — a standard age identity. Keep it secret, keep a backup.\n" +
    `# created: ${created}\n` +
    `# citizen: ${keys.citizen}\n` +
    `# public key: ${keys.recipient}\n` +
    `${keys.identity}\n`
  );
}

// SCRYPT_WORK_FACTOR is the log2 of the scrypt work factor of a protected wallet: age's own
// default, as crypto/passphrase.go (about a second and 256 MiB to open).
export const SCRYPT_WORK_FACTOR = 18;

// protect encrypts a plain wallet file to a passphrase with age's scrypt recipient,
// ASCII-armored, as crypto.Wallet.MarshalProtected does. Only tests pass a workFactor other
// than SCRYPT_WORK_FACTOR: a cheaper file of the same format.
export async function protect(plainFile, passphrase, workFactor = SCRYPT_WORK_FACTOR) {
  if (passphrase === "") throw new WalletError("passphrase_empty");
  const e = new age.Encrypter();
  e.setPassphrase(passphrase);
  e.setScryptWorkFactor(workFactor);
  return age.armor.encode(await e.encrypt(plainFile));
}

// unprotect decrypts a protected wallet file (armored or binary) with the passphrase and
// returns the plain wallet file.
export async function unprotect(bytes, passphrase) {
  if (passphrase === "") throw new WalletError("passphrase_required");
  const text = dec.decode(bytes).trimStart();
  const ciphertext = text.startsWith(ARMOR_HEADER) ? age.armor.decode(text) : bytes;
  const d = new age.Decrypter();
  d.addPassphrase(passphrase);
  try {
    return await d.decrypt(ciphertext, "text");
  } catch {
    throw new WalletError("passphrase_wrong");
  }
}

// openWalletFile reads wallet file bytes, plain or protected, and derives its keys.
export async function openWalletFile(bytes, passphrase) {
  const plain = isProtected(bytes) ? await unprotect(bytes, passphrase) : dec.decode(bytes);
  return { plain, keys: await deriveKeys(await parseIdentityFile(plain)) };
}

// newIdentity returns a fresh random age X25519 identity.
export function newIdentity() {
  return age.generateX25519Identity();
}

// Canonical statement fields: crypto.Statement, in lexicographic key order.
const STRING_FIELDS = ["citizen", "document", "invite", "issued_at", "neighbourhood", "nonce", "nullifier",
  "petition", "purpose", "recipient", "signing_key", "type"];
const ALWAYS = new Set(["citizen", "issued_at", "nonce", "type"]);

function checkField(name, s) {
  if (typeof s !== "string" || s.length > 256) throw new WalletError("bad_field:" + name);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x21 || c > 0x7e || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      throw new WalletError("bad_field:" + name);
    }
  }
}

// canonicalStatement is the statement's canonical JSON, byte for byte what Go's
// Statement.Canonical produces: keys in order, empty optional fields left out.
export function canonicalStatement(st) {
  const known = new Set([...STRING_FIELDS, "erase", "purpose_version"]);
  for (const k of Object.keys(st)) {
    if (!known.has(k)) throw new WalletError("bad_field:" + k);
  }
  const out = {};
  for (const k of [...known].sort()) {
    const v = st[k];
    if (k === "erase") {
      if (v) out.erase = true;
    } else if (k === "purpose_version") {
      if (v !== undefined && v !== 0) {
        if (!Number.isSafeInteger(v)) throw new WalletError("bad_field:" + k);
        out.purpose_version = v;
      }
    } else {
      const s = v ?? "";
      checkField(k, s);
      if (s !== "" || ALWAYS.has(k)) out[k] = s;
    }
  }
  return JSON.stringify(out);
}

// signStatement fills in the citizen id and signs the statement's domain-separated canonical
// bytes with the derived Ed25519 key; the signature is standard base64.
export function signStatement(keys, st) {
  const statement = { ...st, citizen: keys.citizen };
  const msg = enc.encode(DOMAIN_STATEMENT + canonicalStatement(statement));
  return { statement, signature: toBase64(ed25519.sign(msg, keys.seed)) };
}

// newNonce is 16 random bytes, base64url without padding, like crypto.NewNonce.
export function newNonce() {
  return base64url(crypto.getRandomValues(new Uint8Array(16)));
}

// now is the current time as statements carry it (RFC 3339, UTC, seconds).
export function now() {
  return new Date().toISOString().replace(/\.\d+Z$/, "Z");
}

// Answers to a petition's optional questions: ledger/state (AgeBands, Answers).
export const AGE_BANDS = ["16-29", "30-44", "45-64", "65+"];
// An age X25519 recipient (bech32, "age1" and 58 characters): the only kind of tally key the
// node makes, and the only one client.SignPetition seals to.
const X25519_RECIPIENT = /^age1[qpzry9x8gf2tvdw0s3jn54khce6mua7l]{58}$/;

// ANSWERS_SIZE is the length the answers' plaintext is padded to (client.AnswersPlaintext), so
// that a sealed answer's length says nothing of what was answered.
const ANSWERS_SIZE = 192;

// answersJSON is the plaintext client.SignPetition seals (client.AnswersPlaintext):
// state.Answers as Go marshals it, {"v":1,"age_band":…,"neighbourhood":…} with unanswered
// questions left out, padded with spaces to ANSWERS_SIZE bytes (every character is ASCII);
// null when nothing is answered (then nothing is sent).
export function answersJSON(answers) {
  const out = { v: 1 };
  if (answers.age_band) {
    if (!AGE_BANDS.includes(answers.age_band)) throw new WalletError("bad_field:age_band");
    out.age_band = answers.age_band;
  }
  if (answers.neighbourhood) {
    checkField("neighbourhood", answers.neighbourhood);
    out.neighbourhood = answers.neighbourhood;
  }
  if (Object.keys(out).length === 1) return null;
  const json = JSON.stringify(out);
  return json + " ".repeat(Math.max(0, ANSWERS_SIZE - json.length));
}

// sealAnswers seals answers to a petition's tally key as client.SignPetition does: binary age
// to the X25519 recipient. document is the statement's document field, the lower-case hex
// SHA-256 of the sealed bytes (crypto.DocumentHash), so the signature covers them. It returns
// null when nothing is answered.
export async function sealAnswers(tally, answers) {
  const plain = answersJSON(answers);
  if (plain === null) return null;
  if (typeof tally !== "string" || !X25519_RECIPIENT.test(tally)) throw new WalletError("tally_key");
  const e = new age.Encrypter();
  e.addRecipient(tally);
  const sealed = await e.encrypt(plain);
  return { sealed, document: documentHash(sealed) };
}

// documentHash is crypto.DocumentHash: the lower-case hex SHA-256 of a body.
export function documentHash(body) {
  return toHex(sha256(body));
}

// parseVerifierKey parses a signed-note verifier key "name+hash+base64(0x01‖key)".
export function parseVerifierKey(vkey) {
  return parseKey(vkey, 1, "ledger_key");
}

// parseWitnessKey parses a witness's verifier key "name+hash+base64(0x04‖key)"
// (c2sp.org/tlog-cosignature).
export function parseWitnessKey(vkey) {
  return parseKey(vkey, 4, "witness_key");
}

// parseKey parses an Ed25519 signed-note key of algorithm alg, throwing code when it is not one.
function parseKey(vkey, alg, code) {
  // name+hash+key: the key's base64 may itself hold "+", so cut at the first two only.
  const m = /^([^+\s]+)\+([0-9a-f]{8})\+(\S+)$/.exec(vkey.trim());
  if (!m) throw new WalletError(code);
  const [, name, hashHex, b64] = m;
  let raw;
  try {
    raw = fromBase64(b64);
  } catch {
    throw new WalletError(code);
  }
  if (raw.length !== 33 || raw[0] !== alg) {
    throw new WalletError(code);
  }
  const hash = sha256(concat(enc.encode(name + "\n"), raw)).slice(0, 4);
  if (toHex(hash) !== hashHex) throw new WalletError(code);
  return { name, hash, publicKey: raw.slice(1) };
}

// noteParts splits a signed note into its text (ending in a newline) and its signature lines,
// each {name, sig}.
function noteParts(note) {
  const split = note.lastIndexOf("\n\n");
  if (split < 0) throw new WalletError("checkpoint_format");
  const lines = note.slice(split + 2).split("\n").filter((l) => l !== "");
  const sigs = [];
  for (const line of lines) {
    const m = /^\u2014 (\S+) (\S+)$/.exec(line);
    if (!m) continue;
    try {
      sigs.push({ name: m[1], sig: fromBase64(m[2]) });
    } catch {
      // a line that is not base64 is no signature of anyone's
    }
  }
  return { text: note.slice(0, split + 1), sigs };
}

// countCosignatures returns how many of the witnesses whose keys are given cosigned the
// checkpoint note: a line of theirs whose signature (key hash ‖ timestamp ‖ Ed25519) verifies
// over "cosignature/v1\ntime <timestamp>\n" and the checkpoint (c2sp.org/tlog-cosignature).
// The node's own signature is checked by openCheckpoint.
export function countCosignatures(note, witnessKeys) {
  const witnesses = witnessKeys.map(parseWitnessKey);
  const { text, sigs } = noteParts(note);
  const seen = new Set();
  for (const { name, sig } of sigs) {
    for (const w of witnesses) {
      if (w.name !== name || sig.length !== 4 + 8 + 64 || !equalBytes(sig.slice(0, 4), w.hash)) continue;
      const time = new DataView(sig.buffer, sig.byteOffset + 4, 8).getBigUint64(0);
      const msg = enc.encode("cosignature/v1\ntime " + time.toString() + "\n" + text);
      if (ed25519.verify(sig.slice(12), msg, w.publicKey, { zip215: false })) seen.add(w.name + "+" + toHex(w.hash));
    }
  }
  return seen.size;
}

// openCheckpoint verifies a C2SP signed note with the verifier key and parses its
// tlog-checkpoint body. It throws unless a signature line of the key verifies.
export function openCheckpoint(note, vkey) {
  const v = parseVerifierKey(vkey);
  const { text, sigs } = noteParts(note);
  let ok = false;
  for (const { name, sig } of sigs) {
    if (name !== v.name || sig.length !== 68 || !equalBytes(sig.slice(0, 4), v.hash)) continue;
    ok = ok || ed25519.verify(sig.slice(4), enc.encode(text), v.publicKey, { zip215: false });
  }
  if (!ok) throw new WalletError("checkpoint_signature");
  const lines = text.split("\n");
  if (lines.length < 4 || lines[0] !== v.name || !/^(0|[1-9]\d*)$/.test(lines[1])) {
    throw new WalletError("checkpoint_format");
  }
  const root = fromBase64(lines[2]);
  if (root.length !== 32) throw new WalletError("checkpoint_format");
  return { origin: lines[0], size: BigInt(lines[1]), root };
}

// leafHash is the RFC 6962 hash of a ledger entry: SHA-256(0x00 ‖ entry).
export function leafHash(entry) {
  return sha256(concat(new Uint8Array([0]), entry));
}

function nodeHash(l, r) {
  return sha256(concat(new Uint8Array([1]), l, r));
}

// verifyInclusion checks an RFC 6962 inclusion proof (RFC 9162 §2.1.3.2) of leaf at index in
// the tree of size whose root is root. proof is a list of byte arrays.
export function verifyInclusion(index, size, leaf, proof, root) {
  let fn = BigInt(index);
  let sn = BigInt(size) - 1n;
  if (fn > sn) return false;
  let r = leaf;
  for (const p of proof) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      r = nodeHash(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(r, root);
}

// verifyConsistency checks an RFC 6962 consistency proof (RFC 9162 §2.1.4.2) that the tree
// of size second and root secondRoot extends the tree of size first and root firstRoot.
export function verifyConsistency(first, second, proof, firstRoot, secondRoot) {
  const m = BigInt(first);
  const n = BigInt(second);
  if (m > n) return false;
  if (m === n) return proof.length === 0 && equalBytes(firstRoot, secondRoot);
  if (m === 0n || proof.length === 0) return false;
  const path = (m & (m - 1n)) === 0n ? [firstRoot, ...proof] : proof;
  let fn = m - 1n;
  let sn = n - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0n) return false;
    if ((fn & 1n) === 1n || fn === sn) {
      fr = nodeHash(c, fr);
      sr = nodeHash(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = nodeHash(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  return sn === 0n && equalBytes(fr, firstRoot) && equalBytes(sr, secondRoot);
}

// decryptVaultCopy opens one of the resident's vault copies (binary age, sealed to them) and
// parses the batch of readings inside.
export async function decryptVaultCopy(identity, ciphertext) {
  const d = new age.Decrypter();
  d.addIdentity(identity);
  return JSON.parse(await d.decrypt(ciphertext, "text"));
}
