"""Comparing stored rows with the rows `verify` recomputed, table by table, in key order.

Each table is read once, in primary-key order, a chunk at a time (`rows`), from both stores, and
the two streams are walked side by side (`Matcher`): rows that are equal as read cost one
comparison; only a row that differs is looked at column by column, so that the first difference
is reported precisely as (table, key, expected, found). The replay also feeds a `Matcher` the
rows it computes as it goes (`verify.py`: the signers), so the stored table is the only stream.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from tortoise import fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from heartchain.errors import VerificationError
from heartchain.ledger.store import fetch, is_postgres

CHUNK = 2000  # rows per query

Progress = Callable[[str, int, int], None]
Row = dict[str, Any]


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.table} {self.key}: expected {self.expected}, found {self.found}"


class VerifyFailed(VerificationError):
    def __init__(self, difference: Difference) -> None:
        self.difference = difference
        super().__init__(str(difference))


def show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return data.hex() if len(data) <= 64 else f"{data[:32].hex()}… ({len(data)} bytes)"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def normal(value: Any) -> Any:
    """One representation per value, whichever database produced it."""
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def key_text(row: Row, key: tuple[str, ...]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in key)


async def rows(conn: BaseDBAsyncClient, select: str, key: tuple[str, ...],
               text_keys: frozenset[str] = frozenset()) -> AsyncIterator[Row]:
    """All rows of `select`, in `key` order, a chunk at a time.

    Keyset pagination (WHERE key > last), so each chunk costs the same however far into a
    million-row table it is; text keys compare bytewise on PostgreSQL too, so both stores
    list rows in one order.
    """
    postgres = is_postgres(conn)

    def column(name: str) -> str:
        return f'{quote(name)} COLLATE "C"' if postgres and name in text_keys else quote(name)

    order = ", ".join(column(k) for k in key)
    # (k1 > ?) OR (k1 = ? AND k2 > ?) OR ...: the row after `last` in key order.
    after = " OR ".join(
        "(" + " AND ".join([*(f"{column(k)} = ?" for k in key[:i]), f"{column(key[i])} > ?"]) + ")"
        for i in range(len(key)))
    last: list[Any] | None = None
    while True:
        if last is None:
            chunk = await fetch(conn, f"{select} ORDER BY {order} LIMIT {CHUNK}")
        else:
            values = [v for i in range(len(key)) for v in (*last[:i], last[i])]
            chunk = await fetch(conn, f"{select} WHERE {after} ORDER BY {order} LIMIT {CHUNK}",
                                values)
        for row in chunk:
            yield row
        if len(chunk) < CHUNK:
            return
        last = [chunk[-1][k] for k in key]


def check_row(table: str, key: tuple[str, ...], expected: Row, found: Row) -> None:
    """Raise VerifyFailed naming how `found` differs from `expected`, if it does."""
    named = key_text(expected, key)
    if key_text(found, key) != named:
        raise VerifyFailed(Difference(table, named, "this row next",
                                      f"{key_text(found, key)} instead"))
    for column, value in expected.items():
        if normal(value) != normal(found[column]):
            raise VerifyFailed(Difference(f"{table}.{column}", named, show(normal(value)),
                                          show(normal(found[column]))))


class Matcher:
    """Walks the stored rows of `table` (in `key` order) against the expected rows handed to
    `expect` in the same order; raises VerifyFailed at the first difference."""

    def __init__(self, table: str, key: tuple[str, ...], found: AsyncIterator[Row],
                 progress: Progress | None = None) -> None:
        self.table = table
        self.key = key
        self.count = 0
        self._found = found.__aiter__()
        self._progress = progress

    async def expect(self, expected: Row) -> None:
        found = await anext(self._found, None)
        if found is None:
            raise VerifyFailed(Difference(self.table, key_text(expected, self.key), "a row",
                                          "missing"))
        if found != expected:  # equal as read: equal as normalised too
            check_row(self.table, self.key, expected, found)
        self.count += 1
        if self._progress and self.count % 10_000 == 0:
            self._progress(self.table, self.count, 0)

    async def finish(self) -> int:
        """No stored row is left over; the number of rows matched."""
        found = await anext(self._found, None)
        if found is not None:
            raise VerifyFailed(Difference(self.table, key_text(found, self.key), "no such row",
                                          show({k: normal(v) for k, v in found.items()})))
        return self.count


async def compare(table: str, live_conn: BaseDBAsyncClient, scratch_conn: BaseDBAsyncClient,
                  select: str, key: tuple[str, ...], progress: Progress | None,
                  text_keys: frozenset[str] = frozenset()) -> int:
    """Every row of `select` in the live store equals the scratch store's; the row count."""
    matcher = Matcher(table, key, rows(live_conn, select, key, text_keys), progress)
    async for expected in rows(scratch_conn, select, key, text_keys):
        await matcher.expect(expected)
    return await matcher.finish()


async def compare_model(model: type[Model], live_conn: BaseDBAsyncClient,
                        scratch_conn: BaseDBAsyncClient, progress: Progress | None) -> int:
    meta = model._meta
    columns = [meta.fields_db_projection[name] for name in meta.db_fields]
    # Projections key rows naturally (an entry index, an address), so the primary key orders and
    # identifies rows in both stores; an autoincrement key would differ after a rollback.
    pk = meta.fields_map[meta.pk_attr]
    key = meta.fields_db_projection[meta.pk_attr]
    text = frozenset({key}) if isinstance(pk, (fields.CharField, fields.TextField)) \
        else frozenset()
    select = (f"SELECT {', '.join(quote(c) for c in columns)} "
              f"FROM {quote(meta.db_table)}")
    return await compare(meta.db_table, live_conn, scratch_conn, select, (key,), progress,
                         text_keys=text)
