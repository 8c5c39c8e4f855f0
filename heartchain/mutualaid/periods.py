"""`period.apportion` (operator): share a period's approved cases among the covered members.

See `apportion.py` for the arithmetic. When the period's notice was opened (`notices.py`), the
members sharing are exactly the set it committed, and the deduction date must be one of the
plan's deduction days after the notice day (plan time); a plan with notice days needs the notice.

The body carries only the totals and the share-tree root; the rules recompute the sharing set
from the projections (streamed, `readers.py`) and reject the entry unless every figure and the
root match. The projector stores the share tree's
leaves as pages of 256 (`SharePage`) and its upper tiles, and debits the balances set-based.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from contextlib import aclosing
from dataclasses import dataclass
from itertools import pairwise
from operator import itemgetter
from typing import Annotated, Any

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger import tiles
from heartchain.ledger.body import Address, Body, Hex32, Index, Quantity, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.ledger.store import execute, execute_many
from heartchain.lookups import can_match
from heartchain.mutualaid import apportion
from heartchain.mutualaid.errors import (
    PeriodExists,
    PeriodMismatch,
    RuleBroken,
    UnknownCase,
    WrongStage,
)
from heartchain.mutualaid.membership import log_time
from heartchain.mutualaid.models import Case, Period, Plan
from heartchain.mutualaid.models import PeriodNotice as NoticeRow
from heartchain.mutualaid.notices import open_notice
from heartchain.mutualaid.plans import get_plan, local_date, rules_of
from heartchain.mutualaid.readers import (
    ACTIVE,
    COUNTED,
    COVERED,
    covered_sql,
    joined_of,
    limit_sql,
    reader,
    year_room,
    year_shared,
)

MAX_PERIOD_CASES = 500


class PeriodApportion(Body):
    """Share a period's approved cases among covered members."""

    KIND = "period.apportion"
    SIGNERS = ("operator",)

    plan: Slug
    operator: Address
    period: Quantity
    cases: Annotated[tuple[Slug, ...], msgspec.Meta(min_length=1, max_length=MAX_PERIOD_CASES)]
    payouts_fen: Index
    fee_fen: Index
    carry_in_fen: Index
    members: Index
    share_fen: Index
    collected_fen: Index
    carry_fen: Index
    lapsed: Index
    share_root: Hex32
    # Optional (absent in entries of plans without the options, which encode as before):
    notice: Index | None = None  # the period.notice entry whose member set shares
    year_capped: Index = 0  # members the per-year cap let pay less than the share
    year_cut_fen: Index = 0  # what it cut off them (carried, within carry_fen)

    def __post_init__(self) -> None:
        if any(a >= b for a, b in pairwise(self.cases)):
            raise ValidationError(f"period.apportion: cases must be 1..{MAX_PERIOD_CASES} "
                                  "case ids in strictly ascending order", field="cases")

    def figures(self) -> dict[str, int | str]:
        return {"payouts_fen": self.payouts_fen, "fee_fen": self.fee_fen,
                "carry_in_fen": self.carry_in_fen, "members": self.members,
                "share_fen": self.share_fen, "collected_fen": self.collected_fen,
                "carry_fen": self.carry_fen, "lapsed": self.lapsed,
                "share_root": self.share_root, "notice": self.notice,
                "year_capped": self.year_capped, "year_cut_fen": self.year_cut_fen}


@dataclass(frozen=True)
class Computed:
    """What the projections say a period must be: the body's figures, the share tree's tiles
    and (for the projector) its pages of leaves."""

    totals: apportion.Totals
    tree: apportion.TreeSummary
    pages: list[bytes]
    page_keys: list[int]  # joined_idx of each page's first member
    notice: int | None = None
    year: int = 0  # the plan year (plan time) the shares count towards

    def figures(self) -> dict[str, int | str | None]:
        t = self.totals
        return {"payouts_fen": t.payouts, "fee_fen": t.fee, "carry_in_fen": t.carry_in,
                "members": t.members, "share_fen": t.share, "collected_fen": t.collected,
                "carry_fen": t.carry, "lapsed": t.lapsed, "share_root": self.tree.root.hex(),
                "notice": self.notice, "year_capped": t.year_capped,
                "year_cut_fen": t.year_cut}


_first, _second = itemgetter(0), itemgetter(1)


@dataclass
class _Specials:
    """Running aggregates over the members who pay less than the share."""

    count: int = 0
    paid: int = 0
    lapsed: int = 0
    year_capped: int = 0
    year_cut: int = 0

    def add(self, share: int, rows: Sequence[Sequence[Any]], pays: Sequence[int | None]) -> None:
        if pays.count(None) == len(pays):  # the common case: everyone pays the share
            return
        for row, paid in zip(rows, pays, strict=True):
            if paid is None:
                continue
            self.count, self.paid = self.count + 1, self.paid + paid
            if row[2] is not None:
                self.year_capped, self.year_cut = self.year_capped + 1, \
                    self.year_cut + share - row[2]
            if row[3] is not None:
                self.lapsed += 1


def sharing_set(plan: Plan, notice: NoticeRow | None, now: str) -> tuple[str, list[Any]]:
    """The WHERE clause and values selecting the members who share: the notice's set, else
    those covered now."""
    if notice is not None:
        return COUNTED, [plan.id, notice.snapshot_at, notice.idx, notice.idx]
    return COVERED, [plan.id, now]


async def period_cases(conn: BaseDBAsyncClient, plan: str, case_ids: Sequence[str]
                       ) -> list[Case]:
    wanted = [c for c in case_ids if can_match(Case, id=c)]
    found = {c.id: c for c in await Case.filter(id__in=wanted).using_db(conn)}
    cases = []
    for case_id in case_ids:
        case = found.get(case_id)
        if case is None or case.plan != plan:
            raise UnknownCase(f"no case {case_id!r} in plan {plan}")
        if case.period_idx is not None:
            raise Conflict(f"case {case_id} was already apportioned")
        if case.status != "approved":
            raise WrongStage(f"case {case_id} is {case.status}, not approved")
        cases.append(case)
    return cases


async def compute_period(conn: BaseDBAsyncClient, plan: Plan, period: int,
                         cases: Sequence[Case], now: str, *, keep_pages: bool = False
                         ) -> Computed:
    """Everything a period.apportion body must say, from the projections at log time `now`.

    A count gives the share (the notice's, when it was opened); then one pass over the sharing
    set in join order, a chunk at a time, gives each leaf and the few members paying less."""
    payouts = sum(c.approved_fen or 0 for c in cases)
    rule = {"payouts": payouts, "fee_bp": plan.fee_bp, "carry_in": plan.carry_fen,
            "member_cap": plan.member_case_cap_fen, "cases": len(cases)}
    time_zone = plan.time_zone or "UTC"
    notice = await open_notice(conn, plan.id, period)
    year = local_date(notice.snapshot_at if notice else now, time_zone).year
    where, values = sharing_set(plan, notice, now)
    builder = apportion.TreeBuilder()
    pages: list[bytes] = []
    firsts: list[bytes] = []  # each page's first member
    specials = _Specials()

    def take(rows: Sequence[Sequence[Any]]) -> None:
        addresses, pays = list(map(_first, rows)), list(map(_second, rows))
        builder.add_hashes(apportion.leaf_hashes_of(addresses, period, share, pays))
        if keep_pages:
            pages.extend(apportion.pages_of(addresses, period, share, pays))
            firsts.extend(addresses[::tiles.TILE_WIDTH])
        specials.add(share, rows, pays)

    async with reader(conn) as read:
        if notice is not None:
            members = notice.members
        else:
            # Counted from the (plan, status, covered_from) index alone: every projector keeps
            # an active membership's balance above zero (a join prepays >= 1 fen; a member
            # whose balance reaches 0 lapses; leaving sets it to 0 with status 'left'). The pass
            # below applies the full predicate and must find the same number.
            (members,) = await read.row(f"SELECT count(*) FROM ma_membership WHERE {ACTIVE}",
                                        [plan.id, now])
        share = apportion.share_for(members=int(members), **rule)
        sql = covered_sql(conn, share, where, year=year, year_cap=plan.year_cap_fen or 0)
        carry: list[Any] = []  # batches start on page boundaries
        async with aclosing(read.chunks(sql, values)) as chunks:
            async for rows in chunks:
                if carry:
                    rows = [*carry, *rows]
                cut = len(rows) - len(rows) % tiles.TILE_WIDTH
                carry = rows[cut:]
                if cut:
                    take(rows[:cut] if carry else rows)
        if carry:
            take(carry)
        # Pages are found by join position: look up each page's first member's.
        page_keys = await joined_of(read, plan.id, firsts)
    tree = builder.finish()
    if tree.size != members:
        raise PeriodMismatch(f"period.apportion: {members} members share, but {tree.size} "
                             "with a balance", field="members")
    totals = apportion.totals_of(members=int(members), specials=specials.count,
                                 special_paid=specials.paid, lapsed=specials.lapsed,
                                 year_capped=specials.year_capped, year_cut=specials.year_cut,
                                 **rule)
    return Computed(totals, tree, pages, page_keys, None if notice is None else notice.idx,
                    year)


async def check_dates(conn: BaseDBAsyncClient, plan: Plan, period: int, now: str) -> None:
    """A plan with notice days needs the period's notice; a plan with deduction days deducts
    on one of them, after the notice day (plan time)."""
    r = rules_of(plan)
    notice = await open_notice(conn, plan.id, period)
    if notice is None and r.notice_days:
        raise WrongStage(f"period.apportion: open the notice of period {period} first "
                         f"(plan {plan.id} has notice days)")
    today = local_date(now, r.time_zone)
    if not r.is_deduction_day(today):
        raise RuleBroken(f"period.apportion: {today} is not a deduction day of plan {plan.id} "
                         f"(days {', '.join(map(str, r.deduction_days))} of the month)",
                         field="at")
    if notice is not None and r.deduction_days and today.isoformat() <= notice.day:
        raise RuleBroken(f"period.apportion: the deduction comes after the notice day "
                         f"{notice.day}", field="at")


@rules(PeriodApportion)
async def _check_apportion(ctx: ApplyContext, b: PeriodApportion) -> None:
    await require_role(ctx, b.operator, "operator")
    plan = await get_plan(ctx.conn, b.plan)
    if b.period <= plan.periods:
        raise PeriodExists(f"plan {b.plan}: period {b.period} was already apportioned")
    if b.period != plan.periods + 1:
        raise PeriodMismatch(f"period.apportion: the next period of plan {b.plan} is "
                             f"{plan.periods + 1}", field="period")
    await check_dates(ctx.conn, plan, b.period, log_time(ctx))
    cases = await period_cases(ctx.conn, b.plan, b.cases)
    computed = await compute_period(ctx.conn, plan, b.period, cases, log_time(ctx),
                                    keep_pages=True)
    expected, found = computed.figures(), b.figures()
    for name, value in expected.items():
        if found[name] != value:
            raise PeriodMismatch(f"period.apportion: {name} is {value} by the projections, "
                                 f"not {found[name]}", field=name)
    ctx.memo[("mutualaid.period", ctx.index)] = computed


@projects(PeriodApportion)
async def _project_apportion(ctx: ApplyContext, b: PeriodApportion) -> None:
    computed: Computed | None = ctx.memo.pop(("mutualaid.period", ctx.index), None)
    now = log_time(ctx)
    if computed is None:  # not expected: check always runs first in the same batch
        plan = await get_plan(ctx.conn, b.plan)
        computed = await compute_period(ctx.conn, plan, b.period,
                                        await period_cases(ctx.conn, b.plan, b.cases), now,
                                        keep_pages=True)
    conn, share, index = ctx.conn, b.share_fen, ctx.index
    # The leaves go in as pages of 256 (one row each, not one per member); the tiles above
    # level 0 beside them. Then the debits, set-based, over the same covered set (nothing
    # changes it in between: same transaction).
    await execute_many(conn, "INSERT INTO ma_share_page (id, period_idx, page, first_joined, "
                             "leaves) VALUES (?, ?, ?, ?, ?)",
                       [[f"{index}/{n}", index, n, first, page] for n, (first, page)
                        in enumerate(zip(computed.page_keys, computed.pages, strict=True))])
    await execute_many(conn, "INSERT INTO ma_share_tile (id, period_idx, data) VALUES (?, ?, ?)",
                       [[f"{index}/{level}/{n}", index, data]
                        for level, n, data in computed.tree.tiles])
    year, plan = computed.year, await get_plan(conn, b.plan)
    del computed
    where, values = sharing_set(plan, await open_notice(conn, b.plan, b.period), now)
    cap = plan.year_cap_fen or 0
    limit, so_far = limit_sql(share, year, cap), year_shared(year)
    # Those who cannot pay what they owe (the share, or less under the per-year cap) pay their
    # balance and lapse; then those the per-year cap limits pay their room; then everyone else
    # in the set pays the share. Each statement leaves the next only the rows still to debit
    # (the lapsed are no longer active; the capped have no room left); the common one leaves
    # indexed columns alone, and the others are skipped when the check counted nobody. A
    # member's shares in the plan year are tracked while a per-year cap is in force (a cap
    # a new rules version brings counts from then on).
    active = f"{where} AND status = 'active'"
    if b.lapsed:
        yearly = f"year_shared_fen = {so_far} + balance_fen, share_year = {year}, " if cap \
            else ""
        await execute(conn, f"UPDATE ma_membership SET shared_fen = shared_fen + balance_fen, "
                            f"{yearly}balance_fen = 0, status = 'lapsed', lapsed_idx = ? "
                            f"WHERE {active} AND balance_fen <= {limit}", [index, *values])
    room = year_room(year, cap)
    if cap and b.year_capped:
        await execute(conn, f"UPDATE ma_membership SET shared_fen = shared_fen + {room}, "
                            f"balance_fen = balance_fen - {room}, year_shared_fen = {cap}, "
                            f"share_year = {year} WHERE {active} AND {room} < {share}", values)
    if share:
        roomy = f" AND {room} >= {share}" if cap else ""
        yearly = f", year_shared_fen = {so_far} + {share}, share_year = {year}" if cap else ""
        await execute(conn, f"UPDATE ma_membership SET shared_fen = shared_fen + ?, "
                            f"balance_fen = balance_fen - ?{yearly} "
                            f"WHERE {active}{roomy}", [share, share, *values])
    marks = ", ".join("?" * len(b.cases))
    await execute(conn, f"UPDATE ma_case SET status = 'paid', period_idx = ? WHERE id IN ({marks})",
                  [index, *b.cases])
    target = b.payouts_fen + b.fee_fen + b.carry_in_fen
    await Period.create(using_db=conn, idx=index, plan=b.plan, number=b.period, at=now,
                        cases=json.dumps(list(b.cases)), payouts_fen=b.payouts_fen,
                        fee_fen=b.fee_fen, carry_in_fen=b.carry_in_fen, members=b.members,
                        share_fen=share, collected_fen=b.collected_fen, carry_fen=b.carry_fen,
                        lapsed=b.lapsed, share_root=b.share_root, notice_idx=b.notice,
                        cap_cut_fen=apportion.cap_cut_of(target, b.members, share),
                        year_capped=b.year_capped, year_cut_fen=b.year_cut_fen)
    if b.notice is not None:
        await NoticeRow.filter(idx=b.notice).using_db(conn).update(apportioned_idx=index)
    await Plan.filter(id=b.plan).using_db(conn).update(carry_fen=b.carry_fen, periods=b.period)
