"""A donor prints a donation receipt and opens the year-end statement, in real Chromium."""

from __future__ import annotations

import re
from typing import Any

import pytest

from tests.e2e.conftest import Server, artifacts_dir
from tests.e2e.test_newcomer import page_of

pytestmark = pytest.mark.slow


async def test_printable_receipt_and_statement_from_the_donor_page(page: Any,
                                                                   server: Server) -> None:
    donor = page_of(server, "/members/")
    await page.goto(f"{donor}?lang=en")
    link = page.get_by_test_id("printable-receipt").first
    await link.click()
    await page.wait_for_url(re.compile(r".*/donations/\d+/receipt$"))
    index = int(page.url.rsplit("/", 2)[-2])
    assert await page.get_by_test_id("receipt-index").inner_text() == f"#{index}"
    assert await page.get_by_test_id("receipt-campaign").inner_text()
    # the demo's log (~26,000 entries) still fits the whole offline receipt in the one code
    assert await page.get_by_test_id("receipt-qr").get_attribute("data-holds") == "proof"
    qr = page.get_by_test_id("receipt-qr").locator("svg")
    assert await qr.is_visible()
    box = await qr.bounding_box()
    assert box is not None and box["width"] >= 200  # big enough to scan from paper
    overflow = await page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth")
    assert overflow <= 0, f"the receipt scrolls sideways by {overflow}px at 360px"
    await page.emulate_media(media="print")  # what the printer gets: no buttons or links
    assert not await page.get_by_role("button", name="Print").is_visible()
    assert await qr.is_visible()
    pdf = await page.pdf(format="A5")
    assert pdf.startswith(b"%PDF-")
    (artifacts_dir() / "donation-receipt.pdf").write_bytes(pdf)
    await page.emulate_media(media="screen")

    await page.goto(f"{donor}?lang=en")
    await page.get_by_test_id("statement-link").click()
    await page.wait_for_url(re.compile(r".*/statement$"))
    row = page.locator(f'tr[data-index="{index}"]')
    if await row.count() == 0:  # the demo's history spans two calendar years: the year before
        year = int((await page.get_by_test_id("statement-year").inner_text())[:4])
        await page.goto(f"{page.url}?from={year - 1}-01-01&lang=en")
    statuses = await page.locator(f'tr[data-index="{index}"]').get_attribute("data-statuses")
    assert statuses is not None and statuses.startswith("recorded")
    await page.screenshot(path=str(artifacts_dir() / "statement-360.png"), full_page=True)
