"""Disclosure of campaigns that hold goods and no cash, of quarters with no entries, and of
quarters outside the campaign's life: a report (zero cash rows) or a typed refusal, never a 404
for a campaign that exists."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx
import pytest

from heartchain.ledger.entries import format_time
from tests import factories as common
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast
from tracing import disclosure, services
from tracing.errors import QuarterOutOfRange, UnknownCampaign


def _quarter(now: datetime, shift_quarters: int = 0) -> str:
    name = disclosure.quarter_of(format_time(now))
    for _ in range(shift_quarters):
        name = disclosure.quarter_after(name)
    return name


async def _goods_story(ledger: Ledger, cast: Cast) -> dict[str, int]:
    """Rice and saplings, no cash: some delivered, some lost, the rest held or undispatched."""
    platform = ledger.platform
    await common.campaign(ledger, cast.charity, "green-2026", category="trees", unit="trees",
                          goal=500)
    rice = await f.donate(ledger, cast.charity, cast.donor, "food", 12_500, "green-2026")
    saplings = await f.donate(ledger, cast.charity, cast.donor, "tree", 30, "green-2026")
    more = await f.donate(ledger, cast.charity, cast.donor, "tree", 5, "green-2026")
    bag = await services.create_lot(platform, charity=cast.charity, goods="大米 rice",
                                    quantity=12_500, unit="grams", custodian=cast.charity,
                                    donation=rice)
    trees = await services.create_lot(platform, charity=cast.charity, goods="poplar saplings",
                                      quantity=30, unit="trees", custodian=cast.charity,
                                      donation=saplings)
    handed = await services.deliver_lot(platform, by=cast.charity, lot=bag.id, quantity=10_000,
                                        place="school", beneficiary="A")
    lost = await services.record_loss(platform, by=cast.charity, lot=trees.id, quantity=4,
                                      reason="damaged")
    return {"rice": rice, "saplings": saplings, "more": more, "handed": handed.index,
            "lost": lost.index}


async def test_a_goods_only_campaign_has_a_report(ledger: Ledger, cast: Cast,
                                                 client: httpx.AsyncClient) -> None:
    story = await _goods_story(ledger, cast)
    answer = await client.get("/campaigns/green-2026/disclosure.json")
    assert answer.status_code == 200, answer.text
    (q,) = [q for q in answer.json()["quarters"]
            if q["quarter"] == _quarter(ledger.platform.clock.now())]
    assert (q["raised"], q["reversed"], q["spent"]) == ({"amount": 0, "count": 0, "entries": []},
                                                        ) * 3
    assert (q["opening_balance"], q["closing_balance"], q["spent_by_purpose"]) == (0, 0, [])
    assert [(g["item"], g["unit"], g["quantity"], g["entries"]) for g in q["goods_received"]] == [
        ("food", "grams", 12_500, [story["rice"]]),
        ("tree", "trees", 35, [story["saplings"], story["more"]])]
    assert [(g["item"], g["quantity"], g["entries"]) for g in q["goods_distributed"]] == [
        ("大米 rice", 10_000, [story["handed"]])]
    assert [(g["item"], g["unit"], g["quantity"], g["entries"]) for g in q["goods_lost"]] == [
        ("poplar saplings", "trees", 4, [story["lost"]])]
    # held in lots (by the lot's goods) and gifts not yet put into a lot (by the gift's kind),
    # each listing the origins (gift entries) its units came from
    assert [(g["item"], g["unit"], g["quantity"], g["entries"]) for g in q["goods_in_stock"]] == [
        ("poplar saplings", "trees", 26, [story["saplings"]]),
        ("tree", "trees", 5, [story["more"]]),
        ("大米 rice", "grams", 2_500, [story["rice"]])]
    page = await client.get("/campaigns/green-2026/disclosure?lang=en")
    assert page.status_code == 200 and "poplar saplings" in page.text
    text = (await client.get("/campaigns/green-2026/disclosure.csv")).text
    report = await disclosure.campaign_report(
        await disclosure.find_subject("green-2026"), now=ledger.platform.clock.now())
    assert disclosure.parse_csv(text, campaign="green-2026", charity=cast.charity) == report


async def test_stock_carries_into_quarters_without_entries(ledger: Ledger, cast: Cast) -> None:
    story = await _goods_story(ledger, cast)
    platform = ledger.platform
    first = _quarter(platform.clock.now())
    platform.clock.advance(timedelta(days=200))  # two quarters on, nothing recorded
    report = await disclosure.campaign_report(await disclosure.find_subject("green-2026"),
                                              now=platform.clock.now())
    later = [q for q in report.quarters if q.quarter > first]
    assert len(later) >= 2
    for q in later:
        assert (q.raised.count, q.spent.count, q.goods_received, q.goods_distributed,
                q.goods_lost) == (0, 0, [], [], [])
        assert [(g.item, g.quantity) for g in q.goods_in_stock] == [
            ("poplar saplings", 26), ("tree", 5), ("大米 rice", 2_500)]
    # and a later gift of the undispatched saplings put into a lot moves them between rows
    platform.clock.advance(timedelta(days=1))
    await services.create_lot(platform, charity=cast.charity, goods="poplar saplings",
                              quantity=5, unit="trees", custodian=cast.charity,
                              donation=story["more"])
    report = await disclosure.campaign_report(await disclosure.find_subject("green-2026"),
                                              now=platform.clock.now())
    assert [(g.item, g.quantity, g.entries) for g in report.quarters[-1].goods_in_stock] == [
        ("poplar saplings", 31, [story["saplings"], story["more"]]),
        ("大米 rice", 2_500, [story["rice"]])]


async def test_a_declared_campaign_without_entries_reports_zeros(
        ledger: Ledger, cast: Cast, client: httpx.AsyncClient) -> None:
    starts = ledger.platform.clock.now() - timedelta(days=120)
    await common.campaign(ledger, cast.charity, "quiet-2026", starts=format_time(starts))
    answer = await client.get("/campaigns/quiet-2026/disclosure.json")
    assert answer.status_code == 200, answer.text
    quarters = answer.json()["quarters"]
    assert quarters[0]["quarter"] == disclosure.quarter_of(format_time(starts))
    assert quarters[-1]["quarter"] == _quarter(ledger.platform.clock.now())
    assert all(q["raised"]["amount"] == q["closing_balance"] == 0 and not q["goods_in_stock"]
               for q in quarters)
    one = await client.get("/campaigns/quiet-2026/disclosure.json",
                           params={"quarter": quarters[0]["quarter"]})
    assert [q["quarter"] for q in one.json()["quarters"]] == [quarters[0]["quarter"]]


async def test_a_quarter_outside_the_campaign_is_refused(ledger: Ledger, cast: Cast,
                                                        client: httpx.AsyncClient) -> None:
    now = ledger.platform.clock.now()
    await common.campaign(ledger, cast.charity, "late-2026", starts=format_time(now))
    before = disclosure.quarter_of(format_time(now - timedelta(days=100)))
    subject = await disclosure.find_subject("late-2026")
    with pytest.raises(QuarterOutOfRange, match=f"starts in {_quarter(now)}"):
        await disclosure.campaign_report(subject, now=now, quarter=before)
    with pytest.raises(QuarterOutOfRange, match="has not begun"):
        await disclosure.campaign_report(subject, now=now, quarter=_quarter(now, 1))
    answer = await client.get("/campaigns/late-2026/disclosure.json", params={"quarter": before})
    assert answer.status_code == 400 and "starts in" in answer.text
    with pytest.raises(UnknownCampaign):
        await disclosure.find_subject("never-declared")
    assert (await client.get("/campaigns/never-declared/disclosure")).status_code == 404
