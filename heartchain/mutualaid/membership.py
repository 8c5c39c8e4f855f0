"""Membership: `plan.join`, `plan.topup`, `plan.leave` (the member signs each), and coverage.

- ``plan.join``: age in range, minimum prepay, not already a member. The join's log position and
  the first witnessed checkpoint that includes it prove when coverage started; coverage begins
  ``waiting_days`` later on the log clock.
- ``plan.topup`` / ``plan.leave``. A lapsed member who tops up waits again.
- Covered = active, past the waiting period, balance > 0.

Times are the log clock's (`ctx.now`, at millisecond precision, as `verify` replays it).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger.body import Address, Body, Fen, Hex32, Slug
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.lookups import can_match
from heartchain.mutualaid.errors import AlreadyJoined, NotAMember, NotCovered, RuleBroken
from heartchain.mutualaid.models import Membership, Payment, PeriodNotice
from heartchain.mutualaid.plans import YEAR_DAYS, get_plan


def log_time(ctx: ApplyContext) -> str:
    """The log clock as stored (ms precision): live checks and replays see the same value."""
    return format_time(ctx.now)


def later(moment: str, days: int) -> str:
    return format_time(parse_time(moment) + timedelta(days=days))


def membership_id(plan: str, member: str) -> str:
    return f"{plan}:{member}"


def age_band(age: int) -> str:
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def age_now(membership: Membership, now: str) -> int:
    """Completed years now: the age declared at joining plus whole years since (log clock)."""
    elapsed = parse_time(now) - parse_time(membership.joined_at)
    return membership.age_years + elapsed.days // YEAR_DAYS


class PlanJoin(Body):
    """A member joins a plan with a prepayment."""

    KIND = "plan.join"
    SIGNERS = ("member",)

    plan: Slug
    member: Address
    age_years: Annotated[int, msgspec.Meta(ge=0, le=150)]
    birth_commitment: Hex32
    prepay_fen: Fen
    infant_age_days: Annotated[int, msgspec.Meta(ge=0, le=YEAR_DAYS)] | None = None

    def __post_init__(self) -> None:
        if (self.age_years == 0) != (self.infant_age_days is not None):
            raise ValidationError("plan.join: infant_age_days is given exactly when age_years "
                                  "is 0", field="infant_age_days")

    @property
    def age_days(self) -> int:
        """Age in days as far as the rules need it: exact for infants, a lower bound otherwise."""
        return self.infant_age_days if self.infant_age_days is not None \
            else self.age_years * YEAR_DAYS


async def get_membership(conn: BaseDBAsyncClient, plan: str, member: str) -> Membership:
    key = membership_id(plan, member)
    row = await Membership.get_or_none(id=key).using_db(conn) \
        if can_match(Membership, id=key) else None
    if row is None:
        raise NotAMember(f"{member} has not joined plan {plan}")
    return row


def require_covered(m: Membership, now: str) -> None:
    if m.status == "left":
        raise NotCovered(f"{m.member} left plan {m.plan}")
    if m.status == "lapsed" or m.balance_fen <= 0:
        raise NotCovered(f"{m.member} has lapsed in plan {m.plan} (balance 0)")
    if m.covered_from > now:
        raise NotCovered(f"{m.member} is in the waiting period of plan {m.plan} until "
                         f"{m.covered_from}")


async def _counted_in_open_notice(conn: BaseDBAsyncClient, m: Membership) -> bool:
    """Whether a member who left is in the member set of the plan's open period notice."""
    notice = await PeriodNotice.get_or_none(plan=m.plan, apportioned_idx=None).using_db(conn)
    return (notice is not None and m.left_idx is not None and m.left_idx > notice.idx
            and m.joined_idx < notice.idx and m.covered_from <= notice.snapshot_at)


@rules(PlanJoin)
async def _check_join(ctx: ApplyContext, b: PlanJoin) -> None:
    await require_role(ctx, b.member, "member")
    plan = await get_plan(ctx.conn, b.plan)
    existing = await Membership.get_or_none(id=membership_id(b.plan, b.member)).using_db(ctx.conn)
    if existing is not None and existing.status != "left":
        raise AlreadyJoined(f"{b.member} is already a member of plan {b.plan}")
    if existing is not None and await _counted_in_open_notice(ctx.conn, existing):
        # A rejoin would move them in the join order the open notice's member set follows.
        raise RuleBroken(f"plan.join: {b.member} is counted in plan {b.plan}'s open period "
                         "notice; join again once that period is apportioned", field="member")
    if b.age_days < plan.min_age_days or b.age_years > plan.max_age_years:
        raise RuleBroken(f"plan.join: age outside plan {b.plan}'s range ({plan.min_age_days} "
                         f"days to {plan.max_age_years} years)", field="age_years")
    if b.prepay_fen < plan.min_prepay_fen:
        raise RuleBroken(f"plan.join: prepay {b.prepay_fen} fen is below the minimum "
                         f"{plan.min_prepay_fen}", field="prepay_fen")


@projects(PlanJoin)
async def _project_join(ctx: ApplyContext, b: PlanJoin) -> None:
    plan = await get_plan(ctx.conn, b.plan)
    now = log_time(ctx)
    values = {"plan": b.plan, "member": b.member, "status": "active", "joined_idx": ctx.index,
              "joined_at": now, "covered_from": later(now, plan.waiting_days),
              "join_version": plan.version, "age_years": b.age_years,
              "birth_commitment": b.birth_commitment, "balance_fen": b.prepay_fen,
              "prepaid_fen": b.prepay_fen, "shared_fen": 0, "lapsed_idx": None, "left_idx": None,
              "refund_fen": 0}
    key = membership_id(b.plan, b.member)
    if await Membership.filter(id=key).using_db(ctx.conn).exists():  # rejoining after leaving
        await Membership.filter(id=key).using_db(ctx.conn).update(**values)
    else:
        await Membership.create(using_db=ctx.conn, id=key, **values)
    await Payment.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, member=b.member,
                         amount_fen=b.prepay_fen, kind="join")


class PlanTopup(Body):
    """A member tops up their balance."""

    KIND = "plan.topup"
    SIGNERS = ("member",)

    plan: Slug
    member: Address
    amount_fen: Fen


@rules(PlanTopup)
async def _check_topup(ctx: ApplyContext, b: PlanTopup) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    if m.status == "left":
        raise NotCovered(f"{b.member} left plan {b.plan}: join again instead")


@projects(PlanTopup)
async def _project_topup(ctx: ApplyContext, b: PlanTopup) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    m.balance_fen += b.amount_fen
    m.prepaid_fen += b.amount_fen
    if m.status == "lapsed":
        # Coverage that ran out starts again only after a new waiting period.
        plan = await get_plan(ctx.conn, b.plan)
        m.status = "active"
        m.covered_from = max(m.covered_from, later(log_time(ctx), plan.waiting_days))
    await m.save(using_db=ctx.conn)
    await Payment.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, member=b.member,
                         amount_fen=b.amount_fen, kind="topup")


class PlanLeave(Body):
    """A member leaves a plan (their balance is refunded)."""

    KIND = "plan.leave"
    SIGNERS = ("member",)

    plan: Slug
    member: Address


@rules(PlanLeave)
async def _check_leave(ctx: ApplyContext, b: PlanLeave) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    if m.status == "left":
        raise Conflict(f"{b.member} already left plan {b.plan}")


@projects(PlanLeave)
async def _project_leave(ctx: ApplyContext, b: PlanLeave) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    m.status, m.left_idx, m.refund_fen, m.balance_fen = "left", ctx.index, m.balance_fen, 0
    await m.save(using_db=ctx.conn)
