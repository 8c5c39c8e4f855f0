"""Pay for success: cash is held until the validator attests the outcome; beyond the released
amount nothing is spent; after the deadline the rest goes back to the donors, exact to the fen."""

from __future__ import annotations

import json
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tortoise import connections

from heartchain.corrections.errors import CorrectionRefused
from heartchain.corrections.services import correct
from heartchain.errors import PermissionDenied
from heartchain.finance import exports
from heartchain.ledger.entries import format_time
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.factories import campaign
from tests.finance.test_exports import read_csv, read_xlsx
from tests.tracing import factories as f
from tests.tracing.conftest import Cast
from tokens import services as hearts
from tokens.entries import score_at
from tokens.models import HeartDonation
from tokens.services import set_heart_rates
from tracing import disclosure, services
from tracing.campaign_models import CampaignEscrow, CampaignRefund
from tracing.campaign_services import attest_outcome, refund_campaign
from tracing.errors import (
    AlreadySpent,
    CampaignClosed,
    InsufficientFunds,
    NotReleased,
    OutcomeClosed,
)
from tracing.escrow import apportion
from tracing.models import Campaign
from tracing.statements import CST


async def _escrowed(ledger: Ledger, cast: Cast, slug: str = "cure", days: int = 30) -> None:
    deadline = format_time(ledger.platform.clock.now() + timedelta(days=days))
    await campaign(ledger, cast.charity, slug, category="medical", validator=cast.school,
                   outcome_deadline=deadline)


async def _spend(ledger: Ledger, cast: Cast, amount: int, slug: str = "cure") -> None:
    await services.disburse(ledger.platform, charity=cast.charity, campaign=slug, amount=amount,
                            payee="Clinic", purpose="treatment", receipt=f.digest())


async def test_cash_is_held_until_the_validator_releases_it(ledger: Ledger, cast: Cast) -> None:
    await _escrowed(ledger, cast)
    await f.donate(ledger, cast.charity, cast.donor, "cash", 10_000, "cure")
    with pytest.raises(NotReleased, match="0 fen released"):
        await _spend(ledger, cast, 1)
    with pytest.raises(PermissionDenied, match="validator is"):  # only the named validator
        await attest_outcome(ledger.platform, validator=cast.driver, charity=cast.charity,
                             slug="cure", evidence=f.digest(), amount=100)
    await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                         slug="cure", evidence=f.digest("outcome report"), amount=4_000)
    await _spend(ledger, cast, 3_000)
    with pytest.raises(NotReleased, match="1000 left to spend"):
        await _spend(ledger, cast, 1_001)
    await _spend(ledger, cast, 1_000)
    await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                         slug="cure", evidence=f.digest("all done"))  # all of it
    await _spend(ledger, cast, 6_000)
    with pytest.raises(OutcomeClosed):
        await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                             slug="cure", evidence=f.digest())
    escrow = await CampaignEscrow.get(key=f"cure@{cast.charity}")
    assert (escrow.released, escrow.released_all, escrow.attestations) == (4_000, True, 2)
    await verify_log(ledger.platform.log)


async def test_after_the_deadline_the_rest_is_refunded_pro_rata(ledger: Ledger,
                                                               cast: Cast) -> None:
    await _escrowed(ledger, cast, days=10)
    other = await f.account(ledger)
    gifts = [await f.donate(ledger, cast.charity, cast.donor, "cash", 1_000, "cure"),
             await f.donate(ledger, cast.charity, other, "cash", 2_000, "cure"),
             await f.donate(ledger, cast.charity, other, "cash", 1, "cure")]
    await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                         slug="cure", evidence=f.digest(), amount=1_000)
    await _spend(ledger, cast, 1_000)
    with pytest.raises(OutcomeClosed, match="not before"):
        await refund_campaign(ledger.platform, by=cast.charity, charity=cast.charity,
                              slug="cure")
    ledger.platform.clock.advance(timedelta(days=10, minutes=1))
    with pytest.raises(CampaignClosed):  # no gift after the deadline
        await f.donate(ledger, cast.charity, cast.donor, "cash", 5, "cure")
    with pytest.raises(OutcomeClosed, match="deadline"):
        await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                             slug="cure", evidence=f.digest(), amount=1)
    with pytest.raises(PermissionDenied):
        await refund_campaign(ledger.platform, by=cast.driver, charity=cast.charity,
                              slug="cure")
    await refund_campaign(ledger.platform, by=cast.school, charity=cast.charity, slug="cure")
    refunds = {r.donation_idx: r.amount for r in await CampaignRefund.all()}
    # 2,001 fen left of 3,001: 666.78, 1,333.56, 0.67 → 666, 1,333, 0, and the 2 fen left go
    # to the largest remainders (2,334 and 2,001 of 3,001): the first and the third gift.
    assert refunds == {gifts[0]: 667, gifts[1]: 1_333, gifts[2]: 1}
    assert sum(refunds.values()) == 2_001
    assert (await Campaign.get(slug="cure")).balance == 0
    with pytest.raises(OutcomeClosed):
        await refund_campaign(ledger.platform, by=cast.charity, charity=cast.charity,
                              slug="cure")
    with pytest.raises(AlreadySpent, match="refunded"):
        await f.reverse(ledger, cast.charity, gifts[2])
    await verify_log(ledger.platform.log)


def test_the_remainder_rule_breaks_ties_by_entry_index() -> None:
    assert apportion(2, [(9, 1), (3, 1), (5, 1)]) == {3: 1, 5: 1}
    assert apportion(0, [(1, 5)]) == {}
    assert apportion(5, [(1, 5)]) == {1: 5}
    with pytest.raises(ValueError):
        apportion(6, [(1, 5)])


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(min_value=1, max_value=10**9), min_size=1, max_size=40),
       st.data())
def test_refund_shares_are_exact_and_never_exceed_a_gift(amounts: list[int],
                                                         data: st.DataObject) -> None:
    total = sum(amounts)
    remaining = data.draw(st.integers(min_value=0, max_value=total))
    gifts = list(enumerate(amounts))
    shares = apportion(remaining, gifts)
    assert sum(shares.values()) == remaining
    for idx, share in shares.items():
        assert 0 < share <= amounts[idx]
        exact = remaining * amounts[idx] / total
        assert abs(share - exact) < 1 + 1e-9  # within a fen of the exact pro-rata share


@pytest.mark.parametrize("ledger", ["sqlite"], indirect=True)
@settings(max_examples=8, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(gifts=st.lists(st.integers(min_value=1, max_value=50_000), min_size=1, max_size=6),
       releases=st.lists(st.integers(min_value=1, max_value=60_000), max_size=3),
       spend=st.integers(min_value=1, max_value=100_000))
async def test_release_and_refund_sums_are_exact(ledger: Ledger, gifts: list[int],
                                                 releases: list[int], spend: int) -> None:
    platform = ledger.platform
    charity = await f.account(ledger, "charity")
    validator = await f.account(ledger, "partner")
    donor = await f.account(ledger)
    slug = f"p{await f.size(ledger)}"
    await campaign(ledger, charity, slug, validator=validator,
                   outcome_deadline=format_time(platform.clock.now() + timedelta(hours=1)))
    for amount in gifts:
        await f.donate(ledger, charity, donor, "cash", amount, slug)
    for amount in releases:
        await attest_outcome(platform, validator=validator, charity=charity, slug=slug,
                             evidence=f.digest(), amount=amount)
    released = sum(releases)
    try:
        await services.disburse(platform, charity=charity, campaign=slug, amount=spend,
                                payee="p", purpose="q", receipt=f.digest())
        spent = spend
    except (NotReleased, InsufficientFunds):  # beyond what was released, or what was given
        spent = 0
    assert spent <= min(released, sum(gifts))
    platform.clock.advance(timedelta(hours=1, minutes=1))
    await refund_campaign(platform, by=charity, charity=charity, slug=slug)
    key = f"{slug}@{charity}"
    refunded = sum(r.amount for r in await CampaignRefund.filter(campaign_key=key))
    assert spent + refunded == sum(gifts)  # every fen either spent or back with its donor
    assert (await CampaignEscrow.get(key=key)).refunded == refunded
    # Each refunded share burns floor(hearts * share / net) of its gift's hearts: exact sums,
    # never more than the gifts minted, and verify rebuilds the same score.
    shares = {r.donation_idx: r.amount for r in await CampaignRefund.filter(campaign_key=key)}
    gifts_rows = await HeartDonation.filter(donor=donor)
    minted = sum(g.hearts for g in gifts_rows)
    burned = sum(g.hearts * shares.get(g.idx, 0) // g.quantity for g in gifts_rows)
    assert sum(g.refund_hearts or 0 for g in gifts_rows) == burned
    score = await hearts.score(donor)
    assert (score.minted, score.burned, score.total) == (minted, burned, minted - burned)
    assert 0 <= burned <= minted
    await verify_log(platform.log)


async def test_donors_see_each_step(ledger: Ledger, cast: Cast,
                                    client: httpx.AsyncClient) -> None:
    await _escrowed(ledger, cast, days=1)
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000, "cure")
    attested = await attest_outcome(ledger.platform, validator=cast.school,
                                    charity=cast.charity, slug="cure", evidence=f.digest(),
                                    amount=1_000)
    page = (await client.get("/campaigns/cure?lang=en")).text
    assert "Pay for success" in page and 'data-testid="released">¥10.00' in page
    assert f'href="/entries/{attested.index}"' in page
    donor = (await client.get(f"/members/{cast.donor}?lang=en")).text
    held = donor.split('data-testid="escrow-held"')[1].split("</li>")[0]
    assert "Held until the validator attests the outcome" in held and cast.school in held
    released = donor.split('data-testid="escrow-released"')[1].split("</li>")[0]
    assert "¥10.00 released so far" in released
    assert f'href="/entries/{attested.index}"' in released
    assert f'data-verify-entry="{attested.index}"' in released
    assert 'data-testid="escrow-refunded"' not in donor
    ledger.platform.clock.advance(timedelta(days=1, minutes=1))
    refund = await refund_campaign(ledger.platform, by=cast.charity, charity=cast.charity,
                                   slug="cure")
    page = (await client.get("/campaigns/cure?lang=en")).text
    assert 'data-testid="refunded">¥30.00' in page and f"gift #{gift}: ¥30.00 back" in page
    donor = (await client.get(f"/members/{cast.donor}?lang=en")).text
    refunded = donor.split('data-testid="escrow-refunded"')[1].split("</li>")[0]
    assert "¥30.00 refunded pro rata" in refunded and f'href="/entries/{refund.index}"' in refunded
    assert "3,000 hearts taken back" in refunded
    assert f'data-verify-entry="{refund.index}"' in refunded
    assert 'data-testid="hearts-total">0<' in donor  # the refunded gift's hearts are burned


async def test_a_refund_burns_the_hearts_of_each_refunded_share(ledger: Ledger,
                                                                 cast: Cast) -> None:
    """The refunded donor did not, in the end, give that cash: floor(hearts * refunded / net)
    hearts of each gift are burned, and every reader of the score agrees."""
    await set_heart_rates(ledger.platform, ledger.operator,
                          {"cash": (3, 7), "food": (1, 1), "tree": (1, 1)})
    await _escrowed(ledger, cast, days=1)
    other = await f.account(ledger)
    gifts = {await f.donate(ledger, cast.charity, cast.donor, "cash", 1_000, "cure"): cast.donor,
             await f.donate(ledger, cast.charity, other, "cash", 2_001, "cure"): other,
             await f.donate(ledger, cast.charity, cast.donor, "food", 500, "cure"): cast.donor}
    await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                         slug="cure", evidence=f.digest(), amount=1_000)
    await _spend(ledger, cast, 1_000)
    before = {a: await hearts.score(a) for a in (cast.donor, other)}
    ledger.platform.clock.advance(timedelta(days=1, minutes=1))
    refund = await refund_campaign(ledger.platform, by=cast.charity, charity=cast.charity,
                                   slug="cure")
    shares = {r.donation_idx: r.amount for r in await CampaignRefund.all()}
    burns: dict[str, int] = {cast.donor: 0, other: 0}
    for idx, share in shares.items():
        gift = await HeartDonation.get(idx=idx)
        assert gift.kind == "cash"
        expected = gift.hearts * share // gift.quantity
        assert (gift.refund_idx, gift.refund_hearts) == (refund.index, expected)
        assert expected <= gift.hearts
        burns[gifts[idx]] += expected
    assert sum(burns.values()) > 0
    for address, burned in burns.items():
        now = await hearts.score(address)
        assert now.total == before[address].total - burned
        assert now.burned == before[address].burned + burned
        assert now.by_kind["cash"] == before[address].by_kind["cash"] - burned
        assert now.reversals == before[address].reversals  # a refund share is not a reversal
        size = await ledger.platform.log.size()
        assert await score_at(connections.get("default"), address, size) == now.total
        assert await score_at(connections.get("default"), address, refund.index) == (
            before[address].total)  # the log prefix before the refund still had them
        assert sum(k.hearts for k in await hearts.breakdown(address)) == now.total
    # The refund burned hearts for what the gift was then: its amount is settled.
    first = next(iter(shares))
    with pytest.raises(CorrectionRefused, match="refunded"):
        await correct(ledger.platform, entry=first, values={"quantity": 10},
                      reason="wrong_amount")
    await verify_log(ledger.platform.log)
    assert (await hearts.score(cast.donor)).total == before[cast.donor].total - burns[cast.donor]


async def test_the_export_of_a_refunded_campaign_has_a_row_per_share(
        ledger: Ledger, cast: Cast, monkeypatch: pytest.MonkeyPatch) -> None:
    await _escrowed(ledger, cast, days=1)
    donors = [await f.account(ledger) for _ in range(5)]
    gifts = [await f.donate(ledger, cast.charity, d, "cash", 1_000 + n, "cure")
             for n, d in enumerate(donors)]
    await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                         slug="cure", evidence=f.digest(), amount=1_001)
    await _spend(ledger, cast, 1_001)
    ledger.platform.clock.advance(timedelta(days=1, minutes=1))
    refund = await refund_campaign(ledger.platform, by=cast.charity, charity=cast.charity,
                                   slug="cure")
    shares = {r.donation_idx: r for r in await CampaignRefund.all()}
    monkeypatch.setattr(exports, "PAGE", 2)  # five shares of one entry span three pages
    query = exports.Query(cast.charity, campaign="cure")
    for read, chunks in ((read_csv, exports.csv_chunks), (read_xlsx, exports.xlsx_chunks)):
        rows = read(b"".join([piece async for piece in chunks(query)]))
        refunds = [r for r in rows if r["type"] == "refund"]
        assert [r["donation_index"] for r in refunds] == sorted(shares) == gifts
        for row in refunds:
            share = shares[row["donation_index"]]
            assert (row["index"], row["time"], row["campaign"], row["donor"], row["kind"],
                    row["quantity"], row["unit"], row["amount_fen"], row["reason"]) == (
                refund.index, share.at, "cure", share.donor, "cash", share.amount, "fen",
                -share.amount, "outcome_not_attested")
        assert rows[-len(refunds):] == refunds  # in log order: the refund entry comes last
        cash = sum(r["amount_fen"] for r in rows if r["amount_fen"] is not None)
        assert cash == (await Campaign.get(slug="cure")).balance == 0


async def test_disclosure_and_the_campaign_page_account_for_the_refund(
        ledger: Ledger, cast: Cast, client: httpx.AsyncClient) -> None:
    """raised − reversed − refunded − spent = balance, on the page and in each quarter."""
    await _escrowed(ledger, cast, days=1)
    gifts = [await f.donate(ledger, cast.charity, cast.donor, "cash", q, "cure")
             for q in (4_000, 2_500)]
    reversed_idx = await f.reverse(ledger, cast.charity, gifts[1])
    await f.donate(ledger, cast.charity, cast.donor, "cash", 1_500, "cure")
    await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                         slug="cure", evidence=f.digest(), amount=2_000)
    await _spend(ledger, cast, 2_000)
    ledger.platform.clock.advance(timedelta(days=1, minutes=1))
    refund = await refund_campaign(ledger.platform, by=cast.charity, charity=cast.charity,
                                   slug="cure")
    row = await Campaign.get(slug="cure")
    report = await disclosure.campaign_report(await disclosure.find_subject("cure", cast.charity),
                                              now=ledger.platform.clock.now())
    raised = sum(q.raised.amount for q in report.quarters)
    refunded = [q.refunded for q in report.quarters if q.refunded.count]
    assert [(r.amount, r.count, r.entries) for r in refunded] == [(3_500, 2, [refund.index])]
    last = report.quarters[-1]
    assert last.closing_balance == row.balance == 0
    for q in report.quarters:
        assert q.closing_balance == (q.opening_balance + q.raised.amount - q.reversed.amount
                                     - q.refunded.amount - q.spent.amount)
    assert raised == 8_000 and sum(q.reversed.amount for q in report.quarters) == 2_500
    document = json.loads(disclosure.report_json(report))
    assert sum(q["refunded"]["amount"] for q in document["quarters"]) == 3_500
    assert disclosure.parse_csv(disclosure.report_csv(report), campaign="cure",
                                charity=cast.charity) == report
    page = (await client.get("/campaigns/cure?lang=en")).text
    assert 'data-testid="donated">¥80.00' in page and 'data-testid="disbursed">¥20.00' in page
    assert 'data-testid="cash-refunded">¥35.00' in page and 'data-testid="balance">¥0.00' in page
    assert "<dd>¥25.00</dd>" in page  # reversed, by entry
    assert reversed_idx in [e for q in report.quarters for e in q.reversed.entries]


async def test_the_year_end_statement_shows_the_refunded_share(
        ledger: Ledger, cast: Cast, client: httpx.AsyncClient) -> None:
    await _escrowed(ledger, cast, days=1)
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 5_000, "cure")
    await attest_outcome(ledger.platform, validator=cast.school, charity=cast.charity,
                         slug="cure", evidence=f.digest(), amount=2_000)
    await _spend(ledger, cast, 2_000)
    given = ledger.platform.clock.now().astimezone(CST).date()  # fiscal years are in CST
    ledger.platform.clock.advance(timedelta(days=1, minutes=1))
    refund = await refund_campaign(ledger.platform, by=cast.charity, charity=cast.charity,
                                   slug="cure")
    page = (await client.get(f"/members/{cast.donor}/statement",
                             params={"from": f"{given.year}-01-01", "lang": "en"})).text
    assert f'<tr data-index="{gift}" data-statuses="recorded disbursed refunded"' in page
    assert f"¥30.00 refunded pro rata (entry #{refund.index})" in page
    assert "Cash: 1 gifts, net ¥20.00, 2,000 hearts" in page
