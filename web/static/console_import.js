// The console's bulk import and accounting exports (web/templates/console_import.html): the
// charity's token comes from this tab's sessionStorage, where /console keeps it. The file goes
// as the request body to /console/import/check (the dry-run report) and, once checked, to
// /console/import/run, whose NDJSON answer carries the progress, chunk by chunk.

import { msg } from "./messages.js";

const TOKEN_KEY = "heartchain.token";
const $ = (id) => document.getElementById(id);
const token = () => sessionStorage.getItem(TOKEN_KEY) || "";

function element(tag, attributes = {}, ...children) {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (name === "text") node.textContent = value;
    else node.setAttribute(name, value);
  }
  node.append(...children);
  return node;
}

function show(box, state, text) {
  box.replaceChildren(element("p", { text }));
  box.dataset.state = state;
  box.className = `form-result notice ${state === "ok" ? "ok" : state === "error" ? "bad" : ""}`;
  if (state === "error") box.setAttribute("role", "alert"); else box.removeAttribute("role");
}

function yuan(fen) {
  const whole = Math.floor(fen / 100).toLocaleString("en-US");
  return `${whole}.${String(fen % 100).padStart(2, "0")}`;
}

function query(form) {
  const params = new URLSearchParams();
  for (const name of ["mapping", "columns", "campaign"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  return params.toString();
}

async function post(path, form) {
  const file = form.elements.file.files[0];
  if (!file) throw new Error(msg("i_pick_file"));
  const response = await fetch(`${path}?${query(form)}`, {
    method: "POST", body: file,
    headers: { authorization: `Bearer ${token()}`, "content-type": "application/octet-stream" },
  });
  if (!response.ok) {
    const body = await response.json().catch(() => ({}));
    throw new Error(body.error || `HTTP ${response.status}`);
  }
  return response;
}

function showReport(report) {
  const box = $("import-result");
  const summary = msg("i_summary", { rows: report.rows, valid: report.valid, bad: report.problems.length,
    already: report.already, todo: report.toImport, yuan: yuan(report.fen) });
  box.replaceChildren(element("p", { text: msg("i_mapping", { name: report.mapping, row: report.headerRow }) }),
    element("p", { text: summary, id: "import-summary" }),
    element("p", { text: report.dryRun ? msg("i_dry_run") : msg("i_done", { n: report.imported, d: report.donorsCreated }) }));
  box.className = "form-result notice ok";
  const table = $("import-problems");
  const rows = report.problems.map((p) => element("tr", {}, element("td", { text: String(p.row) }),
    element("td", { text: p.column }), element("td", { text: p.reason })));
  table.tBodies[0].replaceChildren(...rows);
  table.hidden = rows.length === 0;
  if (!rows.length) box.append(element("p", { text: msg("i_no_problems") }));
  $("import-chunks").replaceChildren(...report.chunks.map((c) => element("li", { "data-landed": String(c.landed),
    text: c.landed ? msg("i_chunk_ok", { n: c.number, first: c.firstRow, last: c.lastRow, a: c.firstIndex, b: c.lastIndex })
      : msg("i_chunk_bad", { n: c.number, first: c.firstRow, last: c.lastRow, reason: c.reason }) })));
  $("i-run").disabled = !(report.dryRun && report.toImport > 0);
}

async function check(event) {
  event.preventDefault();
  const form = $("import-form");
  $("i-check").disabled = true;
  try {
    const response = await post("/console/import/check", form);
    showReport(await response.json());
  } catch (error) {
    show($("import-result"), "error", error.message);
  } finally {
    $("i-check").disabled = false;
  }
}

function progress(done, total) {
  $("import-progress-row").hidden = false;
  $("import-progress").max = Math.max(total, 1);
  $("import-progress").value = done;
  $("import-progress-text").textContent = msg("i_importing", { done, total });
}

async function run() {
  const form = $("import-form");
  $("i-run").disabled = true;
  $("i-check").disabled = true;
  try {
    const response = await post("/console/import/run", form);
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    let finished = false;
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let newline;
      while ((newline = buffer.indexOf("\n")) >= 0) {
        const line = JSON.parse(buffer.slice(0, newline));
        buffer = buffer.slice(newline + 1);
        if (line.error) throw new Error(line.error);
        if (line.report) {
          finished = true;
          showReport(line.report);
          if (!line.report.toImport) show($("import-result"), "ok", msg("i_nothing"));
        }
        else progress(line.done, line.total);
      }
    }
    if (!finished) throw new Error(msg("i_cut_off"));
  } catch (error) {
    show($("import-result"), "error", error.message);
  } finally {
    $("i-check").disabled = false;
  }
}

async function download(event) {
  event.preventDefault();
  const form = $("export-form");
  const format = (event.submitter && event.submitter.dataset.format) || "csv";
  const params = new URLSearchParams();
  for (const name of ["campaign", "from", "to"]) {
    const value = form.elements[name].value.trim();
    if (value) params.set(name, value);
  }
  try {
    const response = await fetch(`/console/export.${format}?${params}`, { headers: { authorization: `Bearer ${token()}` } });
    if (!response.ok) throw new Error((await response.json().catch(() => ({}))).error || `HTTP ${response.status}`);
    const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
    const link = element("a", { href: URL.createObjectURL(await response.blob()), download: name ? name[1] : `donations.${format}` });
    document.body.append(link);
    link.click();
    link.remove();
    $("export-result").replaceChildren();
  } catch (error) {
    show($("export-result"), "error", error.message);
  }
}

if (!token()) $("import-signin").hidden = false;
$("import-form").addEventListener("submit", check);
$("i-run").addEventListener("click", run);
$("export-form").addEventListener("submit", download);
