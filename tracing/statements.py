"""A donor's year-end statement: every gift of a fiscal year with its status.

The fiscal year starts on any date (`fiscal_year(date(2026, 4, 1))`: 2026-04-01 to 2027-04-01,
China Standard Time, UTC+8) and a gift counts in the year the log recorded it (the time the
donor page shows). A gift's statuses, in order: `recorded`; `corrected` (by which entries; the
original values kept); `reversed` (by which entry, and why); for cash, `disbursed` — to whom,
for what and how much of it, by which disbursement (first in, first out); for goods,
`dispatched` into lots and `delivered`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from heartchain.corrections.queries import EntryCorrections, corrections_of
from tokens.models import HeartDonation
from tracing.campaign_models import CampaignRefund
from tracing.disclosure import CST
from tracing.journeys import donation_journeys
from tracing.queries import Journey


@dataclass(frozen=True)
class FiscalYear:
    start: date
    end: date  # exclusive

    @property
    def bounds(self) -> tuple[str, str]:
        """The year as log times (UTC, `2026-03-31T16:00:00.000Z`), for comparing `at`s."""
        return (_log_time(self.start), _log_time(self.end))


def _log_time(day: date) -> str:
    moment = datetime.combine(day, time(0), tzinfo=CST).astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.000Z")


def fiscal_year(start: date) -> FiscalYear:
    try:
        end = start.replace(year=start.year + 1)
    except ValueError:  # 29 February: the next year starts on 1 March
        end = date(start.year + 1, 3, 1)
    return FiscalYear(start, end)


def year_containing(today: date, start_month: int = 1, start_day: int = 1) -> FiscalYear:
    """The fiscal year, starting each year on (month, day), that `today` falls in."""
    start = date(today.year, start_month, start_day)
    return fiscal_year(start if start <= today else date(today.year - 1, start_month,
                                                        start_day))


@dataclass(frozen=True)
class Status:
    status: str  # recorded | corrected | reversed | disbursed | dispatched | delivered | refunded
    index: int | None = None  # the entry that made it so
    amount: int | None = None
    payee: str | None = None
    purpose: str | None = None
    reason: str | None = None


@dataclass
class Line:
    donation: HeartDonation
    statuses: list[Status] = field(default_factory=list)
    corrections: EntryCorrections | None = None
    journey: Journey | None = None

    @property
    def net(self) -> int:
        """What the gift stands at: nothing once reversed, less a pay-for-success refund."""
        if self.donation.reversed_idx is not None:
            return 0
        return self.donation.quantity - sum(s.amount or 0 for s in self.statuses
                                            if s.status == "refunded")


@dataclass
class Statement:
    donor: str
    year: FiscalYear
    lines: list[Line]

    def totals(self) -> dict[str, tuple[int, int, int]]:
        """Per kind: (gifts, net quantity, hearts), reversed gifts counting as nothing."""
        found: dict[str, tuple[int, int, int]] = {}
        for line in self.lines:
            gifts, quantity, hearts = found.get(line.donation.kind, (0, 0, 0))
            live = line.donation.reversed_idx is None
            kept = line.donation.hearts - (line.donation.refund_hearts or 0)
            found[line.donation.kind] = (gifts + 1, quantity + line.net,
                                         hearts + (kept if live else 0))
        return found


async def donor_statement(donor: str, year: FiscalYear) -> Statement:
    start, end = year.bounds
    gifts = await HeartDonation.filter(donor=donor, recorded_at__gte=start,
                                       recorded_at__lt=end).order_by("idx")
    indexes = [g.idx for g in gifts]
    corrected = await corrections_of(indexes)
    journeys = await donation_journeys(indexes)
    refunds = {r.donation_idx: r for r in await CampaignRefund.filter(
        donation_idx__in=[g.idx for g in gifts if g.refund_idx is not None])}
    lines = []
    for gift in gifts:
        line = Line(gift, [Status("recorded", gift.idx, gift.quantity)],
                    corrected.get(gift.idx), journeys.get(gift.idx))
        if line.corrections is not None:
            line.statuses.extend(Status("corrected", c.idx, reason=c.reason)
                                 for c in line.corrections.corrections)
        if gift.reversed_idx is not None:
            line.statuses.append(Status("reversed", gift.reversed_idx,
                                        reason=gift.reversal_reason))
        journey = line.journey
        if journey is not None and gift.kind == "cash":
            line.statuses.extend(Status("disbursed", paid.idx, allocation.amount, paid.payee,
                                        paid.purpose) for allocation, paid in journey.allocations)
        elif journey is not None:
            if journey.dispatched:
                line.statuses.append(Status("dispatched", amount=journey.dispatched))
            if journey.delivered:
                line.statuses.append(Status("delivered", amount=journey.delivered))
        if gift.idx in refunds:  # pay for success: its share of the campaign's refund
            share = refunds[gift.idx]
            line.statuses.append(Status("refunded", share.refund_idx, share.amount))
        lines.append(line)
    return Statement(donor, year, lines)
