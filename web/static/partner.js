// The partner's verification of a heart-score credential, offline in the browser: W3C VC Data
// Integrity eddsa-jcs-2022 (vc-di-eddsa §3.3.2) with JCS (jcs.js) and WebCrypto SHA-256 and
// Ed25519 — the same checks as `heartchain attest verify` (tokens/attest.py).
import { canonicalBytes } from "./jcs.js";
import { msg } from "./verify.js";

const B58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
const VC_CONTEXT = "https://www.w3.org/ns/credentials/v2";

export class CredentialInvalid extends Error {}

function fail(message) {
  throw new CredentialInvalid(message);
}

export function b58decode(text) {
  let number = 0n;
  for (const char of text) {
    const digit = B58.indexOf(char);
    if (digit < 0) fail(`base58: invalid character ${JSON.stringify(char)}`);
    number = number * 58n + BigInt(digit);
  }
  const bytes = [];
  while (number > 0n) {
    bytes.unshift(Number(number & 255n));
    number >>= 8n;
  }
  const zeros = text.length - text.replace(/^1+/, "").length;
  return new Uint8Array([...new Array(zeros).fill(0), ...bytes]);
}

// did:key:z6Mk… (with or without its #fragment), or bare z6Mk…: the raw Ed25519 public key.
export function publicKeyFromDidKey(text) {
  let value = text.trim();
  if (value.startsWith("did:key:")) value = value.slice(8).split("#")[0];
  if (!value.startsWith("z6Mk")) fail("key: not an Ed25519 did:key (z6Mk…)");
  const decoded = b58decode(value.slice(1));
  if (decoded.length !== 34 || decoded[0] !== 0xed || decoded[1] !== 0x01) {
    fail("key: not an Ed25519 did:key (multicodec 0xed01, 32 bytes)");
  }
  return decoded.slice(2);
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

async function sha256(bytes) {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
}

// §3.3.2 Verify Proof: returns the verified document (without its proof), or throws.
export async function verifyDataIntegrity(secured, publicKey) {
  const proof = secured && secured.proof;
  if (!proof || typeof proof !== "object") fail("proof: missing");
  if (proof.type !== "DataIntegrityProof" || proof.cryptosuite !== "eddsa-jcs-2022") {
    fail("proof.cryptosuite: expected DataIntegrityProof eddsa-jcs-2022");
  }
  if (typeof proof.proofValue !== "string" || !proof.proofValue.startsWith("z")) {
    fail("proof.proofValue: must be multibase base58btc ('z…')");
  }
  const unsecured = { ...secured };
  delete unsecured.proof;
  const options = { ...proof };
  delete options.proofValue;
  if ("@context" in options) {
    const list = (c) => (Array.isArray(c) ? c : [c]);
    const docContext = unsecured["@context"];
    const proofContext = list(options["@context"]);
    if (docContext === undefined ||
        !sameJson(list(docContext).slice(0, proofContext.length), proofContext)) {
      fail("proof.@context: the document's @context does not start with it");
    }
    unsecured["@context"] = options["@context"];
  }
  const hashData = new Uint8Array(64);
  hashData.set(await sha256(canonicalBytes(options)), 0);
  hashData.set(await sha256(canonicalBytes(unsecured)), 32);
  const signature = b58decode(proof.proofValue.slice(1));
  const key = await crypto.subtle.importKey("raw", publicKey, { name: "Ed25519" }, false,
                                            ["verify"]);
  if (signature.length !== 64 ||
      !(await crypto.subtle.verify({ name: "Ed25519" }, key, signature, hashData))) {
    fail("proof: the signature does not verify (altered, or signed by another key)");
  }
  return unsecured;
}

function b58encode(bytes) {
  let number = 0n;
  for (const byte of bytes) number = number * 256n + BigInt(byte);
  let out = "";
  while (number > 0n) {
    out = B58[Number(number % 58n)] + out;
    number /= 58n;
  }
  let zeros = 0;
  while (zeros < bytes.length && bytes[zeros] === 0) zeros += 1;
  return "1".repeat(zeros) + out;
}

function didKeyOf(publicKey) {
  return "did:key:z" + b58encode(new Uint8Array([0xed, 0x01, ...publicKey]));
}

function time(value, name) {
  const moment = typeof value === "string" ? Date.parse(value) : NaN;
  if (Number.isNaN(moment)) fail(`${name}: not a date-time`);
  return moment;
}

// A heart-score credential by the issuer `issuerKey` (did:key), valid at `now` (ms).
export async function verifyHeartCredential(document, issuerKey, now = Date.now()) {
  if (!document || typeof document !== "object" || Array.isArray(document)) {
    fail("credential: must be a JSON object");
  }
  const publicKey = publicKeyFromDidKey(issuerKey);
  const issuer = didKeyOf(publicKey);
  if (document.issuer !== issuer) fail(`issuer: ${JSON.stringify(document.issuer)} is not ${issuer}`);
  const proof = document.proof || {};
  if (proof.proofPurpose !== "assertionMethod") fail("proof.proofPurpose: expected assertionMethod");
  if (proof.verificationMethod !== `${issuer}#${issuer.slice(8)}`) {
    fail("proof.verificationMethod: not the issuer's key");
  }
  if (!sameJson(proof["@context"], document["@context"])) {
    fail("proof.@context: must be the document's @context");
  }
  const verified = await verifyDataIntegrity(document, publicKey);
  const context = verified["@context"];
  if (!Array.isArray(context) || context[0] !== VC_CONTEXT) fail(`@context: must start with ${VC_CONTEXT}`);
  if (!Array.isArray(verified.type) || !verified.type.includes("VerifiableCredential")) {
    fail("type: not a VerifiableCredential");
  }
  if (now < time(verified.validFrom, "validFrom")) fail(`validFrom: not valid before ${verified.validFrom}`);
  if (now >= time(verified.validUntil, "validUntil")) fail(`validUntil: expired at ${verified.validUntil}`);
  return verified;
}

function fromLink() {
  const match = /[#&]c=([A-Za-z0-9_-]+)/.exec(location.hash);
  if (!match) return null;
  const text = match[1].replace(/-/g, "+").replace(/_/g, "/");
  const padded = text + "=".repeat((4 - (text.length % 4)) % 4);
  const bytes = Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
  return new TextDecoder().decode(bytes);
}

async function check(form, result) {
  result.hidden = false;
  result.classList.remove("ok", "bad");
  try {
    let document;
    try {
      document = JSON.parse(form.credential.value);
    } catch {
      fail("credential: not JSON");
    }
    const verified = await verifyHeartCredential(document, form.issuer.value);
    const subject = verified.credentialSubject || {};
    result.textContent = msg("pv_valid", {
      claim: (subject.heartScore || {}).claim, subject: subject.id,
      size: (subject.asOf || {}).checkpointSize, until: verified.validUntil });
    result.classList.add("ok");
    result.dataset.valid = "true";
  } catch (error) {
    const reason = error instanceof CredentialInvalid ? error.message
      : (error && error.name === "NotSupportedError" ? msg("pv_unsupported") : String(error));
    result.textContent = msg("pv_invalid", { reason });
    result.classList.add("bad");
    result.dataset.valid = "false";
  }
}

function init() {
  const form = document.querySelector("[data-partner-verify]");
  if (!form) return;
  const result = document.getElementById("pv-result");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    check(form, result);
  });
  document.getElementById("pv-file").addEventListener("change", async (event) => {
    const file = event.target.files[0];
    if (!file) return;
    form.credential.value = await file.text();
    check(form, result);
  });
  const linked = fromLink();
  if (linked) {
    form.credential.value = linked;
    check(form, result);
  }
}

init();
