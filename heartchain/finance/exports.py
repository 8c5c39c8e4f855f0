"""Accounting exports: a charity's donations, reversals, disbursements and pay-for-success refunds,
per campaign and date range, as CSV or XLSX: stable columns, no row cap, streamed page by page
from the projections.

Columns (`COLUMNS`, in this order; a new column only ever goes at the end):

| column | meaning |
|---|---|
| type | donation, reversal, disbursement or refund |
| index | the log entry (donation.record, donation.reverse, fund.disburse or campaign.refund) |
| time | when the log recorded it (UTC) |
| booked_at | the accounting time: when the payer paid (imported gifts), else `time` |
| campaign | the campaign slug |
| donor | the donor's address (donations and reversals) |
| kind / quantity / unit | cash in fen, food in grams, trees (donations and reversals) |
| amount_fen / amount_yuan | cash only: + money in, - money out |
| donation_index | the donation a reversal takes back, or a refund's share is of |
| reason | a reversal's reason (refund, chargeback, error); `outcome_not_attested` on a refund |
| payee / purpose | a disbursement's |
| receipt | the receipt hash on the entry |
| reference | an imported gift's keyed hash of the provider transaction id |
| transaction | an imported gift's provider transaction id (kept off the log for this export) |

A pay-for-success campaign refunded after its deadline (tracing.escrow's campaign.refund) has a
`refund` row per cash gift's pro-rata share: `index` is the refund entry, `donation_index` the
gift, `quantity` the share in fen, `amount_fen` minus it. Rows come in log order (a refund's
shares by donation index). The date range (`start`, `end`: dates, end included) is in China
Standard Time and compares `booked_at`. Text cells go through heartchain.csvsafe (a cell that
would start a formula gets a leading `'`), in CSV and XLSX alike; integers and `amount_yuan`
(exact, two decimals) stay numbers. XLSX is
written with openpyxl's write-only workbook, which keeps rows on disk, not in memory; the finished
file is then streamed.
"""

from __future__ import annotations

import csv
import heapq
import io
import os
import tempfile
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

from tortoise.connection import connections

from heartchain import csvsafe
from heartchain.errors import ValidationError
from heartchain.finance.rows import CHINA
from heartchain.ledger.entries import format_time
from heartchain.ledger.store import fetch
from tokens.models import UNITS
from tracing.funds import campaign_key

COLUMNS = ("type", "index", "time", "booked_at", "campaign", "donor", "kind", "quantity", "unit",
           "amount_fen", "amount_yuan", "donation_index", "reason", "payee", "purpose",
           "receipt", "reference", "transaction")
PAGE = 1000
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@dataclass(frozen=True)
class Query:
    charity: str
    campaign: str | None = None
    start: date | None = None
    end: date | None = None  # included

    def bounds(self) -> tuple[str, str]:
        low = (format_time(datetime.combine(self.start, time(), CHINA)) if self.start
               else "")
        high = (format_time(datetime.combine(self.end + timedelta(days=1), time(), CHINA))
                if self.end else "~")
        return low, high


def parse_date(text: str | None, name: str) -> date | None:
    if not text:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ValidationError(f"{name}: {text[:20]} is not a date (YYYY-MM-DD)",
                              field=name) from None


Row = dict[str, Any]
Page = Callable[[Any], Awaitable[list[Row]]]  # rows after a position (an index, usually)


def _where(query: Query, prefix: str, alias: str) -> tuple[str, list[Any]]:
    clauses, values = [f"{alias}.charity = ?"], [query.charity]
    if query.campaign:
        clauses.append(f"{alias}.campaign_key = ?")
        values.append(campaign_key(query.campaign, query.charity))
    low, high = query.bounds()
    clauses.append(f"{prefix} >= ? AND {prefix} < ?")
    values += [low, high]
    return " AND ".join(clauses), values


def _donations(query: Query) -> Page:
    where, values = _where(query, "COALESCE(r.paid_at, d.at)", "d")

    async def page(after: int) -> list[Row]:
        found = await fetch(connections.get("default"), "SELECT d.idx, d.at, d.campaign, "
                            "d.donor, d.kind, d.quantity, h.receipt, r.reference, r.paid_at, "
                            "t.transaction_id FROM tracing_donation d JOIN heart_donation h ON "
                            "h.idx = d.idx LEFT JOIN heart_donation_reference r ON r.idx = d.idx "
                            "LEFT JOIN finance_import_transaction t ON t.reference = r.reference "
                            f"WHERE {where} AND d.idx > ? ORDER BY d.idx LIMIT {PAGE}",
                            [*values, after])
        return [_goods("donation", row["idx"], row["at"], row["paid_at"] or row["at"], row,
                       int(row["quantity"]), receipt=row["receipt"],
                       reference=row["reference"], transaction=row["transaction_id"])
                for row in found]
    return page


def _reversals(query: Query) -> Page:
    where, values = _where(query, "d.reversed_at", "d")

    async def page(after: int) -> list[Row]:
        found = await fetch(connections.get("default"), "SELECT d.idx, d.reversed_idx, "
                            "d.reversed_at, d.reversed, d.campaign, d.donor, d.kind, "
                            "h.reversal_reason FROM tracing_donation d JOIN heart_donation h "
                            f"ON h.idx = d.idx WHERE {where} AND d.reversed_idx IS NOT NULL "
                            f"AND d.reversed_idx > ? ORDER BY d.reversed_idx LIMIT {PAGE}",
                            [*values, after])
        return [_goods("reversal", row["reversed_idx"], row["reversed_at"], row["reversed_at"],
                       row, -int(row["reversed"]), donation_index=int(row["idx"]),
                       reason=row["reversal_reason"]) for row in found]
    return page


def _disbursements(query: Query) -> Page:
    where, values = _where(query, "p.at", "p")

    async def page(after: int) -> list[Row]:
        found = await fetch(connections.get("default"), "SELECT p.idx, p.at, p.campaign_key, "
                            "p.amount, p.payee, p.purpose, p.receipt FROM tracing_disbursement p "
                            f"WHERE {where} AND p.idx > ? ORDER BY p.idx LIMIT {PAGE}",
                            [*values, after])
        return [{"type": "disbursement", "index": int(row["idx"]), "time": row["at"],
                 "booked_at": row["at"], "campaign": str(row["campaign_key"]).rsplit("@", 1)[0],
                 "amount_fen": -int(row["amount"]), "amount_yuan": _yuan(-int(row["amount"])),
                 "payee": row["payee"], "purpose": row["purpose"], "receipt": row["receipt"]}
                for row in found]
    return page


REFUND_REASON = "outcome_not_attested"


def _refunds(query: Query) -> Page:
    where, values = _where(query, "r.at", "d")

    async def page(after: Any) -> list[Row]:
        last, donation = after if isinstance(after, tuple) else (after, after)
        found = await fetch(connections.get("default"), "SELECT r.refund_idx, r.donation_idx, "
                            "r.at, r.amount, r.donor, d.campaign, d.kind FROM "
                            "tracing_campaign_refund r JOIN tracing_donation d ON d.idx = "
                            f"r.donation_idx WHERE {where} AND (r.refund_idx > ? OR "
                            "(r.refund_idx = ? AND r.donation_idx > ?)) ORDER BY r.refund_idx, "
                            f"r.donation_idx LIMIT {PAGE}", [*values, last, last, donation])
        # One entry has a row per share: the page goes on from (refund, donation).
        return [{**_goods("refund", row["refund_idx"], row["at"], row["at"], row,
                          -int(row["amount"]), donation_index=int(row["donation_idx"]),
                          reason=REFUND_REASON),
                 "_after": (int(row["refund_idx"]), int(row["donation_idx"]))}
                for row in found]
    return page


def _goods(kind: str, index: int, at: str, booked: str, row: Row, signed: int,
           **extra: Any) -> Row:
    cash = row["kind"] == "cash"
    return {"type": kind, "index": int(index), "time": at, "booked_at": booked,
            "campaign": row["campaign"], "donor": row["donor"], "kind": row["kind"],
            "quantity": abs(signed), "unit": UNITS.get(str(row["kind"]), ""),
            "amount_fen": signed if cash else None,
            "amount_yuan": _yuan(signed) if cash else None, **extra}


def _yuan(fen: int) -> Decimal:
    return Decimal(fen).scaleb(-2)  # exact: "-12.30" stays a number, never a float


async def _stream(page: Page) -> AsyncIterator[Row]:
    after: Any = -1
    while True:
        rows = await page(after)
        for row in rows:
            yield row
        if len(rows) < PAGE:
            return
        after = rows[-1].get("_after", rows[-1]["index"])


async def rows(query: Query) -> AsyncIterator[Row]:
    """Every row of the export, in log order, a page of each source at a time."""
    streams = [_stream(p(query)) for p in (_donations, _reversals, _disbursements, _refunds)]
    heads: list[tuple[int, int, Row]] = []
    for n, stream in enumerate(streams):
        first = await anext(stream, None)
        if first is not None:
            heapq.heappush(heads, (first["index"], n, first))
    while heads:
        _, n, row = heapq.heappop(heads)
        yield row
        following = await anext(streams[n], None)
        if following is not None:
            heapq.heappush(heads, (following["index"], n, following))


def _cells(row: Row) -> list[object]:
    """The row's cells, escaped: text through csvsafe; integers and the yuan amounts we
    computed (Decimal) stay numbers."""
    return [value if isinstance(value, Decimal) else csvsafe.cell(value)
            for value in (row.get(column) for column in COLUMNS)]


async def csv_chunks(query: Query) -> AsyncIterator[bytes]:
    """The export as CSV (UTF-8 with BOM, which spreadsheets need to read Chinese), in pieces
    of about a page each."""
    out = io.StringIO()
    out.write("\ufeff")
    writer = csv.writer(out, quoting=csv.QUOTE_NONNUMERIC, lineterminator="\r\n")
    writer.writerow(COLUMNS)
    count = 0
    async for row in rows(query):
        writer.writerow(_cells(row))
        count += 1
        if count % PAGE == 0:
            yield out.getvalue().encode()
            out.seek(0)
            out.truncate()
    yield out.getvalue().encode()


async def xlsx_chunks(query: Query, *, piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    """The export as an XLSX workbook (one sheet, `donations`), written row by row to a
    temporary file, then streamed in pieces."""
    from openpyxl import Workbook

    book = Workbook(write_only=True)
    sheet = book.create_sheet("donations")
    sheet.append(list(COLUMNS))
    async for row in rows(query):
        sheet.append(_cells(row))
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    os.close(handle)
    try:
        book.save(path)
        with open(path, "rb") as saved:
            while data := saved.read(piece):
                yield data
    finally:
        os.unlink(path)


def filename(query: Query, extension: str) -> str:
    parts = ["donations", query.campaign or "all"]
    if query.start or query.end:
        parts.append(f"{query.start or ''}_{query.end or ''}")
    name = "-".join(parts)
    return "".join(c if c.isascii() and (c.isalnum() or c in "_.-") else "_"
                   for c in name) + "." + extension
