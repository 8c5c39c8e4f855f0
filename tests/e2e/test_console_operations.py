"""The charity console's money and stock operations from a phone, in real Chromium: find a
donation it recorded and refund it, merge two lots it holds, and spend campaign cash with a
receipt file (its hash on the log, the file kept off it and downloadable by the charity)."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Server, artifacts_dir
from tests.e2e.test_console import result_of, sign_in
from tests.e2e.test_core_pages import verify_state

pytestmark = pytest.mark.slow
pytest.importorskip("tracing.services")


async def record(page: Any, kind: str, amount: str, contact: str) -> int:
    await page.get_by_label("Kind").select_option(kind)
    await page.locator("#d-amount").fill(amount)
    await page.get_by_label("Or: the donor's phone or e-mail").fill(contact)
    await page.get_by_role("button", name="Record", exact=True).click()
    box = await result_of(page, "donation-result")
    return int(await box.locator("[data-donation]").get_attribute("data-donation"))


async def test_refund_a_recorded_donation(page: Any, server: Server) -> None:
    await sign_in(page, server.token_of("Sunrise"))
    gift = await record(page, "cash", "12.30", "+8613900002222")
    # Search the charity's donations by entry index, then refund it from the list.
    await page.locator("#r-index").fill(str(gift))
    await page.get_by_role("button", name="Search").click()
    row = page.locator(f"#recorded-list li[data-index='{gift}']")
    await row.wait_for()
    assert "¥12.30" in await row.inner_text()
    page.on("dialog", lambda dialog: dialog.accept())
    await row.get_by_role("button", name="Refund").click()
    box = await result_of(page, "recorded-result")
    assert await box.locator(f"[data-reversed='{gift}']").count() == 1
    assert await verify_state(page, "#recorded-result [data-verify-entry]") == "ok"
    assert await row.locator("[data-refunded]").count() == 1
    donation = server.gql("query($i: Int64!) { donation(index: $i) { reversedIndex } }",
                          {"i": gift})["donation"]
    assert donation["reversedIndex"] is not None
    # The search by campaign and date still finds it, now marked refunded.
    await page.locator("#r-index").fill("")
    await page.get_by_role("button", name="Search").click()
    await page.locator(f"#recorded-list li[data-index='{gift}'] [data-refunded]").wait_for()
    await page.screenshot(path=str(artifacts_dir() / "console-refund-360.png"), full_page=True)


async def test_merge_two_lots(page: Any, server: Server) -> None:
    await sign_in(page, server.token_of("Sunrise"))
    await record(page, "food", "3000", "+8613900003333")
    lots = []
    for quantity in ("1000", "2000"):
        await page.get_by_label("Goods").fill("Rice 大米")
        await page.locator("#l-quantity").fill(quantity)
        await page.get_by_role("button", name="Create and make the label").click()
        box = await result_of(page, "lot-result")
        lots.append(await box.locator("[data-lot]").get_attribute("data-lot"))
    await page.locator("#merge-form").wait_for()
    for lot in lots:
        await page.locator(f"#merge-{lot}").check()
    await page.get_by_label("Name of the merged lot (optional)").fill("Rice 大米 3 kg")
    await page.get_by_role("button", name="Merge the ticked lots").click()
    box = await result_of(page, "merge-result")
    merged = await box.locator("[data-merged]").get_attribute("data-merged")
    assert "3 kg" in await box.inner_text()
    assert await verify_state(page, "#merge-result [data-verify-entry]") == "ok"
    found = server.gql("query($id: String!) { lot(id: $id) { quantity status } }",
                       {"id": merged})["lot"]
    assert found == {"quantity": 3000, "status": "held"}
    for lot in lots:
        assert server.gql("query($id: String!) { lot(id: $id) { status } }",
                          {"id": lot})["lot"]["status"] != "held"
    assert await page.locator(f"#merge-{lots[0]}").count() == 0  # no longer held


async def test_disburse_with_a_receipt_upload(page: Any, server: Server) -> None:
    await sign_in(page, server.token_of("Sunrise"))
    await record(page, "cash", "50", "+8613900004444")
    campaign = await page.locator("#f-campaign").input_value()
    assert campaign
    invoice = "发票 Rice Co. 2026-12-02 ¥8.88\n".encode() * 40
    digest = hashlib.sha256(invoice).hexdigest()
    await page.get_by_label("Amount spent (yuan)").fill("8.88")
    await page.get_by_label("Payee", exact=True).fill("Rice Co.")
    await page.locator("#f-purpose").fill("rice for the food bank")
    # The demo's food campaign buys food or transport from suppliers or carriers: say which.
    await page.get_by_label("What it bought (when the campaign lists what it may buy)").fill(
        "food")
    await page.get_by_label("Payee type (when the campaign lists them)").fill("supplier")
    await page.get_by_label("Receipt or invoice file").set_input_files(
        {"name": "invoice.txt", "mimeType": "text/plain", "buffer": invoice})
    await page.get_by_role("button", name="Sign and spend").click()
    box = await result_of(page, "disburse-result")
    assert await box.locator(f"[data-receipt='{digest}']").count() == 1
    assert await verify_state(page, "#disburse-result [data-verify-entry]") == "ok"
    index = int(await box.locator("[data-disbursement]").get_attribute("data-disbursement"))
    entry = server.gql("query($i: Int64!) { entry(index: $i) { kind body } }", {"i": index})
    assert entry["entry"]["kind"] == "fund.disburse"
    assert entry["entry"]["body"]["receipt"] == digest
    assert entry["entry"]["body"]["amount"] == 888
    kept = server.data_dir / "receipts" / digest
    assert kept.read_bytes() == invoice
    assert stat.S_IMODE(kept.stat().st_mode) == 0o600
    async with page.expect_download() as waiting:
        await page.locator("#download-receipt").click()
    download = await waiting.value
    assert download.suggested_filename == "invoice.txt"
    assert Path(await download.path()).read_bytes() == invoice
    await page.screenshot(path=str(artifacts_dir() / "console-disburse-360.png"),
                          full_page=True)


async def test_the_operator_registers_a_depot_and_a_charity_hands_over_to_it_by_name(
        browser: Any, server: Server) -> None:
    operator = await browser.new_context(viewport={"width": 360, "height": 780},
                                         base_url=server.url)
    charity = await browser.new_context(viewport={"width": 360, "height": 780},
                                        base_url=server.url)
    try:
        page = await operator.new_page()
        page.set_default_timeout(15_000)
        await sign_in(page, server.token_of("operator"))
        await page.locator("#register").wait_for()
        await page.get_by_label("Role").select_option("partner")
        await page.get_by_label("Public name").fill("Riverside depot 河畔仓库")
        await page.get_by_role("button", name="Sign and register").click()
        box = await result_of(page, "register-result")
        depot = await box.locator("[data-registered]").get_attribute("data-registered")
        assert (await box.locator("#registered-token").inner_text()).startswith("hct_")
        assert await page.locator("#donation").is_hidden()  # charity forms are not the operator's

        phone = await charity.new_page()
        phone.set_default_timeout(15_000)
        await sign_in(phone, server.token_of("Sunrise"))
        await record(phone, "food", "500", "+8613900005555")
        await phone.get_by_label("Goods").fill("Flour 面粉")
        await phone.locator("#l-quantity").fill("500")
        await phone.get_by_role("button", name="Create and make the label").click()
        lot = await (await result_of(phone, "lot-result")).locator("[data-lot]").get_attribute(
            "data-lot")
        await phone.goto(f"/lots/{lot}?lang=en")
        await phone.locator("#custodian-box").wait_for()
        option = phone.locator(f"#organisations option[value='{depot}']")
        await option.wait_for(state="attached")
        assert "Riverside depot" in (await option.get_attribute("label") or "")
        assert await phone.locator("#h-to").get_attribute("list") == "organisations"
        await phone.get_by_label("Taker's address").fill(depot)
        await phone.locator("#h-place").fill("Depot gate")
        await phone.get_by_role("button", name="Sign and offer").click()
        await result_of(phone, "actions-result")
    finally:
        await operator.close()
        await charity.close()


async def test_a_charity_registers_a_webhook_sees_its_secret_once_and_disables_it(
        page: Any, server: Server) -> None:
    await sign_in(page, server.token_of("Sunrise"))
    await page.get_by_label("Endpoint URL (https://)").fill("http://hooks.example.org/x")
    await page.get_by_role("button", name="Add", exact=True).click()
    await page.wait_for_function(
        "() => ['ok', 'error'].includes(document.getElementById('webhook-result')"
        "?.dataset.state)")
    assert await page.locator("#webhook-result").get_attribute("data-state") == "error"
    assert "https" in await page.locator("#webhook-result").inner_text()
    await page.get_by_label("Endpoint URL (https://)").fill("https://hooks.example.org/sunrise")
    await page.get_by_label("Entries to send, by type (comma-separated; optional)").fill(
        "donation.record, fund.disburse")
    await page.get_by_role("button", name="Add", exact=True).click()
    box = await result_of(page, "webhook-result")
    secret = await box.locator("#webhook-secret").inner_text()
    assert secret.startswith("whsec_")
    item = page.locator("#webhook-list li", has_text="https://hooks.example.org/sunrise")
    await item.wait_for()
    assert secret not in await page.locator("#webhook-list").inner_text()
    await item.get_by_role("button", name="Disable").click()
    await page.locator("#webhook-list li", has_text="(disabled)").wait_for()
    await page.reload()
    await page.locator("#webhook-list li", has_text="(disabled)").wait_for()
    assert secret not in await page.content()  # shown once
