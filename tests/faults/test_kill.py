"""kill -9 a server in the middle of a mixed custodial load, restart it, keep going."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from heartchain.settings import sqlite_url
from tests.conftest import POSTGRES, create_postgres_database, drop_postgres_database, postgres_url
from tests.faults.workload import (
    Load,
    cast_of,
    check_nothing_lost,
    summary,
    wait_until,
)
from tests.servers import Server, cli_env, run_cli

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("backend", ["sqlite", *(["postgres"] if POSTGRES else [])])
async def test_kill_9_mid_mixed_load(tmp_path: Path, backend: str) -> None:
    database = await create_postgres_database() if backend == "postgres" else None
    db_url = postgres_url(database) if database else sqlite_url(tmp_path / "data" / "hc.sqlite3")
    env = cli_env(tmp_path / "data", db_url)
    server = Server(env, log=tmp_path / "server.log")
    try:
        init = run_cli(env, "init")
        assert init.returncode == 0, init.stderr
        await server.start()
        cast = await cast_of(server.url, init.stdout)
        async with Load(server.url, cast) as load:
            tally = load.tally
            await wait_until(lambda: len(tally.acks) >= 100, 20, "acks before the kill")
            server.kill()
            killed = time.monotonic()
            await wait_until(lambda: tally.refusals_between(killed) >= 5, 10,
                             "clients to notice the kill")
            await server.start()
            restarted = time.monotonic()
            await wait_until(lambda: len(tally.acks_between(restarted)) >= 40, 20,
                             "acks after the restart")
        print(summary(tally))
        assert tally.acks_between(0, killed), "nothing was acknowledged before the kill"
        after = {a.operation for a in tally.acks_between(restarted)}
        assert after >= {"recordDonation", "acceptLot", "registerAccount"}, after
        # the only refusals are the dead server's: connection errors, never a typed error
        assert all(how.startswith("connection") for how in tally.refused), tally.refused
        assert not tally.typed, tally.typed
        await check_nothing_lost(server.url, env, tally)
    finally:
        server.stop()
        if database:
            await asyncio.sleep(0)
            await drop_postgres_database(database)
