"""The console's bulk import in real Chromium, at phone width: check an export (the dry-run
report lists each bad row, nothing is written), import the rest with its progress, then
download the accounting export."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.e2e.conftest import Server, artifacts_dir
from tests.e2e.test_console import sign_in
from tests.finance.factories import generic_csv

pytestmark = pytest.mark.slow

_DECLARE = """mutation($input: CampaignInput!) { createCampaign(input: $input) {
  __typename } }"""


async def declare_campaign(server: Server, slug: str) -> None:
    """Donations must name a declared, open campaign of their charity: the export's."""
    async with httpx.AsyncClient(base_url=server.url) as http:
        answer = await http.post("/graphql", json={"query": _DECLARE, "variables": {"input": {
            "slug": slug, "titleZh": "导入测试", "titleEn": "Import test",
            "purpose": "school lunches", "category": "food", "goal": 10_000_000, "unit": "fen",
            "starts": "2020-01-01T00:00:00.000Z", "beneficiary": "pupils of one school"}}},
            headers={"Authorization": f"Bearer {server.token_of('Sunrise')}"})
    assert answer.json()["data"]["createCampaign"]["__typename"] == "CampaignSaved", answer.text


async def test_import_with_dry_run_report(browser: Any, server: Server) -> None:
    context = await browser.new_context(viewport={"width": 360, "height": 780},
                                        base_url=server.url, accept_downloads=True)
    errors: list[str] = []
    await declare_campaign(server, "e2e-import")
    try:
        page = await context.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(30_000)
        await sign_in(page, server.token_of("Sunrise"))
        await page.locator("#import-link").click()
        await page.wait_for_url("**/console/import")
        await page.goto("/console/import?lang=en")
        export = generic_csv(2_500, bad=6, payers=200, campaign="e2e-import", seed=99)
        await page.get_by_label("Export file (CSV or XLSX)").set_input_files(files=[{
            "name": "alipay.csv", "mimeType": "text/csv", "buffer": export.data}])
        await page.get_by_role("button", name="Check (writes nothing)").click()
        await page.locator("#import-summary").wait_for()
        rows = page.locator("#import-problems tbody tr")
        assert await rows.count() == 6
        shown = {int(await rows.nth(n).locator("td").first.inner_text()) for n in range(6)}
        assert shown == set(export.bad)
        assert "2494 to import" in await page.locator("#import-summary").inner_text()
        await page.screenshot(path=str(artifacts_dir() / "console-import-dry-run.png"),
                              full_page=True)
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 360 + 1, f"the page is {width} px wide at 360"

        await page.get_by_role("button", name="Import", exact=True).click()
        await page.wait_for_function(
            "() => document.querySelectorAll('#import-chunks li').length >= 2"
            " || document.getElementById('import-result').dataset.state === 'error'",
            timeout=180_000)
        result = await page.locator("#import-result").inner_text()
        assert await page.locator("#import-result").get_attribute("data-state") != "error", result
        assert await page.locator("#import-progress").get_attribute("value") == "2494"
        chunks = page.locator("#import-chunks li")
        assert [await chunks.nth(n).get_attribute("data-landed") for n in range(2)] == [
            "true"] * 2
        assert "Imported 2494 gifts" in await page.locator("#import-result").inner_text()

        # Again: everything was imported before; nothing is written twice.
        await page.get_by_role("button", name="Check (writes nothing)").click()
        await page.wait_for_function(
            "(text) => document.getElementById('import-summary')?.textContent.includes(text)",
            arg="2494 imported before")
        assert await page.get_by_role("button", name="Import", exact=True).is_disabled()

        await page.get_by_label("Campaign (empty: all)").fill("e2e-import")
        async with page.expect_download() as waiting:
            await page.get_by_role("button", name="CSV", exact=True).click()
        download = await waiting.value
        text = (await download.path()).read_text(encoding="utf-8-sig")
        assert len(text.splitlines()) == 1 + 2494
        assert not errors, errors
    finally:
        await context.close()
