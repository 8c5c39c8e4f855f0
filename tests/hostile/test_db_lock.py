"""A write lock held from outside (SQLite BEGIN IMMEDIATE, as a backup or a stray shell would)
must not freeze the API: every wait is bounded, /healthz answers at once (degraded), and a
mutation gets 503 + Retry-After, writing nothing; once the lock goes, writes work again."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from pathlib import Path

import httpx
import pytest
from tortoise import connections

from heartchain.unavailable import bound_connection_waits, is_unavailable
from tests.conftest import Ledger
from tests.servers import Server, cli_env, run_cli

REGISTER = 'mutation { registerAccount(role: "member") { __typename } }'


async def test_a_held_write_lock_answers_503_fast_and_writes_nothing(tmp_path: Path) -> None:
    database = tmp_path / "data" / "hc.sqlite3"
    # No busy_timeout in the URL: HEARTCHAIN_DB_BUSY_TIMEOUT_MS applies.
    env = cli_env(tmp_path / "data", f"sqlite://{database}?journal_mode=wal",
                  HEARTCHAIN_DB_BUSY_TIMEOUT_MS="2000", HEARTCHAIN_WRITE_TIMEOUT_MS="3000")
    done = run_cli(env, "init")
    assert done.returncode == 0, done.stderr
    token = next(line.split(":", 1)[1].split()[0] for line in done.stdout.splitlines()
                 if line.startswith("operator token:"))
    server = Server(env)
    await server.start()
    holder = sqlite3.connect(database, isolation_level=None, timeout=0)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=60) as http:
            async def register() -> httpx.Response:
                return await http.post("/graphql", json={"query": REGISTER},
                                       headers={"authorization": f"Bearer {token}"})

            assert (await register()).status_code == 200
            size = holder.execute("SELECT size FROM log_head").fetchone()[0]
            holder.execute("BEGIN IMMEDIATE")
            started = time.monotonic()
            # Several at once: the later ones queue behind the first batch's wait.
            writes = asyncio.gather(*(register() for _ in range(6)))
            await asyncio.sleep(0.3)
            # While a write waits for the lock (SQLite: one connection), /healthz still
            # answers within a second, degraded.
            asked = time.monotonic()
            health = await http.get("/healthz")
            assert time.monotonic() - asked < 2
            assert health.status_code == 503 and health.json()["status"] == "degraded"
            assert health.headers["retry-after"] == "1"
            answers = await writes
            elapsed = time.monotonic() - started
            for answer in answers:
                assert answer.status_code == 503, answer.text
                assert answer.headers["retry-after"] == "1"
                error = answer.json()["errors"][0]
                assert error["extensions"]["code"] == "DATABASE_UNAVAILABLE"
                assert "unavailable" in error["message"]
            assert elapsed < 10, elapsed  # was 30 s, then "Unexpected error."
            # Reads need no write lock (WAL): with no write waiting they are answered.
            assert (await http.get("/healthz")).status_code == 200
            holder.execute("ROLLBACK")
            assert holder.execute("SELECT size FROM log_head").fetchone()[0] == size
            # The lock gone, everything works again; nothing refused was written meanwhile.
            assert (await register()).status_code == 200
            assert (await http.get("/healthz")).json() == {"status": "ok", "size": size + 1}
    finally:
        holder.close()
        server.stop()


async def test_waiting_for_a_connection_is_bounded(ledger: Ledger) -> None:
    """SQLite: tortoise's one connection behind a lock; PostgreSQL: the pool (maxsize 5 here).
    With every connection held, a query fails within the bound, as an unavailable database."""
    bound_connection_waits(0.3)
    client = connections.get("default")
    held: list[object] = []
    if ledger.backend == "sqlite":
        await client._lock.acquire()
    else:
        await client.execute_query("SELECT 1")  # the pool exists
        held = [await client._pool.acquire() for _ in range(5)]
    try:
        started = time.monotonic()
        with pytest.raises(Exception) as raised:
            await ledger.platform.log.size()
        assert time.monotonic() - started < 2
        assert is_unavailable(raised.value), raised.value
    finally:
        if ledger.backend == "sqlite":
            client._lock.release()
        for connection in held:
            await client._pool.release(connection)
    assert await ledger.platform.log.size() >= 1


@pytest.mark.parametrize("error", [
    "CannotConnectNowError",  # recovering after a crash: "not yet accepting connections"
    "AdminShutdownError", "CrashShutdownError", "TooManyConnectionsError",
    "ConnectionDoesNotExistError", "ConnectionFailureError"])
def test_postgres_going_away_is_unavailable_not_a_500(error: str) -> None:
    import asyncpg

    raised = getattr(asyncpg.exceptions, error)("the database system is starting up")
    assert is_unavailable(raised)
    try:  # as Tortoise re-raises what it does not translate: the cause is looked at too
        raise RuntimeError("query failed") from raised
    except RuntimeError as wrapped:
        assert is_unavailable(wrapped)


def test_a_bad_statement_is_not_unavailable() -> None:
    import asyncpg

    assert not is_unavailable(asyncpg.exceptions.UniqueViolationError("duplicate key"))
    assert not is_unavailable(asyncpg.exceptions.PostgresSyntaxError("syntax error"))
