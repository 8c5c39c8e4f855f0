"""Accounting exports: read back, they equal the entries on the log; formula injection is
escaped in CSV and XLSX; a large export streams page by page."""

from __future__ import annotations

import csv
import io
import json
from datetime import date
from typing import Any

import pytest
from openpyxl import load_workbook

from heartchain import csvsafe
from heartchain.finance import exports, importer
from tests.conftest import Ledger
from tests.finance.factories import generic_csv
from tests.tokens import factories as f
from tokens import services as tokens
from tracing import services as tracing

FIELDS = ("type", "index", "campaign", "donor", "kind", "quantity", "amount_fen",
          "donation_index", "reason", "payee", "purpose", "receipt", "reference")


def unescape(value: Any) -> Any:
    if isinstance(value, str) and value[:1] == "'" and value[1:].startswith(
            csvsafe.FORMULA_TRIGGERS):
        return value[1:]
    return value


async def from_log(ledger: Ledger, charity: str) -> list[dict[str, Any]]:
    """An independent reading: the export's rows rebuilt from the entries themselves."""
    log = ledger.platform.log
    found = await log.get_entries(range(await log.size()))
    donations: dict[int, dict[str, Any]] = {}
    rows = []
    for index in sorted(found):
        document = json.loads(found[index].data)
        body = document["body"]
        if body.get("charity") != charity:
            continue
        if document["kind"] == "donation.record":
            donations[index] = body
            cash = body["kind"] == "cash"
            rows.append({"type": "donation", "index": index, "campaign": body["campaign"],
                         "donor": body["donor"], "kind": body["kind"],
                         "quantity": body["quantity"],
                         "amount_fen": body["quantity"] if cash else None,
                         "receipt": body.get("receipt"), "reference": body.get("reference")})
        elif document["kind"] == "donation.reverse":
            original = donations[body["donation"]]
            cash = original["kind"] == "cash"
            rows.append({"type": "reversal", "index": index, "campaign": original["campaign"],
                         "donor": original["donor"], "kind": original["kind"],
                         "quantity": original["quantity"],
                         "amount_fen": -original["quantity"] if cash else None,
                         "donation_index": body["donation"], "reason": body["reason"]})
        elif document["kind"] == "fund.disburse":
            rows.append({"type": "disbursement", "index": index, "campaign": body["campaign"],
                         "amount_fen": -body["amount"], "payee": body["payee"],
                         "purpose": body["purpose"], "receipt": body["receipt"]})
    return [{k: row.get(k) for k in FIELDS} for row in rows]


def _value(text: str, column: str) -> Any:
    if text == "":
        return None
    if column in ("index", "quantity", "amount_fen", "donation_index"):
        return int(text)
    return unescape(text)


def read_csv(data: bytes) -> list[dict[str, Any]]:
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    header = next(reader)
    assert tuple(header) == exports.COLUMNS
    return [{k: _value(v, k) for k, v in zip(header, row, strict=True)} for row in reader]


def read_xlsx(data: bytes) -> list[dict[str, Any]]:
    rows = load_workbook(io.BytesIO(data), read_only=True).worksheets[0].iter_rows(
        values_only=True)
    header = next(rows)
    assert tuple(header) == exports.COLUMNS
    return [{k: unescape(v) if v != "" else None for k, v in zip(header, row, strict=True)}
            for row in rows]


async def collect(chunks: Any) -> bytes:
    return b"".join([piece async for piece in chunks])


@pytest.fixture
async def books(ledger: Ledger) -> tuple[str, str]:
    """A charity with gifts (imported and recorded), a goods gift, a refund, and spending whose
    payee and purpose try formula injection."""
    charity = await f.charity(ledger)
    platform = ledger.platform
    await importer.import_file(platform, charity, generic_csv(30, payers=5).data)
    donor = await f.member(ledger)
    gift = await tokens.record_donation(platform, charity=charity, donor=donor, kind="cash",
                                        quantity=5_000, campaign="winter-2026")
    await tokens.record_donation(platform, charity=charity, donor=donor, kind="food",
                                 quantity=2_500, campaign="winter-2026", receipt="ab" * 32)
    await tokens.reverse_donation(platform, charity=charity, donation=gift.index)
    await tracing.disburse(platform, charity=charity, campaign="winter-2026", amount=1_234,
                           payee='=HYPERLINK("http://evil.example","x")', purpose="+1 rice",
                           receipt="cd" * 32)
    await tracing.disburse(platform, charity=charity, campaign="winter-2026", amount=100,
                           payee="@SUM(A1)", purpose="-2 beans\tsplit", receipt="ef" * 32)
    other = await f.charity(ledger, "Other Charity")
    await tokens.record_donation(platform, charity=other, donor=donor, kind="cash",
                                 quantity=77, campaign="winter-2026")
    return charity, donor


def _fields(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: row.get(k) for k in FIELDS} for row in rows]


async def test_csv_and_xlsx_round_trip(ledger: Ledger, books: tuple[str, str]) -> None:
    charity, _ = books
    expected = await from_log(ledger, charity)
    assert len(expected) == 30 + 2 + 1 + 2
    query = exports.Query(charity)
    assert _fields(read_csv(await collect(exports.csv_chunks(query)))) == expected
    assert _fields(read_xlsx(await collect(exports.xlsx_chunks(query)))) == expected


async def test_campaign_and_dates(ledger: Ledger, books: tuple[str, str]) -> None:
    charity, _ = books
    none = exports.Query(charity, campaign="no-such-campaign")
    assert read_csv(await collect(exports.csv_chunks(none))) == []
    # The imported gifts were paid 2026-11-01..30 (China time); the day filter reads booked_at.
    day = exports.Query(charity, start=date(2026, 11, 2), end=date(2026, 11, 2))
    rows = read_csv(await collect(exports.csv_chunks(day)))
    assert rows and all(r["type"] == "donation" and r["reference"] for r in rows)
    assert all("2026-11-01T16:00:00.000Z" <= r["booked_at"] < "2026-11-02T16:00:00.000Z"
               for r in rows)


async def test_formula_injection_escaped(ledger: Ledger, books: tuple[str, str]) -> None:
    charity, _ = books
    query = exports.Query(charity)
    text = (await collect(exports.csv_chunks(query))).decode("utf-8-sig")
    assert '"\'=HYPERLINK(""http://evil.example"",""x"")"' in text
    assert '"\'+1 rice"' in text and '"\'@SUM(A1)"' in text and '"\'-2 beans\tsplit"' in text
    assert ",-1234,-12.34," in text  # amounts we computed stay numbers
    sheet = load_workbook(io.BytesIO(await collect(exports.xlsx_chunks(query)))).worksheets[0]
    cells = [c for row in sheet.iter_rows() for c in row]
    assert not [c for c in cells if c.data_type == "f"]  # no formula anywhere
    payees = [c.value for c in cells if isinstance(c.value, str) and "HYPERLINK" in c.value]
    assert payees == ['\'=HYPERLINK("http://evil.example","x")']


async def test_a_large_export_streams(ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    charity = await f.charity(ledger)
    await importer.import_file(ledger.platform, charity, generic_csv(2_500, payers=50).data)
    monkeypatch.setattr(exports, "PAGE", 100)
    pages = 0
    original = exports._donations

    def counting(query: exports.Query) -> Any:
        page = original(query)

        async def counted(after: int) -> Any:
            nonlocal pages
            pages += 1
            return await page(after)
        return counted

    monkeypatch.setattr(exports, "_donations", counting)
    chunks = exports.csv_chunks(exports.Query(charity))
    first = await anext(chunks)
    assert pages <= 2  # the first piece went out after a page or two, not the whole export
    rest = [piece async for piece in chunks]
    assert len(rest) >= 24 and pages == 26
    assert len(read_csv(first + b"".join(rest))) == 2_500


async def test_imported_gifts_carry_their_provider_transaction_id(
        ledger: Ledger, books: tuple[str, str]) -> None:
    """The log holds only the keyed hash of a transaction id; the charity's own export gives the
    id itself back, to reconcile with the provider's statement. Gifts not imported have none."""
    charity, _ = books
    rows = read_csv(await collect(exports.csv_chunks(exports.Query(charity))))
    imported = [r for r in rows if r["reference"]]
    assert len(imported) == 30
    assert sorted(r["transaction"] for r in imported) == [f"T2026{n:09d}" for n in range(30)]
    for row in imported:
        assert row["reference"] == importer.reference_of(ledger.platform, charity,
                                                         row["transaction"])
    assert all(r["transaction"] is None for r in rows if not r["reference"])
    log = ledger.platform.log
    stored = await log.get_entries(range(await log.size()))
    assert not any(b"T2026" in entry.data for entry in stored.values())


async def test_a_re_upload_fills_in_transaction_ids_kept_before_they_were(
        ledger: Ledger, books: tuple[str, str]) -> None:
    from heartchain.finance.models import ImportedTransaction

    charity, _ = books
    await ImportedTransaction.all().delete()  # as a store imported into by an older release
    again = await importer.import_file(ledger.platform, charity, generic_csv(30, payers=5).data)
    assert (again.already, again.imported) == (30, 0)
    rows = read_csv(await collect(exports.csv_chunks(exports.Query(charity))))
    assert sorted(r["transaction"] for r in rows if r["reference"]) == [
        f"T2026{n:09d}" for n in range(30)]
