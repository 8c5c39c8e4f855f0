"""Tortoise models of the log itself: entries, their signers, tiles, checkpoints and the head.

These rows are the log; every other table is a projection rebuilt from them (`verify.py` checks
that). Tiles follow C2SP tlog-tiles: one row per (level, index) holding up to 256 hashes; a partial
tile grows in place until it is full, after which it never changes.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from typing import Any, TypeVar

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model


class LogHead(Model):
    """The single row (id 1) every integration locks, so several processes never fork the log."""

    id = fields.IntField(primary_key=True)
    size = fields.BigIntField()
    root_hash = fields.BinaryField()

    class Meta:
        table = "log_head"


class LogEntry(Model):
    idx = fields.BigIntField(primary_key=True)
    leaf_hash = fields.BinaryField()
    data = fields.BinaryField()
    kind = fields.CharField(max_length=64, db_index=True)
    at = fields.CharField(max_length=24)
    # The log's clock when it integrated the entry: rules are replayed against this, not today.
    integrated_at = fields.CharField(max_length=24)

    class Meta:
        table = "log_entry"


class EntrySigner(Model):
    """One row per signature: answers "entries signed by X" and refuses a replayed nonce."""

    id = fields.BigIntField(primary_key=True)
    address = fields.CharField(max_length=80)
    nonce = fields.CharField(max_length=32)
    idx = fields.BigIntField(db_index=True)

    class Meta:
        table = "log_entry_signer"
        # Nonce first: the replay check looks a batch's nonces up, and a unique index led by the
        # address would make that a scan of every signature ever recorded.
        unique_together = (("nonce", "address"),)
        indexes = (("address", "idx"),)


class Tile(Model):
    id = fields.BigIntField(primary_key=True)
    level = fields.SmallIntField()
    idx = fields.BigIntField()
    data = fields.BinaryField()

    class Meta:
        table = "log_tile"
        unique_together = (("level", "idx"),)


class CheckpointRecord(Model):
    """Every checkpoint the log signed; none is ever replaced."""

    size = fields.BigIntField(primary_key=True)
    root_hash = fields.BinaryField()
    note = fields.TextField()
    signed_at = fields.CharField(max_length=24)

    class Meta:
        table = "log_checkpoint"


LOG_MODELS: tuple[type[Model], ...] = (LogHead, LogEntry, EntrySigner, Tile, CheckpointRecord)


def is_postgres(conn: BaseDBAsyncClient) -> bool:
    return conn.capabilities.dialect == "postgres"


def socket_fd(conn: BaseDBAsyncClient) -> int | None:
    """The database socket under `conn` (asyncpg), or None (aiosqlite works on a thread)."""
    transport = getattr(getattr(conn, "_connection", None), "_transport", None)
    sock = transport.get_extra_info("socket") if transport is not None else None
    return sock.fileno() if sock is not None else None


def sql(conn: BaseDBAsyncClient, query: str) -> str:
    """Write raw SQL with `?` placeholders; asyncpg wants `$1, $2, ...`."""
    return _numbered(query) if is_postgres(conn) else query


@functools.lru_cache(maxsize=2048)  # the hot statements are a few dozen texts, each sent often
def _numbered(query: str) -> str:
    parts = query.split("?")
    return "".join(f"{part}${n}" for n, part in enumerate(parts[:-1], 1)) + parts[-1]


T = TypeVar("T")
IN_LIST = 500  # values bound in one IN (...) list: well under every driver's limit


def in_chunks(values: Sequence[T]) -> Iterator[Sequence[T]]:
    """`values` IN_LIST at a time, for queries with an IN (...) list."""
    for start in range(0, len(values), IN_LIST):
        yield values[start:start + IN_LIST]


async def fetch(conn: BaseDBAsyncClient, query: str, values: list[Any] | None = None
                ) -> list[dict[str, Any]]:
    return await conn.execute_query_dict(sql(conn, query), values or [])


async def execute(conn: BaseDBAsyncClient, query: str, values: list[Any] | None = None) -> int:
    affected, _ = await conn.execute_query(sql(conn, query), values or [])
    return int(affected)


async def execute_many(conn: BaseDBAsyncClient, query: str, rows: list[list[Any]]) -> None:
    if rows:
        await conn.execute_many(sql(conn, query), rows)
