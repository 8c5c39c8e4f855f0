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

from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.ledger.store import execute_many


class WriteBuffer:
    def __init__(self) -> None:
        self._rows: dict[str, list[list[Any]]] = {}

    def add(self, query: str, values: list[Any]) -> None:
        self._rows.setdefault(query, []).append(values)

    def pending(self) -> int:
        return sum(len(rows) for rows in self._rows.values())

    async def flush(self, conn: BaseDBAsyncClient) -> None:
        """Send every buffered statement (`?` placeholders), one executemany each, in order."""
        rows, self._rows = self._rows, {}
        for query, values in rows.items():
            await execute_many(conn, query, values)
