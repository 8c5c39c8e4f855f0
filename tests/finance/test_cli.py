"""`heartchain import donations` and `heartchain export donations`, as a user runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from tests.conftest import Ledger
from tests.finance.factories import generic_csv
from tests.servers import cli_env, run_cli
from tests.tokens import factories as f


async def test_import_then_export(ledger: Ledger, tmp_path: Path) -> None:
    if ledger.backend != "sqlite":
        pytest.skip("the CLI runs against the fixture's SQLite file")
    await f.charity(ledger, "Sunrise Food Bank")
    export = generic_csv(1_200, bad=3, payers=100)
    source = tmp_path / "alipay.csv"
    source.write_bytes(export.data)
    env = cli_env(ledger.settings.data_dir, ledger.settings.database_url)
    size = await ledger.platform.log.size()

    def cli(*args: str) -> tuple[int, str, str]:
        done = run_cli(env, *args)
        return done.returncode, done.stdout, done.stderr

    code, out, _ = await asyncio.to_thread(
        cli, "import", "donations", str(source), "--charity", "Sunrise Food Bank", "--dry-run")
    assert code == 1  # bad rows
    assert "1200 rows: 1197 good, 3 bad, 0 imported before, 1197 to import" in out
    assert all(f"row {row}, " in out for row in export.bad)
    assert "dry run: nothing was written" in out
    assert await ledger.platform.log.size() == size

    code, out, err = await asyncio.to_thread(
        cli, "import", "donations", str(source), "--charity", "Sunrise Food Bank")
    assert "chunk 1 (rows 2-1201, 1197 gifts): landed as entries" in out
    assert "imported 1197 gifts, 100 new donors" in out
    assert "importing" in err  # the progress bar
    code, out, _ = await asyncio.to_thread(
        cli, "import", "donations", str(source), "--charity", "Sunrise Food Bank")
    assert "1197 imported before, 0 to import" in out and "imported 0 gifts" in out

    target = tmp_path / "books.csv"
    code, _, err = await asyncio.to_thread(
        cli, "export", "donations", "--charity", "Sunrise Food Bank", "--out", str(target))
    assert code == 0, err
    assert len(target.read_text(encoding="utf-8-sig").splitlines()) == 1 + 1197
    code, _, err = await asyncio.to_thread(
        cli, "export", "donations", "--charity", "Nobody", "--out", str(target))
    assert code == 2 and "no account" in err
