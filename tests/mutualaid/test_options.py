"""The rule options of the largest schemes (plans.Rules): time zone, notice and deduction days,
per-year cap, age bands; the notice-day member set a period is shared by."""

from __future__ import annotations

import itertools
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import msgspec
import pytest
import rfc8785
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartchain.errors import ValidationError
from heartchain.keys import address_of
from heartchain.ledger import merkle
from heartchain.ledger.verify import verify_log
from heartchain.mutualaid import apportion, services
from heartchain.mutualaid.entries import AgeBand, PeriodNoticeOpen, Rules
from heartchain.mutualaid.errors import (
    PeriodExists,
    PeriodMismatch,
    RuleBroken,
    WrongStage,
)
from heartchain.mutualaid.models import Membership, Period, PeriodNotice
from heartchain.mutualaid.notices import member_leaf
from tests.conftest import Ledger, gql
from tests.mutualaid.factories import (
    RULES,
    advance,
    approved_case,
    investigator,
    make_plan,
    members,
)
from tests.mutualaid.test_rules import refused

ZONE = "Asia/Shanghai"
_plans = itertools.count()


def rules(**options: Any) -> Rules:
    return Rules(**{**msgspec.structs.asdict(RULES), **options})


SCHEME = rules(time_zone=ZONE, notice_days=(7, 21), deduction_days=(14, 28))


def local_now(ledger: Ledger) -> datetime:
    return ledger.platform.clock.now().astimezone(ZoneInfo(ZONE))


def advance_to(ledger: Ledger, days: tuple[int, ...], hour: int = 10) -> date:
    """Move the clock to `hour`:00 plan time on the next day of the month in `days`."""
    now = local_now(ledger)
    day = now.date() + timedelta(days=1)
    while day.day not in days:
        day += timedelta(days=1)
    moment = datetime(day.year, day.month, day.day, hour, tzinfo=ZoneInfo(ZONE))
    ledger.platform.clock.advance(moment - now)
    return day


# -- the options themselves -------------------------------------------------------------------

def test_a_plan_without_options_encodes_as_before() -> None:
    assert set(msgspec.to_builtins(RULES)) == {
        "min_age_days", "max_age_years", "waiting_days", "cap_fen", "senior_age",
        "senior_cap_fen", "fee_bp", "member_case_cap_fen", "min_prepay_fen", "conditions"}
    assert "time_zone" in msgspec.to_builtins(SCHEME)


@pytest.mark.parametrize(("options", "field"), [
    ({"time_zone": "Mars/Olympus"}, "time_zone"),
    ({"notice_days": (21, 7)}, "notice_days"),
    ({"notice_days": (7, 21), "deduction_days": (14,)}, "deduction_days"),
    ({"notice_days": (7, 21), "deduction_days": (22, 28)}, "deduction_days"),
    ({"deduction_days": (14,)}, "deduction_days"),
    ({"senior_age": 151, "age_bands": (AgeBand(39, 100), AgeBand(50, 100))}, "age_bands"),
    ({"senior_age": 151, "age_bands": (AgeBand(59, 40_000_000),)}, "age_bands"),
    ({"age_bands": (AgeBand(39, 100), AgeBand(59, 100))}, "senior_age"),
])
def test_bad_options_are_refused(options: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as caught:
        rules(**options)
    assert caught.value.field == field


@settings(max_examples=60, deadline=None)
@given(edges=st.lists(st.integers(0, 58), max_size=5, unique=True),
       caps=st.lists(st.integers(1, 30_000_000), min_size=6, max_size=6), age=st.integers(0, 59))
def test_age_bands_pick_the_cap_of_the_band_holding_the_age(edges: list[int], caps: list[int],
                                                            age: int) -> None:
    tops = [*sorted(edges), 59]
    bands = tuple(AgeBand(top, cap) for top, cap in zip(tops, caps, strict=False))
    r = rules(senior_age=151, age_bands=bands)
    lows = [0, *(top + 1 for top in tops[:-1])]
    (expected,) = [b.cap_fen for low, b in zip(lows, bands, strict=True)
                   if low <= age <= b.to_years]
    assert r.cap_for(age) == expected


async def test_an_age_band_caps_a_case(ledger: Ledger) -> None:
    bands = rules(min_age_days=30, senior_age=151,
                  age_bands=(AgeBand(39, 30_000_000), AgeBand(59, 10_000_000)))
    plan = await make_plan(ledger, rules=bands)
    young, old = await members(ledger, plan, [2_000]), await members(ledger, plan, [2_000], 45)
    advance(ledger, 91)
    await services.open_case(ledger.platform, plan=plan, member=address_of(young[0]),
                             opener=young[0], condition="cancer", asked_fen=30_000_000,
                             hospital="renji", patient_name="张三",
                             diagnosed_on=ledger.platform.clock.now().date())
    await refused(ledger, RuleBroken, services.open_case(
        ledger.platform, plan=plan, member=address_of(old[0]), opener=old[0],
        condition="cancer", asked_fen=10_000_001, hospital="renji", patient_name="李四",
        diagnosed_on=ledger.platform.clock.now().date()), "above the cap of 10000000")


# -- the arithmetic under caps and carries ------------------------------------------------------

@settings(max_examples=200, deadline=None)
@given(payouts=st.integers(0, 10**9), fee_bp=st.integers(0, 2_000), carry_in=st.integers(0, 10**6),
       cap=st.integers(0, 5_000), cases=st.integers(1, 5),
       members=st.lists(st.tuples(st.integers(0, 20_000), st.none() | st.integers(-100, 20_000)),
                        max_size=40))
def test_shares_sum_to_the_period_total_under_caps_and_carries(
        payouts: int, fee_bp: int, carry_in: int, cap: int, cases: int,
        members: list[tuple[int, int | None]]) -> None:
    balances, rooms = [b for b, _ in members], [r for _, r in members]
    s = apportion.split(payouts=payouts, fee_bp=fee_bp, carry_in=carry_in, member_cap=cap,
                        cases=cases, balances=balances, rooms=rooms)
    assert sum(s.shares) + s.carry == payouts + apportion.fee_of(payouts, fee_bp) + carry_in
    for paid, balance, room in zip(s.shares, balances, rooms, strict=True):
        assert 0 <= paid <= min(s.share, balance, s.share if room is None else max(room, 0))
    # The carry is exactly the remainder, the per-case cut, the per-year cut and what short
    # balances left.
    n = len(balances)
    remainder = s.target % n if n else s.target
    short = sum(min(s.share, s.share if r is None else max(r, 0)) - p
                for p, r in zip(s.shares, rooms, strict=True))
    assert s.carry == remainder + s.cap_cut + s.year_cut + short
    specials = [(p, r) for p, r, b in zip(s.shares, rooms, balances, strict=True) if p < s.share]
    t = apportion.totals_of(payouts=payouts, fee_bp=fee_bp, carry_in=carry_in, member_cap=cap,
                            cases=cases, members=n, specials=len(specials),
                            special_paid=sum(p for p, _ in specials), lapsed=0,
                            year_capped=s.year_capped, year_cut=s.year_cut)
    assert (t.collected, t.carry, t.cap_cut) == (s.collected, s.carry, s.cap_cut)


# -- the notice-day member set -----------------------------------------------------------------

async def scheme_plan(ledger: Ledger, name: str, **options: Any) -> str:
    return await make_plan(ledger, plan=name, rules=rules(
        **{**msgspec.structs.asdict(SCHEME), "waiting_days": 0, **options}))


async def test_the_notice_commits_the_member_set_at_midnight(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await scheme_plan(ledger, "scheme")
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000, 5_000, 5_000])
    case = await approved_case(ledger, plan, keys[0], inv, asked=600)
    advance_to(ledger, (7, 21), hour=0)
    ledger.platform.clock.advance(timedelta(minutes=30))  # 00:30: after the snapshot
    late = await members(ledger, plan, [5_000])  # covered at once (no waiting), yet too late
    # Apportioning before the notice, or the notice on another day, is refused.
    await refused(ledger, WrongStage, services.apportion_period(
        platform, plan=plan, operator=ledger.operator), "open the notice")
    wrong_day = local_now(ledger).date() + timedelta(days=1)
    await refused(ledger, RuleBroken, services.open_period_notice(
        platform, plan=plan, operator=ledger.operator, day=wrong_day), "not a notice day")
    opened = await services.open_period_notice(platform, plan=plan, operator=ledger.operator)
    notice = await PeriodNotice.get(idx=opened.index)
    assert notice.members == 3
    counted = sorted((m.joined_idx, m.member) for m in await Membership.filter(plan=plan)
                     if m.member != address_of(late[0]))
    leaves = [rfc8785.dumps({"member": m, "period": 1}) for _, m in counted]
    assert leaves == [member_leaf(m.encode(), 1) for _, m in counted]
    assert apportion.ShareTree([merkle.leaf_hash(leaf) for leaf in leaves]).root().hex() == (
        notice.member_root)  # anyone can recompute it
    await refused(ledger, PeriodExists, services.open_period_notice(
        platform, plan=plan, operator=ledger.operator), "already open")
    # Leaving after the notice and joining again before the deduction is refused.
    await services.leave_plan(platform, plan=plan, member=keys[2])
    await refused(ledger, RuleBroken, services.join_plan(
        platform, plan=plan, member=keys[2], birth_date=date(1990, 1, 1), prepay_fen=5_000),
        "counted in")
    # The deduction: not on the notice day itself, nor on a non-deduction day.
    await refused(ledger, RuleBroken, services.apportion_period(
        platform, plan=plan, operator=ledger.operator), "not a deduction day")
    advance_to(ledger, (14, 28))
    appended = await services.apportion_period(platform, plan=plan, operator=ledger.operator)
    period = await Period.get(idx=appended.index)
    assert (period.notice_idx, period.members) == (notice.idx, 3)
    shares = await services.shares_in(period.idx)
    assert address_of(late[0]) not in shares
    assert shares[address_of(keys[2])] == 0  # left after the notice: pays nothing, carried
    assert period.carry_fen == period.share_fen + (
        period.payouts_fen + period.fee_fen - 3 * period.share_fen)
    assert case in period.cases
    await verify_log(platform.log)


async def test_a_forged_member_set_is_refused(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await scheme_plan(ledger, "forged")
    await members(ledger, plan, [5_000, 5_000])
    day = advance_to(ledger, (7, 21))
    body = await services.notice_body(platform.log.reader.connection(), plan,
                                      ledger.operator, day)
    for change in ({"members": 3}, {"member_root": "00" * 32}):
        forged = msgspec.structs.replace(body, **change)
        await refused(ledger, PeriodMismatch, platform.write(forged),
                      "by the projections")
    assert isinstance(body, PeriodNoticeOpen)


@settings(max_examples=5, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(balances=st.lists(st.integers(1_000, 4_000), min_size=2, max_size=6),
       joiners=st.lists(st.integers(1_000, 4_000), min_size=1, max_size=4),
       leave=st.booleans(), topup=st.booleans())
async def test_joining_after_the_snapshot_never_changes_a_share(
        ledger: Ledger, balances: list[int], joiners: list[int], leave: bool, topup: bool
        ) -> None:
    platform = ledger.platform
    plan = await scheme_plan(ledger, f"s{next(_plans)}")
    inv = await investigator(ledger)
    keys = await members(ledger, plan, balances)
    case = await approved_case(ledger, plan, keys[0], inv, asked=2_000)
    advance_to(ledger, (7, 21))
    await services.open_period_notice(platform, plan=plan, operator=ledger.operator)
    advance_to(ledger, (14, 28))
    before = await services.apportion_body(platform, plan=plan, operator=ledger.operator,
                                           cases=[case])
    late = await members(ledger, plan, joiners)
    if leave:
        await services.leave_plan(platform, plan=plan, member=keys[-1])
    if topup:
        await services.top_up(platform, plan=plan, member=keys[0], amount_fen=1_000)
    appended = await services.apportion_period(platform, plan=plan, operator=ledger.operator)
    period = await Period.get(idx=appended.index)
    assert period.share_fen == before.share_fen and period.members == len(balances)
    shares = await services.shares_in(period.idx)
    assert not {address_of(k) for k in late} & set(shares)
    for k in keys[:-1] if leave else keys:
        assert shares[address_of(k)] == min(before.share_fen, balances[keys.index(k)] + (
            1_000 if topup and k == keys[0] else 0))
    assert sum(shares.values()) == period.collected_fen
    assert period.payouts_fen + period.fee_fen + period.carry_in_fen == (
        period.collected_fen + period.carry_fen)


async def test_the_per_year_cap_cuts_carries_and_resets_by_plan_year(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await make_plan(ledger, plan="yearly", rules=rules(
        time_zone=ZONE, member_case_cap_fen=300, year_cap_fen=500))
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000, 5_000, 5_000])
    advance(ledger, 91)
    # Keep both periods in one plan year: start them early in a year (plan time).
    now = local_now(ledger)
    if now.month > 6:
        ledger.platform.clock.advance(
            datetime(now.year + 1, 1, 2, 10, tzinfo=ZoneInfo(ZONE)) - now)
    year = local_now(ledger).year
    periods = []
    for n in range(3):
        if n == 2:
            now = local_now(ledger)
            ledger.platform.clock.advance(
                datetime(year + 1, 1, 2, 10, tzinfo=ZoneInfo(ZONE)) - now)
        case = await approved_case(ledger, plan, keys[0], inv, asked=100_000, case=f"y{n}")
        appended = await services.apportion_period(platform, plan=plan, operator=ledger.operator,
                                                   cases=[case])
        periods.append(await Period.get(idx=appended.index))
    first, second, third = periods
    assert (first.share_fen, first.year_capped, first.cap_cut_fen) == (
        300, 0, 3 * (108_000 // 3 - 300))
    # The second period: each member has 200 fen of room left this year; the rest is carried.
    assert (second.share_fen, second.year_capped, second.year_cut_fen) == (300, 3, 300)
    assert set((await services.shares_in(second.idx)).values()) == {200}
    assert second.carry_fen == (second.payouts_fen + second.fee_fen + second.carry_in_fen
                                - 600)
    # A new plan year: the full share again.
    assert third.year_capped == 0
    assert set((await services.shares_in(third.idx)).values()) == {300}
    for m in await Membership.filter(plan=plan):
        assert (m.share_year, m.year_shared_fen, m.shared_fen) == (year + 1, 300, 800)
    await verify_log(platform.log)


async def test_the_options_through_graphql(ledger: Ledger, client: httpx.AsyncClient) -> None:
    rules_in = {"minAgeDays": 30, "maxAgeYears": 59, "waitingDays": 90, "capFen": 30_000_000,
                "seniorAge": 151, "seniorCapFen": 30_000_000, "feeBp": 800,
                "memberCaseCapFen": 300, "minPrepayFen": 1_000, "conditions": ["cancer"],
                "timeZone": ZONE, "noticeDays": [7, 21], "deductionDays": [14, 28],
                "yearCapFen": 18_800, "ageBands": [{"toYears": 39, "capFen": 30_000_000},
                                                  {"toYears": 59, "capFen": 10_000_000}]}
    made = (await gql(client, """mutation($r: MutualAidRulesInput!) {
      createPlan(id: "xhb", name: "相互宝", rules: $r) { __typename
        ... on MutualAidPlanSaved { plan { rules { timeZone noticeDays deductionDays yearCapFen
                                               ageBands { toYears capFen } } } }
        ... on ValidationError { message field } } }""", {"r": rules_in},
                      token=ledger.operator_token))["data"]["createPlan"]
    shown = made["plan"]["rules"]
    assert shown == {k: rules_in[k] for k in shown}
    rules_in["deductionDays"] = [6, 28]
    bad = (await gql(client, """mutation($r: MutualAidRulesInput!) {
      createPlan(id: "xhb2", name: "bad", rules: $r) { __typename
        ... on ValidationError { message field } } }""", {"r": rules_in},
                     token=ledger.operator_token))["data"]["createPlan"]
    assert (bad["__typename"], bad["field"]) == ("ValidationError", "deduction_days")
