"""Disclosure reports: each figure is the sum of the entries it lists, balances chain from
quarter to quarter, corrections count, and the JSON and CSV read back as what was written."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import httpx

from heartchain.corrections.services import correct
from heartchain.ledger.entries import format_time
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast
from tracing import disclosure, services
from tracing.models import Campaign, Disbursement, LotEvent, OriginFlow, TracedDonation


def _into_next_quarter(now: datetime) -> timedelta:
    """How far to move the clock to be ten days into the next CST quarter."""
    _, start = disclosure.quarter_bounds(disclosure.quarter_of(format_time(now)))
    moment = datetime.fromisoformat(start).replace(tzinfo=disclosure.CST)
    return moment - now + timedelta(days=10)


async def _story(ledger: Ledger, cast: Cast) -> dict[str, int]:
    """Two quarters of one campaign: gifts, a refund, spending, goods in and out, a fix."""
    platform = ledger.platform
    d1 = await f.donate(ledger, cast.charity, cast.donor, "cash", 5_000)
    d2 = await f.donate(ledger, cast.charity, cast.donor, "cash", 2_000)
    rice = await f.donate(ledger, cast.charity, cast.donor, "food", 12_500)
    lot = await services.create_lot(platform, charity=cast.charity, goods="大米 rice",
                                    quantity=12_500, unit="grams", custodian=cast.charity,
                                    donation=rice)
    delivered = await services.deliver_lot(platform, by=cast.charity, lot=lot.id,
                                           quantity=10_000, place="school", beneficiary="A")
    van = await services.disburse(platform, charity=cast.charity, campaign="winter-2026",
                                  amount=3_000, payee="Vans", purpose="=delivery van",
                                  receipt=f.digest())
    refund = await f.reverse(ledger, cast.charity, d2)
    platform.clock.advance(_into_next_quarter(platform.clock.now()))
    d4 = await f.donate(ledger, cast.charity, cast.donor, "cash", 1_000)
    fixed = await correct(platform, entry=d1, values={"quantity": 4_500}, reason="wrong_amount")
    bags = await services.disburse(platform, charity=cast.charity, campaign="winter-2026",
                                   amount=2_500, payee="Shop", purpose="rice", receipt=f.digest())
    bought = await services.create_lot(platform, charity=cast.charity, goods="rice bags",
                                       quantity=40, unit="items", custodian=cast.charity,
                                       receipt=bags.receipt, disbursement=bags.idx)
    handed = await services.deliver_lot(platform, by=cast.charity, lot=bought.id, quantity=40,
                                        place="village", beneficiary="B")
    return {"d1": d1, "d2": d2, "rice": rice, "delivered": delivered.index, "van": van.idx,
            "refund": refund, "d4": d4, "fixed": fixed.index, "bags": bags.idx,
            "handed": handed.index}


async def _report(ledger: Ledger, cast: Cast) -> disclosure.Report:
    subject = await disclosure.find_subject("winter-2026", cast.charity)
    return await disclosure.campaign_report(subject, now=ledger.platform.clock.now())


async def test_figures_are_the_sums_of_their_entries(ledger: Ledger, cast: Cast) -> None:
    story = await _story(ledger, cast)
    report = await _report(ledger, cast)
    first, second = report.quarters[-2:]  # the campaign opened in 2020; its gifts are in these
    assert disclosure.quarter_of("2026-12-31T16:30:00.000Z") == "2027-Q1"  # CST
    assert (first.raised.entries, second.raised.entries) == ([story["d1"], story["d2"]],
                                                            [story["d4"]])
    assert first.raised.amount == 4_500 + 2_000  # the corrected amount
    assert first.reversed.entries == [story["refund"]] and first.reversed.amount == 2_000
    assert [(p.purpose, p.amount, p.entries) for p in first.spent_by_purpose] == [
        ("=delivery van", 3_000, [story["van"]])]
    assert [(g.item, g.unit, g.quantity, g.entries) for g in first.goods_received] == [
        ("food", "grams", 12_500, [story["rice"]])]
    assert [(g.item, g.quantity, g.entries) for g in first.goods_distributed] == [
        ("大米 rice", 10_000, [story["delivered"]])]
    assert [(g.item, g.unit, g.quantity) for g in second.goods_distributed] == [
        ("rice bags", "items", 40)]
    assert first.corrections == [story["fixed"]] and second.corrections == []
    for q in report.quarters:  # every figure, recomputed from the rows of its entries
        donations = {d.idx: d for d in await TracedDonation.filter(idx__in=q.raised.entries)}
        assert q.raised.amount == sum(donations[i].quantity for i in q.raised.entries)
        assert all(disclosure.quarter_of(d.at) == q.quarter for d in donations.values())
        paid = {p.idx: p for p in await Disbursement.filter(idx__in=q.spent.entries)}
        assert q.spent.amount == sum(paid[i].amount for i in q.spent.entries)
        assert q.spent.amount == sum(p.amount for p in q.spent_by_purpose)
        for g in q.goods_distributed:
            flows = await OriginFlow.filter(idx__in=g.entries, action="deliver")
            assert g.quantity == sum(flow.quantity for flow in flows)
            events = await LotEvent.filter(idx__in=g.entries)
            assert all(disclosure.quarter_of(e.at) == q.quarter for e in events)
        assert q.closing_balance == (q.opening_balance + q.raised.amount - q.reversed.amount
                                     - q.spent.amount)
    assert second.opening_balance == first.closing_balance == 1_500
    campaign = await Campaign.get(key=f"winter-2026@{cast.charity}")
    assert second.closing_balance == campaign.balance == 0


async def test_json_and_csv_round_trip(ledger: Ledger, cast: Cast) -> None:
    await _story(ledger, cast)
    report = await _report(ledger, cast)
    document = json.loads(disclosure.report_json(report))
    assert document == disclosure.report_dict(report)
    assert document["format"] == "heartchain-disclosure/1"
    assert [q["from"] for q in document["quarters"]] == [
        disclosure.quarter_bounds(q.quarter)[0] for q in report.quarters]
    assert document["quarters"][0]["until"] == document["quarters"][1]["from"]
    text = disclosure.report_csv(report)
    assert "\"'=delivery van\"" in text  # escaped against formula injection
    assert disclosure.parse_csv(text, campaign=report.campaign, charity=report.charity) == report


async def test_disclosure_pages_and_downloads(ledger: Ledger, cast: Cast,
                                              client: httpx.AsyncClient) -> None:
    story = await _story(ledger, cast)
    page = await client.get("/campaigns/winter-2026/disclosure?lang=en")
    assert page.status_code == 200
    report = await _report(ledger, cast)
    assert all(f'data-quarter="{q.quarter}"' in page.text for q in report.quarters)
    assert f'href="/entries/{story["van"]}"' in page.text and "¥65.00" in page.text
    one = await client.get("/campaigns/winter-2026/disclosure.json",
                           params={"quarter": report.quarters[1].quarter})
    assert [q["quarter"] for q in one.json()["quarters"]] == [report.quarters[1].quarter]
    assert "attachment" in one.headers["content-disposition"]
    csv_text = (await client.get("/campaigns/winter-2026/disclosure.csv")).text
    assert csv_text.startswith('"quarter","section"')
    assert (await client.get("/campaigns/winter-2026/disclosure?quarter=Q5")).status_code == 400
    assert (await client.get("/campaigns/nope/disclosure.json")).status_code == 404
