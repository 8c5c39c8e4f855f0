"""`period.apportion` (operator): share a period's approved cases among the covered members.

See `apportion.py` for the arithmetic. The body carries only the totals and the share-tree
root; the rules recompute the covered set from the projections (streamed, `readers.py`) and
reject the entry unless every figure and the root match. The projector stores the share tree's
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
from heartchain.mutualaid.errors import PeriodExists, PeriodMismatch, UnknownCase, WrongStage
from heartchain.mutualaid.membership import log_time
from heartchain.mutualaid.models import Case, Period, Plan
from heartchain.mutualaid.plans import get_plan
from heartchain.mutualaid.readers import ACTIVE, COVERED, covered_sql, joined_of, reader

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

    def __post_init__(self) -> None:
        if any(a >= b for a, b in pairwise(self.cases)):
            raise ValidationError(f"period.apportion: cases must be 1..{MAX_PERIOD_CASES} "
                                  "case ids in strictly ascending order", field="cases")

    def figures(self) -> dict[str, int | str]:
        return {"payouts_fen": self.payouts_fen, "fee_fen": self.fee_fen,
                "carry_in_fen": self.carry_in_fen, "members": self.members,
                "share_fen": self.share_fen, "collected_fen": self.collected_fen,
                "carry_fen": self.carry_fen, "lapsed": self.lapsed,
                "share_root": self.share_root}


@dataclass(frozen=True)
class Computed:
    """What the projections say a period must be: the body's figures, the share tree's tiles
    and (for the projector) its pages of leaves."""

    totals: apportion.Totals
    tree: apportion.TreeSummary
    pages: list[bytes]
    page_keys: list[int]  # joined_idx of each page's first member

    def figures(self) -> dict[str, int | str]:
        t = self.totals
        return {"payouts_fen": t.payouts, "fee_fen": t.fee, "carry_in_fen": t.carry_in,
                "members": t.members, "share_fen": t.share, "collected_fen": t.collected,
                "carry_fen": t.carry, "lapsed": t.lapsed, "share_root": self.tree.root.hex()}


_first, _second = itemgetter(0), itemgetter(1)


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

    A count gives the share; then one pass over the covered set in join order, a chunk at a
    time, gives each leaf and the few balances not above the share."""
    payouts = sum(c.approved_fen or 0 for c in cases)
    rule = {"payouts": payouts, "fee_bp": plan.fee_bp, "carry_in": plan.carry_fen,
            "member_cap": plan.member_case_cap_fen, "cases": len(cases)}
    builder = apportion.TreeBuilder()
    pages: list[bytes] = []
    firsts: list[bytes] = []  # each page's first member
    low: list[int] = []  # balances of members who cannot pay more than the share

    def take(rows: Sequence[Sequence[Any]]) -> None:
        addresses, short = list(map(_first, rows)), list(map(_second, rows))
        builder.add_hashes(apportion.leaf_hashes_of(addresses, period, share, short))
        if keep_pages:
            pages.extend(apportion.pages_of(addresses, period, share, short))
            firsts.extend(addresses[::tiles.TILE_WIDTH])
        low.extend(filter(None, short))

    async with reader(conn) as read:
        # Counted from the (plan, status, covered_from) index alone: every projector keeps an
        # active membership's balance above zero (a join prepays >= 1 fen; a member whose
        # balance reaches 0 lapses; leaving sets it to 0 with status 'left'). The pass below
        # applies the full predicate and must find the same number.
        (members,) = await read.row(f"SELECT count(*) FROM ma_membership WHERE {ACTIVE}",
                                    [plan.id, now])
        share = apportion.share_for(members=int(members), **rule)
        carry: list[Any] = []  # batches start on page boundaries
        async with aclosing(read.chunks(covered_sql(conn, share), [plan.id, now])) as chunks:
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
        raise PeriodMismatch(f"period.apportion: {members} active members past their waiting "
                             f"period, but {tree.size} with a balance", field="members")
    totals = apportion.totals(members=int(members), short=sum(1 for b in low if b < share),
                              short_sum=sum(b for b in low if b < share), lapsed=len(low),
                              **rule)
    return Computed(totals, tree, pages, page_keys)


@rules(PeriodApportion)
async def _check_apportion(ctx: ApplyContext, b: PeriodApportion) -> None:
    await require_role(ctx, b.operator, "operator")
    plan = await get_plan(ctx.conn, b.plan)
    if b.period <= plan.periods:
        raise PeriodExists(f"plan {b.plan}: period {b.period} was already apportioned")
    if b.period != plan.periods + 1:
        raise PeriodMismatch(f"period.apportion: the next period of plan {b.plan} is "
                             f"{plan.periods + 1}", field="period")
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
    del computed
    # Those who cannot pay the full share pay their balance and lapse; then everyone still
    # covered pays the share. Two statements, so the common one leaves indexed columns alone
    # (and the first is skipped when the check counted nobody lapsing).
    if b.lapsed:
        await execute(conn, f"UPDATE ma_membership SET shared_fen = shared_fen + balance_fen, "
                            f"balance_fen = 0, status = 'lapsed', lapsed_idx = ? "
                            f"WHERE {COVERED} AND balance_fen <= ?", [index, b.plan, now, share])
    if share:
        await execute(conn, f"UPDATE ma_membership SET shared_fen = shared_fen + ?, "
                            f"balance_fen = balance_fen - ? WHERE {COVERED}",
                      [share, share, b.plan, now])
    marks = ", ".join("?" * len(b.cases))
    await execute(conn, f"UPDATE ma_case SET status = 'paid', period_idx = ? WHERE id IN ({marks})",
                  [index, *b.cases])
    await Period.create(using_db=conn, idx=index, plan=b.plan, number=b.period, at=now,
                        cases=json.dumps(list(b.cases)), payouts_fen=b.payouts_fen,
                        fee_fen=b.fee_fen, carry_in_fen=b.carry_in_fen, members=b.members,
                        share_fen=share, collected_fen=b.collected_fen, carry_fen=b.carry_fen,
                        lapsed=b.lapsed, share_root=b.share_root)
    await Plan.filter(id=b.plan).using_db(conn).update(carry_fen=b.carry_fen, periods=b.period)
