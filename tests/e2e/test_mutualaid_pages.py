"""A case notice and a period page in Chromium: steps verified, a member's share proof checked in
the browser against the root in the period's entry."""

from __future__ import annotations

import re
from typing import Any

import pytest

from heartchain.mutualaid.codes import CONDITIONS
from heartchain.mutualaid.demo import HOSPITALS
from tests.e2e.conftest import Server
from tests.e2e.test_core_pages import verify_state

pytestmark = pytest.mark.slow
pytest.importorskip("heartchain.mutualaid.services")
PLAN = "xianghu-basic"


async def test_case_notice_and_share_proof(page: Any, server: Server) -> None:
    sample = re.search(r'membership\(address: "(hc1\w+)"\)', server.demo_output)
    if sample is None:
        pytest.skip("the demo seeded no mutual-aid plan")
    data = server.gql(f'{{ period(plan: "{PLAN}", number: 1) {{ cases {{ id }} }} }}')
    case = data["period"]["cases"][0]["id"]
    await page.goto(f"/cases/{case}?lang=en")
    assert "*" in await page.get_by_test_id("masked-name").inner_text()
    # Vetted labels, never typed text: a registered hospital's and a coded condition's names.
    assert await page.get_by_test_id("hospital").inner_text() in {h[2] for h in HOSPITALS}
    condition = await page.get_by_test_id("condition").inner_text()
    assert any(condition.startswith(c.en) for c in CONDITIONS.values()), condition
    await page.wait_for_function(
        "() => [...document.querySelectorAll('[data-verify-entry]')]"
        ".every(e => e.dataset.verifyState === 'ok')")

    await page.goto(f"/plans/{PLAN}/periods/1?lang=en")
    await page.get_by_label("Address").fill(sample.group(1))
    await page.get_by_role("button", name="Search").click()
    await page.get_by_test_id("your-share").wait_for()
    assert await verify_state(page, "[data-verify-share]") == "ok"
    status = await page.locator("[data-verify-share] .verify-status").inner_text()
    assert status.startswith("Verified in your browser: this share is in the share table")
