"""Bulk import: the dry run reports exactly the bad rows and writes nothing; the import writes
the rest once, chunk by chunk; a re-import writes nothing; verify replays it all."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from openpyxl import Workbook

from heartchain.accounts.models import Account
from heartchain.errors import PermissionDenied, ValidationError
from heartchain.finance import importer, mappings, signing
from heartchain.finance import worker as worker_module
from heartchain.finance.worker import ImportWorker
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.finance.factories import ALIPAY_HEADER, generic_csv
from tests.tokens import factories as f
from tokens.models import DonorContact, HeartDonation, HeartDonationReference


async def test_ten_thousand_rows_with_37_bad(ledger: Ledger) -> None:
    charity = await f.charity(ledger)
    export = generic_csv(10_000, bad=35, duplicates=2, payers=2_000)
    assert len(export.bad) == 37
    platform = ledger.platform
    size = await platform.log.size()

    report = await importer.dry_run(platform, charity, export.data)
    assert {p.row: p.column for p in report.problems} == export.bad
    assert len(report.problems) == 37
    assert (report.rows, report.valid, report.to_import) == (10_000, 9_963, 9_963)
    assert report.fen == export.fen
    assert await platform.log.size() == size  # the dry run wrote nothing
    assert await DonorContact.all().count() == 0

    done = []
    report = await importer.import_file(platform, charity, export.data,
                                        progress=lambda n, total: done.append((n, total)))
    assert report.imported == 9_963
    assert all(c.landed for c in report.chunks) and len(report.chunks) == 5
    assert done[0] == (0, 9_963) and done[-1] == (9_963, 9_963)
    assert report.donors_created == export.payers
    assert await HeartDonation.filter(charity=charity).count() == 9_963
    assert sum(await HeartDonation.filter(charity=charity).values_list("quantity", flat=True)
               ) == export.fen
    references = await HeartDonationReference.filter(charity=charity).values_list(
        "reference", flat=True)
    assert len(references) == len(set(references)) == 9_963  # each transaction once
    after = await platform.log.size()
    # ... and so on the log itself: one donation.record per good row's transaction id
    entries = await platform.log.get_entries(range(size, after))
    on_log = [document["body"]["reference"] for document in
              (json.loads(e.data) for e in entries.values())
              if document["kind"] == "donation.record"]
    good = {importer.reference_of(platform, charity, f"T2026{n:09d}")
            for n in range(10_000) if n + 2 not in export.bad}
    assert len(on_log) == len(set(on_log)) == 9_963 and set(on_log) == good

    again = await importer.import_file(platform, charity, export.data)
    assert (again.imported, again.already, again.to_import, again.chunks) == (0, 9_963, 0, [])
    assert await platform.log.size() == after

    checked = await verify_log(platform.log, scratch_dir=ledger.settings.data_dir.parent)
    assert checked.entries == after


def _slice(data: bytes, first: int, last: int) -> bytes:
    """The header and data rows first..last-1 (0-based) of a generated CSV."""
    lines = data.decode().splitlines(keepends=True)
    return "".join([lines[0], *lines[1 + first:1 + last]]).encode()



@pytest.fixture(params=["worker", "here"])
def signed_in(request: pytest.FixtureRequest) -> Iterator[str]:
    """Rows checked and chunks signed (a chunk ahead) by the forked worker, or all in this
    process: the same rows, the same report."""
    placed: list[bool] = []
    begin = signing.begin

    def spied(worker: ImportWorker, *args: Any, **kwargs: Any) -> signing.Pending:
        placed.append(worker.forked)
        return begin(worker, *args, **kwargs)

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(worker_module, "PARALLEL_FROM", 0 if request.param == "worker" else 10**9)
        patch.setattr(signing, "begin", spied)
        yield request.param
    assert placed and all(p == (request.param == "worker") for p in placed)


async def test_a_refused_chunk_writes_nothing_and_a_rerun_resumes(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
        signed_in: str) -> None:
    charity = await f.charity(ledger)
    platform = ledger.platform
    whole = generic_csv(2_500, payers=300).data
    first = await importer.import_file(platform, charity, _slice(whole, 0, 1_500))
    assert first.imported == 1_500

    # As if another upload of rows 1000-1499 raced this one past the pre-check: the rule on
    # the log refuses the duplicate, and its whole chunk goes with it.
    async def nothing_recorded(conn: object, charity: str, references: list[str]
                               ) -> dict[str, int]:
        return {}

    monkeypatch.setattr(importer, "recorded_references", nothing_recorded)
    size = await platform.log.size()
    raced = await importer.import_file(platform, charity, _slice(whole, 1_000, 2_500),
                                       chunk_rows=500)
    assert [c.landed for c in raced.chunks] == [False, True, True]
    assert raced.chunks[0].reason is not None and "row 2:" in raced.chunks[0].reason
    assert "already recorded this transaction" in raced.chunks[0].reason
    assert raced.imported == 1_000
    landed = raced.chunks[1]
    assert landed.first_index == size  # nothing of the refused chunk took an index
    monkeypatch.undo()

    again = await importer.import_file(platform, charity, whole)
    assert (again.already, again.imported) == (2_500, 0)
    references = await HeartDonationReference.filter(charity=charity).values_list(
        "reference", flat=True)
    assert len(references) == len(set(references)) == 2_500


async def test_a_new_donor_of_a_refused_chunk_is_registered_by_the_next_chunk_naming_it(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch,
        signed_in: str) -> None:
    """The import finds every payer's donor once for the file; a donor's account.register goes
    in the first chunk naming it, and when that chunk is refused, in the next one."""
    charity = await f.charity(ledger)
    platform = ledger.platform

    def csv_of(*rows: tuple[str, str]) -> bytes:
        lines = ["time,payer,amount,transaction_id,campaign"]
        lines += [f"2026-11-02 10:00:00,{payer},12.30,{tx},winter-2026" for tx, payer in rows]
        return ("\n".join(lines) + "\n").encode()

    old, new = "13900000001", "13900000002"
    assert (await importer.import_file(platform, charity, csv_of(("T1", old)))).imported == 1

    async def nothing_recorded(conn: object, charity: str, references: list[str]
                               ) -> dict[str, int]:
        return {}

    monkeypatch.setattr(importer, "recorded_references", nothing_recorded)
    raced = await importer.import_file(
        platform, charity, csv_of(("T1", old), ("T2", new), ("T3", new), ("T4", new)),
        chunk_rows=2)
    assert [c.landed for c in raced.chunks] == [False, True]
    assert (raced.imported, raced.donors_created) == (2, 1)
    monkeypatch.undo()
    donor = (await HeartDonation.get(charity=charity, quantity=1230, idx=raced.chunks[1]
                                     .last_index)).donor
    assert await Account.exists(address=donor, role="member")
    checked = await verify_log(platform.log, scratch_dir=ledger.settings.data_dir.parent)
    assert checked.entries == await platform.log.size()


async def test_xlsx_alipay_export(ledger: Ledger) -> None:
    charity = await f.charity(ledger)
    book = Workbook()
    sheet = book.active
    sheet.append(["#支付宝交易记录明细查询"])
    sheet.append(["账号:[sunrise@example.org]"])
    sheet.append(ALIPAY_HEADER)
    paid = datetime(2026, 11, 3, 9, 30, 0)
    good = [("A1", 13912345678, 12.3, "交易成功", 1230),
            ("A2", "sun@example.org", "1,200.00", "交易成功", 120000),
            ("A3", "2088102146225135", 5, "交易成功", 500)]
    for txid, payer, amount, status, _ in good:
        sheet.append([txid, paid, payer, amount, status, ""])
    bad = {7: "订单金额（元）", 8: "交易状态", 9: "支付宝交易号", 10: "买家支付宝账号"}
    sheet.append(["A4", paid, 13900000001, 12.345, "交易成功", ""])  # a number, not rounded
    sheet.append(["A5", paid, 13900000002, 10, "交易关闭", ""])
    sheet.append([208810214622513512, paid, 13900000003, 10, "交易成功", ""])  # 18 digits
    sheet.append(["A7", paid, 2088102146225135123, 10, "交易成功", ""])
    out = io.BytesIO()
    book.save(out)
    data = out.getvalue()

    report = await importer.dry_run(ledger.platform, charity, data, campaign="winter-2026")
    assert report.mapping == "alipay" and report.header_row == 3
    assert {p.row: p.column for p in report.problems} == bad
    assert report.fen == sum(g[-1] for g in good)
    done = await importer.import_file(ledger.platform, charity, data, campaign="winter-2026")
    assert done.imported == 3
    rows = await HeartDonationReference.filter(charity=charity).order_by("idx")
    assert {r.paid_at for r in rows} == {"2026-11-03T01:30:00.000Z"}  # China time -> UTC
    again = await importer.import_file(ledger.platform, charity, data, campaign="winter-2026")
    assert (again.imported, again.already) == (0, 3)


async def test_provider_csv_encodings_and_kept_mapping(ledger: Ledger) -> None:
    charity = await f.charity(ledger, campaigns=("c1",))
    alipay = ("#支付宝交易记录明细查询\n账号:[x]\n" + ",".join(ALIPAY_HEADER) + "\n"
              "2026110322001,2026-11-03 09:30:00,13912345678,88.80,交易成功,\n"
              "#-----------------------------------------\n").encode("gb18030")
    report = await importer.dry_run(ledger.platform, charity, alipay, campaign="c1")
    assert (report.mapping, report.to_import, report.fen, report.problems) == (
        "alipay", 1, 8880, [])
    wechat = ("\ufeff交易时间,公众账号ID,微信订单号,用户标识,交易状态,订单金额\n"
              "`2026-11-03 09:30:00,`wx1,`4200001,`oUpF8uMuAJO_M2pxb1Q9zNjWeS6o,`SUCCESS,`1.5\n"
              ).encode()
    report = await importer.dry_run(ledger.platform, charity, wechat, campaign="c1")
    assert (report.mapping, report.to_import, report.fen, report.problems) == (
        "wechat", 1, 150, [])
    own = "流水号,付款人,金额（元）\nX1,13912345678,10\n".encode()
    with pytest.raises(ValidationError, match="header row"):
        await importer.dry_run(ledger.platform, charity, own, campaign="c1")
    await mappings.save_mapping(charity, "bank", {"transaction": "流水号", "payer": "付款人",
                                                  "amount": "金额(元)"}, now="now")
    report = await importer.dry_run(ledger.platform, charity, own, campaign="c1")
    assert (report.mapping, report.to_import) == ("bank", 1)  # kept, found without naming it
    other = await f.charity(ledger, "Other Charity")
    with pytest.raises(ValidationError):  # another charity's mapping is its own
        await importer.dry_run(ledger.platform, other, own, campaign="c1")


async def test_only_a_charity_imports(ledger: Ledger) -> None:
    member = await f.member(ledger)
    with pytest.raises(PermissionDenied):
        await importer.dry_run(ledger.platform, member, generic_csv(3).data)


async def test_the_dry_run_reports_rows_of_an_undeclared_or_closed_campaign(
        ledger: Ledger) -> None:
    from tests.factories import campaign

    charity = await f.charity(ledger)
    await campaign(ledger, charity, "ended", ends="2026-01-01T00:00:00.000Z")
    size = await ledger.platform.log.size()
    for slug, reason in (("no-such-campaign", "declared no campaign no-such-campaign"),
                         ("ended", "campaign ended is not open at")):
        report = await importer.dry_run(ledger.platform, charity, generic_csv(4, campaign=slug)
                                        .data)
        assert [(p.row, p.column) for p in report.problems] == [
            (n, "campaign") for n in range(2, 6)]
        assert all(reason in p.reason for p in report.problems) and report.to_import == 0
    assert await ledger.platform.log.size() == size  # a dry run writes nothing
    imported = await importer.import_file(ledger.platform, charity,
                                          generic_csv(4, campaign="ended").data)
    assert imported.imported == 0 and await ledger.platform.log.size() == size
