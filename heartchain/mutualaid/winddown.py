"""Wind-down services: announce a plan's close, refund its members, and its closing report.

The entries and their rules are in `closing.py`; this builds them from the projections.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from heartchain.errors import Conflict
from heartchain.keys import Signer, signer_address, signing_keys
from heartchain.ledger.entries import format_time
from heartchain.ledger.log import Appended
from heartchain.ledger.store import fetch
from heartchain.mutualaid.closing import (
    MAX_REFUNDS,
    PlanClose,
    PlanRefundBatch,
    Refund,
    closing_of,
    holders,
)
from heartchain.mutualaid.models import Period, PlanClosing, PlanRefund
from heartchain.mutualaid.plans import get_plan
from heartchain.platform import Platform


async def close_plan(platform: Platform, *, operator: Signer, plan: str, last_notice: datetime,
                     claims_days: int) -> Appended:
    """Announce the wind-down. A retry (same Idempotency-Key) answers the first announcement."""
    earlier = await platform.written_before(PlanClose, operator)
    if earlier is not None:
        if earlier.entry.body.get("plan") != plan:
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    return await platform.write(PlanClose(plan=plan, operator=signer_address(operator),
                                          last_notice=format_time(last_notice),
                                          claims_days=claims_days), *signing_keys(operator))


async def refund_plan(platform: Platform, *, operator: Signer, plan: str,
                      batch_size: int = MAX_REFUNDS) -> list[Appended]:
    """Refund every remaining balance, `batch_size` members an entry, the last one final.

    Each batch is built from the projections as they are after the one before, so a run that
    stopped part way continues where it left off when called again."""
    if not 1 <= batch_size <= MAX_REFUNDS:
        raise ValueError(f"batch_size: 1..{MAX_REFUNDS}")
    conn = platform.log.reader.connection()
    await get_plan(conn, plan)  # UnknownPlan, before any query with an id that cannot exist
    written = []
    while True:
        closing = await closing_of(conn, plan)
        if closing is not None and closing.closed_idx is not None:
            return written
        remaining = await holders(conn, plan)
        lines = tuple(Refund(member=m.member, amount_fen=m.balance_fen)
                      for m in remaining[:batch_size])
        body = PlanRefundBatch(plan=plan, operator=signer_address(operator),
                               batch=(closing.batches if closing else 0) + 1, refunds=lines,
                               total_fen=sum(r.amount_fen for r in lines),
                               final=len(remaining) <= batch_size)
        written.append(await platform.write(body, *signing_keys(operator)))


@dataclass(frozen=True)
class ClosingReport:
    """Where a plan's money went: everything prepaid = collected by the periods + refunded to
    members who left + refunded at the wind-down + still held."""

    closing: PlanClosing | None
    prepaid_fen: int
    periods: int
    payouts_fen: int
    fee_fen: int
    collected_fen: int
    carried_fen: int  # what the last period carried and nobody will collect once closed
    left_refunds_fen: int
    refunded_fen: int
    refunded_members: int
    held_fen: int
    holders: int

    @property
    def balanced(self) -> bool:
        return self.prepaid_fen == (self.collected_fen + self.left_refunds_fen
                                    + self.refunded_fen + self.held_fen)


async def _one(platform: Platform, query: str, values: list[object]) -> list[int]:
    rows = await fetch(platform.log.reader.connection(), query, values)
    return [int(v or 0) for v in rows[0].values()]


async def closing_report(platform: Platform, plan: str) -> ClosingReport:
    closing = await closing_of(platform.log.reader.connection(), plan)
    (prepaid,) = await _one(platform, "SELECT sum(amount_fen) AS s FROM ma_payment "
                                      "WHERE plan = ?", [plan])
    periods, payouts, fee, collected = await _one(
        platform, "SELECT count(*) AS n, sum(payouts_fen) AS p, sum(fee_fen) AS f, "
                  "sum(collected_fen) AS c FROM ma_period WHERE plan = ?", [plan])
    last = await Period.filter(plan=plan).order_by("-number").first()
    refunded, refunded_members = await _one(
        platform, "SELECT sum(amount_fen) AS s, count(*) AS n FROM ma_plan_refund "
                  "WHERE plan = ?", [plan])
    # Refunds to members who left of their own accord: those not refunded by the wind-down.
    (left,) = await _one(platform, """
        SELECT sum(refund_fen) AS s FROM ma_membership WHERE plan = ? AND status = 'left'
        AND id NOT IN (SELECT id FROM ma_plan_refund WHERE plan = ?)""", [plan, plan])
    held, holding = await _one(
        platform, "SELECT sum(balance_fen) AS s, count(*) AS n FROM ma_membership "
                  "WHERE plan = ? AND status <> 'left' AND balance_fen > 0", [plan])
    return ClosingReport(
        closing=closing, prepaid_fen=prepaid, periods=periods, payouts_fen=payouts,
        fee_fen=fee, collected_fen=collected, carried_fen=last.carry_fen if last else 0,
        left_refunds_fen=left, refunded_fen=refunded, refunded_members=refunded_members,
        held_fen=held, holders=holding)


async def refunds_of(plan: str) -> list[PlanRefund]:
    return await PlanRefund.filter(plan=plan).order_by("idx", "member")
