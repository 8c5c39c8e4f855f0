// Verification in the browser: the page fetches an entry's inclusion proof and the signed
// checkpoint, and checks them here with WebCrypto (SHA-256, Ed25519), trusting nothing the
// server computed. Ports of heartchain/ledger/merkle.py (verify_inclusion,
// root_from_inclusion, verify_consistency; RFC 9162 §2.1.3.2 and §2.1.4.2) and of the C2SP
// signed-note / tlog-checkpoint parsing in heartchain/ledger/notes.py.
//
// Markup it looks for:
//   [data-verify-entry=N][data-leaf-hash=hex]    an entry: inclusion + checkpoint signature
//   [data-verify-checkpoint=N][data-root-hash=hex]  a checkpoint's signature
//   [data-verify-consistency][data-from=A][data-to=B]  a consistency proof between checkpoints
// Each holds a [role=status] .verify-status line and, optionally, an ol.verify-steps list.
// Witness cosignatures (C2SP tlog-cosignature, cosignature/v1) are checked against the witness
// keys in force: the ones the user pinned in this browser (localStorage), else the ones this
// site supplies, and the page says which. A receipt (C2SP tlog-proof@v1) is verified whole by
// verifyReceiptText, with no request at all (web/static/receipt.js uses it offline).
// The result goes into data-verify-state="ok" | "failed" | "unsupported".

import { msg } from "./messages.js";

export { msg };

const encoder = new TextEncoder();
const LEAF_PREFIX = 0x00;
const NODE_PREFIX = 0x01;
const HASH_SIZE = 32;
const ED25519_TYPE = 0x01;
const COSIGNATURE_TYPE = 0x04;
const MAX_TIMESTAMP = (1n << 63n) - 1n;
const PIN_STORAGE = "heartchain.pinned-keys.v1";
const RECEIPT_HEADER = "c2sp.org/tlog-proof@v1";

// A failed check: `key` names the message shown to the reader, `detail` says what differed.
export class VerificationFailure extends Error {
  constructor(key, detail = "") {
    super(detail ? `${key}: ${detail}` : key);
    this.key = key;
    this.detail = detail;
  }
}

const fail = (key, detail) => new VerificationFailure(key, detail);

// -- bytes ---------------------------------------------------------------------------------

export function b64decode(text, what = "proof") {
  if (typeof text !== "string" || text.length % 4 !== 0 || !/^[A-Za-z0-9+/]*={0,2}$/.test(text)) {
    throw fail(what === "proof" ? "err_proof" : what, `invalid base64 ${JSON.stringify(text)}`);
  }
  const binary = atob(text);
  const out = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) out[i] = binary.charCodeAt(i);
  return out;
}

export function hex(bytes) {
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

export function concat(...parts) {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let offset = 0;
  for (const p of parts) { out.set(p, offset); offset += p.length; }
  return out;
}

export function equal(a, b) {
  if (a.length !== b.length) return false;
  let diff = 0;
  for (let i = 0; i < a.length; i++) diff |= a[i] ^ b[i];
  return diff === 0;
}

export async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// MTH({d}) = SHA-256(0x00 || d)
export function leafHash(data) {
  return sha256(concat(Uint8Array.of(LEAF_PREFIX), data));
}

export function nodeHash(left, right) {
  return sha256(concat(Uint8Array.of(NODE_PREFIX), left, right));
}

// -- RFC 9162 proofs (indexes and sizes as BigInt: JS bit operators stop at 32 bits) -------

const bitLength = (n) => (n <= 0n ? 0 : n.toString(2).length);
const onesCount = (n) => (n <= 0n ? 0 : n.toString(2).replaceAll("0", "").length);
const trailingZeros = (n) => bitLength(n & -n) - 1;

function decomposeInclusion(index, size) {
  const inner = bitLength(index ^ (size - 1n));
  const border = onesCount(index >> BigInt(inner));
  return [inner, border];
}

function checkProof(proof) {
  proof.forEach((h, i) => {
    if (h.length !== HASH_SIZE) throw fail("err_proof", `proof[${i}] has ${h.length} bytes, want ${HASH_SIZE}`);
  });
}

async function chainInner(seed, proof, index) {
  let h = seed;
  for (let i = 0; i < proof.length; i++) {
    h = ((index >> BigInt(i)) & 1n) === 0n ? await nodeHash(h, proof[i]) : await nodeHash(proof[i], h);
  }
  return h;
}

async function chainInnerRight(seed, proof, index) {
  let h = seed;
  for (let i = 0; i < proof.length; i++) {
    if (((index >> BigInt(i)) & 1n) === 1n) h = await nodeHash(proof[i], h);
  }
  return h;
}

async function chainBorderRight(seed, proof) {
  let h = seed;
  for (const sibling of proof) h = await nodeHash(sibling, h);
  return h;
}

export async function rootFromInclusion(leaf, index, size, proof) {
  index = BigInt(index);
  size = BigInt(size);
  if (index < 0n || index >= size) throw fail("err_proof", `index ${index} out of bounds for tree size ${size}`);
  if (leaf.length !== HASH_SIZE) throw fail("err_proof", `leaf hash has ${leaf.length} bytes, want ${HASH_SIZE}`);
  const [inner, border] = decomposeInclusion(index, size);
  if (proof.length !== inner + border) throw fail("err_proof", `wrong proof size ${proof.length}, want ${inner + border}`);
  checkProof(proof);
  const calculated = await chainInner(leaf, proof.slice(0, inner), index);
  return chainBorderRight(calculated, proof.slice(inner));
}

export async function verifyInclusion(leaf, index, size, proof, root) {
  const calculated = await rootFromInclusion(leaf, index, size, proof);
  if (!equal(calculated, root)) {
    throw fail("err_root", `for leaf ${index} at size ${size}: expected ${hex(root)}, calculated ${hex(calculated)}`);
  }
}

export async function verifyConsistency(size1, size2, proof, root1, root2) {
  size1 = BigInt(size1);
  size2 = BigInt(size2);
  if (size1 <= 0n) throw fail("err_proof", `consistency from tree size ${size1} proves nothing`);
  if (size2 < size1) throw fail("err_proof", `size2 (${size2}) < size1 (${size1})`);
  if (size1 === size2) {
    if (proof.length) throw fail("err_proof", `size1 == size2, but proof has ${proof.length} hashes`);
    if (!equal(root1, root2)) throw fail("err_root", `at size ${size2}`);
    return;
  }
  if (!proof.length) throw fail("err_proof", "empty proof");
  let [inner, border] = decomposeInclusion(size1 - 1n, size2);
  const shift = trailingZeros(size1);
  inner -= shift;
  const start = size1 === 1n << BigInt(shift) ? 0 : 1;
  if (proof.length !== start + inner + border) {
    throw fail("err_proof", `wrong proof size ${proof.length}, want ${start + inner + border}`);
  }
  checkProof(proof);
  const seed = start === 0 ? root1 : proof[0];
  const rest = proof.slice(start);
  const mask = (size1 - 1n) >> BigInt(shift);
  const hash1 = await chainBorderRight(await chainInnerRight(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!equal(hash1, root1)) throw fail("err_root", `at size ${size1}: expected ${hex(root1)}, calculated ${hex(hash1)}`);
  const hash2 = await chainBorderRight(await chainInner(seed, rest.slice(0, inner), mask), rest.slice(inner));
  if (!equal(hash2, root2)) throw fail("err_root", `at size ${size2}: expected ${hex(root2)}, calculated ${hex(hash2)}`);
}

// -- C2SP signed notes and checkpoints ------------------------------------------------------

// `name+hex8(keyID)+base64(type || 32-byte Ed25519 key)`; key ID = SHA-256(name || 0x0A || type || key)[:4]
// (type 0x01: a note signer such as the log; 0x04: a cosignature/v1 witness key).
async function parseKey(text, type) {
  text = String(text).trim();
  const first = text.indexOf("+");
  const second = text.indexOf("+", first + 1);
  if (first <= 0 || second < 0) throw fail("err_key", "expected name+keyid+key");
  const name = text.slice(0, first);
  const keyIdHex = text.slice(first + 1, second);
  if (!/^[0-9a-fA-F]{8}$/.test(keyIdHex)) throw fail("err_key", "key ID must be 8 hex digits");
  const key = b64decode(text.slice(second + 1), "err_key");
  if (key.length !== 33 || key[0] !== type) throw fail("err_key", `not an Ed25519 key of type 0x0${type}`);
  const publicKey = key.slice(1);
  const keyId = (await sha256(concat(encoder.encode(name + "\n"), Uint8Array.of(type), publicKey))).slice(0, 4);
  if (hex(keyId) !== keyIdHex.toLowerCase()) throw fail("err_key", `key ID ${keyIdHex} does not match the key of ${name}`);
  const digest = hex(await sha256(publicKey));
  const fingerprint = digest.slice(0, 32).match(/..../g).join(" ");
  return { name, keyId, keyIdHex: hex(keyId), publicKey, text, fingerprint, type };
}

export function parseVerifierKey(text) { return parseKey(text, ED25519_TYPE); }
export function parseCosignatureKey(text) { return parseKey(text, COSIGNATURE_TYPE); }

// Split a signed note into its text (ending in "\n") and its signature lines.
export function parseNote(note) {
  if (typeof note !== "string") throw fail("err_note", "no note");
  const split = note.lastIndexOf("\n\n");
  if (split < 0 || !note.endsWith("\n")) throw fail("err_note", "no signature block");
  const text = note.slice(0, split + 1);
  const signatures = note.slice(split + 2, -1).split("\n").map((line) => {
    if (!line.startsWith("\u2014 ")) throw fail("err_note", `bad signature line ${JSON.stringify(line)}`);
    const parts = line.slice(2).split(" ");
    if (parts.length !== 2 || !parts[0]) throw fail("err_note", `bad signature line ${JSON.stringify(line)}`);
    const raw = b64decode(parts[1], "err_note");
    if (raw.length < 5) throw fail("err_note", "signature shorter than 5 bytes");
    return { name: parts[0], keyId: raw.slice(0, 4), signature: raw.slice(4) };
  });
  return { text, signatures };
}

export function parseCheckpoint(text) {
  if (!text.endsWith("\n")) throw fail("err_note", "checkpoint text must end in a newline");
  const lines = text.slice(0, -1).split("\n");
  if (lines.length < 3) throw fail("err_note", "needs origin, size and root hash lines");
  const [origin, sizeText, rootText] = lines;
  if (!/^(0|[1-9][0-9]{0,19})$/.test(sizeText)) throw fail("err_note", `size ${JSON.stringify(sizeText)}`);
  const root = b64decode(rootText, "err_note");
  if (root.length !== HASH_SIZE) throw fail("err_note", "root hash is not 32 bytes");
  // Lines after the root are extension lines (tlog-checkpoint): signed, kept, not interpreted.
  return { origin, size: BigInt(sizeText), root, extensions: lines.slice(3) };
}

async function importKey(publicKey) {
  try {
    return await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false, ["verify"]);
  } catch (error) {
    throw fail("unsupported", String(error));
  }
}

// Check the note carries a valid Ed25519 signature by `key`; return the checkpoint it signs.
export async function verifyCheckpointNote(note, key) {
  const parsed = parseNote(note);
  const mine = parsed.signatures.filter((s) => s.name === key.name && equal(s.keyId, key.keyId));
  if (!mine.length) throw fail("err_signature", `no signature by ${key.name}+${key.keyIdHex}`);
  const cryptoKey = await importKey(key.publicKey);
  for (const sig of mine) {
    if (sig.signature.length === 64 &&
        await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, sig.signature, encoder.encode(parsed.text))) {
      return parseCheckpoint(parsed.text);
    }
  }
  throw fail("err_signature", `signature by ${key.name}+${key.keyIdHex} does not verify`);
}

// -- C2SP cosignature/v1 (tlog-cosignature) --------------------------------------------------

// The signed message: "cosignature/v1\ntime <ts>\n" followed by the whole checkpoint note text.
export function cosignatureMessage(noteText, timestamp) {
  return encoder.encode(`cosignature/v1\ntime ${BigInt(timestamp)}\n${noteText}`);
}

// A cosignature/v1 signature is an 8-byte big-endian timestamp and a 64-byte Ed25519 signature.
export function cosignatureTimestamp(signature) {
  if (signature.length !== 72) throw fail("err_cosignature", `cosignature has ${signature.length} bytes, want 72`);
  let ts = 0n;
  for (let i = 0; i < 8; i++) ts = (ts << 8n) | BigInt(signature[i]);
  if (ts > MAX_TIMESTAMP) throw fail("err_cosignature", "timestamp exceeds 2^63-1");
  return ts;
}

// Check every cosignature by a trusted witness key; one that fails rejects the note. Lines by
// keys not trusted are ignored (signed-note). Returns the witnesses that cosigned, in note order.
export async function verifyCosignatures(note, witnesses) {
  const parsed = typeof note === "string" ? parseNote(note) : note;
  const cosigned = [];
  const seen = new Set();
  for (const sig of parsed.signatures) {
    const witness = witnesses.find((w) => w.name === sig.name && equal(w.keyId, sig.keyId));
    if (!witness || seen.has(witness.name)) continue;
    seen.add(witness.name);
    const timestamp = cosignatureTimestamp(sig.signature);
    const cryptoKey = await importKey(witness.publicKey);
    const ok = await crypto.subtle.verify({ name: "Ed25519" }, cryptoKey, sig.signature.slice(8),
      cosignatureMessage(parsed.text, timestamp));
    if (!ok) throw fail("err_cosignature", `cosignature by ${witness.name} at time ${timestamp} does not verify`);
    const time = new Date(Number(timestamp) * 1000).toISOString().replace(".000Z", "Z");
    cosigned.push({ name: witness.name, label: witness.label || witness.name, timestamp, time });
  }
  return cosigned;
}

// -- the keys this browser trusts ---------------------------------------------------------

// { log: "<verifier key>", witnesses: [{name, label, key}], required, pinnedAt } or null
export function pinnedKeys() {
  try {
    const raw = window.localStorage.getItem(PIN_STORAGE);
    return raw ? JSON.parse(raw) : null;
  } catch { return null; }
}

export function pinKeys(keys) {
  const value = { log: keys.log, required: Number(keys.required || 0),
    witnesses: (keys.witnesses || []).map((w) => ({ name: w.name, label: w.label || w.name, key: w.key })),
    pinnedAt: new Date().toISOString(), pasted: Boolean(keys.pasted) };
  window.localStorage.setItem(PIN_STORAGE, JSON.stringify(value));
  return value;
}

export function unpinKeys() { window.localStorage.removeItem(PIN_STORAGE); }

export function sameKeys(a, b) {
  const witnessKeys = (k) => (k.witnesses || []).map((w) => String(w.key).trim()).sort().join("\n");
  return String(a.log).trim() === String(b.log).trim() && witnessKeys(a) === witnessKeys(b) &&
    Number(a.required || 0) === Number(b.required || 0);
}

// The keys to verify with, given those the site supplies (`site`, same shape as pinned keys):
// the pinned ones if any, and a loud failure when the site's differ from them.
export async function trustedKeys(site) {
  const pinned = pinnedKeys();
  if (pinned && site && !sameKeys(pinned, site)) {
    warnKeysChanged();
    throw fail("err_keys_changed", `pinned log key ${pinned.log}; this site now supplies ${site.log}`);
  }
  return parseTrust(pinned || site, pinned ? "pinned" : "site");
}

export async function parseTrust(keys, source) {
  if (!keys || !keys.log) throw fail("err_no_keys", "no log key");
  const log = await parseVerifierKey(keys.log);
  const witnesses = [];
  for (const w of keys.witnesses || []) {
    const parsed = await parseCosignatureKey(w.key);
    witnesses.push({ ...parsed, label: w.label || parsed.name });
  }
  const required = Number(keys.required || 0);
  if (!Number.isInteger(required) || required < 0 || required > witnesses.length) {
    throw fail("err_key", `policy needs ${required} of ${witnesses.length} witnesses`);
  }
  return { log, witnesses, required, source, pinnedAt: keys.pinnedAt || null };
}

function warnKeysChanged() {
  if (document.getElementById("hc-keys-changed")) return;
  const banner = document.createElement("p");
  banner.id = "hc-keys-changed";
  banner.className = "notice warn keys-changed";
  banner.setAttribute("role", "alert");
  banner.textContent = msg("keys_changed_banner");
  const main = document.querySelector("main") || document.body;
  main.prepend(banner);
}

function keySteps(trust) {
  const steps = [msg(trust.source === "pinned" ? "step_keys_pinned" : trust.source === "pasted"
    ? "step_keys_pasted" : "step_keys_site", { fp: trust.log.fingerprint, key: `${trust.log.name}+${trust.log.keyIdHex}` })];
  return steps;
}

function witnessSteps(cosigned, trust) {
  const steps = cosigned.map((c) => msg("step_cosigned", { name: c.label, key: c.name, time: c.time }));
  if (!trust.witnesses.length) steps.push(msg("step_no_witnesses"));
  return steps;
}

// "cosigned by A, B (2 of 2 required)" or why the policy is not met: the status line's tail.
function witnessSummary(cosigned, trust) {
  if (!trust.witnesses.length) return msg("summary_no_witnesses");
  const names = cosigned.map((c) => c.label).join(", ");
  return cosigned.length ? msg("summary_witnessed", { names, k: cosigned.length, m: trust.required, n: trust.witnesses.length })
    : msg("summary_not_witnessed", { m: trust.required, n: trust.witnesses.length });
}

function requireWitnesses(cosigned, trust) {
  if (cosigned.length < trust.required) {
    throw fail("err_policy", `${cosigned.length} of ${trust.required} required cosignatures (${cosigned.map((c) => c.name).join(", ") || "none"})`);
  }
}

// -- C2SP tlog-proof@v1 receipts (format: heartchain/ledger/receipts.py) ---------------------

export function parseReceipt(text) {
  if (typeof text !== "string") throw fail("err_receipt", "no text");
  const split = text.indexOf("\n\n");
  if (split < 0) throw fail("err_receipt", "no empty line before the checkpoint");
  const lines = text.slice(0, split).split("\n");
  const checkpoint = text.slice(split + 2);
  if (lines[0] !== RECEIPT_HEADER) throw fail("err_receipt", `first line must be ${RECEIPT_HEADER}`);
  let position = 1;
  let extra = null;
  if (lines.length > 1 && lines[1].startsWith("extra ")) {
    extra = b64decode(lines[1].slice(6), "err_receipt");
    position = 2;
  }
  if (lines.length <= position || !lines[position].startsWith("index ")) throw fail("err_receipt", "no index line");
  const indexText = lines[position].slice(6);
  if (!/^(0|[1-9][0-9]{0,19})$/.test(indexText)) throw fail("err_receipt", `index ${JSON.stringify(indexText)}`);
  const hashes = lines.slice(position + 1).map((line) => {
    const h = b64decode(line, "err_proof");
    if (h.length !== HASH_SIZE) throw fail("err_proof", "proof hash is not 32 bytes");
    return h;
  });
  if (!extra) throw fail("err_receipt", "no extra line carrying the entry");
  let envelope;
  try { envelope = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(extra)); } catch (error) {
    throw fail("err_receipt", `extra is not JSON: ${error}`);
  }
  if (!envelope || typeof envelope.entry !== "string") throw fail("err_receipt", "extra.entry missing");
  let share = null;
  if (envelope.share !== undefined) {
    const s = envelope.share;
    if (!s || typeof s.leaf !== "string" || !Array.isArray(s.hashes) || !Number.isInteger(s.position) ||
        !Number.isInteger(s.size) || s.position < 0 || s.position >= s.size) {
      throw fail("err_receipt", "extra.share malformed");
    }
    share = { leaf: s.leaf, position: BigInt(s.position), size: BigInt(s.size), hashes: s.hashes.map((h) => b64decode(h, "err_proof")) };
  }
  return { index: BigInt(indexText), hashes, checkpoint, entry: envelope.entry, share };
}

// Verify a receipt with `trust` (from trustedKeys or parseTrust); no network. Returns what it
// proved: { index, size, origin, entry (parsed JSON), cosigned, share, steps, summary }.
// `allowUnwitnessed` (site pages): a checkpoint short of the witness policy is reported as
// `witnessed: false` instead of failing, since the witnesses may not have caught up yet.
export async function verifyReceiptText(text, trust, expectedLeafHex = null, { allowUnwitnessed = false } = {}) {
  const receipt = parseReceipt(text);
  const checkpoint = await verifyCheckpointNote(receipt.checkpoint, trust.log);
  if (checkpoint.origin !== trust.log.name) throw fail("err_note", `origin ${checkpoint.origin} is not ${trust.log.name}`);
  const steps = keySteps(trust);
  steps.push(msg("step_signature", { n: checkpoint.size, key: `${trust.log.name}+${trust.log.keyIdHex}` }));
  const cosigned = await verifyCosignatures(receipt.checkpoint, trust.witnesses);
  steps.push(...witnessSteps(cosigned, trust));
  const witnessed = cosigned.length >= trust.required;
  if (!allowUnwitnessed) requireWitnesses(cosigned, trust);
  const data = encoder.encode(receipt.entry);
  const leaf = await leafHash(data);
  if (expectedLeafHex && hex(leaf) !== expectedLeafHex.toLowerCase()) {
    throw fail("err_leaf", `page shows ${expectedLeafHex}, data hashes to ${hex(leaf)}`);
  }
  if (expectedLeafHex) steps.push(msg("step_leaf"));
  await verifyInclusion(leaf, receipt.index, checkpoint.size, receipt.hashes, checkpoint.root);
  steps.push(msg("step_inclusion", { k: receipt.hashes.length, n: checkpoint.size }));
  let entry;
  try { entry = JSON.parse(receipt.entry); } catch { throw fail("err_receipt", "the entry is not JSON"); }
  let share = null;
  if (receipt.share) {
    const body = entry.body || {};
    if (entry.kind !== "period.apportion" || typeof body.share_root !== "string" || !/^[0-9a-f]{64}$/.test(body.share_root)) {
      throw fail("err_root", "the entry records no share root");
    }
    if (BigInt(body.members) !== receipt.share.size) throw fail("err_size", `share tree of ${receipt.share.size}, entry says ${body.members}`);
    const root = new Uint8Array(body.share_root.match(/../g).map((b) => parseInt(b, 16)));
    await verifyInclusion(await leafHash(encoder.encode(receipt.share.leaf)), receipt.share.position, receipt.share.size,
      receipt.share.hashes, root);
    try { share = JSON.parse(receipt.share.leaf); } catch { throw fail("err_receipt", "the share leaf is not JSON"); }
    if (share.period !== body.period) throw fail("err_receipt", "the share leaf is for another period");
    steps.push(msg("step_share", { k: receipt.share.hashes.length, n: body.period }));
  }
  return { index: receipt.index, size: checkpoint.size, origin: checkpoint.origin, leaf: hex(leaf), entry, data: receipt.entry,
    cosigned, share, steps, summary: witnessSummary(cosigned, trust), trust, witnessed };
}

// -- fetching -------------------------------------------------------------------------------

export async function gql(query, variables = {}) {
  let response;
  try {
    response = await fetch("/graphql", {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify({ query, variables }),
    });
  } catch (error) {
    throw fail("err_network", String(error));
  }
  if (!response.ok) throw fail("err_network", `HTTP ${response.status}`);
  const body = await response.json();
  if (body.errors && body.errors.length) throw fail("err_network", body.errors[0].message);
  return body.data;
}

const ENTRY_QUERY = `query VerifyEntry($index: Int64!) {
  entry(index: $index) { index receipt }
  verifierKey
  witnessPolicy { required witnesses { name label verifierKey } }
}`;

const CHECKPOINT_QUERY = `query VerifyCheckpoint($size: Int64!) {
  checkpoint(size: $size) { note rootHash size }
  cosignedCheckpoint(size: $size) { note }
  verifierKey
  witnessPolicy { required witnesses { name label verifierKey } }
}`;

const CONSISTENCY_QUERY = `query VerifyConsistency($from: Int64!, $to: Int64!) {
  consistencyProof(fromSize: $from, toSize: $to) { fromSize toSize hashes
    fromCheckpoint { note } toCheckpoint { note } }
  verifierKey
}`;

const keys = new Map();
function verifierKey(text) {
  if (!keys.has(text)) keys.set(text, parseVerifierKey(text));
  return keys.get(text);
}

// The consistency check is signed by the log key only; pinned keys still apply to it.
async function logKeyFor(data) {
  const pinned = pinnedKeys();
  if (pinned && String(pinned.log).trim() !== String(data.verifierKey).trim()) {
    warnKeysChanged();
    throw fail("err_keys_changed", `pinned log key ${pinned.log}; this site now supplies ${data.verifierKey}`);
  }
  return verifierKey(data.verifierKey);
}

function siteKeys(data) {
  const policy = data.witnessPolicy || { required: 0, witnesses: [] };
  return { log: data.verifierKey, required: policy.required,
    witnesses: policy.witnesses.map((w) => ({ name: w.name, label: w.label, key: w.verifierKey })) };
}

// Verify entry `index` from its receipt: its data hashes to the leaf the page shows, the leaf
// is in the tree of the checkpoint, the log's key signed it and the trusted witnesses cosigned.
export async function verifyEntry(index, expectedLeafHex) {
  const data = await gql(ENTRY_QUERY, { index: Number(index) });
  if (!data || !data.entry) throw fail("err_network", `entry ${index} not found`);
  const trust = await trustedKeys(siteKeys(data));
  const result = await verifyReceiptText(data.entry.receipt, trust, expectedLeafHex, { allowUnwitnessed: true });
  if (result.index !== BigInt(index)) throw fail("err_proof", `receipt is for entry ${result.index}`);
  return result;
}

export async function verifyCheckpoint(size, expectedRootHex) {
  const data = await gql(CHECKPOINT_QUERY, { size: Number(size) });
  const trust = await trustedKeys(siteKeys(data));
  const key = trust.log;
  const checkpoint = await verifyCheckpointNote(data.checkpoint.note, key);
  if (checkpoint.size !== BigInt(size)) throw fail("err_size", `asked for ${size}, got ${checkpoint.size}`);
  if (expectedRootHex && hex(checkpoint.root) !== expectedRootHex.toLowerCase()) {
    throw fail("err_root", `page shows ${expectedRootHex}, signed root is ${hex(checkpoint.root)}`);
  }
  const steps = [...keySteps(trust), msg("step_signature", { n: checkpoint.size, key: `${key.name}+${key.keyIdHex}` })];
  let cosigned = [];
  if (data.cosignedCheckpoint) {
    const cosignedNote = parseNote(data.cosignedCheckpoint.note);
    // The cosignatures must be over the very text whose log signature was just checked.
    if (cosignedNote.text !== parseNote(data.checkpoint.note).text) throw fail("err_cosignature", "cosigned note differs");
    cosigned = await verifyCosignatures(cosignedNote, trust.witnesses);
  }
  steps.push(...witnessSteps(cosigned, trust));
  return { size: checkpoint.size, steps, cosigned, summary: witnessSummary(cosigned, trust),
    witnessed: cosigned.length >= trust.required };
}

export async function verifyConsistencyBetween(from, to) {
  const data = await gql(CONSISTENCY_QUERY, { from: Number(from), to: Number(to) });
  const key = await logKeyFor(data);
  const proof = data.consistencyProof;
  if (!proof.fromCheckpoint || !proof.toCheckpoint) throw fail("err_note", "a checkpoint at these sizes was not signed");
  const old = await verifyCheckpointNote(proof.fromCheckpoint.note, key);
  const now = await verifyCheckpointNote(proof.toCheckpoint.note, key);
  if (old.size !== BigInt(from) || now.size !== BigInt(to)) throw fail("err_size", `sizes ${old.size}, ${now.size}`);
  const steps = [
    msg("step_signature", { n: old.size, key: `${key.name}+${key.keyIdHex}` }),
    msg("step_signature", { n: now.size, key: `${key.name}+${key.keyIdHex}` }),
  ];
  const hashes = proof.hashes.map((h) => b64decode(h));
  await verifyConsistency(old.size, now.size, hashes, old.root, now.root);
  steps.push(msg("step_consistency", { k: hashes.length }));
  return { from: old.size, to: now.size, steps };
}

// A member's share: the leaf is in the period's share tree, whose root is the one recorded in
// the period.apportion entry, itself proved in the log's signed checkpoint.
export async function verifyShare(element) {
  const logged = await verifyEntry(element.dataset.entry, element.dataset.entryLeaf);
  let recorded;
  try { recorded = JSON.parse(logged.data).body.share_root; } catch { recorded = null; }
  if (typeof recorded !== "string" || recorded !== element.dataset.root) {
    throw fail("err_root", `the apportionment entry records ${recorded}, the page shows ${element.dataset.root}`);
  }
  const leaf = await leafHash(b64decode(element.dataset.leaf));
  const hashes = JSON.parse(element.dataset.hashes).map((h) => b64decode(h));
  const root = new Uint8Array(element.dataset.root.match(/../g).map((b) => parseInt(b, 16)));
  await verifyInclusion(leaf, BigInt(element.dataset.position), BigInt(element.dataset.size), hashes, root);
  return { size: logged.size, summary: logged.summary, witnessed: logged.witnessed,
    steps: [...logged.steps, msg("step_share", { k: hashes.length, n: element.dataset.period })] };
}

// -- the page -------------------------------------------------------------------------------

export function show(element, state, text, steps = [], detail = "") {
  element.dataset.verifyState = state;
  element.classList.remove("verify-ok", "verify-failed", "verify-pending", "verify-unsupported", "verify-unwitnessed");
  element.classList.add(`verify-${state}`);
  const status = element.querySelector(".verify-status") || element;
  status.textContent = text;
  if (detail) status.title = detail;
  const list = element.querySelector(".verify-steps");
  if (list) {
    list.replaceChildren(...steps.map((step) => {
      const item = document.createElement("li");
      item.textContent = step;
      return item;
    }));
    if (detail) {
      const item = document.createElement("li");
      item.className = "verify-detail";
      item.textContent = detail;
      list.append(item);
    }
  }
}

async function run(element, check, success) {
  show(element, "pending", msg("verifying"));
  try {
    const result = await check();
    if (result.witnessed === false) {
      // Every proof passed, but fewer trusted witnesses than the policy asks cosigned it yet.
      show(element, "unwitnessed", `${success(result)}${msg("not_yet_witnessed")}`, result.steps);
      return;
    }
    show(element, "ok", success(result), result.steps);
  } catch (error) {
    if (error instanceof VerificationFailure && error.key === "unsupported") {
      show(element, "unsupported", msg("unsupported"), [], error.detail);
      return;
    }
    const key = error instanceof VerificationFailure ? error.key : "err_proof";
    const detail = error instanceof VerificationFailure ? error.detail : String(error);
    show(element, "failed", msg("failed", { reason: msg(key) }), [], detail);
  }
}

export function verifyElement(element) {
  if (element.dataset.verifyEntry !== undefined) {
    return run(element, () => verifyEntry(element.dataset.verifyEntry, element.dataset.leafHash),
      (r) => `${msg("verified", { n: r.size })}${r.summary}`);
  }
  if (element.dataset.verifyCheckpoint !== undefined) {
    return run(element, () => verifyCheckpoint(element.dataset.verifyCheckpoint, element.dataset.rootHash),
      (r) => `${msg("checkpoint_verified", { n: r.size })}${r.summary}`);
  }
  if (element.dataset.verifyShare !== undefined) {
    return run(element, () => verifyShare(element), (r) => `${msg("share_verified", { n: element.dataset.period })}${r.summary}`);
  }
  if (element.dataset.verifyConsistency !== undefined) {
    return run(element, () => verifyConsistencyBetween(element.dataset.from, element.dataset.to),
      (r) => msg("consistency_verified", { a: r.from, b: r.to }));
  }
  return Promise.resolve();
}

export async function verifyAll(root = document) {
  const elements = [...root.querySelectorAll("[data-verify-entry],[data-verify-checkpoint],[data-verify-consistency],[data-verify-share]")];
  // A few at a time: a lot page may list dozens of entries.
  const queue = elements.slice();
  const workers = Array.from({ length: Math.min(4, queue.length) }, async () => {
    while (queue.length) await verifyElement(queue.shift());
  });
  await Promise.all(workers);
}

document.addEventListener("click", (event) => {
  const button = event.target.closest && event.target.closest(".verify-again");
  if (!button) return;
  const element = button.closest("[data-verify-entry],[data-verify-checkpoint],[data-verify-consistency],[data-verify-share]");
  if (element) verifyElement(element);
});

window.heartchainVerify = {
  leafHash, nodeHash, rootFromInclusion, verifyInclusion, verifyConsistency, parseVerifierKey,
  parseNote, parseCheckpoint, verifyCheckpointNote, verifyEntry, verifyAll, verifyElement, b64decode, hex,
  VerificationFailure, parseCosignatureKey, cosignatureMessage, cosignatureTimestamp, verifyCosignatures,
  parseReceipt, verifyReceiptText, parseTrust, trustedKeys, pinnedKeys, pinKeys, unpinKeys, sameKeys,
};

if (document.readyState === "loading") {
  document.addEventListener("DOMContentLoaded", () => verifyAll());
} else {
  verifyAll();
}
