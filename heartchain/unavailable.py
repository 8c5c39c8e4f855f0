"""The database did not answer in time: every caller gets 503 + Retry-After, never a hang.

A write lock held by someone else (SQLite's BEGIN IMMEDIATE from a backup or a stray shell),
PostgreSQL down or restarting, or an entry still queued for the sequencer after
HEARTCHAIN_WRITE_TIMEOUT_MS all end the same way: HTTP 503 with `Retry-After`, for plain routes
and GraphQL alike (a GraphQL error with code `DATABASE_UNAVAILABLE`; its data, if any, is
null). Nothing was written by a request refused so (a queued entry is withdrawn before it is
integrated), and a retry with the same Idempotency-Key is always safe.
"""

from __future__ import annotations

import asyncio
import sqlite3
from typing import Any, Literal

import asyncpg
from tortoise import connections
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import DBConnectionError, OperationalError

from heartchain.pg_pool import LendingPool

RETRY_AFTER_SECONDS = 1
MESSAGE = "the database is unavailable; retry shortly"
CODE = "DATABASE_UNAVAILABLE"


# PostgreSQL refusing or dropping connections: starting up or recovering after a crash
# ("cannot connect now", 57P03), shutting down (57P01/57P02), out of connection slots (53300),
# a connection lost mid-query (08xxx).
_POSTGRES_AWAY = (asyncpg.exceptions.OperatorInterventionError
                  | asyncpg.exceptions.PostgresConnectionError
                  | asyncpg.exceptions.TooManyConnectionsError)


class DatabaseBusy(Exception):
    """The database or the sequencer did not answer within its bounded wait."""


def is_unavailable(exc: BaseException | None) -> bool:
    """Whether `exc` (or what caused it) means the database is down, locked or too slow."""
    seen: set[int] = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, DatabaseBusy | DBConnectionError | ConnectionError | TimeoutError
                      | _POSTGRES_AWAY):
            return True
        if isinstance(exc, OperationalError | sqlite3.OperationalError):
            text = str(exc).lower()
            if "locked" in text or "busy" in text:
                return True
        exc = exc.__cause__ or exc.__context__
    return False


class _BoundedLock(asyncio.Lock):
    """tortoise's SQLite client runs every query on one connection behind an asyncio.Lock, so a
    write stuck on a held lock queues every other request behind it, one busy timeout each.
    Bounding the wait for that lock bounds them all."""

    def __init__(self, timeout: float) -> None:
        super().__init__()
        self.timeout = timeout

    async def acquire(self) -> Literal[True]:
        try:
            # A timer on this task, not wait_for's task per query.
            async with asyncio.timeout(self.timeout):
                return await super().acquire()
        except TimeoutError:
            raise DatabaseBusy(f"no database connection within {self.timeout:g} s") from None


def bound_connection_waits(seconds: float) -> None:
    """Make every tortoise connection's wait for a connection (SQLite: its one connection's
    lock; PostgreSQL: the pool, lent through `LendingPool`) end within `seconds`. Call once the
    connections exist."""
    for client in connections.all():
        if isinstance(client, SqliteClient) and not isinstance(client._lock, _BoundedLock):
            client._lock = _BoundedLock(seconds)
        elif hasattr(client, "create_pool") and not hasattr(client, "_bounded_pool"):
            create_pool = client.create_pool

            async def bounded(create_pool: Any = create_pool, **kwargs: Any) -> Any:
                return LendingPool(await create_pool(**kwargs), seconds)

            client.create_pool = bounded
            client._bounded_pool = True
            if getattr(client, "_pool", None) is not None:
                client._pool = LendingPool(client._pool, seconds)
