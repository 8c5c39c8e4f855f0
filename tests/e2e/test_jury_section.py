"""The jury section of a case page in Chromium at 360 px: the draw and how to check it, the
tally and verdict, the rejection's reason, in zh and en."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import Server

pytestmark = pytest.mark.slow
pytest.importorskip("heartchain.mutualaid.jury_services")


async def test_jury_section_of_a_case_page(page: Any, server: Server) -> None:
    found = re.search(r"a case the member jury decided \((\w+)\): /cases/([\w-]+)",
                      server.demo_output)
    if found is None:
        pytest.skip("the demo seeded no jury")
    verdict, case = found.group(1), found.group(2)
    await page.set_viewport_size({"width": 360, "height": 800})
    await page.goto(f"/cases/{case}?lang=en")
    section = page.get_by_test_id("jury")
    await section.wait_for()
    assert "Member jury" in await section.inner_text()
    seed = (await page.get_by_test_id("jury-seed").inner_text()).strip()
    assert re.fullmatch(r"[0-9a-f]{64}", seed)
    assert "cosigned by" in await page.get_by_test_id("jury-checkpoint").inner_text()
    assert await page.get_by_test_id("jury-seats").locator("li").count() == 5
    assert "reject" in await page.get_by_test_id("jury-tally").inner_text()
    assert await page.get_by_test_id("jury-verdict").inner_text() == verdict
    how = page.get_by_test_id("jury-how")
    await how.locator("summary").click()
    assert f"--root {seed}" in await how.inner_text()
    # Readable at 360 px: nothing, long hashes and the command included, scrolls sideways.
    overflow = await page.evaluate(
        "() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"{overflow}px wider than the viewport"
    # the pool the draw ranked, as the page links it
    pool = await page.request.get(f"{server.url}/cases/{case}/jury/pool.txt")
    assert pool.ok and all(line.startswith("hc1") for line in (await pool.text()).split())
    await page.goto(f"/cases/{case}?lang=zh")
    assert "赔审团" in await page.get_by_test_id("jury").inner_text()
    if verdict == "reject":
        assert await page.get_by_test_id("decision-reason").inner_text() == "赔审团投票不予互助"
        await page.get_by_test_id("reason-sealed").wait_for()
