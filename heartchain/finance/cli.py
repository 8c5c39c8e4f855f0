"""`heartchain import donations FILE --charity …` and `heartchain export donations --charity …`.

Both run beside the data directory (its log.key and master.key): the charity's custodial key
signs the imported gifts. `--charity` takes the address or the exact label.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from heartchain.settings import Settings

if TYPE_CHECKING:
    from heartchain.finance.importer import Report


def add_parsers(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    imports = sub.add_parser("import", help="bulk import: import donations FILE --charity C "
                                            "[--dry-run] [--mapping NAME]")
    what = imports.add_subparsers(dest="import_command", required=True)
    donations = what.add_parser(
        "donations", help="donations from a payment provider's CSV or XLSX export",
        description="Check every row (a dry run writes nothing and lists each bad row), then "
                    "record the good ones not recorded before, all or nothing per chunk of "
                    "2,000 rows. A re-run skips what landed: each provider transaction is "
                    "recorded once.")
    donations.add_argument("file", help="the CSV or XLSX export")
    _charity(donations)
    donations.add_argument("--dry-run", action="store_true", help="check only; write nothing")
    donations.add_argument("--mapping", help="the charity's kept mapping, or alipay | wechat | "
                                             "generic (default: try each)")
    donations.add_argument("--columns", metavar="FIELD=HEADER,...",
                           help="map the columns (payer, amount, transaction; time, campaign, "
                                "status) and keep the mapping as --mapping (default: default)")
    donations.add_argument("--campaign", help="campaign of rows without a campaign column")
    donations.add_argument("--json", action="store_true", help="print the report as JSON")

    exports = sub.add_parser("export", help="accounting export: export donations --charity C "
                                            "[--campaign] [--from] [--to] --out FILE")
    what = exports.add_subparsers(dest="export_command", required=True)
    ledger = what.add_parser("donations", help="donations, reversals and disbursements as CSV "
                                               "or XLSX (stable columns, no row cap)")
    _charity(ledger)
    ledger.add_argument("--campaign")
    ledger.add_argument("--from", dest="start", metavar="YYYY-MM-DD",
                        help="first day (China time)")
    ledger.add_argument("--to", dest="end", metavar="YYYY-MM-DD", help="last day, included")
    ledger.add_argument("--out", required=True, help="the file: .csv or .xlsx")


def _charity(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--charity", required=True, metavar="ADDRESS|LABEL")


async def _charity_address(wanted: str) -> str:
    from heartchain.accounts.models import Account
    from heartchain.errors import NotFound, ValidationError

    account = await Account.get_or_none(address=wanted.strip().lower())
    if account is None:
        named = await Account.filter(label=wanted.strip(), role="charity").limit(2)
        if len(named) > 1:
            raise ValidationError(f"several charities are labelled {wanted!r}: give the address")
        if not named:
            raise NotFound(f"no account has the address or label {wanted!r}")
        account = named[0]
    return str(account.address)


def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain.cli import _run
    from heartchain.db import init_db
    from heartchain.finance import importer, mappings
    from heartchain.ledger.entries import format_time
    from heartchain.platform import build_platform
    from heartchain.progress import ProgressBar

    data = Path(args.file).read_bytes()

    async def main() -> int:
        platform = build_platform(settings)
        await init_db(settings.database_url, create_schema=False)
        charity = await _charity_address(args.charity)
        columns = None
        if args.columns:
            columns = await mappings.save_mapping(
                charity, args.mapping or "default", mappings.parse_columns(args.columns),
                now=format_time(platform.clock.now()))
        options = {"mapping": None if columns else args.mapping, "columns": columns,
                   "campaign": args.campaign}
        if args.dry_run:
            report = await importer.dry_run(platform, charity, data, **options)
        else:
            bar = ProgressBar("importing")
            report = await importer.import_file(
                platform, charity, data, progress=lambda done, total: bar.update(done, total),
                **options)
            bar.close()
        if args.json:
            print(json.dumps(report.as_dict(), ensure_ascii=False))
        else:
            _print(report)
        landed = all(c.landed for c in report.chunks)
        return 0 if landed and not report.problems else 1

    return _run(main)


def _print(report: Report) -> None:
    from heartchain.money import format_fen as yuan

    print(f"mapping {report.mapping} (header in row {report.header_row}): " + ", ".join(
        f"{f}={h}" for f, h in report.columns.items()))
    print(f"{report.rows} rows: {report.valid} good, {len(report.problems)} bad, "
          f"{report.already} imported before, {report.to_import} to import "
          f"(¥{yuan(report.fen, grouped=True)})")
    for problem in report.problems:
        print(f"  row {problem.row}, {problem.column}: {problem.reason}")
    if report.dry_run:
        print("dry run: nothing was written")
        return
    for chunk in report.chunks:
        state = (f"landed as entries {chunk.first_index}-{chunk.last_index}" if chunk.landed
                 else f"refused, nothing of it written: {chunk.reason}")
        print(f"  chunk {chunk.number} (rows {chunk.first_row}-{chunk.last_row}, {chunk.rows} "
              f"gifts): {state}")
    print(f"imported {report.imported} gifts, {report.donors_created} new donors"
          + ("" if all(c.landed for c in report.chunks) else "; run again to retry the "
             "refused chunks once their cause is fixed"))


def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    from heartchain.cli import _run
    from heartchain.db import init_db
    from heartchain.finance import exports

    out = Path(args.out)
    if out.suffix.lower() not in (".csv", ".xlsx"):
        print("heartchain export: --out must end in .csv or .xlsx", file=sys.stderr)
        return 2

    async def main() -> int:
        await init_db(settings.database_url, create_schema=False)
        query = exports.Query(await _charity_address(args.charity), args.campaign,
                              exports.parse_date(args.start, "from"),
                              exports.parse_date(args.end, "to"))
        chunks = (exports.xlsx_chunks(query) if out.suffix.lower() == ".xlsx"
                  else exports.csv_chunks(query))
        with out.open("wb") as handle:
            async for data in chunks:
                handle.write(data)
        print(f"wrote {out}")
        return 0

    return _run(main)
