"""Disclosure reports: what a charity publishes for each campaign at least every three months
(China's Charity Law, art. 71–73): raised, reversed, refunded (pay for success), spent by
purpose, goods received and distributed, lost and in stock, and the cash balance, per calendar
quarter, from the log's projections. Every figure lists the entries behind it. A campaign that
only received goods has a report like any other (its cash rows are zero).

The quarters run from the one the campaign starts in (a declared campaign's `starts`; a legacy
undeclared one's first entry) to the current one; quarters without entries carry the balances
and stock over. Asking for a quarter before the start or not yet begun is `QuarterOutOfRange`.

Quarters are calendar quarters in China Standard Time (UTC+8): `2026-Q4` is 2026-10-01 00:00 to
2027-01-01 00:00 +08:00. An entry counts in the quarter of its signed time (`at`). Amounts are
integer fen (cash) and the goods' own units (grams, items, trees). Projections apply
corrections, so a corrected gift counts at its corrected amount in its own quarter, and the
corrections behind a quarter's figures are listed in it.

JSON (`report_json`), `format` "heartchain-disclosure/1"::

    {"format": "heartchain-disclosure/1", "campaign": "winter-2026", "charity": "hc1…",
     "timezone": "+08:00", "currency": "CNY", "cash_unit": "fen", "quarters": [
      {"quarter": "2026-Q4", "from": "2026-10-01", "until": "2027-01-01",
       "opening_balance": 0,
       "raised":   {"amount": 5000, "count": 1, "entries": [12]},
       "reversed": {"amount": 0, "count": 0, "entries": []},
       "refunded": {"amount": 0, "count": 0, "entries": []},
       "spent":    {"amount": 3000, "count": 1, "entries": [20]},
       "spent_by_purpose": [{"purpose": "delivery van", "amount": 3000, "count": 1,
                             "entries": [20], "receipts": ["9f2c…"]}],
       "goods_received": [{"item": "food", "unit": "grams", "quantity": 12500, "count": 1,
                           "entries": [11]}],
       "goods_distributed": [{"item": "大米 rice", "unit": "grams", "quantity": 10000,
                              "count": 1, "entries": [30]}],
       "goods_lost": [],
       "goods_in_stock": [{"item": "大米 rice", "unit": "grams", "quantity": 2500,
                           "count": 1, "entries": [11]}],
       "closing_balance": 2000,
       "corrections": [41]}]}

`closing_balance = opening_balance + raised − reversed − refunded − spent`, and a quarter's
opening is the previous one's closing (the first opens at 0). `refunded` is what a
pay-for-success campaign gave back to its donors after its deadline (tracing.escrow): `count`
the gifts' shares, `entries` the campaign.refund entry. `entries` are log indexes
(`/entries/<n>`): donations for `raised`, reversal entries for `reversed`, disbursements for
`spent`, donations for `goods_received`, `lot.deliver` entries for `goods_distributed`,
`lot.loss` (or the split or merge that lost units) for `goods_lost`, and for `goods_in_stock`
(held at the quarter's close) the origin entries (gifts, purchase lots) whose units are held:
see tracing.disclosure_goods.

CSV (`report_csv`): one row per figure, columns
`quarter,section,item,unit,amount,count,entries,receipts`; `section` is one of opening_balance,
raised, reversed, refunded, spent, spent_by_purpose, goods_received, goods_distributed,
goods_lost, goods_in_stock, closing_balance, corrections; `item` the purpose or goods (empty
otherwise); `unit` fen or the goods' unit; `entries` and `receipts` space-separated. Text cells
are escaped against formula injection (heartchain.csvsafe); `parse_csv` reads it back into the
same reports."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from heartchain import csvsafe
from heartchain.corrections.queries import corrections_of
from heartchain.lookups import can_match
from tracing.campaign_models import CampaignRefund
from tracing.campaign_services import get_campaign, only_one
from tracing.campaigns import campaign_key
from tracing.disclosure_goods import Goods, goods_by_quarter
from tracing.errors import QuarterOutOfRange, UnknownCampaign
from tracing.models import Disbursement, TracedDonation

FORMAT = "heartchain-disclosure/1"
CST = timezone(timedelta(hours=8))
GOODS_SECTIONS = ("goods_received", "goods_distributed", "goods_lost", "goods_in_stock")
CSV_COLUMNS = ["quarter", "section", "item", "unit", "amount", "count", "entries", "receipts"]


@dataclass
class Figure:
    amount: int = 0
    count: int = 0
    entries: list[int] = field(default_factory=list)

    def add(self, amount: int, index: int) -> None:
        self.amount += amount
        self.count += 1
        self.entries.append(index)


@dataclass
class Purpose:
    purpose: str
    amount: int = 0
    count: int = 0
    entries: list[int] = field(default_factory=list)
    receipts: list[str] = field(default_factory=list)


@dataclass
class Quarter:
    quarter: str
    opening_balance: int = 0
    raised: Figure = field(default_factory=Figure)
    reversed: Figure = field(default_factory=Figure)
    refunded: Figure = field(default_factory=Figure)
    spent: Figure = field(default_factory=Figure)
    spent_by_purpose: list[Purpose] = field(default_factory=list)
    goods_received: list[Goods] = field(default_factory=list)
    goods_distributed: list[Goods] = field(default_factory=list)
    goods_lost: list[Goods] = field(default_factory=list)
    goods_in_stock: list[Goods] = field(default_factory=list)
    closing_balance: int = 0
    corrections: list[int] = field(default_factory=list)

    @property
    def bounds(self) -> tuple[str, str]:
        return quarter_bounds(self.quarter)


@dataclass
class Report:
    campaign: str
    charity: str
    quarters: list[Quarter]


def quarter_of(at: str) -> str:
    """The CST quarter of a log time: `2026-12-31T16:30:00.000Z` is 2027-Q1."""
    moment = datetime.strptime(at[:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=UTC).astimezone(CST)
    return f"{moment.year}-Q{(moment.month - 1) // 3 + 1}"


def quarter_bounds(quarter: str) -> tuple[str, str]:
    """(first day, first day of the next quarter), CST dates."""
    year, number = int(quarter[:4]), int(quarter[-1])
    start = f"{year}-{3 * (number - 1) + 1:02d}-01"
    end = f"{year + 1}-01-01" if number == 4 else f"{year}-{3 * number + 1:02d}-01"
    return start, end


def quarter_after(quarter: str) -> str:
    year, number = int(quarter[:4]), int(quarter[-1])
    return f"{year + 1}-Q1" if number == 4 else f"{year}-Q{number + 1}"


def _quarters(first: str, last: str) -> list[str]:
    found = [first]
    while found[-1] < last:
        found.append(quarter_after(found[-1]))
    return found


@dataclass(frozen=True)
class Subject:
    """The campaign a report is of: declared (its `starts` opens the first quarter), or a legacy
    campaign that only has entries (see tracing.campaigns.DECLARED_FROM; `starts` None)."""

    slug: str
    charity: str
    starts: str | None

    @property
    def key(self) -> str:
        return campaign_key(self.slug, self.charity)


async def find_subject(slug: str, charity: str | None = None) -> Subject:
    """The declared campaign, else an undeclared legacy one with gifts of cash or goods."""
    try:
        row = await get_campaign(slug, charity)
        return Subject(row.slug, row.charity, row.starts)
    except UnknownCampaign:
        pass
    query = TracedDonation.filter(campaign=slug)
    if charity is not None:
        query = query.filter(charity=charity)
    fits = can_match(TracedDonation, campaign=slug, charity=charity or "")
    found = sorted(set(await query.distinct().values_list("charity", flat=True))) if fits else []
    return Subject(slug, str(only_one(slug, charity, found)), None)


async def campaign_report(subject: Subject, *, now: datetime, quarter: str | None = None
                          ) -> Report:
    """Every quarter from the campaign's start (or first entry) to the quarter of `now`; only
    `quarter` when given, which must lie in that span (`QuarterOutOfRange` otherwise)."""
    donations = await TracedDonation.filter(campaign_key=subject.key).order_by("idx")
    disbursements = await Disbursement.filter(campaign_key=subject.key).order_by("idx")
    refunds = await CampaignRefund.filter(campaign_key=subject.key).order_by("refund_idx",
                                                                            "donation_idx")
    stamps = [d.at for d in donations] + [p.at for p in disbursements] + [r.at for r in refunds]
    if subject.starts is not None:
        stamps.append(subject.starts)
    last = quarter_of(now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    first = min((quarter_of(at) for at in stamps), default=last)
    if quarter is not None and quarter < first:
        raise QuarterOutOfRange(f"campaign {subject.slug} starts in {first}: there is no report "
                                f"for {quarter}", field="quarter")
    if quarter is not None and quarter > last:
        raise QuarterOutOfRange(f"{quarter} has not begun (this is {last})", field="quarter")
    quarters = {q: Quarter(q) for q in _quarters(first, last)} if first <= last else {}
    goods = await goods_by_quarter(donations, disbursements, list(quarters), quarter_of)
    purposes: dict[tuple[str, str], Purpose] = {}
    touched: dict[str, set[int]] = {q: set() for q in quarters}

    def at(stamp: str) -> Quarter:
        return quarters[quarter_of(stamp)]

    for d in donations:
        touched[at(d.at).quarter].add(d.idx)
        if d.kind == "cash":
            at(d.at).raised.add(d.quantity, d.idx)
            if d.reversed_idx is not None and d.reversed_at:
                at(d.reversed_at).reversed.add(d.reversed, d.reversed_idx)
    for r in refunds:  # one entry, a share per gift: the entry is listed once
        q = at(r.at)
        touched[q.quarter].add(r.refund_idx)
        q.refunded.amount += r.amount
        q.refunded.count += 1
        if r.refund_idx not in q.refunded.entries:
            q.refunded.entries.append(r.refund_idx)
    for p in disbursements:
        q = at(p.at)
        touched[q.quarter].add(p.idx)
        q.spent.add(p.amount, p.idx)
        row = purposes.setdefault((q.quarter, p.purpose), Purpose(p.purpose))
        row.amount += p.amount
        row.count += 1
        row.entries.append(p.idx)
        row.receipts.append(p.receipt)
    corrected = await corrections_of(i for found in touched.values() for i in found)
    balance = 0
    for name, q in quarters.items():
        q.spent_by_purpose = [v for (qn, _), v in sorted(purposes.items()) if qn == name]
        moved = goods[name]
        q.goods_received, q.goods_distributed = moved.received, moved.distributed
        q.goods_lost, q.goods_in_stock = moved.lost, moved.in_stock
        q.corrections = sorted(c.idx for i in touched[name] if i in corrected
                               for c in corrected[i].corrections)
        q.opening_balance = balance
        balance += (q.raised.amount - q.reversed.amount - q.refunded.amount
                    - q.spent.amount)
        q.closing_balance = balance
    shown = [q for q in quarters.values() if quarter is None or q.quarter == quarter]
    return Report(subject.slug, subject.charity, shown)


# ---------------------------------------------------------------------------------------------
# JSON and CSV


def report_dict(report: Report) -> dict[str, Any]:
    quarters = []
    for q in report.quarters:
        start, end = q.bounds
        shown = asdict(q)
        quarters.append({"quarter": q.quarter, "from": start, "until": end,
                         **{k: v for k, v in shown.items() if k != "quarter"}})
    return {"format": FORMAT, "campaign": report.campaign, "charity": report.charity,
            "timezone": "+08:00", "currency": "CNY", "cash_unit": "fen", "quarters": quarters}


def report_json(report: Report) -> str:
    return json.dumps(report_dict(report), ensure_ascii=False, indent=1)


def _ints(values: Iterable[int]) -> str:
    return " ".join(str(v) for v in values)


def report_csv(report: Report) -> str:
    out = io.StringIO()
    writer = csvsafe.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for q in report.quarters:
        rows: list[tuple[str, str, str, int, int, Iterable[int], Iterable[str]]] = [
            ("opening_balance", "", "fen", q.opening_balance, 0, (), ())]
        for name in ("raised", "reversed", "refunded", "spent"):
            figure: Figure = getattr(q, name)
            rows.append((name, "", "fen", figure.amount, figure.count, figure.entries, ()))
        rows.extend(("spent_by_purpose", p.purpose, "fen", p.amount, p.count, p.entries,
                     p.receipts) for p in q.spent_by_purpose)
        for section in GOODS_SECTIONS:
            rows.extend((section, g.item, g.unit, g.quantity, g.count, g.entries, ())
                        for g in getattr(q, section))
        rows.append(("closing_balance", "", "fen", q.closing_balance, 0, (), ()))
        rows.append(("corrections", "", "", len(q.corrections), len(q.corrections),
                     q.corrections, ()))
        for section, item, unit, amount, count, entries, receipts in rows:
            writer.writerow([q.quarter, section, item, unit, amount, count, _ints(entries),
                             " ".join(receipts)])
    return out.getvalue()


def _uncell(text: str) -> str:
    """A text cell as it was before csvsafe escaped it."""
    if text.startswith("'") and text[1:].startswith(csvsafe.FORMULA_TRIGGERS):
        return text[1:]
    return text


def parse_csv(text: str, *, campaign: str, charity: str) -> Report:
    """`report_csv`'s output read back (campaign and charity are not in the rows)."""
    rows = list(csv.reader(io.StringIO(text)))
    if not rows or rows[0] != CSV_COLUMNS:
        raise ValueError(f"expected the columns {','.join(CSV_COLUMNS)}")
    quarters: dict[str, Quarter] = {}
    for raw in rows[1:]:
        name, section, item, unit = raw[0], raw[1], _uncell(raw[2]), raw[3]
        amount, count = int(raw[4]), int(raw[5])
        entries = [int(v) for v in raw[6].split()]
        q = quarters.setdefault(name, Quarter(name))
        if section in ("opening_balance", "closing_balance"):
            setattr(q, section, amount)
        elif section in ("raised", "reversed", "refunded", "spent"):
            setattr(q, section, Figure(amount, count, entries))
        elif section == "spent_by_purpose":
            q.spent_by_purpose.append(Purpose(item, amount, count, entries, raw[7].split()))
        elif section in GOODS_SECTIONS:
            getattr(q, section).append(Goods(item, unit, amount, count, entries))
        elif section == "corrections":
            q.corrections = entries
        else:
            raise ValueError(f"unknown section {section!r}")
    return Report(campaign, charity, list(quarters.values()))
