"""`period.notice` (operator): the member set a period is shared by, fixed on the notice day.

The set is the members covered at 00:00 plan time on the notice day (active, past the waiting
period by then, balance > 0) and still holding that membership when the notice opens, which is
on that same day. The entry carries its count and the root of a Merkle tree (RFC 9162) whose
leaf ``i`` is the canonical JSON ``{"member": <address>, "period": <number>}`` of the i-th member
in join order; the rules recompute both from the projections, so anyone replaying the log can.
`period.apportion` divides by exactly that set (`readers.COUNTED` finds it again without any
row marked: covered at the snapshot, joined before the notice, still active or left since), so
joining, leaving or topping up afterwards changes nobody's share (a member who left pays
nothing; their part is carried). Nothing else moves a member in or out before the deduction:
only an apportionment lapses members, a lapsed member's top-up restarts coverage after the
snapshot, and a counted member who left cannot rejoin until the period is apportioned (a rejoin
would move them in the join order the tree follows).
"""

from __future__ import annotations

import hashlib
from contextlib import aclosing
from datetime import date
from typing import Annotated

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import ValidationError
from heartchain.ledger.body import Address, Body, Hex32, Index, Quantity, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.mutualaid import apportion
from heartchain.mutualaid.errors import PeriodExists, PeriodMismatch, RuleBroken
from heartchain.mutualaid.membership import log_time
from heartchain.mutualaid.models import PeriodNotice as NoticeRow
from heartchain.mutualaid.plans import get_plan, local_date, midnight, rules_of
from heartchain.mutualaid.readers import COVERED, members_sql, reader

Day = Annotated[str, msgspec.Meta(max_length=10, pattern=r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")]


class PeriodNoticeOpen(Body):
    """Open a period's notice: commit the member set counted at 00:00 on the notice day."""

    KIND = "period.notice"
    SIGNERS = ("operator",)

    plan: Slug
    operator: Address
    period: Quantity
    day: Day  # the notice day, plan time
    members: Index
    member_root: Hex32

    def __post_init__(self) -> None:
        try:
            date.fromisoformat(self.day)
        except ValueError:
            raise ValidationError("period.notice: day is not a date", field="day") from None


def member_leaf(member: bytes, period: int) -> bytes:
    """RFC 8785 canonical JSON of a member-set leaf (keys in JCS order, ASCII address)."""
    return b'{"member":"%s","period":%d}' % (member, period)


async def member_set(conn: BaseDBAsyncClient, plan: str, period: int, snapshot_at: str
                     ) -> apportion.TreeSummary:
    """The member set covered at `snapshot_at` as a tree summary (size = count), streamed."""
    builder = apportion.TreeBuilder()
    sha = hashlib.sha256
    head, tail = b'\x00{"member":"', b'","period":%d}' % period
    async with reader(conn) as read, \
            aclosing(read.chunks(members_sql(conn, COVERED), [plan, snapshot_at])) as chunks:
        async for rows in chunks:
            builder.add_hashes([sha(head + row[0] + tail).digest() for row in rows])
    return builder.finish()


async def open_notice(conn: BaseDBAsyncClient, plan: str, period: int) -> NoticeRow | None:
    """The notice of `plan`'s period `period`, if it was opened."""
    return await NoticeRow.get_or_none(plan=plan, number=period).using_db(conn)


@rules(PeriodNoticeOpen)
async def _check_notice(ctx: ApplyContext, b: PeriodNoticeOpen) -> None:
    await require_role(ctx, b.operator, "operator")
    plan = await get_plan(ctx.conn, b.plan)
    if b.period != plan.periods + 1:
        raise PeriodMismatch(f"period.notice: the next period of plan {b.plan} is "
                             f"{plan.periods + 1}", field="period")
    if await open_notice(ctx.conn, b.plan, b.period) is not None:
        raise PeriodExists(f"plan {b.plan}: the notice of period {b.period} is already open")
    r, day = rules_of(plan), date.fromisoformat(b.day)
    if not r.is_notice_day(day):
        raise RuleBroken(f"period.notice: {b.day} is not a notice day of plan {b.plan} (days "
                         f"{', '.join(map(str, r.notice_days))} of the month)", field="day")
    today = local_date(log_time(ctx), r.time_zone)
    if today != day:
        raise RuleBroken(f"period.notice: a notice opens on its day; today is {today} in "
                         f"{r.time_zone}, not {b.day}", field="day")
    found = await member_set(ctx.conn, b.plan, b.period, midnight(day, r.time_zone))
    for name, value, stated in (("members", found.size, b.members),
                                ("member_root", found.root.hex(), b.member_root)):
        if value != stated:
            raise PeriodMismatch(f"period.notice: {name} is {value} by the projections, not "
                                 f"{stated}", field=name)


@projects(PeriodNoticeOpen)
async def _project_notice(ctx: ApplyContext, b: PeriodNoticeOpen) -> None:
    plan = await get_plan(ctx.conn, b.plan)
    snapshot = midnight(date.fromisoformat(b.day), plan.time_zone or "UTC")
    await NoticeRow.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, number=b.period,
                           day=b.day, snapshot_at=snapshot, members=b.members,
                           member_root=b.member_root)


async def notice_body(conn: BaseDBAsyncClient, plan: str, operator: str, day: date
                      ) -> PeriodNoticeOpen:
    """The period.notice body for `plan`'s next period on `day`, from the projections."""
    row = await get_plan(conn, plan)
    period = row.periods + 1
    found = await member_set(conn, plan, period, midnight(day, row.time_zone or "UTC"))
    return PeriodNoticeOpen(plan=plan, operator=operator, period=period, day=day.isoformat(),
                            members=found.size, member_root=found.root.hex())
