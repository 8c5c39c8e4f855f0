"""The per-batch write buffer of set-based kinds (heartchain.ledger.kinds, `batched=True`).

A set-based projector hands its statements to `ApplyContext.write`; they are kept here, one list
of rows per statement in the order first written, and sent with one `executemany` per statement
when the integrator flushes: before any entry whose kind still works one entry at a time (its
steps may read what is buffered), and before the log rows. Each statement's rows keep their
order, so upserts on one key apply in log order; statements are not interleaved, so a batched
kind's statements must not depend on one another's order (different tables, or upserts whose
result does not depend on the order of different statements).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.ledger.store import execute_many


class WriteBuffer:
    def __init__(self) -> None:
        self._rows: dict[str, list[list[Any]]] = {}
        self._by_key: dict[str, dict[Any, list[Any]]] = {}  # add_up's rows, by their key

    def add(self, query: str, values: list[Any]) -> None:
        self._rows.setdefault(query, []).append(values)

    def add_up(self, query: str, values: list[Any], *, summed: Sequence[int],
               latest: Sequence[int] = ()) -> None:
        """An additive upsert keyed by its first value (`INSERT ... ON CONFLICT (key) DO UPDATE
        SET c = t.c + excluded.c`): a later row with the same key is folded into the buffered
        one, its `summed` positions added and its `latest` positions replacing, the others kept
        from the first (insert-only values). One row per key per batch: what the upserts one by
        one would leave (a batch of gifts to one campaign was thousands of upserts of one row)."""
        merged = self._by_key.setdefault(query, {})
        row = merged.get(values[0])
        if row is None:
            merged[values[0]] = row = list(values)
            self._rows.setdefault(query, []).append(row)
            return
        for position in summed:
            row[position] += values[position]
        for position in latest:
            row[position] = values[position]

    def pending(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    async def flush(self, conn: BaseDBAsyncClient) -> None:
        """Send every buffered statement (`?` placeholders), one executemany each, in order."""
        rows, self._rows, self._by_key = self._rows, {}, {}
        for query, values in rows.items():
            await execute_many(conn, query, values)
