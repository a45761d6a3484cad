// RSA blind signatures, the client's side (RFC 9474), in the variant
// RSABSSA-SHA384-PSS-Randomized (§5): SHA-384, MGF1 with SHA-384, a 48-byte PSS salt, and a
// 32-byte random prefix on every message. The signer's side is Go's (circl's blindrsa).
//
// WebCrypto verifies RSA-PSS but cannot blind: it never exposes the encoded message or a raw
// modular exponentiation with the public key. So the encoding (RFC 8017 §9.1.1) is written
// here over crypto.subtle.digest, and the arithmetic modulo n uses BigInt. BigInt is not
// constant-time; the one secret it handles, the blinding factor r, is used on the resident's
// device before anything is sent, where only that device can time it.
//
// Byte strings are Uint8Arrays; public keys are SPKI DER in standard base64 (Go's
// x509.MarshalPKIXPublicKey). prepare and blind take an optional rand(len) → Uint8Array of
// len bytes, crypto.getRandomValues by default, so that test vectors can be reproduced.

const HASH = "SHA-384";
const HASH_LEN = 48;
const SALT_LEN = 48; // §5: the salt is as long as the hash
const PREFIX_LEN = 32; // §4.1: the randomized preparation's prefix
const MIN_MODULUS_BITS = 2048; // smaller keys are refused: tokens must stay unforgeable
const MAX_DRAWS = 128; // each draw of r below n succeeds with probability at least 1/2

function randomBytes(len) {
  return crypto.getRandomValues(new Uint8Array(len));
}

// draw takes len bytes from rand and checks it gave that many.
function draw(rand, len) {
  const b = rand(len);
  if (!(b instanceof Uint8Array) || b.length !== len) {
    throw new Error(`blindrsa: rand gave ${b?.length} bytes, not ${len}`);
  }
  return b;
}

function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

async function digest(data) {
  return new Uint8Array(await crypto.subtle.digest(HASH, data));
}

// bytesToInt and intToBytes are RFC 8017's OS2IP and I2OSP (big-endian).
function bytesToInt(b) {
  let hex = "0x0";
  for (const x of b) hex += x.toString(16).padStart(2, "0");
  return BigInt(hex);
}

function intToBytes(x, len) {
  const hex = x.toString(16).padStart(len * 2, "0");
  if (hex.length > len * 2) throw new Error(`blindrsa: integer too large for ${len} bytes`);
  const out = new Uint8Array(len);
  for (let i = 0; i < len; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

function base64urlToInt(s) {
  const bin = atob(s.replaceAll("-", "+").replaceAll("_", "/"));
  return bytesToInt(Uint8Array.from(bin, (c) => c.charCodeAt(0)));
}

// modPow is b^e mod m by square-and-multiply.
function modPow(b, e, m) {
  let result = 1n;
  b %= m;
  for (; e > 0n; e >>= 1n) {
    if (e & 1n) result = (result * b) % m;
    b = (b * b) % m;
  }
  return result;
}

// inverseMod is a^-1 mod n by the extended Euclidean algorithm, or null when gcd(a, n) ≠ 1.
function inverseMod(a, n) {
  let [r0, r1] = [a % n, n];
  let [s0, s1] = [1n, 0n];
  while (r1 !== 0n) {
    const q = r0 / r1;
    [r0, r1] = [r1, r0 - q * r1];
    [s0, s1] = [s1, s0 - q * s1];
  }
  if (r0 !== 1n) return null;
  return ((s0 % n) + n) % n;
}

// publicKey reads n and e from an SPKI key through WebCrypto (importKey, then its JWK).
async function publicKey(spkiB64) {
  let key, jwk;
  try {
    const der = Uint8Array.from(atob(spkiB64), (c) => c.charCodeAt(0));
    key = await crypto.subtle.importKey("spki", der, { name: "RSA-PSS", hash: HASH }, true, ["verify"]);
    jwk = await crypto.subtle.exportKey("jwk", key);
  } catch (err) {
    throw new Error(`blindrsa: not an RSA public key: ${err.message}`);
  }
  const n = base64urlToInt(jwk.n);
  const bits = n.toString(2).length;
  if (bits < MIN_MODULUS_BITS) {
    throw new Error(`blindrsa: a ${bits}-bit modulus is too small (${MIN_MODULUS_BITS} at least)`);
  }
  return { key, n, e: base64urlToInt(jwk.e), bits, len: Math.ceil(bits / 8) };
}

// mgf1 is RFC 8017 §B.2.1's mask generation function over SHA-384.
async function mgf1(seed, len) {
  const blocks = [];
  for (let c = 0; blocks.length * HASH_LEN < len; c++) {
    blocks.push(await digest(concat(seed, intToBytes(BigInt(c), 4))));
  }
  return concat(...blocks).slice(0, len);
}

// emsaPSSEncode is RFC 8017 §9.1.1's EMSA-PSS-ENCODE(msg, emBits) with the given salt.
async function emsaPSSEncode(msg, emBits, salt) {
  const emLen = Math.ceil(emBits / 8);
  if (emLen < HASH_LEN + SALT_LEN + 2) throw new Error("blindrsa: encoding error");
  const mHash = await digest(msg);
  const h = await digest(concat(new Uint8Array(8), mHash, salt));
  const db = concat(new Uint8Array(emLen - SALT_LEN - HASH_LEN - 2), Uint8Array.of(1), salt);
  const mask = await mgf1(h, emLen - HASH_LEN - 1);
  for (let i = 0; i < db.length; i++) db[i] ^= mask[i];
  db[0] &= 0xff >> (8 * emLen - emBits);
  return concat(db, h, Uint8Array.of(0xbc));
}

// randomBelow is random_integer_uniform(1, n) (§4.2): len bytes cut to n's bit length, drawn
// again until the integer lies in [1, n).
function randomBelow(rand, n, bits, len) {
  for (let i = 0; i < MAX_DRAWS; i++) {
    const b = draw(rand, len).slice();
    b[0] &= 0xff >> (8 * len - bits);
    const r = bytesToInt(b);
    if (r >= 1n && r < n) return r;
  }
  throw new Error("blindrsa: rand gave no integer below n");
}

// prepare is the randomized preparation (§4.1): 32 random bytes, then msg. What it returns is
// the message that is blinded, finalized and verified.
export async function prepare(msg, rand = randomBytes) {
  return concat(draw(rand, PREFIX_LEN), msg);
}

// blind (§4.2) PSS-encodes the prepared message with a random salt and multiplies it by r^e
// for a random r: blindedMsg goes to the signer, inv (r^-1 mod n) stays here for finalize.
// Both are modulus-length big-endian byte strings. rand gives the 48-byte salt, then r.
export async function blind(spkiB64, prepared, rand = randomBytes) {
  const pk = await publicKey(spkiB64);
  const encoded = await emsaPSSEncode(prepared, pk.bits - 1, draw(rand, SALT_LEN));
  const m = bytesToInt(encoded);
  if (inverseMod(m, pk.n) === null) throw new Error("blindrsa: invalid input: the message is not coprime to n");
  const r = randomBelow(rand, pk.n, pk.bits, pk.len);
  const inv = inverseMod(r, pk.n);
  if (inv === null) throw new Error("blindrsa: blinding error: r is not invertible mod n");
  const z = (m * modPow(r, pk.e, pk.n)) % pk.n;
  return { blindedMsg: intToBytes(z, pk.len), inv: intToBytes(inv, pk.len) };
}

// finalize (§4.4) unblinds the signer's answer, s = blindSig · inv mod n, and returns s only
// if it is a valid RSA-PSS signature of the prepared message; otherwise it throws.
export async function finalize(spkiB64, prepared, blindSig, inv) {
  const pk = await publicKey(spkiB64);
  if (blindSig.length !== pk.len || inv.length !== pk.len) {
    throw new Error(`blindrsa: unexpected input size: ${blindSig.length}-byte blind signature, ${inv.length}-byte inverse, ${pk.len}-byte modulus`);
  }
  const sig = intToBytes((bytesToInt(blindSig) * bytesToInt(inv)) % pk.n, pk.len);
  if (!(await pssVerify(pk, prepared, sig))) {
    throw new Error("blindrsa: invalid signature: the signer's blind signature does not unblind to a valid signature");
  }
  return sig;
}

// verify (§4.5) is RSASSA-PSS-VERIFY with SHA-384 and a 48-byte salt, by WebCrypto: anyone
// holding the public key can check a token's signature.
export async function verify(spkiB64, prepared, sig) {
  return pssVerify(await publicKey(spkiB64), prepared, sig);
}

function pssVerify(pk, prepared, sig) {
  return crypto.subtle.verify({ name: "RSA-PSS", saltLength: SALT_LEN }, pk.key, sig, prepared);
}
