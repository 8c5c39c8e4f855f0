"""Home, log explorer, entry pages and verification in real Chromium against a demo server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, artifacts_dir

pytestmark = pytest.mark.slow

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"


async def verify_state(page: Any, selector: str) -> str:
    element = page.locator(selector).first
    await element.locator(".verify-status").first.wait_for()
    await page.wait_for_function(
        "(s) => ['ok', 'failed', 'unsupported'].includes("
        "document.querySelector(s)?.dataset.verifyState)", arg=selector)
    return str(await element.get_attribute("data-verify-state"))


async def test_home_shows_latest_checkpoint_and_verifies_its_signature(page: Any,
                                                                        server: Server) -> None:
    await page.goto("/")
    size = server.gql("{ checkpoint { size } }")["checkpoint"]["size"]
    assert await page.locator("h1").inner_text() == "查一查善款善物的去向"
    assert await page.get_by_test_id("checkpoint-size").inner_text() == f"{size:,}"
    assert await verify_state(page, "#latest-checkpoint") == "ok"
    status = await page.locator("#latest-checkpoint .verify-status").inner_text()
    assert f"检查点 {size} 的签名已在您的浏览器中验证" in status
    assert await page.locator("table.entries tbody tr").count() == 10


async def test_search_by_index_and_address(page: Any, server: Server) -> None:
    await page.goto("/")
    await page.get_by_label("地址、批次码、案件编号或序号").fill("3")
    await page.get_by_role("button", name="查询").click()
    await page.wait_for_url("**/entries/3")
    charity = server.address_of("Sunrise")
    await page.goto("/")
    await page.get_by_label("地址、批次码、案件编号或序号").fill(charity)
    await page.keyboard.press("Enter")
    await page.wait_for_url(f"**/members/{charity}")
    await page.goto("/search?q=no-such-thing")
    assert "no-such-thing" in await page.locator("#search-message").inner_text()


def tamper_receipt(text: str, *, proof: bool = False, data: bool = False) -> str:
    """Flip a bit of the first proof hash, or edit the entry inside a receipt's extra line."""
    import base64

    lines = text.split("\n")
    if proof:
        position = next(i for i, line in enumerate(lines) if line.startswith("index ")) + 1
        raw = bytearray(base64.b64decode(lines[position]))
        raw[5] ^= 0x01
        lines[position] = base64.b64encode(bytes(raw)).decode()
    if data:
        extra = json.loads(base64.b64decode(lines[1].removeprefix("extra ")))
        extra["entry"] = extra["entry"].replace('"role":"', '"role":"x', 1)
        encoded = json.dumps(extra, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
        lines[1] = "extra " + base64.b64encode(encoded.encode()).decode()
    return "\n".join(lines)


async def test_entry_page_verifies_in_the_browser(page: Any, server: Server) -> None:
    await page.goto("/entries/2")
    assert "account.register" in await page.locator("h1").inner_text()
    assert await verify_state(page, "[data-verify-entry]") == "ok"
    size = server.gql("{ checkpoint { size } }")["checkpoint"]["size"]
    status = await page.locator("[data-verify-entry] .verify-status").inner_text()
    assert status.startswith("已在您的浏览器中对照检查点 ")
    assert int(status.split("检查点 ")[1].split()[0]) >= size - 10
    steps = page.locator("[data-verify-entry] .verify-steps li")
    # keys (as this site supplied them), leaf, log signature, witnesses, inclusion
    assert await steps.count() == 5
    assert "本站提供的日志公钥" in await steps.nth(0).inner_text()


async def test_tampered_proof_fails_verification(page: Any, server: Server) -> None:
    async def tamper(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        entry = (body.get("data") or {}).get("entry")
        if entry and entry.get("receipt"):
            entry["receipt"] = tamper_receipt(entry["receipt"], proof=True)
        await route.fulfill(response=response, body=json.dumps(body))

    await page.route("**/graphql", tamper)
    await page.goto("/entries/7")
    assert await verify_state(page, "[data-verify-entry]") == "failed"
    status = await page.locator("[data-verify-entry] .verify-status").inner_text()
    assert status.startswith("验证失败：根哈希不一致")
    assert "已在您的浏览器中" not in await page.locator("[data-verify-entry]").inner_text()


async def test_tampered_entry_data_fails_verification(page: Any, server: Server) -> None:
    async def tamper(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        entry = (body.get("data") or {}).get("entry")
        if entry and entry.get("receipt"):
            entry["receipt"] = tamper_receipt(entry["receipt"], data=True)
        await route.fulfill(response=response, body=json.dumps(body))

    await page.route("**/graphql", tamper)
    await page.goto("/entries/4?lang=en")
    assert await verify_state(page, "[data-verify-entry]") == "failed"
    status = await page.locator("[data-verify-entry] .verify-status").inner_text()
    assert status == "Verification FAILED: the leaf hash does not match the page"


async def test_forged_checkpoint_signature_fails(page: Any, server: Server) -> None:
    async def tamper(route: Any) -> None:
        response = await route.fetch()
        body = await response.json()
        checkpoint = (body.get("data") or {}).get("checkpoint")
        if checkpoint:
            text, sigs = checkpoint["note"].split("\n\n", 1)
            lines = text.split("\n")
            lines[1] = str(int(lines[1]) + 1)  # claim a bigger tree under the old signature
            checkpoint["note"] = "\n".join(lines) + "\n\n" + sigs
        await route.fulfill(response=response, body=json.dumps(body))

    await page.route("**/graphql", tamper)
    await page.goto("/")
    assert await verify_state(page, "#latest-checkpoint") == "failed"
    assert "检查点签名无效" in await page.locator("#latest-checkpoint .verify-status").inner_text()


async def test_log_explorer_lists_filters_and_proves_consistency(page: Any,
                                                                 server: Server) -> None:
    await page.goto("/log")
    assert await page.locator("table.checkpoints tbody tr").count() >= 2
    await page.get_by_label("类型").select_option("account.register")
    await page.get_by_role("button", name="筛选").click()
    await page.wait_for_url("**kind=account.register**")
    kinds = await page.locator("table.entries tbody td:nth-child(2)").all_inner_texts()
    assert kinds and set(kinds) == {"account.register"}
    await page.get_by_role("link", name="更早 →").first.click()
    await page.wait_for_url("**before=**")
    # Consistency between the two newest checkpoints: proved in the browser.
    sizes = await page.locator("table.checkpoints tbody td:first-child").all_inner_texts()
    newest, older = int(sizes[0]), int(sizes[1])
    await page.goto(f"/log?consistency_from={older}&consistency_to={newest}")
    assert await verify_state(page, "[data-verify-consistency]") == "ok"
    text = await page.locator("[data-verify-consistency] .verify-status").inner_text()
    assert f"检查点 {older} 是检查点 {newest} 的前缀" in text


async def test_language_switch_sticks(page: Any, server: Server) -> None:
    await page.goto("/")
    assert await page.locator("html").get_attribute("lang") == "zh-CN"
    await page.locator("[data-lang-switch]").click()
    await page.wait_for_url("**lang=en**")
    assert await page.locator("html").get_attribute("lang") == "en"
    assert await page.locator("h1").inner_text() == "See where the gifts went"
    await page.get_by_role("link", name="Log explorer").click()
    await page.wait_for_url("**/log")
    assert await page.locator("h1").inner_text() == "Log explorer"  # the cookie kept English
    await page.locator("[data-lang-switch]").click()
    await page.wait_for_url("**lang=zh**")
    assert await page.locator("h1").inner_text() == "日志浏览"


async def test_js_merkle_verifier_matches_transparency_dev_vectors(page: Any,
                                                                   server: Server) -> None:
    probes = {kind: [json.loads(p.read_text()) for p in sorted((VECTORS / kind).rglob("*.json"))]
              for kind in ("inclusion", "consistency")}
    assert len(probes["inclusion"]) + len(probes["consistency"]) > 150
    await page.goto("/log")
    mismatches = await page.evaluate("""async (probes) => {
      const v = window.heartchainVerify;
      const d = (s) => (s == null ? new Uint8Array(0) : v.b64decode(s));
      const bad = [];
      for (const p of probes.inclusion) {
        let ok = true;
        try { await v.verifyInclusion(d(p.leafHash), BigInt(p.leafIdx), BigInt(p.treeSize),
                                      (p.proof || []).map(d), d(p.root)); }
        catch (e) { ok = false; }
        if (ok === p.wantErr) bad.push(['inclusion', p.desc, p.leafIdx, p.treeSize]);
      }
      for (const p of probes.consistency) {
        let ok = true;
        try { await v.verifyConsistency(BigInt(p.size1), BigInt(p.size2),
                                        (p.proof || []).map(d), d(p.root1), d(p.root2)); }
        catch (e) { ok = false; }
        if (ok === p.wantErr) bad.push(['consistency', p.desc, p.size1, p.size2]);
      }
      return bad;
    }""", probes)
    assert mismatches == []


async def test_core_pages_at_360px_have_no_horizontal_scroll(page: Any, server: Server) -> None:
    for path in ("/", "/log", "/entries/1", f"/members/{server.address_of('Sunrise')}"):
        await page.goto(path)
        overflow = await page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 0, f"{path} scrolls sideways by {overflow}px"
    await page.goto("/entries/1?lang=en")
    await page.screenshot(path=str(artifacts_dir() / "entry-360.png"), full_page=True)
