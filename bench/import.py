"""Bulk import benchmark: donation rows imported per second end to end (read and check the CSV,
create the new payers' donors, sign, append all-or-none chunks), beside the append floor.

    python bench/import.py [--rows 20000] [--payers 5000] [--json]

- import: rows/s through heartchain.finance.importer.import_file, against the append floor that
  bench/ledger.py measures (its RawStore: PyNaCl-verify, SHA-256 and raw sqlite3 executemany of
  one-signature entries, all in one transaction) for as many entries as the import wrote;
- import_absolute: the same rows/s against the 5,000 rows/s target;
- phases: where the time went (checking the file, the new donors, signing, appending, the
  rest), as shares of the import's time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from figures import figure, report
from ledger import RawStore, signed_entries
from tortoise import Tortoise

from heartchain.accounts.services import initialise, register_account
from heartchain.clock import Clock
from heartchain.db import init_db
from heartchain.finance import importer, signing
from heartchain.ledger.entries import Entry
from heartchain.platform import build_platform
from heartchain.settings import Settings, sqlite_url
from tests.finance.factories import generic_csv
from tracing.campaign_services import create_campaign


def floor(n: int, workdir: Path, platform: Any) -> float:
    """bench/ledger.py's append floor for `n` entries, in entries/s."""
    raw = RawStore(workdir / "raw.sqlite3")
    seconds = 0.0
    for start in range(0, n, 10_000):
        entries = signed_entries(platform, min(10_000, n - start))
        seconds += raw.add([Entry(e.kind, e.at, e.nonce, e.body, e.sigs) for e in entries])
    seconds += raw.commit()
    return n / seconds


async def bench(rows: int, payers: int, workdir: Path) -> tuple[list[dict[str, object]],
                                                                 dict[str, float]]:
    settings = Settings(data_dir=workdir / "data", db_url=sqlite_url(workdir / "bench.sqlite3"))
    platform = build_platform(settings, clock=Clock(), create_keys=True)
    await init_db(settings.database_url)
    genesis = await initialise(platform)
    charity = (await register_account(platform, role="charity", registrar=genesis.operator,
                                      label="Bench Charity")).address
    # Donations must name a campaign the charity declared and is open (tracing.campaigns).
    await create_campaign(platform, charity=charity, slug="winter-2026", title_zh="冬季活动",
                          title_en="winter campaign", purpose="winter food parcels",
                          category="food", goal=10**12, unit="fen",
                          starts="2020-01-01T00:00:00.000Z", beneficiary="families in need")
    export = generic_csv(rows, payers=payers, seed=7)
    spent = {"append": 0.0, "sign": 0.0, "donors": 0.0, "check": 0.0}
    log = platform.log
    # The importer calls these through its modules' attributes, so timing wrappers stand in.
    append_all = log.append_all
    begin, signed = signing.begin, signing.Pending.signed
    donors_for = importer.donors_for_contacts  # type: ignore[attr-defined]

    async def timed_append(entries: Any) -> Any:
        began = time.perf_counter()
        try:
            return await append_all(entries)
        finally:
            spent["append"] += time.perf_counter() - began

    # Signing's cost to this process: building each chunk's set, and signing it here or
    # waiting for the worker that signs it a chunk ahead (heartchain.finance.signing).
    def timed_begin(worker: Any, items: Any, at: str, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return begin(worker, items, at, **kwargs)
        finally:
            spent["sign"] += time.perf_counter() - began

    async def timed_signed(self: Any) -> Any:
        began = time.perf_counter()
        try:
            return await signed(self)
        finally:
            spent["sign"] += time.perf_counter() - began

    async def timed_donors(*args: Any, **kwargs: Any) -> Any:
        began = time.perf_counter()
        try:
            return await donors_for(*args, **kwargs)
        finally:
            spent["donors"] += time.perf_counter() - began

    log.append_all = timed_append  # type: ignore[method-assign,assignment]
    signing.begin = timed_begin
    signing.Pending.signed = timed_signed  # type: ignore[method-assign]
    setattr(importer, "donors_for_contacts", timed_donors)  # noqa: B010
    began = time.perf_counter()
    await importer.dry_run(platform, charity, export.data)
    spent["check"] = time.perf_counter() - began
    size = await log.size()
    began = time.perf_counter()
    done = await importer.import_file(platform, charity, export.data)
    total = time.perf_counter() - began
    written = await log.size() - size
    log.append_all = append_all  # type: ignore[method-assign]
    signing.begin = begin
    signing.Pending.signed = signed  # type: ignore[method-assign]
    setattr(importer, "donors_for_contacts", donors_for)  # noqa: B010
    await Tortoise.close_connections()  # before any exit: an open connection's thread hangs it
    if done.imported != rows:
        raise SystemExit(f"imported {done.imported} of {rows} rows")
    base = floor(written, workdir, platform)
    rate = rows / total
    # The check runs once more inside import_file, before the chunks: timed by the dry run.
    phases = {k: spent[k] / total for k in ("check", "donors", "sign", "append")}
    phases["other"] = 1 - sum(phases.values())
    per_entry = written / total
    return [
        figure("import", rate, "rows/s", base * rows / written,
               f"append floor for the {written:,} entries, per row"),
        figure("import_entries", per_entry, "entries/s", base,
               "append floor (bench/ledger.py RawStore)"),
        figure("import_absolute", rate, "rows/s", 5000.0, "target 5,000 rows/s"),
    ], {k: round(v, 3) for k, v in phases.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", type=int, default=20_000)
    parser.add_argument("--payers", type=int, default=5_000,
                        help="distinct payers (each new one is a donor and an account.register)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        results, phases = asyncio.run(bench(args.rows, args.payers, Path(tmp)))
    report("import", f"bulk import ({args.rows:,} rows, {args.payers:,} payers, SQLite); "
           f"time shares: " + ", ".join(f"{k} {v:.0%}" for k, v in phases.items()),
           results, as_json=args.json, rows=args.rows, payers=args.payers, phases=phases)


if __name__ == "__main__":
    main()
