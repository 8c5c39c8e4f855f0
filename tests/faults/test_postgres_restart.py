"""PostgreSQL stops (cleanly, or crashes) under a mixed custodial load, then comes back.

While it is down every write is refused at once with an error (never a hang); once it is back
the server's connection pool reconnects and appends go on, with nothing acknowledged lost.

The test runs its own throwaway PostgreSQL cluster (initdb into a temporary directory, a free
port), so stopping it cannot disturb the shared server that the rest of the suite, and anyone
else on the machine, is using at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path

import asyncpg
import pytest

from tests.conftest import POSTGRES
from tests.faults.workload import (
    DONATE,
    Load,
    cast_of,
    check_nothing_lost,
    post,
    summary,
    wait_until,
)
from tests.servers import Server, cli_env, free_port, run_cli

DOWN_SECONDS = 1.5  # long enough for every worker to hit the outage again and again
PG_BIN = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not POSTGRES, reason="needs HEARTCHAIN_TEST_POSTGRES"),
    pytest.mark.skipif(not PG_BIN, reason="needs the PostgreSQL server binaries (initdb)"),
]


class Cluster:
    """A private PostgreSQL cluster on 127.0.0.1:<free port>, run as the postgres user."""

    def __init__(self) -> None:
        self.bin = Path(PG_BIN[-1]).parent
        self.root = Path(tempfile.mkdtemp(prefix="hc-faults-pg-"))
        self.data = self.root / "data"
        self.port = free_port()
        self.as_root = os.geteuid() == 0
        if self.as_root:
            shutil.chown(self.root, "postgres", "postgres")

    @property
    def url(self) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> str:
        command = [str(self.bin / tool), *args]
        if self.as_root:
            command = ["runuser", "-u", "postgres", "--", *command]
        done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{tool} failed: {done.stdout}{done.stderr}")
        return done.stdout

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres", "--no-sync",
                  "-E", "UTF8")

    def start(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.root / "log"), "-w", "-t", "60",
                  "-o", f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1", "start")
        self._run("pg_isready", "-h", "127.0.0.1", "-p", str(self.port), "-t", "30")

    def stop(self, mode: str = "fast") -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", mode, "-w", "-t", "60", "stop")

    def destroy(self) -> None:
        if (self.data / "postmaster.pid").exists():
            with contextlib.suppress(RuntimeError):
                self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)


@pytest.mark.parametrize("mode", ["fast", "immediate"])
async def test_postgres_stops_and_returns_mid_load(tmp_path: Path, mode: str) -> None:
    """`fast` is an orderly shutdown; `immediate` is a crash (recovery replays its WAL)."""
    cluster = Cluster()
    server: Server | None = None
    try:
        cluster.init()
        cluster.start()
        conn = await asyncpg.connect(cluster.url)
        await conn.execute("CREATE DATABASE hc")
        await conn.close()
        db_url = cluster.url.rsplit("/", 1)[0] + "/hc?minsize=1&maxsize=5"
        env = cli_env(tmp_path / "data", db_url)
        init = run_cli(env, "init")
        assert init.returncode == 0, init.stderr
        server = Server(env, log=tmp_path / "server.log")
        await server.start()
        cast = await cast_of(server.url, init.stdout)
        async with Load(server.url, cast) as load:
            tally = load.tally
            await wait_until(lambda: len(tally.acks) >= 100, 20, "acks before the stop")
            # In a thread: the clients keep running while pg_ctl waits (blocking the loop
            # froze them for the whole restart, past the server's keep-alive timeout).
            await asyncio.to_thread(cluster.stop, mode)
            stopped = time.monotonic()
            await wait_until(lambda: tally.refusals_between(stopped) >= 20
                             and time.monotonic() - stopped > DOWN_SECONDS, 15,
                             "writes to be refused while PostgreSQL is down")
            # one more write, timed: refused promptly with an error, not left waiting
            probe_started = time.monotonic()
            probe = await post(server.url, DONATE, {"donor": cast.donors[0].address,
                                                    "quantity": 1}, cast.charity.token)
            probe_seconds = time.monotonic() - probe_started
            acks_while_down = len(tally.acks_between(stopped + 1))
            await asyncio.to_thread(cluster.start)
            restarted = time.monotonic()
            await wait_until(lambda: len(tally.acks_between(restarted)) >= 60 and {
                a.operation for a in tally.acks_between(restarted)} >= {
                "recordDonation", "acceptLot", "registerAccount"}, 30,
                "acks of every kind after PostgreSQL came back")
        print(summary(tally), f"probe answered in {probe_seconds:.2f} s: "
              f"{probe.status_code} {probe.text[:200]}")
        assert probe.status_code == 503, probe.text  # the token lookup could not run
        assert probe.json()["errors"][0]["message"].startswith("the database is unavailable")
        assert probe.headers["retry-after"] == "1"
        assert probe_seconds < 5, probe_seconds
        assert acks_while_down == 0, "acknowledged while the database was down?"
        # What the refused clients saw: 503 when the token lookup failed, GraphQL's masked
        # error when the write itself failed; never a typed error (those are for bad input),
        # never a dropped connection.
        assert set(tally.refused) <= {"HTTP 503", "GraphQL: Unexpected error."}, tally.refused
        assert not tally.typed, tally.typed
        after = {a.operation for a in tally.acks_between(restarted)}
        assert after >= {"recordDonation", "acceptLot", "registerAccount"}, after
        assert (await server_health(server)) == 200
        # after an orderly stop a refused write was rolled back; after a crash a commit may
        # have reached the disk with its answer lost, as in any database
        await check_nothing_lost(server.url, env, tally)
    finally:
        if server is not None:
            server.stop()
        await asyncio.to_thread(cluster.destroy)


async def server_health(server: Server) -> int:
    import httpx

    async with httpx.AsyncClient() as client:
        return (await client.get(f"{server.url}/healthz")).status_code
