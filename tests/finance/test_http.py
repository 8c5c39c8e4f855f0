"""The console's finance routes: a charity's token only; the dry run writes nothing; the import
streams its progress; exports stream CSV and XLSX; uploads may pass the 256 KiB body limit."""

from __future__ import annotations

import io
import json

import httpx
from openpyxl import load_workbook

from heartchain.limits import MAX_BODY_BYTES
from tests.conftest import Ledger
from tests.finance.factories import generic_csv
from tests.tokens import factories as f


async def test_dry_run_import_and_export(ledger: Ledger, client: httpx.AsyncClient) -> None:
    charity = await f.charity(ledger)
    auth = {"Authorization": f"Bearer {await f.token(ledger, charity)}"}
    export = generic_csv(4_000, bad=5, payers=400)
    assert len(export.data) > MAX_BODY_BYTES  # an upload may be larger than other requests
    size = await ledger.platform.log.size()

    checked = await client.post("/console/import/check", content=export.data, headers=auth)
    assert checked.status_code == 200, checked.text
    report = checked.json()
    assert {p["row"] for p in report["problems"]} == set(export.bad)
    assert report["toImport"] == 3_995 and report["dryRun"]
    assert await ledger.platform.log.size() == size

    ran = await client.post("/console/import/run", content=export.data, headers=auth)
    assert ran.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in ran.text.splitlines()]
    assert [line["done"] for line in lines[:-1]] == [0, 2000, 3995]
    final = lines[-1]["report"]
    assert final["imported"] == 3_995 and all(c["landed"] for c in final["chunks"])

    csv_export = await client.get("/console/export.csv", headers=auth,
                                  params={"campaign": "winter-2026"})
    assert csv_export.status_code == 200
    assert "attachment" in csv_export.headers["content-disposition"]
    assert len(csv_export.text.splitlines()) == 1 + 3_995
    xlsx = await client.get("/console/export.xlsx", headers=auth, params={"to": "2026-11-05"})
    sheet = load_workbook(io.BytesIO(xlsx.content), read_only=True).worksheets[0]
    booked = [row[3] for row in sheet.iter_rows(min_row=2, values_only=True)]
    assert booked and all(str(b) < "2026-11-05T16:00:00.000Z" for b in booked)


async def test_only_a_charity(ledger: Ledger, client: httpx.AsyncClient) -> None:
    member = await f.member(ledger)
    for headers in ({}, {"Authorization": f"Bearer {await f.token(ledger, member)}"},
                    {"Authorization": "Bearer hc_forged"}):
        for method, path in (("POST", "/console/import/check"), ("POST", "/console/import/run"),
                             ("GET", "/console/export.csv"), ("GET", "/console/export.xlsx")):
            answer = await client.request(method, path, content=b"x", headers=headers)
            assert answer.status_code == 403, (path, answer.text)


async def test_bad_file_and_mapping(ledger: Ledger, client: httpx.AsyncClient) -> None:
    charity = await f.charity(ledger)
    auth = {"Authorization": f"Bearer {await f.token(ledger, charity)}"}
    answer = await client.post("/console/import/check", content=b"a,b\n1,2\n", headers=auth)
    assert answer.status_code == 400 and "no header row" in answer.json()["error"]
    answer = await client.post("/console/import/check?mapping=nope", content=b"a\n",
                               headers=auth)
    assert answer.status_code == 404
    page = await client.get("/console/import")
    assert page.status_code == 200 and "import-form" in page.text
