"""A campaign's public page and its charity's index in real Chromium, at phone width."""

from __future__ import annotations

from typing import Any

import pytest

from tests.e2e.conftest import Server, artifacts_dir

pytestmark = pytest.mark.slow


async def wider_than_the_screen(page: Any) -> list[str]:
    found: list[str] = await page.evaluate("""() => Array.from(document.querySelectorAll('*'))
        .filter((e) => e.getBoundingClientRect().right > 361)
        .map((e) => `${e.tagName}#${e.id}.${e.className}`).slice(0, 12)""")
    return found


async def test_campaign_page_reads_at_360_px_and_links_its_proof(page: Any,
                                                                 server: Server) -> None:
    await page.goto("/")
    await page.locator("#campaigns a[href^='/campaigns/winter-meals-2026']").first.click()
    await page.wait_for_url("**/campaigns/winter-meals-2026?charity=*")
    assert await page.locator("h1").inner_text() == "2026 冬季校园午餐"
    assert "已募集" in await page.locator("#raised").inner_text()
    # Phone-readable: nothing wider than the screen.
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, await wider_than_the_screen(page)
    spent = page.locator("#spent li")
    assert await spent.count() == 2  # rice and the van: what its purpose says
    assert "大米" in await spent.first.inner_text()
    assert len(await page.get_by_test_id("receipt").first.inner_text()) >= 16
    await page.screenshot(path=str(artifacts_dir() / "campaign-360.png"), full_page=True)
    index = await spent.first.get_attribute("data-index")
    await spent.first.locator(f"a[href='/entries/{index}']").click()
    await page.wait_for_url(f"**/entries/{index}")
    assert "fund.disburse" in await page.locator("h1").inner_text()

    await page.goto("/campaigns/spring-saplings-2026?lang=en")
    assert await page.locator("h1").inner_text() == "Spring saplings 2026"
    texts = " ".join(await page.locator("#spent li").all_inner_texts())
    assert "saplings" in texts and "rice" not in texts  # no tree campaign buying rice
    await page.get_by_role("link", name="All its campaigns").click()
    await page.wait_for_url("**/charities/*/campaigns")
    assert await page.locator("#campaign-list li[data-slug='spring-saplings-2026']").count() == 1
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= 360, await wider_than_the_screen(page)


async def test_console_declares_then_edits_a_campaign(page: Any, server: Server) -> None:
    await page.goto("/console?lang=en")
    await page.wait_for_selector("body[data-console-ready]", state="attached")
    await page.get_by_label("API token").fill(server.token_of("Sunrise"))
    await page.get_by_role("button", name="Sign in").click()
    await page.locator("#whoami-text").wait_for()
    form = page.locator("#campaign-form")
    await form.get_by_label("Slug").fill("reading-corners")
    await form.get_by_label("Title in Chinese").fill("乡村图书角")
    await form.get_by_label("Title in English").fill("Village reading corners")
    await form.get_by_label("Purpose").fill("books for village schools")
    await form.get_by_label("Category").select_option("education")
    await form.get_by_label("Goal", exact=True).fill("1200.50")
    await form.get_by_label("Starts").fill("2026-01-01")
    await form.get_by_label("Who it serves").fill("pupils of three village schools")
    await form.locator("input[name=goods][value=books]").check()
    await form.get_by_role("button", name="Save campaign").click()
    result = page.locator("#campaign-result")
    await result.locator("[data-campaign='reading-corners']").wait_for()
    assert await result.get_attribute("data-state") == "ok"
    # It can take donations at once: the donation form offers it.
    assert "reading-corners" in await page.locator("#d-campaign option").all_inner_texts()
    # Edit: the fixed fields are locked, the goal changes.
    await page.locator("#cc-which").select_option("reading-corners")
    await page.wait_for_function("() => document.getElementById('cc-title-en').value !== ''")
    assert await form.get_by_label("Slug").is_disabled()
    assert await form.get_by_label("Goal", exact=True).input_value() == "1200.50"
    await form.get_by_label("Goal", exact=True).fill("2000")
    await form.get_by_role("button", name="Save campaign").click()
    await page.wait_for_function(
        "() => document.getElementById('campaign-result').dataset.state === 'ok' && document"
        ".querySelector('#campaign-result .result-entry a')?.textContent.length > 0")
    await page.locator("#open-campaign").click()
    await page.wait_for_url("**/campaigns/reading-corners?charity=*")
    assert await page.locator("h1").inner_text() == "Village reading corners"
    assert "¥2,000.00" in await page.locator("#raised").inner_text()
