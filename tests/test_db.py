"""heartchain.db: PostgreSQL pool connections are released without asyncpg's reset query."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from heartchain.ledger.store import fetch
from tests.conftest import Ledger


async def test_no_reset_query_after_each_pooled_query(ledger: Ledger,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    if ledger.backend != "postgres":
        pytest.skip("the reset query is asyncpg's (PostgreSQL)")
    sent: list[str] = []
    execute = asyncpg.connection.Connection.execute

    async def recording(self: asyncpg.Connection, query: str, *args: Any, **kwargs: Any) -> Any:
        sent.append(query)
        return await execute(self, query, *args, **kwargs)

    monkeypatch.setattr(asyncpg.connection.Connection, "execute", recording)
    conn = ledger.platform.log.reader.connection()
    for _ in range(3):
        assert await fetch(conn, "SELECT size FROM log_head WHERE id = 1")
    assert not [q for q in sent if "UNLISTEN" in q or "RESET ALL" in q]


async def test_a_transaction_left_open_is_still_rolled_back(ledger: Ledger) -> None:
    """asyncpg rolls back an open transaction on release whatever the reset does: the next
    query on that connection does not see (or inherit) the abandoned write."""
    if ledger.backend != "postgres":
        pytest.skip("asyncpg's pool (PostgreSQL)")
    client: Any = ledger.platform.log.reader.connection()
    pool = client._pool
    async with pool.acquire() as raw:
        await raw.execute("BEGIN")
        await raw.execute("UPDATE log_head SET size = size + 1000 WHERE id = 1")
    size = await ledger.platform.log.size()
    assert size < 1000
