"""Bad input from the issue: each is a typed error and leaves the log as it was."""

from __future__ import annotations

from collections.abc import Awaitable
from datetime import date, timedelta
from typing import Any

import msgspec
import pytest

from heartchain.accounts.errors import RoleRequired
from heartchain.accounts.services import self_register_member
from heartchain.errors import Conflict, HeartchainError, ValidationError
from heartchain.keys import address_of, new_signing_key
from heartchain.mutualaid import services
from heartchain.mutualaid.entries import PlanCreate
from heartchain.mutualaid.errors import (
    AlreadyJoined,
    NotCovered,
    PeriodExists,
    PeriodMismatch,
    RuleBroken,
    WrongStage,
)
from heartchain.privacy import read_personal
from tests.conftest import Ledger
from tests.mutualaid.factories import (
    advance,
    approved_case,
    investigator,
    make_plan,
    members,
    noticed_case,
    open_case,
    today,
)


async def refused(ledger: Ledger, error: type[HeartchainError], write: Awaitable[Any],
                  match: str) -> None:
    size = await ledger.platform.log.size()
    with pytest.raises(error, match=match):
        await write
    assert await ledger.platform.log.size() == size


async def test_joining_outside_the_age_range_or_twice(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await make_plan(ledger)
    key = (await members(ledger, plan, [2_000]))[0]
    old, baby, fine = new_signing_key(), new_signing_key(), new_signing_key()
    for k in (old, baby, fine):
        await self_register_member(platform, k)
    now = today(ledger)
    await refused(ledger, RuleBroken, services.join_plan(
        platform, plan=plan, member=old, birth_date=date(now.year - 61, 1, 1),
        prepay_fen=2_000), "age outside")
    await refused(ledger, RuleBroken, services.join_plan(
        platform, plan=plan, member=baby, birth_date=now - timedelta(days=10),
        prepay_fen=2_000), "age outside")
    await refused(ledger, AlreadyJoined, services.join_plan(
        platform, plan=plan, member=key, birth_date=date(1990, 5, 1), prepay_fen=2_000),
        "already a member")
    await refused(ledger, RuleBroken, services.join_plan(
        platform, plan=plan, member=fine, birth_date=date(1990, 5, 1), prepay_fen=999),
        "below the minimum")
    infant = await services.join_plan(platform, plan=plan, member=fine,
                                      birth_date=now - timedelta(days=40), prepay_fen=2_000)
    body = (await platform.log.get_entry(infant.appended.index)).entry.body
    assert body["age_years"] == 0 and body["infant_age_days"] == 40
    # no birth date on the log: only its commitment (the date is sealed off-log)
    assert set(body) == {"plan", "member", "age_years", "infant_age_days", "birth_commitment",
                         "prepay_fen"}
    assert await read_personal(platform, f"mutualaid:{address_of(fine)}", "birth_date") == str(
        now - timedelta(days=40))


async def test_topups_must_be_positive(ledger: Ledger) -> None:
    plan = await make_plan(ledger)
    key = (await members(ledger, plan, [2_000]))[0]
    for amount in (0, -5):
        await refused(ledger, ValidationError, services.top_up(
            ledger.platform, plan=plan, member=key, amount_fen=amount), "amount_fen")
    await services.top_up(ledger.platform, plan=plan, member=key, amount_fen=1)


async def test_case_in_waiting_period_or_lapsed_or_above_cap(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [1_000, 5_000, 5_000])
    await refused(ledger, NotCovered, open_case(ledger, plan, keys[1]), "waiting period")
    advance(ledger, 91)
    await refused(ledger, RuleBroken, open_case(ledger, plan, keys[1], asked=30_000_001),
                  "above the cap")
    # Above 40 the cap is lower (age-dependent)
    older = await members(ledger, plan, [5_000], age_years=45)
    advance(ledger, 91)
    await refused(ledger, RuleBroken, open_case(ledger, plan, older[0], asked=10_000_001),
                  "above the cap")
    # keys[0] (1,000 fen) pays a capped 300 fen share for each of four cases at once and lapses
    cases = [await approved_case(ledger, plan, keys[1], inv, asked=10_000, case=f"c{i}")
             for i in range(4)]
    await services.apportion_period(platform, plan=plan, operator=ledger.operator, cases=cases)
    await refused(ledger, NotCovered, open_case(ledger, plan, keys[0]), "lapsed")
    await services.leave_plan(platform, plan=plan, member=keys[2])
    await refused(ledger, NotCovered, open_case(ledger, plan, keys[2]), "left")
    # A lapsed member who tops up waits again.
    await services.top_up(platform, plan=plan, member=keys[0], amount_fen=5_000)
    await refused(ledger, NotCovered, open_case(ledger, plan, keys[0]), "waiting period")


async def test_attest_only_by_an_investigator(ledger: Ledger) -> None:
    plan = await make_plan(ledger)
    keys = await members(ledger, plan, [5_000, 5_000])
    advance(ledger, 91)
    case = await open_case(ledger, plan, keys[0])
    await refused(ledger, RoleRequired, services.attest_case(
        ledger.platform, case=case, investigator=keys[1], findings="x",
        recommendation="approve", amount_fen=1), "needs a investigator")


async def test_decide_only_after_the_notice_window(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000, 5_000])
    advance(ledger, 91)
    case = await noticed_case(ledger, plan, keys[0], inv, asked=50_000, days=7)
    decide = dict(case=case, operator=ledger.operator, decision="approve", amount_fen=50_000)
    advance(ledger, 6)
    await refused(ledger, WrongStage, services.decide_case(platform, **decide),  # type: ignore[arg-type]
                  "public notice runs until")
    await services.object_case(platform, case=case, member=keys[1], reason="not-diagnosed")
    advance(ledger, 2)
    await refused(ledger, WrongStage, services.object_case(
        platform, case=case, member=keys[1], reason="other"), "window closed")
    await refused(ledger, WrongStage, services.decide_case(platform, **decide),  # type: ignore[arg-type]
                  "record a review")
    await refused(ledger, RuleBroken, services.decide_case(
        platform, case=case, operator=ledger.operator, decision="approve", amount_fen=50_001),
        "more than the amount asked")
    await services.review_case(platform, case=case, reviewer=inv, findings="checked",
                               outcome="dismissed")
    await services.decide_case(platform, **decide)  # type: ignore[arg-type]


async def test_apportion_twice_or_with_an_unapproved_case(ledger: Ledger) -> None:
    platform = ledger.platform
    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000, 5_000])
    advance(ledger, 91)
    done = await approved_case(ledger, plan, keys[0], inv, asked=1_000, case="done")
    pending = await open_case(ledger, plan, keys[1], case="pending")
    await refused(ledger, WrongStage, services.apportion_period(
        platform, plan=plan, operator=ledger.operator, cases=[done, pending]), "not approved")
    body = await services.apportion_body(platform, plan=plan, operator=ledger.operator)
    # A body whose figures or root the projections do not give is refused.
    for field, value in (("share_root", "00" * 32), ("share_fen", body.share_fen + 1),
                         ("members", 1)):
        await refused(ledger, PeriodMismatch, platform.write(
            msgspec.structs.replace(body, **{field: value})), field)
    await platform.write(body)
    await refused(ledger, PeriodExists, platform.write(body), "already apportioned")
    await refused(ledger, Conflict, services.apportion_period(
        platform, plan=plan, operator=ledger.operator, cases=[done]), "already apportioned")


async def test_rules_versions_apply_from_their_position(ledger: Ledger) -> None:
    from tests.mutualaid.factories import RULES

    plan = await make_plan(ledger)
    first = await members(ledger, plan, [2_000])
    await services.create_plan(ledger.platform, operator=ledger.operator, plan=plan,
                               name="Basic v2",
                               rules=msgspec.structs.replace(RULES, waiting_days=180))
    second = await members(ledger, plan, [2_000])
    advance(ledger, 91)
    await open_case(ledger, plan, first[0])
    await refused(ledger, NotCovered, open_case(ledger, plan, second[0]), "waiting period")
    await refused(ledger, Conflict, ledger.platform.write(PlanCreate(
        plan=plan, version=2, name="again", operator=ledger.operator, rules=RULES)),
        "next version is 3")
