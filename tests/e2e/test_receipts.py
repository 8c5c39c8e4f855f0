"""Receipts and witness cosignatures in real Chromium.

The demo's two witnesses run as real processes (`heartchain witness serve`, on free ports) and a
second `heartchain serve` of the demo data points at them with a 2-of-2 policy, so the pages
verify cosignature/v1 lines made live. The drop-a-receipt page checks receipts with the network
cut after it loaded.
"""

from __future__ import annotations

import base64
import json
import os
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from heartchain.ledger.notes import CosignatureSigner, NoteSigner
from heartchain.ledger.receipts import Receipt
from tests.e2e.conftest import Server, _free_port, artifacts_dir
from tests.e2e.test_core_pages import verify_state

pytestmark = pytest.mark.slow

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "c2sp.json"
_POLICY_LINE = re.compile(r'HEARTCHAIN_WITNESSES="(?P<value>[^"]+)"')


@dataclass
class Witnessed:
    url: str
    labels: list[str]


def _wait(url: str, process: subprocess.Popen[bytes], what: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{what} exited")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{what} did not start")


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@pytest.fixture(scope="module")
def witnessed(server: Server) -> Iterator[Witnessed]:
    """The demo data served with its two witnesses running and a 2-of-2 policy."""
    found = _POLICY_LINE.search(server.demo_output)
    assert found, "heartchain demo printed no HEARTCHAIN_WITNESSES line"
    processes: list[subprocess.Popen[bytes]] = []
    items, labels = [], []
    env = {**os.environ, "HEARTCHAIN_DATA_DIR": str(server.data_dir)}
    env.pop("HEARTCHAIN_DB_URL", None)
    try:
        for item in found["value"].split(","):
            label, rest = item.split("=", 1)
            key = rest.split("|", 1)[1]
            port = _free_port()
            process = subprocess.Popen(
                [sys.executable, "-m", "heartchain.cli", "witness", "serve", "--dir",
                 str(server.data_dir / "witnesses" / label), "--port", str(port),
                 "--log-level", "warning"], env=env, cwd=server.data_dir)
            processes.append(process)
            _wait(f"http://127.0.0.1:{port}/healthz", process, f"witness {label}")
            items.append(f"{label}=http://127.0.0.1:{port}|{key}")
            labels.append(label)
        port = _free_port()
        url = f"http://127.0.0.1:{port}"
        log_env = {**env, "HEARTCHAIN_PUBLIC_URL": url, "HEARTCHAIN_WITNESSES": ",".join(items),
                   "HEARTCHAIN_WITNESS_POLICY": "2"}
        log = subprocess.Popen([sys.executable, "-m", "heartchain.cli", "serve", "--port",
                                str(port), "--log-level", "warning"], env=log_env,
                               cwd=server.data_dir)
        processes.append(log)
        _wait(f"{url}/healthz", log, "heartchain serve with witnesses")
        deadline = time.monotonic() + 60
        while True:  # the log submits its latest checkpoint to both witnesses on start
            report = httpx.get(f"{url}/log/witnesses", timeout=5).json()
            size = httpx.get(f"{url}/healthz", timeout=5).json()["size"]
            if report.get("witnessed_size") == size:
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"witnesses did not cosign size {size}: {report}")
            time.sleep(0.3)
        yield Witnessed(url, labels)
    finally:
        for process in reversed(processes):
            _stop(process)


def gql(url: str, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
    body = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}},
                      timeout=30).json()
    assert not body.get("errors"), body
    data: dict[str, Any] = body["data"]
    return data


def first_index(url: str, kind: str) -> int:
    data = gql(url, "query($k: String) { entries(first: 1, kind: $k) { edges { node { index "
                    "} } } }", {"k": kind})
    return int(data["entries"]["edges"][0]["node"]["index"])


def share_receipt(url: str) -> str:
    periods = gql(url, '{ entries(first: 1, kind: "period.apportion") { edges { node { body '
                       "} } } }")["entries"]["edges"]
    body = periods[0]["node"]["body"]
    joins = gql(url, '{ entries(first: 50, kind: "plan.join", oldestFirst: true) { edges { '
                     "node { body } } } }")["entries"]["edges"]
    for join in joins:
        if join["node"]["body"]["plan"] != body["plan"]:
            continue
        member = join["node"]["body"]["member"]
        response = httpx.get(f"{url}/plans/{body['plan']}/periods/{body['period']}/shares/"
                             f"{member}/receipt", timeout=30)
        if response.status_code == 200:
            return response.text
    raise AssertionError("no member with a share in the first period")


def flip_cosignature(text: str, name_prefix: str = "") -> str:
    lines = text.splitlines(keepends=True)
    position = max(i for i, line in enumerate(lines)
                   if line.startswith("\u2014 ") and name_prefix in line)
    head, encoded = lines[position].rstrip("\n").rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[30] ^= 0x01
    lines[position] = f"{head} {base64.b64encode(bytes(raw)).decode()}\n"
    return "".join(lines)


def drop_last_cosignature(text: str) -> str:
    lines = text.splitlines(keepends=True)
    return "".join(lines[:-1])


def edit_entry_byte(text: str) -> str:
    receipt = Receipt.from_text(text)
    entry = bytearray(receipt.entry)
    entry[entry.index(b'"body":{') + 9] ^= 0x01
    return Receipt(bytes(entry), receipt.index, receipt.hashes, receipt.checkpoint,
                   receipt.share).to_text()


def change_proof_line(text: str) -> str:
    lines = text.split("\n")
    position = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
    raw = bytearray(base64.b64decode(lines[position]))
    raw[3] ^= 0x01
    lines[position] = base64.b64encode(bytes(raw)).decode()
    return "\n".join(lines)


async def test_pages_name_the_witnesses_that_cosigned(page: Any, witnessed: Witnessed) -> None:
    await page.goto(f"{witnessed.url}/entries/5")
    assert await verify_state(page, "[data-verify-entry]") == "ok"
    status = await page.locator("[data-verify-entry] .verify-status").inner_text()
    assert "已联署（要求 2/2）" in status
    for label in witnessed.labels:
        assert label in status
    steps = await page.locator("[data-verify-entry] .verify-steps").inner_text()
    assert steps.count("联署了该检查点") == 2
    await page.goto(f"{witnessed.url}/?lang=en")
    assert await verify_state(page, "#latest-checkpoint") == "ok"
    status = await page.locator("#latest-checkpoint .verify-status").inner_text()
    assert "(2 of 2 required)" in status and all(label in status for label in witnessed.labels)


async def test_a_tampered_cosignature_shows_the_failure(page: Any, witnessed: Witnessed) -> None:
    async def tamper(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        data = body.get("data") or {}
        if (data.get("entry") or {}).get("receipt"):
            data["entry"]["receipt"] = flip_cosignature(data["entry"]["receipt"])
        cosigned = data.get("cosignedCheckpoint") or {}
        if cosigned.get("note"):
            cosigned["note"] = flip_cosignature(cosigned["note"])
        await route.fulfill(response=response, body=json.dumps(body))

    await page.route("**/graphql", tamper)
    await page.goto(f"{witnessed.url}/entries/5")
    assert await verify_state(page, "[data-verify-entry]") == "failed"
    status = await page.locator("[data-verify-entry] .verify-status").inner_text()
    assert status == "验证失败：见证人联署无效"
    await page.goto(f"{witnessed.url}/")
    assert await verify_state(page, "#latest-checkpoint") == "failed"
    assert "见证人联署无效" in await page.locator("#latest-checkpoint .verify-status").inner_text()


async def test_a_page_short_of_the_witness_policy_says_so(page: Any,
                                                           witnessed: Witnessed) -> None:
    async def drop(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        entry = (body.get("data") or {}).get("entry") or {}
        if entry.get("receipt"):
            entry["receipt"] = drop_last_cosignature(entry["receipt"])
        await route.fulfill(response=response, body=json.dumps(body))

    await page.route("**/graphql", drop)
    await page.goto(f"{witnessed.url}/entries/6?lang=en")
    element = page.locator("[data-verify-entry]").first
    # A function, not an expression: Playwright evals expressions, which the pages' CSP forbids.
    await page.wait_for_function("() => document.querySelector('[data-verify-entry]')"
                                 ".dataset.verifyState === 'unwitnessed'")
    status = await element.locator(".verify-status").inner_text()
    assert "(2 of 2 required)" in status and "not yet cosigned it as the policy requires" in status


async def test_a_changed_key_is_a_loud_warning(page: Any, witnessed: Witnessed) -> None:
    await page.goto(f"{witnessed.url}/receipt")
    await page.get_by_role("button", name="固定本站提供的密钥").click()
    await page.get_by_test_id("keys-pinned").locator("dd").first.wait_for()
    assert "指纹" in await page.get_by_test_id("keys-pinned").inner_text()
    await page.goto(f"{witnessed.url}/entries/3")
    assert await verify_state(page, "[data-verify-entry]") == "ok"
    assert "您在本浏览器中固定的日志公钥" in await page.locator(
        "[data-verify-entry] .verify-steps").inner_text()
    other = NoteSigner.generate("heartchain.localhost/log").verifier_key
    await page.evaluate("""(key) => {
        const pinned = JSON.parse(localStorage.getItem('heartchain.pinned-keys.v1'));
        pinned.log = key;
        localStorage.setItem('heartchain.pinned-keys.v1', JSON.stringify(pinned));
    }""", other)
    await page.goto(f"{witnessed.url}/entries/3")
    assert await verify_state(page, "[data-verify-entry]") == "failed"
    assert "本站提供的密钥与您固定的不同" in await page.locator(
        "[data-verify-entry] .verify-status").inner_text()
    banner = page.locator("#hc-keys-changed")
    assert await banner.is_visible() and "警告" in await banner.inner_text()


async def test_drop_a_receipt_verifies_and_rejects_offline(page: Any,
                                                           witnessed: Witnessed) -> None:
    url = witnessed.url
    receipts = {
        "donation": httpx.get(f"{url}/entries/{first_index(url, 'donation.record')}/receipt",
                              timeout=30).text,
        "lot step": httpx.get(f"{url}/entries/{first_index(url, 'lot.handover')}/receipt",
                              timeout=30).text,
        "share": share_receipt(url),
    }
    await page.goto(f"{url}/receipt")
    await page.get_by_role("button", name="固定本站提供的密钥").click()
    await page.get_by_test_id("keys-pinned").locator("dd").first.wait_for()
    attempted: list[str] = []

    async def cut(route: Any) -> None:
        attempted.append(route.request.url)
        await route.abort()

    await page.route("**/*", cut)
    file_input = page.locator("#receipt-file")
    result = page.locator("#receipt-result")

    async def check(text: str) -> tuple[str, str]:
        await page.evaluate("document.getElementById('receipt-result').dataset.verifyState = ''")
        await file_input.set_input_files(files=[])
        await file_input.set_input_files(files=[{"name": "r.tlog-proof",
                                                 "mimeType": "text/plain",
                                                 "buffer": text.encode()}])
        await page.wait_for_function("() => ['ok', 'failed'].includes(document.getElementById("
                                     "'receipt-result').dataset.verifyState)")
        return (str(await result.get_attribute("data-verify-state")),
                await result.locator(".verify-status").inner_text())

    for what, text in receipts.items():
        state, status = await check(text)
        assert state == "ok", f"{what}: {status}"
        assert "凭证已在您的浏览器中核对" in status and "已联署（要求 2/2）" in status
        entry = await page.get_by_test_id("receipt-entry").inner_text()
        assert '"kind"' in entry
        if what == "share":
            assert '"share"' in entry and '"member"' in entry
        steps = await result.locator(".verify-steps").inner_text()
        assert "您在本浏览器中固定的日志公钥" in steps
        for broken, expected in ((edit_entry_byte(text), "根哈希不一致"),
                                 (drop_last_cosignature(text), "见证人联署不足"),
                                 (flip_cosignature(text), "见证人联署无效"),
                                 (change_proof_line(text), "根哈希不一致")):
            state, status = await check(broken)
            assert state == "failed" and expected in status, f"{what}: {status}"
    # Dropped on the drop zone rather than chosen: the same check.
    await page.evaluate("document.getElementById('receipt-result').dataset.verifyState = ''")
    await page.evaluate("""(text) => {
        const transfer = new DataTransfer();
        transfer.items.add(new File([text], 'dropped.tlog-proof', { type: 'text/plain' }));
        const zone = document.getElementById('receipt-drop');
        zone.dispatchEvent(new DragEvent('dragover', { dataTransfer: transfer, bubbles: true }));
        zone.dispatchEvent(new DragEvent('drop', { dataTransfer: transfer, bubbles: true }));
    }""", receipts["lot step"])
    await page.wait_for_function("() => document.getElementById('receipt-result')"
                                 ".dataset.verifyState === 'ok'")
    await page.screenshot(path=str(artifacts_dir() / "receipt-page.png"), full_page=True)

    # A wrong log key, pasted by the user: the receipt's log signature is by no key it trusts.
    wrong = NoteSigner.generate("heartchain.localhost/log").verifier_key
    witness_keys = [w["key"] for w in json.loads(
        await page.locator("#hc-site-keys").text_content())["witnesses"]]
    await page.locator("#keys-paste summary").click()
    await page.locator("#paste-log").fill(wrong)
    await page.locator("#paste-witnesses").fill("\n".join(witness_keys))
    await page.locator("#paste-required").fill("2")
    await page.get_by_role("button", name="使用并固定这些密钥").click()
    await page.wait_for_function("() => JSON.parse(localStorage.getItem("
                                 "'heartchain.pinned-keys.v1')).pasted === true")
    state, status = await check(receipts["donation"])
    assert state == "failed" and "检查点签名无效" in status
    assert attempted == [], f"the receipt page made requests: {attempted}"


async def test_js_cosignature_matches_the_c2sp_example_and_python(page: Any,
                                                                  server: Server) -> None:
    vector = json.loads(VECTORS.read_text())["cosigned_checkpoint"]
    witness = CosignatureSigner.generate("witness.test/js")
    text = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
    line = witness.cosign(text, 1_700_000_123).to_line()
    note = text + "\n" + line
    await page.goto("/")
    await page.wait_for_function("() => window.heartchainVerify !== undefined")
    found = await page.evaluate("""async ([v, key, note, text]) => {
        const h = window.heartchainVerify;
        const parsed = h.parseNote(v.checkpoint);
        const sig = parsed.signatures.find((s) => s.name === 'witness.example.com/w1');
        const ts = h.cosignatureTimestamp(sig.signature);
        const message = new TextDecoder().decode(h.cosignatureMessage(parsed.text, ts));
        const w = await h.parseCosignatureKey(key);
        const ok = await h.verifyCosignatures(note, [w]);
        let forged = null;
        const bad = note.replace('20852163', '20852164');
        try { await h.verifyCosignatures(bad, [w]); } catch (e) { forged = e.key; }
        let wrongType = null;
        try { await h.parseVerifierKey(key); } catch (e) { wrongType = e.key; }
        return { ts: Number(ts), message, sigBytes: sig.signature.length + 4,
                 keyId: w.keyIdHex, cosigned: ok.map((c) => [c.name, Number(c.timestamp)]),
                 forged, wrongType, logSigBytes: parsed.signatures[0].signature.length + 4 };
    }""", [vector, witness.verifier_key, note, text])
    assert found["ts"] == vector["cosignature_timestamp"]
    assert found["message"] == vector["cosigned_message"]
    assert found["sigBytes"] == vector["cosignature_bytes"]
    assert found["logSigBytes"] == vector["log_signature_bytes"]
    assert found["keyId"] == witness.key_id.hex()
    assert found["cosigned"] == [["witness.test/js", 1_700_000_123]]
    assert found["forged"] == "err_cosignature"
    assert found["wrongType"] == "err_key"


def test_receipt_update_fetches_a_newer_receipt_and_a_consistency_proof(
        witnessed: Witnessed, server: Server, tmp_path: Path) -> None:
    url = witnessed.url
    index = first_index(url, "donation.record")
    old = tmp_path / "old.tlog-proof"
    old.write_text(httpx.get(f"{url}/entries/{index}/receipt", timeout=30).text)
    old_size = Receipt.from_text(old.read_text()).checkpoint.split("\n")[1]
    mutation = ('mutation { recordDonation(kind: "cash", quantity: 100, campaign: '
                '"winter-meals-2026", contact: "+8613900000001") { __typename } }')
    answer = httpx.post(f"{url}/graphql", json={"query": mutation},
                        headers={"Authorization": f"Bearer {server.token_of('Sunrise')}"},
                        timeout=30).json()
    assert answer.get("data", {}).get("recordDonation", {}).get("__typename") == (
        "DonationRecorded"), answer
    deadline = time.monotonic() + 60
    while httpx.get(f"{url}/log/witnesses", timeout=5).json().get("witnessed_size") == int(
            old_size):
        assert time.monotonic() < deadline, "the witnesses did not cosign the new checkpoint"
        time.sleep(0.3)
    site = httpx.get(f"{url}/receipt", timeout=30).text
    found = re.search(r'id="hc-site-keys">(.*?)</script>', site, re.S)
    assert found
    keys = json.loads(found[1])
    args = ["--log-key", keys["log"]]
    for w in keys["witnesses"]:
        args += ["--witness-key", w["key"]]
    new = tmp_path / "new.tlog-proof"
    done = subprocess.run([sys.executable, "-m", "heartchain.cli", "receipt", "update",
                           str(old), "--url", url, "--out", str(new), *args],
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert f"from checkpoint {old_size} to " in done.stderr
    checked = subprocess.run([sys.executable, "-m", "heartchain.cli", "receipt", "verify",
                              str(new), *args], capture_output=True, text=True, timeout=60,
                             check=False)
    assert checked.returncode == 0 and "(donation.record)" in checked.stdout, checked.stderr
