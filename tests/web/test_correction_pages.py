"""Corrected entries on the pages: the original struck through, the correction beside it."""

from __future__ import annotations

import httpx

from heartchain.corrections.services import correct
from tests.conftest import Ledger
from tests.web.factories import food_story
from tracing.models import Disbursement, LotEvent


async def test_pages_show_the_original_struck_through(ledger: Ledger,
                                                      client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    platform = ledger.platform
    fixed = await correct(platform, entry=story.cash, values={"quantity": 4_000},
                          reason="wrong_amount", note="typed 50 for 40")
    paid = await Disbursement.get(campaign_key=f"winter-2026@{story.charity}")
    renamed = await correct(platform, entry=paid.idx, values={"payee": "Van Hire Co"},
                            reason="wrong_party")

    page = (await client.get(f"/entries/{story.cash}?lang=en")).text
    assert 'data-testid="corrections"' in page
    assert '<del class="corrected-was">5000</del> <ins class="corrected-now">4000</ins>' in page
    assert f'href="/entries/{fixed.index}"' in page and "typed 50 for 40" in page

    page = (await client.get(f"/entries/{fixed.index}?lang=en")).text
    assert 'data-testid="correction"' in page
    assert f"Corrects entry #{story.cash} (donation.record)" in page

    page = (await client.get(f"/members/{story.donor}?lang=en")).text
    assert '<del class="corrected-was">¥50.00</del> <ins class="corrected-now">¥40.00</ins>' in page
    assert ('<del class="corrected-was">Van Rentals Ltd</del> '
            '<ins class="corrected-now">Van Hire Co</ins>') in page

    response = await client.get("/campaigns/winter-2026/ledger?lang=en")
    assert response.status_code == 200
    page = response.text
    assert '<del class="corrected-was">¥50.00</del> <ins class="corrected-now">¥40.00</ins>' in page
    assert f'href="/entries/{renamed.index}"' in page
    assert "Donated ¥40.00 · reversed ¥0.00 · disbursed ¥30.00 · balance ¥10.00" in page
    assert (await client.get("/campaigns/no-such/ledger")).status_code == 404


async def test_lot_page_shows_a_corrected_handover(ledger: Ledger,
                                                   client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    handover = await LotEvent.get(lot_id=story.lot, action="handover")
    await correct(ledger.platform, entry=handover.idx, values={"place": "Depot north gate"},
                  reason="wrong_place")
    page = (await client.get(f"/lots/{story.lot}?lang=en")).text
    assert ('<del class="corrected-was">Depot gate</del> '
            '<ins class="corrected-now">Depot north gate</ins>') in page
