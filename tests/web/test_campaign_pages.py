"""The public campaign pages: figures with their proof links, zh and en, and the index."""

from __future__ import annotations

import httpx

from tests.conftest import Ledger
from tests.factories import campaign
from tests.web.factories import food_story


async def test_campaign_page_shows_each_figure_with_its_proof(ledger: Ledger,
                                                              client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    page = await client.get("/campaigns/winter-2026?lang=en")
    assert page.status_code == 200, page.text
    html = page.text
    assert "winter-2026 campaign" in html  # the English title
    assert 'data-raised="5000"' in html and 'data-goal="1000000"' in html  # fen toward the goal
    assert "¥50.00 of ¥10,000.00 (0%)" in html
    assert f"/campaigns/winter-2026/ledger.csv?charity={story.charity}" in html
    assert 'data-testid="donors">1<' in html
    assert 'data-testid="disbursed">¥30.00<' in html and 'data-testid="balance">¥20.00<' in html
    assert "delivery van" in html and "Van Rentals Ltd" in html
    # Receipt hash and the entry with its proof, for the spending.
    from tracing.models import Disbursement

    spent = await Disbursement.get(campaign_key=f"winter-2026@{story.charity}")
    assert spent.receipt[:16] in html
    assert f'href="/entries/{spent.idx}"' in html and f"/entries/{spent.idx}/receipt" in html
    # Goods: 12.5 kg received, 10 kg delivered, 0.5 kg lost, 2 kg still held.
    assert 'data-testid="delivered">10 kg<' in html and 'data-testid="in-stock">2 kg<' in html
    assert f'href="/lots/{story.lot}"' in html
    assert f'href="/entries/{story.donation}"' in html and 'data-kind="donation"' in html
    assert "王小明" not in html and "13800000000" not in html  # no personal data
    zh = (await client.get("/campaigns/winter-2026?lang=zh")).text
    assert "winter-2026 活动" in zh and "已募集" in zh and "支出去向" in zh


async def test_an_unknown_or_ambiguous_slug(ledger: Ledger, client: httpx.AsyncClient) -> None:
    from tests.tracing.factories import account

    assert (await client.get("/campaigns/nothing-here")).status_code == 404
    a, b = await account(ledger, "charity", "A"), await account(ledger, "charity", "B")
    await campaign(ledger, a, "shared", title_en="A's shared")
    await campaign(ledger, b, "shared", title_en="B's shared")
    chooser = await client.get("/campaigns/shared?lang=en")
    assert chooser.status_code == 200
    assert f"/campaigns/shared?charity={a}" in chooser.text
    assert f"/campaigns/shared?charity={b}" in chooser.text
    one = await client.get(f"/campaigns/shared?charity={b}&lang=en")
    assert "B&#39;s shared" in one.text and "A&#39;s shared" not in one.text


async def test_each_charity_has_an_index_linked_from_home(ledger: Ledger,
                                                          client: httpx.AsyncClient) -> None:
    story = await food_story(ledger)
    await campaign(ledger, story.charity, "spring-trees", category="trees", unit="trees",
                   goal=500, title_en="Spring trees")
    index = await client.get(f"/charities/{story.charity}/campaigns?lang=en")
    assert index.status_code == 200
    assert 'data-slug="winter-2026"' in index.text and 'data-slug="spring-trees"' in index.text
    assert "Spring trees" in index.text and "0 trees of 500 trees (0%)" in index.text
    home = (await client.get("/?lang=en")).text
    assert f"/charities/{story.charity}/campaigns" in home
    assert f"/campaigns/winter-2026?charity={story.charity}" in home
    assert (await client.get(f"/charities/{story.donor}/campaigns")).status_code == 404
