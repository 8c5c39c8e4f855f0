"""Wind-down (closing.py, winddown.py): plan.close refuses joins and late top-ups, cases and
notices; periods go on as usual; plan.refund refunds every balance exactly, in batches; the
closing report balances; `verify` rebuilds it all."""

from __future__ import annotations

import itertools
from datetime import timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartchain.errors import Conflict, ValidationError
from heartchain.keys import address_of
from heartchain.ledger.verify import verify_log
from heartchain.mutualaid import services, winddown
from heartchain.mutualaid.closing import PlanClosed, PlanRefundBatch, Refund, operates_under
from heartchain.mutualaid.models import Membership, PlanClosing
from tests.conftest import Ledger, gql
from tests.mutualaid.factories import (
    RULES,
    advance,
    approved_case,
    investigator,
    make_plan,
    members,
    noticed_case,
)

_plans = itertools.count()


async def _close(ledger: Ledger, plan: str, notice_days: int = 30, claims_days: int = 20
                 ) -> None:
    p = ledger.platform
    await winddown.close_plan(p, operator=ledger.operator, plan=plan,
                              last_notice=p.clock.now() + timedelta(days=notice_days),
                              claims_days=claims_days)


async def test_close_refuses_joins_then_late_topups_cases_and_notices(ledger: Ledger) -> None:
    p = ledger.platform
    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000, 5_000, 5_000])
    advance(ledger, 91)
    await _close(ledger, plan, notice_days=30, claims_days=20)
    with pytest.raises(PlanClosed, match="no new members"):
        await members(ledger, plan, [5_000])
    with pytest.raises(PlanClosed, match="already being wound down"):
        await _close(ledger, plan)
    # before the last notice date: top-ups, cases and notices as usual; a period too
    await services.top_up(p, plan=plan, member=keys[0], amount_fen=1_000)
    case = await approved_case(ledger, plan, keys[0], inv, asked=3_000, case="c-during")
    await services.apportion_period(p, plan=plan, operator=ledger.operator, cases=[case])
    advance(ledger, 15)  # day 23: the claims window (20 days) is over
    with pytest.raises(PlanClosed, match="claims window"):
        await noticed_case(ledger, plan, keys[1], inv, case="c-late")
    advance(ledger, 10)  # day 33: past the last notice
    with pytest.raises(PlanClosed, match="no top-ups"):
        await services.top_up(p, plan=plan, member=keys[0], amount_fen=1_000)
    assert (await PlanClosing.get(plan=plan)).closed_idx is None
    await verify_log(p.log)


async def test_close_needs_the_operator_and_a_future_last_notice(ledger: Ledger) -> None:
    plan = await make_plan(ledger)
    keys = await members(ledger, plan, [2_000])
    p = ledger.platform
    with pytest.raises(ValidationError, match="in the past"):
        await winddown.close_plan(p, operator=ledger.operator, plan=plan,
                                  last_notice=p.clock.now() - timedelta(days=1), claims_days=0)
    with pytest.raises(Exception, match="operator"):
        await winddown.close_plan(p, operator=keys[0], plan=plan,
                                  last_notice=p.clock.now(), claims_days=0)


async def test_refund_rules(ledger: Ledger) -> None:
    p = ledger.platform
    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [2_000, 3_000, 4_000])
    advance(ledger, 91)
    with pytest.raises(Conflict, match="was not closed"):
        await winddown.refund_plan(p, operator=ledger.operator, plan=plan)
    pending = await noticed_case(ledger, plan, keys[0], inv, asked=1_000, case="c-pend")
    await _close(ledger, plan, notice_days=5, claims_days=3)
    with pytest.raises(Conflict, match="refunds start at"):
        await winddown.refund_plan(p, operator=ledger.operator, plan=plan)
    advance(ledger, 8)
    with pytest.raises(Conflict, match="c-pend is noticed"):
        await winddown.refund_plan(p, operator=ledger.operator, plan=plan)
    await services.decide_case(p, case=pending, operator=ledger.operator, decision="approve",
                               amount_fen=1_000)
    await services.apportion_period(p, plan=plan, operator=ledger.operator, cases=[pending])
    addresses = sorted(address_of(k) for k in keys)
    balances = {m.member: m.balance_fen for m in await Membership.filter(plan=plan)}

    def body(lines: list[tuple[str, int]], final: bool = False, batch: int = 1
             ) -> PlanRefundBatch:
        refunds = tuple(Refund(member=m, amount_fen=a) for m, a in lines)
        return PlanRefundBatch(plan=plan, operator=ledger.operator, batch=batch,
                               refunds=refunds, total_fen=sum(a for _, a in lines),
                               final=final)

    first = addresses[0]
    with pytest.raises(ValidationError, match="balance is"):  # one fen off
        await p.write(body([(first, balances[first] - 1)]))
    with pytest.raises(ValidationError, match="leaves 2 balance"):
        await p.write(body([(first, balances[first])], final=True))
    with pytest.raises(Conflict, match="next refund batch is 1"):
        await p.write(body([(first, balances[first])], batch=2))
    with pytest.raises(ValidationError, match="total_fen"):
        PlanRefundBatch(plan=plan, operator=ledger.operator, batch=1,
                        refunds=(Refund(member=first, amount_fen=5),), total_fen=6)
    with pytest.raises(ValidationError, match="ascending"):
        body([(addresses[1], 1), (addresses[0], 1)])
    written = await winddown.refund_plan(p, operator=ledger.operator, plan=plan, batch_size=2)
    assert len(written) == 2
    with pytest.raises(PlanClosed, match="refunded and closed"):
        await p.write(body([], final=True, batch=3))
    assert await winddown.refund_plan(p, operator=ledger.operator, plan=plan) == []
    assert all(m.balance_fen == 0 and m.status == "left"
               for m in await Membership.filter(plan=plan))
    await verify_log(p.log)


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(balances=st.lists(st.integers(1_000, 5_000), min_size=1, max_size=9),
       asks=st.lists(st.integers(1, 2_000), max_size=2),
       leavers=st.integers(0, 2), batch=st.integers(1, 4), topup=st.integers(0, 3_000))
async def test_refunds_sum_to_the_balances(ledger: Ledger, balances: list[int], asks: list[int],
                                           leavers: int, batch: int, topup: int) -> None:
    p = ledger.platform
    plan = await make_plan(ledger, plan=f"w{next(_plans)}")
    inv = await investigator(ledger)
    keys = await members(ledger, plan, balances)
    advance(ledger, 91)
    for key in keys[:min(leavers, len(keys) - 1)]:
        await services.leave_plan(p, plan=plan, member=key)
    await _close(ledger, plan, notice_days=20, claims_days=10)
    if topup:
        await services.top_up(p, plan=plan, member=keys[-1], amount_fen=topup)
    cases = [await approved_case(ledger, plan, keys[-1], inv, asked=a, case=f"{plan}-c{i}")
             for i, a in enumerate(asks)]
    if cases:
        await services.apportion_period(p, plan=plan, operator=ledger.operator, cases=cases)
    advance(ledger, 21)
    held = {m.member: m.balance_fen for m in await Membership.filter(plan=plan)
            if m.status != "left" and m.balance_fen > 0}
    written = await winddown.refund_plan(p, operator=ledger.operator, plan=plan,
                                         batch_size=batch)
    assert len(written) == max(1, -(-len(held) // batch))
    closing = await PlanClosing.get(plan=plan)
    assert closing.refunded_fen == sum(held.values())
    assert closing.refunded_members == len(held) and closing.closed_idx is not None
    refunded = {m.member: m.refund_fen for m in await Membership.filter(plan=plan)
                if m.member in held}
    assert refunded == held
    report = await winddown.closing_report(p, plan)
    assert report.balanced and report.held_fen == 0 and report.refunded_fen == sum(held.values())
    assert report.prepaid_fen == sum(balances) + topup
    await verify_log(p.log)


async def test_operates_under_is_kept_across_versions(ledger: Ledger) -> None:
    p = ledger.platform
    await services.create_plan(p, operator=ledger.operator, plan="ins", name="Insured plan",
                               rules=RULES, operates_under="众惠财产相互保险社")
    assert await operates_under("ins") == "众惠财产相互保险社"
    await services.create_plan(p, operator=ledger.operator, plan="ins", name="Insured plan",
                               rules=RULES)
    assert await operates_under("ins") == "众惠财产相互保险社"
    await services.create_plan(p, operator=ledger.operator, plan="ins", name="Insured plan",
                               rules=RULES, operates_under="Acme Mutual")
    assert await operates_under("ins") == "Acme Mutual"
    assert await operates_under("basic") is None
    await verify_log(p.log)


async def test_close_and_refund_over_graphql(ledger: Ledger, client: httpx.AsyncClient) -> None:
    p = ledger.platform
    await services.create_plan(p, operator=ledger.operator, plan="gq", name="GraphQL plan",
                               rules=RULES, operates_under="Closed group of Acme staff")
    await members(ledger, "gq", [3_000, 4_000])
    last = (p.clock.now() + timedelta(days=2)).date().isoformat()
    closed = await gql(client, """mutation($plan: String!, $last: String!) {
        closePlan(plan: $plan, lastNotice: $last, claimsDays: 1) { __typename
          ... on MutualAidPlanClosing { closing { lastNotice claimsDays closed heldFen }
                                        entries { index kind } } } }""",
                       {"plan": "gq", "last": last}, token=ledger.operator_token)
    answer = closed["data"]["closePlan"]
    assert answer["__typename"] == "MutualAidPlanClosing", closed
    assert answer["closing"] == {"lastNotice": f"{last}T23:59:59.999Z", "claimsDays": 1,
                                 "closed": False, "heldFen": 7_000}
    assert answer["entries"][0]["kind"] == "plan.close"
    early = await gql(client, 'mutation { refundPlan(plan: "gq") { __typename '
                      '... on Conflict { message } } }', token=ledger.operator_token)
    assert early["data"]["refundPlan"]["__typename"] == "Conflict"
    advance(ledger, 3)
    done = await gql(client, 'mutation { refundPlan(plan: "gq") { __typename '
                     '... on MutualAidPlanClosing { closing { closed refundedFen '
                     'refundedMembers heldFen } entries { kind } } } }',
                     token=ledger.operator_token)
    assert done["data"]["refundPlan"]["closing"] == {
        "closed": True, "refundedFen": 7_000, "refundedMembers": 2, "heldFen": 0}
    plan = await gql(client, '{ plan(id: "gq") { operatesUnder closing { closed } } }')
    assert plan["data"]["plan"] == {"operatesUnder": "Closed group of Acme staff",
                                    "closing": {"closed": True}}
