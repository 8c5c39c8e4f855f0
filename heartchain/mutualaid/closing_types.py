"""GraphQL types of a plan's wind-down: its closing state and report, and the operator's
`closePlan` / `refundPlan` mutations (closing.py has the rules)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

import strawberry

from heartchain.errors import ValidationError
from heartchain.gql import ErrorResult, Info, Int64, mutation
from heartchain.ledger.types import LogEntry, load_entry
from heartchain.mutualaid import winddown
from heartchain.mutualaid.case_types import iso_date
from heartchain.mutualaid.closing import MAX_CLAIMS_DAYS


@strawberry.type(name="MutualAidClosing", description="A plan's wind-down (plan.close) and, "
                 "once refunded (plan.refund), what was paid, refunded and carried.")
class ClosingType:
    plan: str
    announced_at: str
    last_notice: str = strawberry.field(description="the last moment a case may go on notice")
    claims_days: int
    claims_until: str = strawberry.field(description="cases may be opened until then")
    refund_from: str
    refund_batches: int
    refunded_fen: Int64
    refunded_members: int
    closed: bool
    close_index: Int64
    closed_index: Int64 | None
    prepaid_fen: Int64
    collected_fen: Int64 = strawberry.field(description="collected by every period")
    payouts_fen: Int64
    fee_fen: Int64
    carried_fen: Int64 = strawberry.field(description="what the last period carried")
    left_refunds_fen: Int64 = strawberry.field(description="refunded to members who left")
    held_fen: Int64 = strawberry.field(description="balances not refunded yet")

    @classmethod
    def of(cls, r: winddown.ClosingReport) -> ClosingType | None:
        c = r.closing
        if c is None:
            return None
        return cls(plan=c.plan, announced_at=c.announced_at, last_notice=c.last_notice,
                   claims_days=c.claims_days, claims_until=c.claims_until,
                   refund_from=c.refund_from, refund_batches=c.batches,
                   refunded_fen=Int64(c.refunded_fen), refunded_members=c.refunded_members,
                   closed=c.closed_idx is not None, close_index=Int64(c.close_idx),
                   closed_index=None if c.closed_idx is None else Int64(c.closed_idx),
                   prepaid_fen=Int64(r.prepaid_fen), collected_fen=Int64(r.collected_fen),
                   payouts_fen=Int64(r.payouts_fen), fee_fen=Int64(r.fee_fen),
                   carried_fen=Int64(r.carried_fen), left_refunds_fen=Int64(r.left_refunds_fen),
                   held_fen=Int64(r.held_fen))


async def closing_of(info: Info, plan: str) -> ClosingType | None:
    return ClosingType.of(await winddown.closing_report(info.context.platform, plan))


@strawberry.type(name="MutualAidPlanClosing")
class ClosingSaved:
    closing: ClosingType
    entries: list[LogEntry]


ClosingResult = Annotated[ClosingSaved | ErrorResult, strawberry.union("MutualAidClosingResult")]


def _end_of(day: str) -> datetime:
    """The last millisecond of a date (UTC): a last notice date includes the whole day."""
    return datetime.combine(iso_date("lastNotice", day), time(23, 59, 59, 999_000), UTC)


async def _saved(info: Info, plan: str, indexes: list[int]) -> ClosingSaved:
    closing = await closing_of(info, plan)
    if closing is None:  # not expected: the entry that makes it was just written
        raise ValidationError(f"plan {plan} has no wind-down", field="plan")
    return ClosingSaved(closing=closing, entries=[await load_entry(info, i) for i in indexes])


@strawberry.type
class ClosingMutation:
    @mutation(roles=["operator"],
              description="Operator: announce a plan's wind-down. `lastNotice` (YYYY-MM-DD, "
                          "UTC, the whole day) is the last day a case may go on public notice; "
                          "cases may be opened for `claimsDays` days from now. New joins are "
                          "refused at once, top-ups after the last notice date.")
    async def close_plan(self, info: Info, plan: str, last_notice: str, claims_days: int = 180
                         ) -> ClosingResult:
        if not 0 <= claims_days <= MAX_CLAIMS_DAYS:
            raise ValidationError(f"claimsDays: 0..{MAX_CLAIMS_DAYS}", field="claimsDays")
        appended = await winddown.close_plan(info.context.platform,
                                             operator=info.context.caller.address, plan=plan,
                                             last_notice=_end_of(last_notice),
                                             claims_days=claims_days)
        return await _saved(info, plan, [appended.index])

    @mutation(roles=["operator"],
              description="Operator: after the last notice date and the claims window, with "
                          "every case settled, refund each member's remaining balance "
                          "(plan.refund entries of up to 1,000 members each) and close the plan.")
    async def refund_plan(self, info: Info, plan: str) -> ClosingResult:
        written = await winddown.refund_plan(info.context.platform,
                                             operator=info.context.caller.address, plan=plan)
        return await _saved(info, plan, [a.index for a in written])
