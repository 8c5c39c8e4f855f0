// The charity console: sign in with an API token (kept in this tab's sessionStorage, never
// localStorage, and cleared on sign-out), then
// act through the same GraphQL mutations as any client. Each result shows the entry it wrote,
// and verify.js checks that entry in the browser.
//
// Used on /console (sign in, pending handovers, record a donation, create a lot, my lots) and on
// a lot page (#lot-actions: accept an offered handover; the custodian hands over, delivers,
// splits or records a loss).

import { msg } from "./messages.js";

const TOKEN_KEY = "heartchain.token";
const OFFER_TTL_MINUTES = 4;

const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(TOKEN_KEY) || "";
// Tokens kept by earlier versions of this page outlived the tab: remove them.
localStorage.removeItem(TOKEN_KEY);

class ActionError extends Error {}

async function gql(query, variables = {}, withToken = true) {
  const headers = { "content-type": "application/json", accept: "application/json" };
  if (withToken && token()) headers.authorization = `Bearer ${token()}`;
  const response = await fetch("/graphql", { method: "POST", headers, body: JSON.stringify({ query, variables }) });
  const body = await response.json().catch(() => ({}));
  if (body.errors && body.errors.length) throw new ActionError(body.errors[0].message);
  if (!response.ok) throw new ActionError(`HTTP ${response.status}`);
  return body.data;
}

// A mutation result is a union: the success type, or an error type with a message.
function unwrap(result, success) {
  if (!result) throw new ActionError("no result");
  if (result.__typename !== success) throw new ActionError(result.message || result.__typename);
  return result;
}

const ERROR_FIELDS = "... on ValidationError { message field } ... on PermissionDenied { message } ... on NotFound { message } ... on Conflict { message }";
const ENTRY_FIELDS = "entry { index leafHash kind }";

function b64ToHex(text) {
  return Array.from(atob(text), (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
}

async function fileHash(input) {
  const file = input && input.files && input.files[0];
  if (!file) return null;
  const digest = await crypto.subtle.digest("SHA-256", await file.arrayBuffer());
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

async function textHash(text) {
  const digest = await crypto.subtle.digest("SHA-256", new TextEncoder().encode(text));
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
}

// "12.5" with 2 places -> 1250; integers only, no floating point.
function parseDecimal(text, places) {
  const match = /^\s*(\d+)(?:[.,](\d+))?\s*$/.exec(text || "");
  if (!match || (match[2] && match[2].length > places)) throw new ActionError(msg("c_bad_number"));
  const value = Number(match[1]) * 10 ** places + Number((match[2] || "").padEnd(places, "0") || 0);
  if (!Number.isSafeInteger(value) || value <= 0) throw new ActionError(msg("c_bad_number"));
  return value;
}

function parseCount(text) {
  return parseDecimal(text, 0);
}

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

// Show what an action wrote: its entry (linked) with an in-browser verification badge.
function entryBlock(entry) {
  const badge = element("span", { class: "badge", "data-verify-entry": String(entry.index), "data-leaf-hash": b64ToHex(entry.leafHash) },
    element("span", { class: "verify-status", role: "status", "aria-live": "polite" }));
  const block = element("p", { class: "result-entry" },
    element("a", { href: `/entries/${entry.index}`, text: msg("c_entry", { n: entry.index }) }), " ", badge);
  queueMicrotask(() => window.heartchainVerify && window.heartchainVerify.verifyElement(badge));
  return block;
}

function showResult(box, state, ...nodes) {
  box.replaceChildren(...nodes);
  box.dataset.state = state;
  box.className = `form-result notice ${state === "ok" ? "ok" : state === "error" ? "bad" : ""}`;
  if (state === "error") box.setAttribute("role", "alert"); else box.removeAttribute("role");
}

// Back to an empty result box: no leftover colour or alert role.
function clearResult(box) {
  box.replaceChildren();
  delete box.dataset.state;
  box.className = "form-result";
  box.removeAttribute("role");
}

async function act(form, box, work) {
  const button = form && form.querySelector("button[type=submit]");
  if (button) button.disabled = true;
  showResult(box, "working", element("p", { text: msg("c_working") }));
  try {
    await work();
  } catch (error) {
    showResult(box, "error", element("p", { text: msg("c_error", { message: error.message || String(error) }) }));
  } finally {
    if (button) button.disabled = false;
  }
}

// -- sign in --------------------------------------------------------------------------------

let me = null;

async function whoAmI() {
  if (!token()) return null;
  const data = await gql("{ me { address role label } }");
  return data.me;
}

async function signIn(event) {
  event.preventDefault();
  const box = $("signin-result");
  const value = $("token").value.trim();
  sessionStorage.setItem(TOKEN_KEY, value);
  try {
    me = await whoAmI();
  } catch { me = null; }
  if (!me) {
    sessionStorage.removeItem(TOKEN_KEY);
    showResult(box, "error", element("p", { text: msg("c_bad_token") }));
    return;
  }
  clearResult(box);
  $("token").value = "";
  await showConsole();
}

function signOut() {
  sessionStorage.removeItem(TOKEN_KEY);
  clearResult($("signin-result"));
  me = null;
  $("whoami").hidden = true;
  $("signin-form").hidden = false;
  $("console-body").hidden = true;
}

async function showConsole() {
  $("signin-form").hidden = true;
  $("whoami").hidden = false;
  $("whoami-text").textContent = msg("c_signed_in", { who: me.label || me.address, role: me.role });
  $("console-body").hidden = false;
  fillCampaigns();
  fillCampaignEditor();
  for (const section of document.querySelectorAll("[data-role]")) {
    section.hidden = !section.dataset.role.split(" ").includes(me.role);
  }
  await Promise.all([loadPending(), loadMyLots(), showOperations()]);
}

// -- pending handovers ----------------------------------------------------------------------

const PENDING_QUERY = `{ pendingHandovers { id lotId giver place offeredAt lot { goods quantity unit } } }`;

// Names of the givers of pending offers (account labels), looked up once per address.
async function labelsOf(addresses) {
  const names = {};
  await Promise.all([...new Set(addresses)].map(async (address) => {
    try {
      const data = await gql("query Who($a: String!) { account(address: $a) { label } }", { a: address }, false);
      names[address] = (data.account && data.account.label) || `${address.slice(0, 12)}…`;
    } catch { names[address] = `${address.slice(0, 12)}…`; }
  }));
  return names;
}

async function acceptOffer(offerId, box) {
  const data = await gql(`mutation Accept($offerId: String!) {
    acceptLot(offerId: $offerId) { __typename ... on LotChanged { lot { id custodian } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`,
  { offerId });
  const done = unwrap(data.acceptLot, "LotChanged");
  showResult(box, "ok", element("p", { text: msg("c_accepted", { id: done.lot.id }) }),
    element("p", {}, element("a", { href: `/lots/${done.lot.id}`, text: msg("c_open_lot") })), entryBlock(done.entry));
  return done;
}

async function loadPending() {
  const list = $("pending-list");
  if (!list) return;
  const offers = (await gql(PENDING_QUERY)).pendingHandovers;
  $("pending-none").hidden = offers.length > 0;
  const names = await labelsOf(offers.map((offer) => offer.giver));
  list.replaceChildren(...offers.map((offer) => {
    const button = element("button", { type: "button", "data-offer": offer.id, text: msg("c_accept") });
    button.addEventListener("click", () => act(null, $("pending-result"), async () => {
      await acceptOffer(offer.id, $("pending-result"));
      button.closest("li").remove();
      await loadMyLots();
    }));
    return element("li", { class: "pending-offer" },
      element("a", { href: `/lots/${offer.lotId}`, text: `${offer.lot.goods} · ${offer.lotId}` }),
      ` · ${formatQuantity(offer.lot.quantity, offer.lot.unit)} · ${offer.place} · ${msg("c_from", { who: names[offer.giver] })} `, button);
  }));
}

async function loadMyLots() {
  const list = $("my-lots-list");
  if (!list || !me) return;
  const data = await gql(`query Held($custodian: String!) { lotsHeld(custodian: $custodian, first: 50) {
    edges { node { id goods quantity unit } } } }`, { custodian: me.address });
  const lots = data.lotsHeld.edges.map((e) => e.node);
  list.replaceChildren(...(lots.length ? lots.map((lot) => element("li", {},
    element("input", { type: "checkbox", value: lot.id, "data-merge": lot.unit, id: `merge-${lot.id}`, "aria-label": `${lot.goods} · ${lot.id}` }), " ",
    element("a", { href: `/lots/${lot.id}`, text: `${lot.goods} · ${lot.id}` }), ` · ${formatQuantity(lot.quantity, lot.unit)}`))
    : [element("li", { class: "muted", text: msg("c_none") })]));
  if ($("merge-form")) $("merge-form").hidden = lots.length < 2;
}

// -- record a donation, create a lot --------------------------------------------------------

// The signed-in charity's campaigns (from the page), then "new campaign…" with a slug field.
function fillCampaigns() {
  const select = $("d-campaign");
  if (!select || !me) return;
  let campaigns = {};
  try { campaigns = JSON.parse($("hc-campaigns").textContent); } catch { campaigns = {}; }
  const mine = campaigns[me.address] || [];
  const newOption = select.querySelector("[data-new-campaign]");
  select.replaceChildren(...mine.map((slug) => element("option", { value: slug, text: slug })), newOption);
  select.value = mine.length ? mine[0] : "";
  campaignChanged();
}

function campaignChanged() {
  const isNew = $("d-campaign").value === "";
  $("d-campaign-new-row").hidden = !isNew;
  $("d-campaign-new").required = isNew;
}

// Quantities as the pages show them (web/units.py): yuan, kilograms, counted items.
function formatQuantity(value, unit) {
  const lang = document.documentElement.lang.startsWith("zh") ? "zh-CN" : "en";
  const number = (n) => n.toLocaleString(lang, { maximumFractionDigits: 3 });
  if (unit === "cash" || unit === "fen") return `¥${(value / 100).toLocaleString(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 })}`;
  if (unit === "food" || unit === "grams") return value >= 1000 ? `${number(value / 1000)} kg` : `${number(value)} g`;
  const words = { trees: ["棵", "trees"], tree: ["棵", "trees"], items: ["件", "items"] }[unit];
  return words ? `${number(value)} ${lang === "en" ? words[1] : words[0]}` : `${number(value)} ${unit}`;
}

function amountLabel() {
  const kind = $("d-kind").value;
  $("d-amount-label").textContent = msg(`c_amount_${kind}`);
}

async function recordDonation(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("donation-result");
  await act(form, box, async () => {
    const kind = form.kind.value;
    const quantity = kind === "cash" ? parseDecimal(form.amount.value, 2) : parseCount(form.amount.value);
    const campaign = form.campaign.value || form.campaign_new.value.trim();
    if (!/^[a-z0-9][a-z0-9-]*$/.test(campaign)) throw new ActionError(msg("c_bad_campaign"));
    const variables = { kind, quantity, campaign,
      donor: form.donor.value.trim() || null, contact: form.contact.value.trim() || null,
      receipt: await fileHash(form.receipt) };
    const data = await gql(`mutation Record($kind: String!, $quantity: Int64!, $campaign: String!, $donor: String, $contact: String, $receipt: String) {
      recordDonation(kind: $kind, quantity: $quantity, campaign: $campaign, donor: $donor, contact: $contact, receipt: $receipt) {
        __typename ... on DonationRecorded { newDonor donation { index donor kind quantity hearts } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`, variables);
    const done = unwrap(data.recordDonation, "DonationRecorded");
    const d = done.donation;
    const shown = formatQuantity(d.quantity, kind);
    showResult(box, "ok",
      element("p", { "data-donation": String(d.index), text: msg("c_donation_done", { n: d.index, q: shown, h: Number(d.hearts).toLocaleString(document.documentElement.lang) }) }),
      ...(done.newDonor ? [element("p", { text: msg("c_new_donor") })] : []),
      element("p", {}, element("a", { href: `/members/${d.donor}`, class: "mono break", text: d.donor })),
      entryBlock(done.entry));
    if ($("l-donation")) $("l-donation").value = String(d.index);
    form.amount.value = "";
  });
}

// -- declare or edit a campaign (createCampaign / updateCampaign) ---------------------------

const CAMPAIGN_FIELDS = "slug titleZh titleEn purpose category goal unit starts ends beneficiary goods payees validator outcomeDeadline";
const FIXED_ON_EDIT = ["slug", "category", "unit", "starts", "validator", "outcome_deadline"];

function myCampaigns() {
  try { return JSON.parse($("hc-campaigns").textContent)[me.address] || []; } catch { return []; }
}

function fillCampaignEditor() {
  const select = $("cc-which");
  if (!select || !me) return;
  const newOption = select.querySelector("[data-new-campaign]");
  select.replaceChildren(newOption, ...myCampaigns().map((slug) => element("option", { value: slug, text: slug })));
  select.value = "";
  editCampaign();
}

// A date input's day as the log's time (midnight UTC), and back.
const dayToTime = (day) => (day ? `${day}T00:00:00.000Z` : null);
const timeToDay = (time) => (time ? time.slice(0, 10) : "");
// A datetime-local input's moment (the browser's time zone) as the log's time, and back.
const localToTime = (value) => (value ? new Date(value).toISOString() : null);
function timeToLocal(time) {
  if (!time) return "";
  const d = new Date(time);
  const two = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`;
}

function goalToText(goal, unit) {
  return unit === "fen" ? (goal / 100).toFixed(2) : String(goal);
}

async function editCampaign() {
  const form = $("campaign-form");
  const slug = $("cc-which").value;
  for (const name of FIXED_ON_EDIT) form[name].disabled = Boolean(slug);
  clearResult($("campaign-result"));
  if (!slug) { form.reset(); $("cc-which").value = ""; return; }
  const data = await gql(`query Declared($slug: String!, $charity: String!) {
    campaignDeclaration(slug: $slug, charity: $charity) { ${CAMPAIGN_FIELDS} } }`, { slug, charity: me.address }, false);
  const c = data.campaignDeclaration;
  if (!c) return;
  form.slug.value = c.slug; form.title_zh.value = c.titleZh; form.title_en.value = c.titleEn;
  form.purpose.value = c.purpose; form.category.value = c.category; form.unit.value = c.unit;
  form.goal.value = goalToText(Number(c.goal), c.unit);
  form.starts.value = timeToDay(c.starts); form.ends.value = timeToDay(c.ends);
  form.beneficiary.value = c.beneficiary;
  form.validator.value = c.validator || "";
  form.outcome_deadline.value = timeToLocal(c.outcomeDeadline);
  $("cc-escrow").open = Boolean(c.validator);
  for (const box of form.querySelectorAll("input[name=goods]")) box.checked = c.goods.includes(box.value);
  for (const box of form.querySelectorAll("input[name=payees]")) box.checked = c.payees.includes(box.value);
}

async function saveCampaign(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("campaign-result");
  await act(form, box, async () => {
    const editing = $("cc-which").value;
    const unit = form.unit.value;
    const ticked = (name) => Array.from(form.querySelectorAll(`input[name=${name}]:checked`), (b) => b.value);
    const common = { titleZh: form.title_zh.value.trim(), titleEn: form.title_en.value.trim(),
      purpose: form.purpose.value.trim(), goal: unit === "fen" ? parseDecimal(form.goal.value, 2) : parseCount(form.goal.value),
      ends: dayToTime(form.ends.value), beneficiary: form.beneficiary.value.trim(),
      goods: ticked("goods"), payees: ticked("payees") };
    let saved;
    if (editing) {
      const data = await gql(`mutation Update($input: CampaignUpdateInput!) { updateCampaign(input: $input) {
        __typename ... on CampaignSaved { campaign { slug charity } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`, { input: { slug: editing, ...common } });
      saved = unwrap(data.updateCampaign, "CampaignSaved");
    } else {
      const slug = form.slug.value.trim();
      if (!/^[a-z0-9][a-z0-9-]*$/.test(slug)) throw new ActionError(msg("c_bad_campaign"));
      const input = { slug, category: form.category.value, unit, starts: dayToTime(form.starts.value), ...common };
      if (form.validator.value.trim() || form.outcome_deadline.value) {
        input.validator = form.validator.value.trim() || null;
        input.outcomeDeadline = localToTime(form.outcome_deadline.value);
      }
      const data = await gql(`mutation Create($input: CampaignInput!) { createCampaign(input: $input) {
        __typename ... on CampaignSaved { campaign { slug charity } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`, { input });
      saved = unwrap(data.createCampaign, "CampaignSaved");
      // The new campaign can take donations now: add it to both pickers.
      const list = JSON.parse($("hc-campaigns").textContent || "{}");
      list[me.address] = [...(list[me.address] || []), slug].sort();
      $("hc-campaigns").textContent = JSON.stringify(list);
      fillCampaigns();
      fillCampaignEditor();
      $("cc-which").value = slug;
      for (const name of FIXED_ON_EDIT) form[name].disabled = true;
      if (input.validator) await loadEscrow();
    }
    const c = saved.campaign;
    showResult(box, "ok",
      element("p", { "data-campaign": c.slug, text: msg("c_campaign_done", { slug: c.slug }) }),
      element("p", {}, element("a", { href: `/campaigns/${c.slug}?charity=${c.charity}`, id: "open-campaign", text: msg("c_campaign_open") })),
      entryBlock(saved.entry));
  });
}

async function createLot(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("lot-result");
  await act(form, box, async () => {
    const input = { goods: form.goods.value.trim(), quantity: parseCount(form.quantity.value), unit: form.unit.value,
      donationIndex: parseDecimal(form.donation.value, 0), place: form.place.value.trim() || null };
    const data = await gql(`mutation Create($input: CreateLotInput!) { createLot(input: $input) {
      __typename ... on LotChanged { lot { id code } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`, { input });
    const done = unwrap(data.createLot, "LotChanged");
    const lot = done.lot;
    showResult(box, "ok",
      element("p", { "data-lot": lot.id, text: msg("c_lot_done", { id: lot.id }) }),
      element("p", {},
        element("a", { href: `/lots/${lot.id}/label`, class: "button secondary", id: "print-label", text: msg("c_print_label") }), " ",
        element("a", { href: `/lots/${lot.id}`, id: "open-lot", text: msg("c_open_lot") })),
      entryBlock(done.entry));
    await loadMyLots();
  });
}

// -- custodian actions on a lot page --------------------------------------------------------

// After a change, show the lot as it is now: the facts and the timeline come from the page
// served again (the same HTML a reload gives), and their proofs are checked again.
async function refreshLot() {
  try {
    const response = await fetch(window.location.pathname + window.location.search, { headers: { accept: "text/html" } });
    if (!response.ok) return;
    const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
    for (const id of ["lot", "lot-journey"]) {
      const now = fresh.getElementById(id);
      if (now && $(id)) $(id).replaceWith(document.adoptNode(now));
    }
    for (const badge of document.querySelectorAll("#lot-journey [data-verify-entry]")) {
      if (window.heartchainVerify) window.heartchainVerify.verifyElement(badge);
    }
    const lotNode = $("lot");
    if (lotNode && (lotNode.dataset.status !== "held" || (me && lotNode.dataset.custodian !== me.address))) {
      $("custodian-box").hidden = true;
    }
    document.body.dataset.lotRefreshed = String(Number(document.body.dataset.lotRefreshed || 0) + 1);
  } catch { /* the reload link stays */ }
}

async function evidenceOr(input, fallback) {
  return (await fileHash(input)) || textHash(fallback);
}

async function lotActions() {
  const section = $("lot-actions");
  const lotNode = $("lot");
  if (!section || !lotNode || !token()) return;
  try { me = await whoAmI(); } catch { me = null; }
  if (!me) return;
  const lotId = lotNode.dataset.lotId;
  const box = $("actions-result");
  $("actions-who").textContent = msg("c_signed_in", { who: me.label || me.address, role: me.role });

  const offers = (await gql(PENDING_QUERY)).pendingHandovers.filter((o) => o.lotId === lotId);
  if (offers.length) {
    section.hidden = false;
    $("accept-box").hidden = false;
    const offer = offers[0];
    const names = await labelsOf([offer.giver]);
    $("accept-text").textContent = msg("c_offer_detail", { who: names[offer.giver], goods: offer.lot.goods,
      q: formatQuantity(offer.lot.quantity, offer.lot.unit), place: offer.place });
    $("accept-offer").addEventListener("click", () => act(null, box, async () => {
      await acceptOffer(offers[0].id, box);
      $("accept-box").hidden = true;
      box.append(element("p", {}, element("a", { href: window.location.pathname, text: msg("c_reload") })));
    }));
  }
  if (lotNode.dataset.custodian !== me.address || lotNode.dataset.status !== "held") return;
  section.hidden = false;
  $("custodian-box").hidden = false;
  // The taker is chosen by name from the registered organisations (or typed as an address).
  if ($("h-to") && !$("organisations")) {
    document.body.append(element("datalist", { id: "organisations" }));
    $("h-to").setAttribute("list", "organisations");
    loadOrganisations();
  }

  const changed = async (done) => {
    showResult(box, "ok", element("p", { text: msg("c_changed", { id: lotId }) }), entryBlock(done.entry),
      element("p", {}, element("a", { href: window.location.pathname, id: "reload-lot", text: msg("c_reload") })));
    await refreshLot();
  };

  $("handover-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    act(form, box, async () => {
      const to = form.to.value.trim();
      const place = form.place.value.trim();
      const evidence = await evidenceOr(form.evidence, `handover ${lotId} to ${to} at ${place} ${new Date().toISOString()}`);
      const data = await gql(`mutation Offer($lotId: String!, $to: String!, $place: String!, $evidence: String!) {
        offerLot(lotId: $lotId, to: $to, place: $place, evidence: $evidence) {
          __typename ... on HandoverOffered { offer { id } expiresAt } ${ERROR_FIELDS} } }`, { lotId, to, place, evidence });
      const done = unwrap(data.offerLot, "HandoverOffered");
      showResult(box, "ok", element("p", { "data-offer": done.offer.id, text: msg("c_offer_done", { m: OFFER_TTL_MINUTES }) }));
    });
  });

  $("deliver-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    act(form, box, async () => {
      const variables = { lotId, quantity: parseCount(form.quantity.value), place: form.place.value.trim(),
        beneficiary: form.beneficiary.value.trim(), evidence: await fileHash(form.evidence) };
      const data = await gql(`mutation Deliver($lotId: String!, $quantity: Int64!, $place: String!, $beneficiary: String, $evidence: String) {
        deliverLot(lotId: $lotId, quantity: $quantity, place: $place, beneficiary: $beneficiary, evidence: $evidence) {
          __typename ... on LotChanged { lot { id } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`, variables);
      await changed(unwrap(data.deliverLot, "LotChanged"));
      form.beneficiary.value = "";
    });
  });

  $("split-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    act(form, box, async () => {
      const outputs = form.outputs.value.split(",").map((part) => parseCount(part));
      const loss = form.loss.value.trim() ? parseCount(form.loss.value) : 0;
      const data = await gql(`mutation Split($lotId: String!, $outputs: [Int64!]!, $loss: Int64!, $reason: String, $place: String) {
        splitLot(lotId: $lotId, outputs: $outputs, loss: $loss, reason: $reason, place: $place) {
          __typename ... on LotSplit { lots { id } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`,
      { lotId, outputs, loss, reason: form.reason.value.trim() || null, place: form.place.value.trim() || null });
      const done = unwrap(data.splitLot, "LotSplit");
      await changed(done);
      box.prepend(element("p", {}, msg("c_split_done", { ids: "" }),
        ...done.lots.flatMap((lot, i) => [i ? ", " : "", element("a", { href: `/lots/${lot.id}`, text: lot.id })])));
    });
  });

  $("loss-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const form = event.target;
    act(form, box, async () => {
      const data = await gql(`mutation Loss($lotId: String!, $quantity: Int64!, $reason: String!, $note: String, $place: String) {
        recordLoss(lotId: $lotId, quantity: $quantity, reason: $reason, note: $note, place: $place) {
          __typename ... on LotChanged { lot { id } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`,
      { lotId, quantity: parseCount(form.quantity.value), reason: form.reason.value,
        note: form.note.value.trim() || null, place: form.place.value.trim() || null });
      await changed(unwrap(data.recordLoss, "LotChanged"));
    });
  });
}

// -- donations I recorded: search, pages, refund ---------------------------------------------

let recordedAfter = null;

const RECORDED_QUERY = `query Recorded($campaign: String, $since: String, $until: String, $donor: String, $index: Int64, $after: String) {
  recordedDonations(campaign: $campaign, since: $since, until: $until, donor: $donor, index: $index, first: 20, after: $after) {
    edges { node { index donor kind quantity campaign at reversed used reversedIndex } } pageInfo { hasNextPage endCursor } } }`;

function recordedFilters() {
  const form = $("recorded-form");
  const text = (name) => form[name].value.trim() || null;
  const index = text("index");
  return { campaign: text("campaign"), since: text("since"), until: text("until"), donor: text("donor"),
    index: index === null ? null : parseDecimal(index, 0) };
}

function recordedItem(d) {
  const item = element("li", { class: "recorded-donation", "data-index": String(d.index) },
    element("a", { href: `/entries/${d.index}`, text: `#${d.index}` }),
    ` · ${d.campaign} · ${formatQuantity(d.quantity, d.kind)} · ${d.at.slice(0, 10)} · `,
    element("a", { href: `/members/${d.donor}`, class: "mono", text: `${d.donor.slice(0, 12)}…` }), " ");
  if (d.reversedIndex !== null && d.reversedIndex !== undefined) {
    item.append(element("span", { class: "muted", "data-refunded": String(d.reversedIndex), text: msg("c_refunded", { n: d.reversedIndex }) }));
    return item;
  }
  const button = element("button", { type: "button", class: "secondary", "data-refund": String(d.index), text: msg("c_refund") });
  button.addEventListener("click", () => {
    if (!window.confirm(msg("c_confirm_refund", { n: d.index }))) return;
    act(null, $("recorded-result"), async () => {
      const data = await gql(`mutation Reverse($donation: Int64!) { reverseDonation(donation: $donation, reason: "refund") {
        __typename ... on DonationReversed { donation { index reversedIndex } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`, { donation: d.index });
      const done = unwrap(data.reverseDonation, "DonationReversed");
      showResult($("recorded-result"), "ok", element("p", { "data-reversed": String(d.index), text: msg("c_refund_done", { n: d.index }) }), entryBlock(done.entry));
      button.replaceWith(element("span", { class: "muted", "data-refunded": String(done.entry.index), text: msg("c_refunded", { n: done.entry.index }) }));
    });
  });
  item.append(button);
  return item;
}

async function loadRecorded(more = false) {
  if (!$("recorded-list") || !me || me.role !== "charity") return;
  if (!more) recordedAfter = null;
  const data = await gql(RECORDED_QUERY, { ...recordedFilters(), after: recordedAfter });
  const page = data.recordedDonations;
  const items = page.edges.map((edge) => recordedItem(edge.node));
  if (more) $("recorded-list").append(...items);
  else $("recorded-list").replaceChildren(...(items.length ? items : [element("li", { class: "muted", text: msg("c_no_results") })]));
  recordedAfter = page.pageInfo.endCursor;
  $("recorded-more").hidden = !page.pageInfo.hasNextPage;
}

// -- merge lots ------------------------------------------------------------------------------

async function mergeLots(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("merge-result");
  await act(form, box, async () => {
    const lotIds = [...document.querySelectorAll("#my-lots-list input[data-merge]:checked")].map((input) => input.value);
    if (lotIds.length < 2) throw new ActionError(msg("c_merge_pick"));
    const data = await gql(`mutation Merge($lotIds: [String!]!, $goods: String, $place: String) {
      mergeLots(lotIds: $lotIds, goods: $goods, place: $place) { __typename ... on LotChanged { lot { id goods quantity unit } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`,
    { lotIds, goods: form.goods.value.trim() || null, place: form.place.value.trim() || null });
    const done = unwrap(data.mergeLots, "LotChanged");
    showResult(box, "ok", element("p", { "data-merged": done.lot.id }, msg("c_merge_done", { id: "" }),
      element("a", { href: `/lots/${done.lot.id}`, text: done.lot.id }), ` · ${formatQuantity(done.lot.quantity, done.lot.unit)}`), entryBlock(done.entry));
    await loadMyLots();
  });
}

// -- disbursements with a receipt file ---------------------------------------------------------

async function uploadReceipt(file, sha256) {
  const response = await fetch(`/console/receipts?name=${encodeURIComponent(file.name)}`, {
    method: "POST", body: file,
    headers: { authorization: `Bearer ${token()}`, "content-type": file.type || "application/octet-stream", "x-content-sha256": sha256 } });
  const body = await response.json().catch(() => ({}));
  if (!response.ok) throw new ActionError(msg("c_upload_failed", { message: body.error || `HTTP ${response.status}` }));
  return body;
}

async function downloadReceipt(sha256, name) {
  const response = await fetch(`/console/receipts/${sha256}`, { headers: { authorization: `Bearer ${token()}` } });
  if (!response.ok) throw new ActionError(`HTTP ${response.status}`);
  const url = URL.createObjectURL(await response.blob());
  const link = element("a", { href: url, download: name || sha256 });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

async function disburse(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("disburse-result");
  await act(form, box, async () => {
    const amount = parseDecimal(form.amount.value, 2);
    const file = form.receipt.files[0];
    const receipt = await fileHash(form.receipt);
    if (!file || !receipt) throw new ActionError(msg("c_upload_failed", { message: "no file" }));
    showResult(box, "working", element("p", { text: msg("c_uploading") }));
    const kept = await uploadReceipt(file, receipt);
    // What it bought and whom it paid, by the kinds a campaign may declare: sent only when given.
    const variables = { campaign: form.campaign.value, amount, payee: form.payee.value.trim(), purpose: form.purpose.value.trim(), receipt: kept.sha256 };
    const optional = { goods: form.goods.value.trim(), payeeKind: form.payee_kind.value.trim() };
    let params = "";
    let args = "";
    for (const [name, value] of Object.entries(optional)) {
      if (!value) continue;
      variables[name] = value;
      params += `, $${name}: String`;
      args += `, ${name}: $${name}`;
    }
    const data = await gql(`mutation Disburse($campaign: String!, $amount: Int64!, $payee: String!, $purpose: String!, $receipt: String!${params}) {
      disburseFunds(campaign: $campaign, amount: $amount, payee: $payee, purpose: $purpose, receipt: $receipt${args}) {
        __typename ... on FundsDisbursed { disbursement { index amount payee receipt } campaign { balance } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`, variables);
    const done = unwrap(data.disburseFunds, "FundsDisbursed");
    const download = element("button", { type: "button", class: "secondary", id: "download-receipt", text: msg("c_download_receipt") });
    download.addEventListener("click", () => downloadReceipt(done.disbursement.receipt, kept.filename).catch(() => {}));
    showResult(box, "ok",
      element("p", { "data-disbursement": String(done.disbursement.index), text: msg("c_disburse_done", {
        q: formatQuantity(done.disbursement.amount, "cash"), payee: done.disbursement.payee, left: formatQuantity(done.campaign.balance, "cash") }) }),
      element("p", { class: "mono break small", "data-receipt": done.disbursement.receipt, text: msg("c_receipt_hash", { h: done.disbursement.receipt }) }),
      element("p", {}, download), entryBlock(done.entry));
    form.amount.value = "";
    form.receipt.value = "";
  });
}

// -- the address book: takers and payees chosen by name ----------------------------------------

async function loadOrganisations() {
  const list = $("organisations");
  if (!list) return;
  try {
    const data = await gql("{ organisations { address role label } }", {}, false);
    list.replaceChildren(...data.organisations.filter((o) => !me || o.address !== me.address)
      .map((o) => element("option", { value: o.address, label: `${o.label} (${o.role})`, text: `${o.label} (${o.role})` })));
  } catch { /* addresses can still be typed */ }
}

// Payees are names (a supplier need not be registered): the same list, offering labels.
function payeeNames() {
  const source = $("organisations");
  const payees = element("datalist", { id: "payees" });
  for (const option of source.querySelectorAll("option")) payees.append(element("option", { value: option.label.replace(/ \([a-z]+\)$/, "") }));
  $("payees")?.remove();
  document.body.append(payees);
  if ($("f-payee")) $("f-payee").setAttribute("list", "payees");
}

// -- pay for success: the validator attests, anyone entitled refunds after the deadline --------

const ESCROW_QUERY = `query Escrow($a: String!) { payForSuccessCampaigns(account: $a) {
  slug charity titleZh titleEn validator outcomeDeadline escrow { released releasedAll refundIndex refunded } } }`;
const ESCROW_CHANGED = `__typename ... on EscrowChanged { campaign { escrow { released refunded refundIndex } } ${ENTRY_FIELDS} } ${ERROR_FIELDS}`;

function attestForm(campaign) {
  const id = `ev-${campaign.slug}`;
  const form = element("form", { class: "escrow-attest", "data-attest": campaign.slug },
    element("p", {}, element("label", { for: `${id}-file`, text: msg("c_evidence") }),
      element("input", { id: `${id}-file`, name: "evidence", type: "file" })),
    element("p", {}, element("label", { for: `${id}-amount`, text: msg("c_release") }),
      element("input", { id: `${id}-amount`, name: "amount", inputmode: "decimal", autocomplete: "off" })),
    element("button", { type: "submit", text: msg("c_attest") }));
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    act(form, $("escrow-result"), async () => {
      const evidence = await fileHash(form.evidence);
      if (!evidence) throw new ActionError(msg("c_need_evidence"));
      const input = { charity: campaign.charity, campaign: campaign.slug, evidence,
        amount: form.amount.value.trim() ? parseDecimal(form.amount.value, 2) : null };
      const data = await gql(`mutation Attest($input: OutcomeAttestInput!) { attestOutcome(input: $input) { ${ESCROW_CHANGED} } }`, { input });
      const done = unwrap(data.attestOutcome, "EscrowChanged");
      showResult($("escrow-result"), "ok",
        element("p", { "data-attested": campaign.slug, text: msg("c_attest_done", { q: formatQuantity(done.campaign.escrow.released, "cash") }) }),
        element("p", { class: "mono break small", text: msg("c_evidence_hash", { h: evidence }) }), entryBlock(done.entry));
      await loadEscrow();
    });
  });
  return form;
}

function refundButton(campaign) {
  const button = element("button", { type: "button", class: "secondary", "data-refund-campaign": campaign.slug, text: msg("c_refund_donors") });
  button.addEventListener("click", () => {
    if (!window.confirm(msg("c_confirm_refund_donors", { slug: campaign.slug }))) return;
    act(null, $("escrow-result"), async () => {
      const data = await gql(`mutation Refund($input: CampaignRefundInput!) { refundCampaign(input: $input) { ${ESCROW_CHANGED} } }`,
        { input: { charity: campaign.charity, campaign: campaign.slug } });
      const done = unwrap(data.refundCampaign, "EscrowChanged");
      showResult($("escrow-result"), "ok",
        element("p", { "data-refunded-campaign": campaign.slug, text: msg("c_refund_donors_done", { q: formatQuantity(done.campaign.escrow.refunded, "cash") }) }),
        entryBlock(done.entry));
      await loadEscrow();
    });
  });
  return button;
}

function escrowItem(campaign, names) {
  const escrow = campaign.escrow;
  const english = !document.documentElement.lang.startsWith("zh");
  const item = element("li", { "data-escrow": campaign.slug }, element("p", { text: msg("c_escrow_state", {
    title: english ? campaign.titleEn : campaign.titleZh, charity: names[campaign.charity],
    deadline: new Date(campaign.outcomeDeadline).toLocaleString(document.documentElement.lang),
    released: formatQuantity(escrow.released, "cash"), refunded: formatQuantity(escrow.refunded, "cash") }) }),
  element("p", {}, element("a", { href: `/campaigns/${campaign.slug}?charity=${campaign.charity}`, text: msg("c_campaign_open") })));
  if (escrow.releasedAll) {
    item.append(element("p", { class: "muted", text: msg("c_escrow_closed") }));
  } else if (escrow.refundIndex !== null) {
    item.append(element("p", { class: "muted" }, element("a", { href: `/entries/${escrow.refundIndex}`, text: msg("c_escrow_refunded", { n: escrow.refundIndex }) })));
  } else if (Date.now() < Date.parse(campaign.outcomeDeadline)) {
    item.append(me.address === campaign.validator ? attestForm(campaign) : element("p", { class: "muted", text: msg("c_escrow_wait") }));
  } else {
    item.append(refundButton(campaign));
  }
  return item;
}

async function loadEscrow() {
  if (!$("escrow-list") || !me) return;
  const campaigns = (await gql(ESCROW_QUERY, { a: me.address }, false)).payForSuccessCampaigns;
  const names = await labelsOf(campaigns.map((c) => c.charity));
  $("escrow-list").replaceChildren(...campaigns.map((c) => escrowItem(c, names)));
  $("escrow").hidden = campaigns.length === 0;
}

// -- webhooks ----------------------------------------------------------------------------------

const WEBHOOK_FIELDS = "id url kinds campaigns active nextIndex failures delivered";

function webhookItem(hook) {
  const failing = hook.failures ? msg("c_webhook_failing", { f: hook.failures }) : "";
  const item = element("li", { "data-webhook": hook.id }, element("span", { class: "break",
    text: msg("c_webhook_state", { url: hook.url, n: hook.delivered, next: hook.nextIndex, failing }) + (hook.active ? "" : msg("c_webhook_off")) }));
  item.append(element("span", { class: "muted small", text: ` ${[...hook.kinds, ...hook.campaigns].join(", ")} ` }));
  if (hook.active) {
    const button = element("button", { type: "button", class: "secondary", text: msg("c_webhook_disable") });
    button.addEventListener("click", () => act(null, $("webhook-result"), async () => {
      const data = await gql(`mutation Off($id: String!) { disableWebhook(id: $id) { __typename ... on WebhookChanged { webhook { id } } ${ERROR_FIELDS} } }`, { id: hook.id });
      unwrap(data.disableWebhook, "WebhookChanged");
      clearResult($("webhook-result"));
      await loadWebhooks();
    }));
    item.append(button);
  }
  return item;
}

async function loadWebhooks() {
  if (!$("webhook-list") || !me || !["charity", "partner"].includes(me.role)) return;
  const data = await gql(`{ webhooks { ${WEBHOOK_FIELDS} } }`);
  $("webhook-list").replaceChildren(...data.webhooks.map(webhookItem));
}

const listOf = (text) => text.split(",").map((part) => part.trim()).filter(Boolean);

async function addWebhook(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("webhook-result");
  await act(form, box, async () => {
    const data = await gql(`mutation Hook($url: String!, $kinds: [String!], $campaigns: [String!]) {
      registerWebhook(url: $url, kinds: $kinds, campaigns: $campaigns) { __typename ... on WebhookRegistered { secret webhook { id } } ${ERROR_FIELDS} } }`,
    { url: form.url.value.trim(), kinds: listOf(form.kinds.value), campaigns: listOf(form.campaigns.value) });
    const done = unwrap(data.registerWebhook, "WebhookRegistered");
    showResult(box, "ok", element("p", { text: msg("c_webhook_done") }),
      element("p", { class: "mono break", id: "webhook-secret", text: done.secret }));
    form.reset();
    await loadWebhooks();
  });
}

// -- registering organisations, volunteers and depots (operator) -------------------------------

async function registerOrganisation(event) {
  event.preventDefault();
  const form = event.target;
  const box = $("register-result");
  await act(form, box, async () => {
    const data = await gql(`mutation Register($role: String!, $label: String) { registerAccount(role: $role, label: $label) {
      __typename ... on AccountRegistered { token account { address role label } ${ENTRY_FIELDS} } ${ERROR_FIELDS} } }`,
    { role: form.role.value, label: form.label.value.trim() });
    const done = unwrap(data.registerAccount, "AccountRegistered");
    showResult(box, "ok", element("p", { text: msg("c_registered", { label: done.account.label, role: done.account.role }) }),
      element("p", { class: "mono break", id: "registered-token", text: done.token }),
      element("p", { class: "mono break small", "data-registered": done.account.address, text: done.account.address }), entryBlock(done.entry));
    form.label.value = "";
    await loadOrganisations();
  });
}

function fillDisburseCampaigns() {
  const select = $("f-campaign");
  if (!select || !me) return;
  let campaigns = {};
  try { campaigns = JSON.parse($("hc-campaigns").textContent); } catch { campaigns = {}; }
  select.replaceChildren(...(campaigns[me.address] || []).map((slug) => element("option", { value: slug, text: slug })));
}

function startOperations() {
  $("recorded-form").addEventListener("submit", (event) => {
    event.preventDefault();
    act(null, $("recorded-result"), async () => { await loadRecorded(); clearResult($("recorded-result")); });
  });
  $("recorded-more").addEventListener("click", () => act(null, $("recorded-result"), async () => { await loadRecorded(true); clearResult($("recorded-result")); }));
  $("merge-form").addEventListener("submit", mergeLots);
  $("disburse-form").addEventListener("submit", disburse);
  $("webhook-form").addEventListener("submit", addWebhook);
  $("register-form").addEventListener("submit", registerOrganisation);
}

async function showOperations() {
  fillDisburseCampaigns();
  await loadOrganisations();
  payeeNames();
  await Promise.all([loadRecorded(), loadWebhooks(), loadEscrow()]);
}

// -- start ------------------------------------------------------------------------------------

async function start() {
  if ($("signin-form")) {
    $("signin-form").addEventListener("submit", signIn);
    $("signout").addEventListener("click", signOut);
    $("donation-form").addEventListener("submit", recordDonation);
    $("lot-form").addEventListener("submit", createLot);
    $("campaign-form").addEventListener("submit", saveCampaign);
    $("cc-which").addEventListener("change", editCampaign);
    $("d-kind").addEventListener("change", amountLabel);
    $("d-campaign").addEventListener("change", campaignChanged);
    startOperations();
    campaignChanged();
    amountLabel();
    if (token()) {
      try { me = await whoAmI(); } catch { me = null; }
      if (me) await showConsole(); else sessionStorage.removeItem(TOKEN_KEY);
    }
    document.body.dataset.consoleReady = "1";
    return;
  }
  await lotActions();
  document.body.dataset.consoleReady = "1";
}

start();
