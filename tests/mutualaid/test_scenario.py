"""A plan through two periods: joins, waiting, cases with objections, apportionment, proofs."""

from __future__ import annotations

from datetime import date

from msgspec.structs import replace

from heartchain.keys import address_of
from heartchain.ledger.verify import verify_log
from heartchain.mutualaid import services
from heartchain.mutualaid.models import Membership
from tests.conftest import Ledger
from tests.mutualaid.factories import (
    RULES,
    advance,
    approved_case,
    investigator,
    make_plan,
    members,
    noticed_case,
)


async def test_two_periods_share_exactly_and_verify(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await make_plan(ledger, rules=replace(RULES, min_prepay_fen=500))
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000] * 5 + [700] * 2)
    advance(ledger, 91)
    late = await members(ledger, plan, [5_000])  # still waiting: pays nothing
    # Case 1: objected to, reviewed, approved.
    c1 = await noticed_case(ledger, plan, keys[0], inv, asked=1_000, case="c1")
    await services.object_case(platform, case=c1, member=keys[1], reason="identity",
                               note="saw them at work")
    advance(ledger, 8)
    await services.review_case(platform, case=c1, reviewer=inv, findings="hospital records",
                               outcome="dismissed")
    await services.decide_case(platform, case=c1, operator=ledger.operator, decision="approve",
                               amount_fen=1_000)
    c2 = await approved_case(ledger, plan, keys[2], inv, asked=2_001, case="c2")
    appended = await services.apportion_period(platform, plan=plan, operator=ledger.operator)
    period = await services.find_period(plan, 1)
    assert period is not None and period.idx == appended.index
    # payouts 3001, fee floor(3001 * 0.08) = 240, 7 covered members: floor(3241 / 7) = 463
    assert (period.payouts_fen, period.fee_fen, period.members) == (3_001, 240, 7)
    assert period.share_fen == 463 and period.collected_fen == 463 * 7
    assert period.carry_fen == 3_241 - 463 * 7 == 0
    shares = await services.shares_in(period.idx)
    assert sum(shares.values()) == period.collected_fen and len(shares) == 7
    assert address_of(late[0]) not in shares
    for key in keys:
        proof = await services.share_proof(period.idx, address_of(key))
        proof.verify()
        stored = await platform.log.get_entry(period.idx)
        assert stored.entry.body["share_root"] == proof.root.hex()
    assert {c.id for c in await services.cases_of_period(period)} == {c1, c2}

    # Period 2: a larger case; the 700-fen members run out and lapse.
    advance(ledger, 70)
    c3 = await approved_case(ledger, plan, keys[3], inv, asked=9_000, case="c3")
    await services.apportion_period(platform, plan=plan, operator=ledger.operator)
    second = await services.find_period(plan, 2)
    assert second is not None
    # 8 covered now (the late joiner is past its wait); cap 300 per member per case binds.
    assert second.members == 8 and second.share_fen == 300
    assert second.payouts_fen == 9_000 and second.fee_fen == 720
    # six pay the share; the two 700-fen members pay their last 237 fen and lapse
    assert second.collected_fen == 6 * 300 + 2 * 237 and second.lapsed == 2
    assert second.carry_fen == 9_720 - second.collected_fen
    poor = await Membership.get(id=f"{plan}:{address_of(keys[5])}")
    assert (poor.balance_fen, poor.status) == (0, "lapsed")
    assert [c.id for c in await services.cases_of_period(second)] == [c3]
    for m in await Membership.filter(plan=plan):
        assert m.balance_fen >= 0
        assert m.prepaid_fen == m.balance_fen + m.shared_fen
    history = await services.shares_of(plan, address_of(keys[0]))
    assert [p.number for p, _ in history] == [1, 2]
    assert [proof.share_fen for _, proof in history] == [463, 300]
    for _, proof in history:
        proof.verify()
    # Leaving and joining again moves the member's join position; their old proofs still come
    # from the join that was in force in each period.
    await services.leave_plan(platform, plan=plan, member=keys[4])
    await services.join_plan(platform, plan=plan, member=keys[4], prepay_fen=5_000,
                             birth_date=date(1990, 1, 1))
    again = await services.shares_of(plan, address_of(keys[4]))
    assert [(p.number, proof.share_fen) for p, proof in again] == [(1, 463), (2, 300)]
    for _, proof in again:
        proof.verify()
    report = await verify_log(platform.log)
    assert report.projection_rows["ma_share_page"] == 2  # one page of leaves a period
