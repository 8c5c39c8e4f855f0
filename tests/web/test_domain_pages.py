"""Donor and lot pages render what the domains recorded (server side, no browser)."""

from __future__ import annotations

import httpx
import pytest

from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.web.factories import food_story

pytest.importorskip("tokens.services")
pytest.importorskip("tracing.services")


async def test_lot_page_shows_the_journey(ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    response = await client.get(f"/lots/{story.lot}?lang=en")
    assert response.status_code == 200
    page = response.text
    assert "大米 rice" in page
    for action in ("create", "handover", "split"):
        assert f'data-action="{action}"' in page
    assert "Depot gate" in page and "Courier" in page
    assert "Sunrise &lt;Food&gt; Bank" in page
    assert "12.5 kg" in page
    assert page.count("data-verify-entry=") == 3
    assert all(f"/lots/{child}" in page for child in story.children)
    child = await client.get(f"/lots/{story.children[0]}?lang=en")
    assert 'data-action="deliver"' in child.text and "Elm St community centre" in child.text
    assert "王小明" not in child.text  # the beneficiary stays off the page and the log
    await verify_log(ledger.platform.log)


async def test_label_code_is_checked(ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    good = await client.get(f"/lots/{story.lot}", params={"c": story.code})
    assert 'id="label-ok"' in good.text and 'id="label-warning"' not in good.text
    bad = await client.get(f"/lots/{story.lot}", params={"c": "AAAAAAAA", "lang": "en"})
    assert bad.status_code == 200
    assert 'id="label-warning"' in bad.text and "does not belong to lot" in bad.text
    assert (await client.get("/lots/L999999")).status_code == 404


async def test_label_page_has_an_inline_qr(ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    response = await client.get(f"/lots/{story.lot}/label")
    assert response.status_code == 200
    assert "<svg" in response.text and "<?xml" not in response.text
    assert f"/lots/{story.lot}?c={story.code}" in response.text


async def test_search_finds_a_lot_by_id_or_label_url(ledger: Ledger,
                                                     client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    found = await client.get("/search", params={"q": story.lot.lower()})
    assert found.headers["location"] == f"/lots/{story.lot}"
    scanned = await client.get("/search", params={
        "q": f"http://x.example/lots/{story.lot}?c={story.code}"})
    assert scanned.headers["location"] == f"/lots/{story.lot}?c={story.code}"


async def test_entry_page_links_to_its_lot(ledger: Ledger, client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    index = int(story.lot[1:])
    response = await client.get(f"/entries/{index}")
    assert f'href="/lots/{story.lot}"' in response.text


async def test_donor_page_shows_hearts_gifts_and_journeys(ledger: Ledger,
                                                          client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    response = await client.get(f"/members/{story.donor}?lang=en")
    assert response.status_code == 200
    page = response.text
    assert 'data-testid="hearts-total">17,500<' in page  # 12,500 g + 5,000 fen at rate 1
    assert '<svg class="chart"' in page
    assert page.count('class="gift"') == 2
    assert "12.5 kg" in page and "¥50.00" in page
    assert f'href="/lots/{story.lot}"' in page
    assert "Delivered 10 kg · lost 500 g · still held 2 kg" in page
    assert "delivery van" in page and "¥30.00 / ¥30.00" in page
    assert "Not spent yet: ¥20.00" in page
    # A charity's address falls back to the account page.
    charity = await client.get(f"/members/{story.charity}")
    assert charity.status_code == 200 and "hearts-total" not in charity.text
