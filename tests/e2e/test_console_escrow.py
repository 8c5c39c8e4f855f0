"""Pay for success from the console, in real Chromium at 360 px: a charity declares a campaign
naming a validator (by name, from the address book) and an outcome deadline; the validator,
signed in on its own phone, attests the outcome on an evidence file and releases part of the
cash; after the deadline the charity refunds what the campaign holds to the donors. Each step's
entry verifies in the browser."""

from __future__ import annotations

import asyncio
import hashlib
from typing import Any

import pytest

from tests.e2e.conftest import Server, artifacts_dir
from tests.e2e.test_console import result_of, sign_in
from tests.e2e.test_core_pages import verify_state

pytestmark = pytest.mark.slow

DEADLINE_SECONDS = 20
EVIDENCE = b"%PDF-1.4 surgery outcome report: 12 patients seen again after 6 weeks\n"


async def test_validator_attests_and_charity_refunds_after_the_deadline(
        browser: Any, page: Any, server: Server) -> None:
    validator = server.address_of("Cycle Share")
    await sign_in(page, server.token_of("Hope Medical"))
    # The deadline is typed as the browser's local time, as a person would.
    deadline_local, deadline_ms = await page.evaluate("""(seconds) => {
        const d = new Date(Date.now() + seconds * 1000);
        const two = (n) => String(n).padStart(2, "0");
        return [`${d.getFullYear()}-${two(d.getMonth() + 1)}-${two(d.getDate())}T` +
                `${two(d.getHours())}:${two(d.getMinutes())}:${two(d.getSeconds())}`,
                Math.floor(d.getTime() / 1000) * 1000];
    }""", DEADLINE_SECONDS)
    started = await page.evaluate("new Date(Date.now() - 86400000).toISOString().slice(0, 10)")
    form = page.locator("#campaign-form")
    await form.locator("#cc-slug").fill("sight-console")
    await form.locator("#cc-title-zh").fill("复明手术")
    await form.locator("#cc-title-en").fill("Sight surgery")
    await form.locator("#cc-purpose").fill("cataract surgery")
    await form.locator("#cc-category").select_option("medical")
    await form.locator("#cc-goal").fill("1000.00")
    await form.locator("#cc-starts").fill(started)
    await form.locator("#cc-beneficiary").fill("patients of the county hospital")
    await page.locator("#cc-escrow summary").click()
    # The validator's field offers the registered organisations by name; choosing one fills
    # in its address.
    option = page.locator(f"#organisations option[value='{validator}']")
    assert "Cycle Share" in (await option.get_attribute("label"))
    await form.locator("#cc-validator").fill(validator)
    await form.locator("#cc-deadline").fill(deadline_local)
    await page.get_by_role("button", name="Save campaign").click()
    await result_of(page, "campaign-result")
    declared = server.gql("""query($c: String!) { campaignDeclaration(slug: "sight-console",
        charity: $c) { validator outcomeDeadline } }""",
                          {"c": server.address_of("Hope Medical")})["campaignDeclaration"]
    assert declared["validator"] == validator
    assert declared["outcomeDeadline"].endswith("Z")
    assert abs(_epoch_ms(declared["outcomeDeadline"]) - deadline_ms) < 1000

    gift = server.gql("""mutation { recordDonation(kind: "cash", quantity: 3000,
        campaign: "sight-console", contact: "+8613900007777") {
        __typename ... on DonationRecorded { donation { index } } } }""",
                      token=server.token_of("Hope Medical"))["recordDonation"]
    assert gift["__typename"] == "DonationRecorded", gift
    # The charity sees its campaign waiting for the validator.
    await page.reload()
    await page.locator("#whoami-text").wait_for()
    mine = page.locator("#escrow-list li[data-escrow='sight-console']")
    await mine.wait_for()
    assert await mine.locator("form").count() == 0
    assert "Until the deadline the validator may attest" in await mine.inner_text()

    phone = await browser.new_context(viewport={"width": 360, "height": 780},
                                      base_url=server.url)
    try:
        tab = await phone.new_page()
        await sign_in(tab, server.token_of("Cycle Share"))
        item = tab.locator("#escrow-list li[data-escrow='sight-console']")
        await item.wait_for()
        await item.get_by_role("button", name="Sign the attestation").click()
        box = await _error_of(tab, "escrow-result")
        assert "Choose the evidence file" in box
        await item.get_by_label("Evidence file").set_input_files(
            {"name": "outcome.pdf", "mimeType": "application/pdf", "buffer": EVIDENCE})
        await item.get_by_label("Amount to release").fill("10.00")
        await item.get_by_role("button", name="Sign the attestation").click()
        result = await result_of(tab, "escrow-result")
        assert "¥10.00 released in all" in await result.inner_text()
        assert hashlib.sha256(EVIDENCE).hexdigest() in await result.inner_text()
        assert await verify_state(tab, "#escrow-result [data-verify-entry]") == "ok"
        # The list is read again after the result shows: wait for it, do not race it.
        await tab.locator("#escrow-list li[data-escrow='sight-console']",
                          has_text="¥10.00 released").wait_for()
        await tab.screenshot(path=str(artifacts_dir() / "console-attest-360.png"),
                             full_page=True)
    finally:
        await phone.close()

    wait = deadline_ms / 1000 - await page.evaluate("Date.now() / 1000")
    await asyncio.sleep(max(0.0, wait) + 1.0)
    page.on("dialog", lambda dialog: dialog.accept())
    for _ in range(10):  # the server's clock may trail the browser's by a moment
        await page.reload()
        await page.locator("#whoami-text").wait_for()
        button = page.locator("[data-refund-campaign='sight-console']")
        await button.wait_for()
        await button.click()
        # A function, not an expression: the page's CSP forbids eval, which polling a string
        # expression needs once its first check is false.
        await page.wait_for_function(
            "(id) => ['ok', 'error'].includes(document.getElementById(id)?.dataset.state)",
            arg="escrow-result")
        if await page.locator("#escrow-result").get_attribute("data-state") == "ok":
            break
        assert "not before the outcome deadline" in await page.locator(
            "#escrow-result").inner_text()
        await asyncio.sleep(0.5)
    result = await result_of(page, "escrow-result")
    # The refund takes the campaign's balance to zero: the 10 yuan released but not yet spent
    # go back too (tracing.escrow: "the campaign's remaining cash").
    assert "¥30.00 refunded to the donors" in await result.inner_text()
    assert await verify_state(page, "#escrow-result [data-verify-entry]") == "ok"
    await page.locator("#escrow-list li[data-escrow='sight-console'] a[href^='/entries/']"
                       ).wait_for()
    escrow = server.gql("""query($c: String!) { campaignDeclaration(slug: "sight-console",
        charity: $c) { escrow { released refunded refundIndex } } }""",
                        {"c": server.address_of("Hope Medical")})
    assert escrow["campaignDeclaration"]["escrow"]["released"] == 1000
    assert escrow["campaignDeclaration"]["escrow"]["refunded"] == 3000
    assert escrow["campaignDeclaration"]["escrow"]["refundIndex"] is not None
    await page.screenshot(path=str(artifacts_dir() / "console-refund-campaign-360.png"),
                          full_page=True)


async def _error_of(page: Any, box: str) -> str:
    await page.wait_for_function(
        "(id) => document.getElementById(id)?.dataset.state === 'error'", arg=box)
    return str(await page.locator(f"#{box}").inner_text())


def _epoch_ms(time: str) -> float:
    from datetime import datetime

    return datetime.fromisoformat(time.replace("Z", "+00:00")).timestamp() * 1000
