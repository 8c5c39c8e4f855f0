"""The charity console from a phone: record a donation, create a lot, print its label, hand it
over (the taker confirms on their own phone), deliver; then the public lot page shows it all."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Server, artifacts_dir
from tests.e2e.test_core_pages import verify_state

pytestmark = pytest.mark.slow
pytest.importorskip("tracing.services")
pytest.importorskip("tokens.services")


async def sign_in(page: Any, token: str) -> None:
    await page.goto("/console?lang=en")
    await page.wait_for_selector("body[data-console-ready]", state="attached")
    await page.get_by_label("API token").fill(token)
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#whoami-text").wait_for()


async def result_of(page: Any, box: str) -> Any:
    await page.wait_for_function(
        "(id) => ['ok', 'error'].includes(document.getElementById(id)?.dataset.state)", arg=box)
    locator = page.locator(f"#{box}")
    if await locator.get_attribute("data-state") != "ok":
        raise AssertionError(await locator.inner_text())
    return locator


async def test_console_flow_and_public_lot_page(browser: Any, server: Server) -> None:
    charity_token = server.token_of("Sunrise")
    taker_token = server.token_of("Green Ridge")
    taker = server.address_of("Green Ridge")
    giver_phone = await browser.new_context(viewport={"width": 360, "height": 780},
                                            base_url=server.url)
    taker_phone = await browser.new_context(viewport={"width": 360, "height": 780},
                                            base_url=server.url)
    public = await browser.new_context(viewport={"width": 360, "height": 780},
                                       base_url=server.url)
    errors: list[str] = []
    try:
        page = await giver_phone.new_page()
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.set_default_timeout(15_000)
        await sign_in(page, charity_token)
        assert "Sunrise" in await page.locator("#whoami-text").inner_text()

        # 1. Record a 20 kg rice donation for a donor known by phone number.
        await page.get_by_label("Kind").select_option("food")
        await page.get_by_label("Weight (grams)").fill("20000")
        await page.get_by_label("Or: the donor's phone or e-mail").fill("+8613900001111")
        await page.get_by_role("button", name="Record", exact=True).click()
        box = await result_of(page, "donation-result")
        donation = int(await box.locator("[data-donation]").get_attribute("data-donation"))
        assert await verify_state(page, "#donation-result [data-verify-entry]") == "ok"

        # 2. Create a lot from it (the donation index is prefilled) and open its label.
        assert await page.get_by_label("From donation (entry index)").input_value() == str(
            donation)
        await page.get_by_label("Goods").fill("Rice 大米 20 kg")
        await page.locator("#l-quantity").fill("20000")
        await page.get_by_label("Place").fill("Sunrise depot")
        await page.get_by_role("button", name="Create and make the label").click()
        box = await result_of(page, "lot-result")
        lot = await box.locator("[data-lot]").get_attribute("data-lot")
        await page.locator("#print-label").click()
        await page.wait_for_url(f"**/lots/{lot}/label")
        assert await page.locator("#label svg").count() == 1
        await page.screenshot(path=str(artifacts_dir() / "lot-label.png"))

        # 3. On the lot page, the custodian offers the handover to the taker.
        await page.goto(f"/lots/{lot}?lang=en")
        await page.locator("#custodian-box").wait_for()
        await page.get_by_label("Taker's address").fill(taker)
        await page.locator("#h-place").fill("Depot gate")
        await page.get_by_role("button", name="Sign and offer").click()
        await result_of(page, "actions-result")

        # 4. The taker confirms on their own phone, then delivers.
        phone = await taker_phone.new_page()
        phone.on("pageerror", lambda e: errors.append(str(e)))
        phone.set_default_timeout(15_000)
        await sign_in(phone, taker_token)
        offer = phone.locator(f"#pending-list li:has(a[href='/lots/{lot}'])")
        await offer.get_by_role("button", name="Accept").click()
        await result_of(phone, "pending-result")
        assert await verify_state(phone, "#pending-result [data-verify-entry]") == "ok"
        await phone.goto(f"/lots/{lot}?lang=en")
        await phone.locator("#custodian-box").wait_for()
        await phone.get_by_text("Deliver", exact=True).click()
        await phone.locator("#v-quantity").fill("20000")
        await phone.locator("#v-place").fill("Elm St community centre")
        await phone.get_by_label("Beneficiary (name or phone; stays off the log)").fill("李四")
        await phone.locator("#deliver-form button[type=submit]").click()
        await result_of(phone, "actions-result")

        # 5. Anyone scanning the label sees every step, each verified in their browser.
        reader = await public.new_page()
        reader.on("pageerror", lambda e: errors.append(str(e)))
        reader.set_default_timeout(15_000)
        code = server.gql("query($id: String!) { lot(id: $id) { code } }",
                          {"id": lot})["lot"]["code"]
        await reader.goto(f"/lots/{lot}?c={code}&lang=en")
        assert await reader.locator("#label-ok").count() == 1
        actions = await reader.locator("#timeline > li").evaluate_all(
            "items => items.map(i => i.dataset.action)")
        assert actions == ["create", "handover", "deliver"]
        timeline = await reader.locator("#timeline").inner_text()
        assert "Depot gate" in timeline and "Elm St community centre" in timeline
        assert "李四" not in await reader.content()
        assert await reader.get_by_test_id("lot-status").inner_text() == "delivered"
        await reader.wait_for_function(
            "() => [...document.querySelectorAll('#timeline [data-verify-entry]')]"
            ".every(e => e.dataset.verifyState === 'ok')")
        assert await reader.locator("#lot-actions").is_hidden()
        await reader.screenshot(path=str(artifacts_dir() / "lot-360.png"), full_page=True)
        await reader.goto(f"/lots/{lot}?c={code}&lang=zh")
        await reader.screenshot(path=str(artifacts_dir() / "lot-360-zh.png"), full_page=True)

        # A label code that is not the lot's own is flagged.
        await reader.goto(f"/lots/{lot}?c=AAAAAAAA")
        assert await reader.locator("#label-warning").count() == 1

        # The donor's page shows the gift and where it went.
        donor = server.gql("query($i: Int64!) { donation(index: $i) { donor } }",
                           {"i": donation})["donation"]["donor"]
        await reader.goto(f"/members/{donor}?lang=en")
        gift = reader.locator(f".gift[data-index='{donation}']")
        assert "20 kg" in await gift.inner_text()
        assert await gift.locator(f"a[href='/lots/{lot}']").count() == 1
    finally:
        for context in (giver_phone, taker_phone, public):
            await context.close()
    assert errors == []
