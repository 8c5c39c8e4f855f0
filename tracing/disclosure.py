"""Disclosure reports: what a charity publishes for each campaign at least every three months
(China's Charity Law, art. 71–73): raised, reversed, refunded (pay for success), spent by
purpose, goods received and distributed, and the cash balance, per calendar quarter, from the
log's projections. Every figure lists the entries behind it.

Quarters are calendar quarters in China Standard Time (UTC+8): `2026-Q4` is 2026-10-01 00:00
to 2027-01-01 00:00 +08:00. An entry counts in the quarter of its signed time (`at`). Amounts
are integer fen (cash) and the goods' own units (grams, items, trees). Projections apply
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
       "closing_balance": 2000,
       "corrections": [41]}]}

`closing_balance = opening_balance + raised − reversed − refunded − spent`, and a quarter's
opening is the previous one's closing (the first opens at 0). `refunded` is what a
pay-for-success campaign gave back to its donors after its deadline (tracing.escrow): `count`
the gifts' shares, `entries` the campaign.refund entry. `entries` are log indexes
(`/entries/<n>`): donations for `raised`, reversal entries for `reversed`, disbursements for
`spent`, donations for `goods_received`, `lot.deliver` entries for `goods_distributed`.

CSV (`report_csv`): one row per figure, columns
`quarter,section,item,unit,amount,count,entries,receipts`; `section` is one of
opening_balance, raised, reversed, refunded, spent, spent_by_purpose, goods_received,
goods_distributed, closing_balance, corrections; `item` the purpose or goods (empty
otherwise); `unit` fen or the goods' unit; `entries` and `receipts` space-separated. Text cells
are escaped against formula injection (heartchain.csvsafe); `parse_csv` reads it back into the
same reports.
"""

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
from tracing.campaign_models import CampaignRefund
from tracing.models import Campaign, Disbursement, Lot, LotEvent, OriginFlow, TracedDonation
from tracing.queries import _in_chunks

FORMAT = "heartchain-disclosure/1"
CST = timezone(timedelta(hours=8))
CSV_COLUMNS = ["quarter", "section", "item", "unit", "amount", "count", "entries", "receipts"]
_GOODS_UNITS = {"food": "grams", "tree": "trees"}


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
class Goods:
    item: str
    unit: str
    quantity: int = 0
    count: int = 0
    entries: list[int] = field(default_factory=list)


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


def _next(quarter: str) -> str:
    year, number = int(quarter[:4]), int(quarter[-1])
    return f"{year + 1}-Q1" if number == 4 else f"{year}-Q{number + 1}"


def _quarters(first: str, last: str) -> list[str]:
    found = [first]
    while found[-1] < last:
        found.append(_next(found[-1]))
    return found


async def campaign_report(campaign: Campaign, *, now: datetime) -> Report:
    """Every quarter from the campaign's first entry to the quarter of `now`."""
    donations = await TracedDonation.filter(campaign_key=campaign.key).order_by("idx")
    disbursements = await Disbursement.filter(campaign_key=campaign.key).order_by("idx")
    refunds = await CampaignRefund.filter(campaign_key=campaign.key).order_by("refund_idx",
                                                                             "donation_idx")
    deliveries = await _deliveries(donations, disbursements)
    stamps = [d.at for d in donations] + [p.at for p in disbursements] + [r.at for r in refunds]
    last = quarter_of(now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    first = min((quarter_of(at) for at in stamps), default=last)
    quarters = {q: Quarter(q) for q in _quarters(first, max(first, last))}
    purposes: dict[tuple[str, str], Purpose] = {}
    goods: dict[tuple[str, str, str, str], Goods] = {}
    touched: dict[str, set[int]] = {q: set() for q in quarters}

    def at(stamp: str) -> Quarter:
        return quarters[quarter_of(stamp)]

    for d in donations:
        q = at(d.at)
        touched[q.quarter].add(d.idx)
        if d.kind == "cash":
            q.raised.add(d.quantity, d.idx)
        else:
            key = (q.quarter, "in", d.kind, _GOODS_UNITS.get(d.kind, d.kind))
            row = goods.setdefault(key, Goods(d.kind, key[3]))
            row.quantity += d.quantity
            row.count += 1
            row.entries.append(d.idx)
        if d.kind == "cash" and d.reversed_idx is not None and d.reversed_at:
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
    for index, stamp, item, unit, quantity in deliveries:
        key = (quarter_of(stamp), "out", item, unit)
        if key[0] not in quarters:
            continue
        row = goods.setdefault(key, Goods(item, unit))
        row.quantity += quantity
        if index not in row.entries:
            row.count += 1
            row.entries.append(index)
    corrected = await corrections_of(i for found in touched.values() for i in found)
    balance = 0
    for name, q in quarters.items():
        q.spent_by_purpose = [v for (qn, _), v in sorted(purposes.items()) if qn == name]
        q.goods_received = [v for k, v in sorted(goods.items()) if k[:2] == (name, "in")]
        q.goods_distributed = [v for k, v in sorted(goods.items()) if k[:2] == (name, "out")]
        q.corrections = sorted(c.idx for i in touched[name] if i in corrected
                               for c in corrected[i].corrections)
        q.opening_balance = balance
        balance += (q.raised.amount - q.reversed.amount - q.refunded.amount
                    - q.spent.amount)
        q.closing_balance = balance
    return Report(campaign.slug, campaign.charity, list(quarters.values()))


async def _deliveries(donations: list[TracedDonation], disbursements: list[Disbursement]
                      ) -> list[tuple[int, str, str, str, int]]:
    """(lot.deliver index, its time, goods, unit, units of this campaign's origins delivered):
    origins are its goods donations and the lots bought with its disbursements."""
    origins = [d.idx for d in donations if d.kind != "cash"]
    bought = await _in_chunks(Lot, "disbursement_idx", [p.idx for p in disbursements])
    origins += [lot.created_idx for lot in bought]
    flows = [f for f in await _in_chunks(OriginFlow, "origin_idx", origins)
             if f.action == "deliver"]
    lots = {lot.id: lot for lot in await _in_chunks(Lot, "id", [f.from_lot for f in flows])}
    events = {e.id: e for e in await _in_chunks(
        LotEvent, "id", [f"{f.idx}|{f.from_lot}" for f in flows])}
    found = []
    for f in sorted(flows, key=lambda f: (f.idx, f.id)):
        lot, event = lots.get(f.from_lot or ""), events.get(f"{f.idx}|{f.from_lot}")
        if lot is not None and event is not None:
            found.append((f.idx, event.at, lot.goods, lot.unit, f.quantity))
    return found


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
        for section in ("goods_received", "goods_distributed"):
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
        elif section in ("goods_received", "goods_distributed"):
            getattr(q, section).append(Goods(item, unit, amount, count, entries))
        elif section == "corrections":
            q.corrections = entries
        else:
            raise ValueError(f"unknown section {section!r}")
    return Report(campaign, charity, list(quarters.values()))
