"""Bulk import: the dry run reports exactly the bad rows and writes nothing; the import writes
the rest once, chunk by chunk; a re-import writes nothing; verify replays it all."""

from __future__ import annotations

from heartchain.finance import importer
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.finance.factories import generic_csv
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
    assert all(c.landed for c in report.chunks) and len(report.chunks) == 10
    assert done[0] == (0, 9_963) and done[-1] == (9_963, 9_963)
    assert report.donors_created == export.payers
    assert await HeartDonation.filter(charity=charity).count() == 9_963
    assert sum(await HeartDonation.filter(charity=charity).values_list("quantity", flat=True)
               ) == export.fen
    references = await HeartDonationReference.filter(charity=charity).values_list(
        "reference", flat=True)
    assert len(references) == len(set(references)) == 9_963  # each transaction once
    after = await platform.log.size()

    again = await importer.import_file(platform, charity, export.data)
    assert (again.imported, again.already, again.to_import, again.chunks) == (0, 9_963, 0, [])
    assert await platform.log.size() == after

    checked = await verify_log(platform.log, scratch_dir=ledger.settings.data_dir.parent)
    assert checked.entries == after
