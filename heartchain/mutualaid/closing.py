"""Wind-down: `plan.close` and `plan.refund` (operator), and the insurer a plan operates under.

A plan ends the way the largest schemes did (Xiang Hu Bao, 2022-01-28): announced, with a
last notice date and a claims window, then refunded.

- ``plan.close`` announces ``last_notice`` (the last moment a case may go on public notice) and
  ``claims_days`` (cases may still be opened until the announcement + that many days). From the
  announcement on, ``plan.join`` is refused; after ``last_notice``, ``plan.topup`` too. Periods
  are apportioned as usual meanwhile.
- ``plan.refund`` refunds what members still hold, in batches (``batch`` 1, 2, ...), once both
  dates have passed and every case of the plan is settled (rejected or paid). Each line's amount
  must equal that member's projected balance, exactly to the fen, and ``total_fen`` the sum of
  the lines; the batch marked ``final`` must leave no member holding a balance. So the refunds
  sum to the balances the plan held. The final batch closes the plan: no period after it.

These rules are observer rules on the kinds other modules own (`@observes(..., rules=True)`), so
the owners' modules stay as they are.
"""

from __future__ import annotations

from datetime import timedelta
from itertools import pairwise
from typing import Annotated

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger.body import Address, Body, Fen, Index, Quantity, Slug, Time
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.kinds import ApplyContext, observes, projects, rules
from heartchain.ledger.store import execute_many
from heartchain.lookups import can_match
from heartchain.mutualaid.cases import CaseNotice, CaseOpen, get_case
from heartchain.mutualaid.membership import PlanJoin, PlanTopup, log_time, membership_id
from heartchain.mutualaid.models import Case, Membership, PlanClosing, PlanInsurer, PlanRefund
from heartchain.mutualaid.periods import PeriodApportion
from heartchain.mutualaid.plans import PlanCreate, get_plan

MAX_REFUNDS = 1_000  # lines per plan.refund batch
MAX_CLAIMS_DAYS = 3_650
SETTLED = ("rejected", "paid")  # case statuses that need nothing more from the plan


class PlanClosed(Conflict):
    """The plan is being wound down (or is closed): this is no longer accepted."""


class PlanClose(Body):
    """Announce a plan's wind-down: its last notice date and its claims window."""

    KIND = "plan.close"
    SIGNERS = ("operator",)

    plan: Slug
    operator: Address
    last_notice: Time
    claims_days: Annotated[int, msgspec.Meta(ge=0, le=MAX_CLAIMS_DAYS)]


class Refund(Body):
    """One member's refund, a line of `plan.refund`."""

    member: Address
    amount_fen: Fen


class PlanRefundBatch(Body):
    """Refund members' remaining balances at the end of a wind-down (one batch)."""

    KIND = "plan.refund"
    SIGNERS = ("operator",)

    plan: Slug
    operator: Address
    batch: Quantity
    refunds: Annotated[tuple[Refund, ...], msgspec.Meta(max_length=MAX_REFUNDS)]
    total_fen: Index
    final: bool = False

    def __post_init__(self) -> None:
        if any(a.member >= b.member for a, b in pairwise(self.refunds)):
            raise ValidationError("plan.refund: refunds must be in strictly ascending member "
                                  "order", field="refunds")
        if sum(r.amount_fen for r in self.refunds) != self.total_fen:
            raise ValidationError("plan.refund: total_fen is not the sum of the refunds",
                                  field="total_fen")
        if not self.refunds and not self.final:
            raise ValidationError("plan.refund: an empty batch must be the final one",
                                  field="refunds")


async def closing_of(conn: BaseDBAsyncClient, plan: str) -> PlanClosing | None:
    if not can_match(PlanClosing, plan=plan):
        return None
    return await PlanClosing.get_or_none(plan=plan).using_db(conn)


def later(moment: str, days: int) -> str:
    return format_time(parse_time(moment) + timedelta(days=days))


@rules(PlanClose)
async def _check_close(ctx: ApplyContext, b: PlanClose) -> None:
    await require_role(ctx, b.operator, "operator")
    await get_plan(ctx.conn, b.plan)
    if await closing_of(ctx.conn, b.plan) is not None:
        raise PlanClosed(f"plan {b.plan} is already being wound down")
    if b.last_notice < log_time(ctx):
        raise ValidationError("plan.close: last_notice is in the past", field="last_notice")


@projects(PlanClose)
async def _project_close(ctx: ApplyContext, b: PlanClose) -> None:
    now = log_time(ctx)
    claims_until = later(now, b.claims_days)
    await PlanClosing.create(using_db=ctx.conn, plan=b.plan, close_idx=ctx.index,
                             announced_at=now, last_notice=b.last_notice,
                             claims_days=b.claims_days, claims_until=claims_until,
                             refund_from=max(b.last_notice, claims_until))


async def holders(conn: BaseDBAsyncClient, plan: str) -> list[Membership]:
    """Members who still hold a balance in `plan`, in member order (the refund order)."""
    return await Membership.filter(plan=plan, balance_fen__gt=0).exclude(status="left") \
        .using_db(conn).order_by("member")


@rules(PlanRefundBatch)
async def _check_refund(ctx: ApplyContext, b: PlanRefundBatch) -> None:
    await require_role(ctx, b.operator, "operator")
    await get_plan(ctx.conn, b.plan)
    closing = await closing_of(ctx.conn, b.plan)
    if closing is None:
        raise Conflict(f"plan {b.plan} was not closed (plan.close) and cannot be refunded")
    if closing.closed_idx is not None:
        raise PlanClosed(f"plan {b.plan} was already refunded and closed")
    if log_time(ctx) < closing.refund_from:
        raise Conflict(f"plan {b.plan}: refunds start at {closing.refund_from}, after the last "
                       "notice date and the claims window")
    if b.batch != closing.batches + 1:
        raise Conflict(f"plan {b.plan}: the next refund batch is {closing.batches + 1}")
    pending = await Case.filter(plan=b.plan).exclude(status__in=SETTLED).using_db(ctx.conn) \
        .order_by("id").first()
    if pending is not None:
        raise Conflict(f"plan {b.plan}: case {pending.id} is {pending.status}; settle (and "
                       "apportion) every case before refunding")
    ids = [membership_id(b.plan, r.member) for r in b.refunds]
    found = {m.member: m for m in await Membership.filter(id__in=ids).using_db(ctx.conn)}
    for r in b.refunds:
        m = found.get(r.member)
        if m is None or m.status == "left":
            raise ValidationError(f"plan.refund: {r.member} holds nothing in plan {b.plan}",
                                  field="refunds")
        if m.balance_fen != r.amount_fen:
            raise ValidationError(f"plan.refund: {r.member}'s balance is {m.balance_fen} fen, "
                                  f"not {r.amount_fen}", field="refunds")
    if b.final:
        listed = set(found)
        left = [m.member for m in await holders(ctx.conn, b.plan) if m.member not in listed]
        if left:
            raise ValidationError(f"plan.refund: the final batch leaves {len(left)} balance(s) "
                                  f"unrefunded ({left[0]}, ...)", field="final")


@projects(PlanRefundBatch)
async def _project_refund(ctx: ApplyContext, b: PlanRefundBatch) -> None:
    index = ctx.index
    await execute_many(ctx.conn, "UPDATE ma_membership SET status = 'left', left_idx = ?, "
                                 "refund_fen = balance_fen, balance_fen = 0 WHERE id = ?",
                       [[index, membership_id(b.plan, r.member)] for r in b.refunds])
    await PlanRefund.bulk_create([PlanRefund(id=membership_id(b.plan, r.member), plan=b.plan,
                                             member=r.member, idx=index,
                                             amount_fen=r.amount_fen) for r in b.refunds],
                                 using_db=ctx.conn)
    closing = await PlanClosing.get(plan=b.plan).using_db(ctx.conn)
    closing.batches = b.batch
    closing.refunded_fen += b.total_fen
    closing.refunded_members += len(b.refunds)
    if b.final:
        closing.closed_idx = index
    await closing.save(using_db=ctx.conn)


# -- what the wind-down refuses in the other kinds ----------------------------------------------

@observes(PlanJoin, rules=True)
async def _no_join_after_close(ctx: ApplyContext, b: PlanJoin) -> None:
    if await closing_of(ctx.conn, b.plan) is not None:
        raise PlanClosed(f"plan {b.plan} is being wound down: it takes no new members")


@observes(PlanTopup, rules=True)
async def _no_topup_after_last_notice(ctx: ApplyContext, b: PlanTopup) -> None:
    closing = await closing_of(ctx.conn, b.plan)
    if closing is not None and (closing.closed_idx is not None
                                or log_time(ctx) > closing.last_notice):
        raise PlanClosed(f"plan {b.plan} is being wound down: no top-ups after its last "
                         f"notice date {closing.last_notice}")


@observes(CaseOpen, rules=True)
async def _no_case_after_claims_window(ctx: ApplyContext, b: CaseOpen) -> None:
    closing = await closing_of(ctx.conn, b.plan)
    if closing is not None and log_time(ctx) > closing.claims_until:
        raise PlanClosed(f"plan {b.plan} is being wound down: its claims window ended at "
                         f"{closing.claims_until}")


@observes(CaseNotice, rules=True)
async def _no_notice_after_last_notice(ctx: ApplyContext, b: CaseNotice) -> None:
    case = await get_case(ctx.conn, b.case)
    closing = await closing_of(ctx.conn, case.plan)
    if closing is not None and log_time(ctx) > closing.last_notice:
        raise PlanClosed(f"plan {case.plan} is being wound down: its last notice date was "
                         f"{closing.last_notice}")


@observes(PeriodApportion, rules=True)
async def _no_period_after_close(ctx: ApplyContext, b: PeriodApportion) -> None:
    closing = await closing_of(ctx.conn, b.plan)
    if closing is not None and closing.closed_idx is not None:
        raise PlanClosed(f"plan {b.plan} is closed: its members were refunded")


@observes(PlanCreate)
async def _project_operates_under(ctx: ApplyContext, b: PlanCreate) -> None:
    if b.operates_under is None:
        return
    if await PlanInsurer.filter(plan=b.plan).using_db(ctx.conn).exists():
        await PlanInsurer.filter(plan=b.plan).using_db(ctx.conn).update(
            operates_under=b.operates_under, idx=ctx.index)
    else:
        await PlanInsurer.create(using_db=ctx.conn, plan=b.plan,
                                 operates_under=b.operates_under, idx=ctx.index)


async def operates_under(plan: str) -> str | None:
    """The insurer or closed group `plan` names, if any."""
    if not can_match(PlanInsurer, plan=plan):
        return None
    row = await PlanInsurer.get_or_none(plan=plan)
    return row.operates_under if row else None
