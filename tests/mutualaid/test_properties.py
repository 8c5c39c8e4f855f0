"""Property over the whole path (entries, projector, verify): random memberships, balances and
cases; shares sum exactly, nobody pays above the cap, waiting/lapsed members pay nothing, and
`verify` rebuilds every balance."""

from __future__ import annotations

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartchain.keys import address_of
from heartchain.ledger.verify import verify_log
from heartchain.mutualaid import services
from heartchain.mutualaid.models import Membership, Period
from tests.conftest import Ledger
from tests.mutualaid.factories import (
    advance,
    approved_case,
    investigator,
    make_plan,
    members,
)

_plans = itertools.count()


@settings(max_examples=6, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(covered=st.lists(st.integers(1_000, 4_000), min_size=2, max_size=8),
       waiting=st.lists(st.integers(1_000, 4_000), max_size=3),
       asks=st.lists(st.integers(1, 3_000), min_size=1, max_size=3),
       lapse=st.booleans())
async def test_random_periods(ledger: Ledger, covered: list[int], waiting: list[int],
                              asks: list[int], lapse: bool) -> None:
    platform = ledger.platform
    plan = await make_plan(ledger, plan=f"p{next(_plans)}")
    inv = await investigator(ledger)
    keys = await members(ledger, plan, covered)
    advance(ledger, 91)
    if lapse:
        await services.leave_plan(platform, plan=plan, member=keys[-1])
    late = await members(ledger, plan, waiting)
    patients = keys[:-1] if lapse else keys
    cases = [await approved_case(ledger, plan, patients[i % len(patients)], inv, asked=a,
                                 case=f"{plan}-c{i}") for i, a in enumerate(asks)]
    before = {m.member: m.balance_fen for m in await Membership.filter(plan=plan)}
    appended = await services.apportion_period(platform, plan=plan, operator=ledger.operator,
                                               cases=cases)
    period = await Period.get(idx=appended.index)
    shares = await services.shares_in(period.idx)
    assert sum(shares.values()) == period.collected_fen
    assert period.payouts_fen + period.fee_fen + period.carry_in_fen == (
        period.collected_fen + period.carry_fen)
    assert all(0 <= s <= 300 * len(cases) for s in shares.values())
    assert not {address_of(k) for k in late} & set(shares)
    if lapse:
        assert address_of(keys[-1]) not in shares
    for m in await Membership.filter(plan=plan):
        assert m.balance_fen >= 0
        if m.status != "left":
            assert m.balance_fen == before[m.member] - shares.get(m.member, 0)
    proof = await services.share_proof(period.idx, address_of(keys[0]))
    proof.verify()
    await verify_log(platform.log)
