// The drop-a-receipt page (/receipt): a receipt file is read and verified here, with the keys
// the user pinned (or pasted and pinned), else the keys this page was served with, which the
// result then says. Nothing is fetched: the checks are verify.js's verifyReceiptText.

import {
  msg, parseTrust, parseVerifierKey, parseCosignatureKey, pinKeys, pinnedKeys, sameKeys, unpinKeys,
  show as showResult, verifyReceiptText, VerificationFailure,
} from "./verify.js";

const MAX_FILE = 2 * 1024 * 1024;
const keysCard = document.getElementById("keys");
const result = document.getElementById("receipt-result");

function siteKeys() {
  const node = document.getElementById("hc-site-keys");
  try { return node ? JSON.parse(node.textContent) : null; } catch { return null; }
}

async function describeKeys(container, keys) {
  container.replaceChildren();
  if (!keys || !keys.log) {
    const none = document.createElement("p");
    none.className = "muted";
    none.textContent = keysCard.dataset.labelNone;
    container.append(none);
    return;
  }
  const list = document.createElement("dl");
  list.className = "facts keys";
  const add = (term, value) => {
    const dt = document.createElement("dt");
    dt.textContent = term;
    const dd = document.createElement("dd");
    dd.className = "mono break";
    dd.textContent = value;
    list.append(dt, dd);
  };
  try {
    const log = await parseVerifierKey(keys.log);
    add(keysCard.dataset.labelLog, `${log.name}+${log.keyIdHex} · ${keysCard.dataset.labelFingerprint} ${log.fingerprint}`);
    for (const w of keys.witnesses || []) {
      const parsed = await parseCosignatureKey(w.key);
      add(`${keysCard.dataset.labelWitness} ${w.label || parsed.name}`,
        `${parsed.name}+${parsed.keyIdHex} · ${keysCard.dataset.labelFingerprint} ${parsed.fingerprint}`);
    }
    add(keysCard.dataset.labelRequired, `${keys.required || 0} / ${(keys.witnesses || []).length}`);
    if (keys.pinnedAt) add("", msg("keys_pinned_at", { at: keys.pinnedAt }));
  } catch (error) {
    add("!", error instanceof VerificationFailure ? `${msg(error.key)}: ${error.detail}` : String(error));
  }
  container.append(list);
}

function warnIfChanged() {
  const pinned = pinnedKeys();
  const site = siteKeys();
  const old = document.getElementById("hc-keys-changed");
  if (old) old.remove();
  if (pinned && site && site.log && !sameKeys(pinned, site)) {
    const banner = document.createElement("p");
    banner.id = "hc-keys-changed";
    banner.className = "notice warn keys-changed";
    banner.setAttribute("role", "alert");
    banner.textContent = msg("keys_changed_banner");
    (document.querySelector("main") || document.body).prepend(banner);
  }
}

async function refreshKeys() {
  await describeKeys(document.getElementById("keys-pinned"), pinnedKeys());
  await describeKeys(document.getElementById("keys-site"), siteKeys());
  warnIfChanged();
}

// The user's pinned keys first; the page's own keys only when none are pinned.
async function trust() {
  const pinned = pinnedKeys();
  if (pinned) return parseTrust(pinned, pinned.pasted ? "pasted" : "pinned");
  return parseTrust(siteKeys(), "site");
}

function show(state, text, steps = [], detail = "", entry = "") {
  result.hidden = false;
  showResult(result, state, text, steps, detail);
  document.getElementById("receipt-entry").textContent = entry;
}

async function check(file) {
  show("pending", msg("receipt_reading"));
  try {
    if (file.size > MAX_FILE) throw new VerificationFailure("err_receipt", `${file.size} bytes`);
    const text = await file.text();
    const verified = await verifyReceiptText(text, await trust());
    const shown = { index: Number(verified.index), kind: verified.entry.kind, at: verified.entry.at,
      signers: (verified.entry.sigs || []).map((s) => s.by), body: verified.entry.body };
    if (verified.share) shown.share = verified.share;
    show("ok", `${msg("receipt_verified", { i: verified.index, n: verified.size })}${verified.summary}`,
      verified.steps, "", JSON.stringify(shown, null, 2));
  } catch (error) {
    const key = error instanceof VerificationFailure ? error.key : "err_receipt";
    const detail = error instanceof VerificationFailure ? error.detail : String(error);
    show("failed", msg("failed", { reason: msg(key) }), [], detail);
  }
}

const drop = document.getElementById("receipt-drop");
drop.addEventListener("dragover", (event) => { event.preventDefault(); drop.classList.add("over"); });
drop.addEventListener("dragleave", () => drop.classList.remove("over"));
drop.addEventListener("drop", (event) => {
  event.preventDefault();
  drop.classList.remove("over");
  const file = event.dataTransfer && event.dataTransfer.files[0];
  if (file) check(file);
});
document.getElementById("receipt-file").addEventListener("change", (event) => {
  const file = event.target.files[0];
  if (file) check(file);
});

document.getElementById("keys-pin-site").addEventListener("click", async () => {
  const site = siteKeys();
  if (site && site.log) pinKeys(site);
  await refreshKeys();
});
document.getElementById("keys-unpin").addEventListener("click", async () => {
  unpinKeys();
  await refreshKeys();
});
document.getElementById("keys-use-pasted").addEventListener("click", async () => {
  const log = document.getElementById("paste-log").value.trim();
  const witnesses = [];
  for (const line of document.getElementById("paste-witnesses").value.split("\n")) {
    if (line.trim()) witnesses.push({ name: line.trim().split("+")[0], key: line.trim() });
  }
  const keys = { log, witnesses, pasted: true,
    required: Number(document.getElementById("paste-required").value || 0) };
  try {
    await parseTrust(keys, "pasted");
  } catch (error) {
    show("failed", msg("failed", { reason: msg(error.key || "err_key") }), [], error.detail || String(error));
    return;
  }
  pinKeys(keys);
  await refreshKeys();
});

refreshKeys();
