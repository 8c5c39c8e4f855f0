"""One witness submitter per store, however many worker processes serve it.

Witness networks ask a log to declare and bound its call rate. Every worker process signs its
own checkpoints, so if each submitted them, N workers would call each witness N times as often.
The process holding the lease submits (the newest checkpoint in the store, whoever signed it);
the others only try to take the lease over now and then, so it moves on when its holder exits.

- PostgreSQL: a session-level advisory lock on a connection of its own (released by the server
  when that connection or its process dies).
- SQLite (one machine): an exclusive `flock` on `witness-submitter.lock` in the data directory
  (released by the kernel when the process dies).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

# pg_try_advisory_lock's key: "heartchain witness submitter", as a stable 64-bit integer.
_ADVISORY_KEY = 0x6863_7769_746E_6573  # b"hcwitnes"


class Lease(Protocol):
    async def acquire(self) -> bool:
        """Take the lease if it is free (or already ours); never waits."""

    async def release(self) -> None: ...


class FileLease:
    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    async def acquire(self) -> bool:
        if self._fd is not None:
            return True
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    async def release(self) -> None:
        if self._fd is not None:
            fd, self._fd = self._fd, None
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class PostgresLease:
    def __init__(self, dsn: str) -> None:
        parts = urlsplit(dsn)
        # Tortoise's pool options in the query string mean nothing to asyncpg.connect.
        self.dsn = urlunsplit(parts._replace(scheme="postgresql", query=""))
        self._conn: Any = None

    async def acquire(self) -> bool:
        import asyncpg

        if self._conn is not None and not self._conn.is_closed():
            return True
        self._conn = None
        conn = await asyncpg.connect(self.dsn)
        try:
            taken = await conn.fetchval("SELECT pg_try_advisory_lock($1)", _ADVISORY_KEY)
        except BaseException:
            await conn.close()
            raise
        if not taken:
            await conn.close()
            return False
        self._conn = conn
        return True

    async def release(self) -> None:
        if self._conn is not None:
            conn, self._conn = self._conn, None
            with contextlib.suppress(Exception):
                await conn.close()  # closing the session releases its advisory locks


def lease_for(database_url: str, data_dir: Path) -> Lease:
    """The lease the processes sharing the store at `database_url` contend for."""
    if database_url.startswith(("postgres://", "postgresql://", "asyncpg://")):
        return PostgresLease(database_url.replace("asyncpg://", "postgresql://", 1))
    return FileLease(data_dir / "witness-submitter.lock")
