"""LendingPool: PostgreSQL connections lent per query from a free list, never lost, never
shared while unusable, and every wait bounded."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest

from heartchain.pg_pool import LendingPool
from tests.conftest import POSTGRES

pytestmark = pytest.mark.skipif(not POSTGRES, reason="needs HEARTCHAIN_TEST_POSTGRES")


class CountingPool:
    """An asyncpg pool that counts what goes through its own acquire and release."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool, self.acquired, self.released = pool, 0, 0
        self._maxsize, self._queue = pool._maxsize, pool._queue

    async def acquire(self, *, timeout: float | None = None) -> asyncpg.pool.PoolConnectionProxy:
        self.acquired += 1
        return await self.pool.acquire(timeout=timeout)

    async def release(self, connection: object, *, timeout: float | None = None) -> None:
        self.released += 1
        await self.pool.release(connection, timeout=timeout)

    async def close(self) -> None:
        await self.pool.close()

    def terminate(self) -> None:
        self.pool.terminate()

    async def expire_connections(self) -> None:
        await self.pool.expire_connections()


async def lending(size: int = 2, timeout: float = 0.3) -> tuple[LendingPool, CountingPool]:
    counting = CountingPool(await asyncpg.create_pool(POSTGRES, min_size=0, max_size=size))
    return LendingPool(counting, timeout), counting


async def test_a_returned_connection_is_lent_again_without_asyncpg() -> None:
    pool, counting = await lending()
    try:
        first = await pool.acquire()
        await first.fetchval("SELECT 1")
        await pool.release(first)
        for _ in range(20):
            connection = await pool.acquire()
            assert connection is first
            assert await connection.fetchval("SELECT 2") == 2
            await pool.release(connection)
        assert (counting.acquired, counting.released) == (1, 0)
    finally:
        await asyncio.wait_for(pool.close(), 5)  # the free connection is given back first
    assert counting.released == 1


async def test_waiting_is_bounded_and_a_released_connection_goes_to_the_waiter() -> None:
    pool, counting = await lending(size=1)
    try:
        held = await pool.acquire()
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            await pool.acquire()
        assert time.monotonic() - started < 1
        waiter = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        await pool.release(held)
        assert await waiter is held
        await pool.release(held)
        assert counting.acquired == 1
    finally:
        await pool.close()


async def test_a_cancelled_waiter_loses_no_connection() -> None:
    pool, counting = await lending(size=1, timeout=5)
    try:
        held = await pool.acquire()
        waiters = [asyncio.ensure_future(pool.acquire()) for _ in range(3)]
        await asyncio.sleep(0.01)
        waiters[0].cancel()
        await pool.release(held)  # straight to the first waiter still waiting
        waiters[1].cancel()  # cancelled once handed the connection, before it ran: passed on
        assert await asyncio.wait_for(waiters[2], 2) is held
        assert waiters[1].cancelled()
        await pool.release(held)
        connection = await pool.acquire()
        assert connection is held and counting.acquired == 1
        await pool.release(connection)
    finally:
        await pool.close()


async def test_a_connection_that_cannot_be_reused_goes_back_to_asyncpg() -> None:
    pool, counting = await lending(size=1, timeout=5)
    try:
        # Left inside a transaction: asyncpg rolls it back; the next one sees no transaction.
        connection = await pool.acquire()
        await connection.execute("BEGIN")
        await connection.execute("CREATE TEMP TABLE left_behind (x int)")
        waiter = asyncio.ensure_future(pool.acquire())
        await asyncio.sleep(0.01)
        await pool.release(connection)
        assert counting.released == 1
        again = await waiter  # woken to take a connection anew from asyncpg
        assert not again.is_in_transaction()
        assert await again.fetchval("SELECT to_regclass('pg_temp.left_behind')") is None
        # Interrupted mid-query (a request timeout): not lent while PostgreSQL cancels it.
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(again.fetchval("SELECT pg_sleep(5)"), 0.1)
        await pool.release(again)
        assert counting.released == 2
        fresh = await pool.acquire()
        assert await fresh.fetchval("SELECT 3") == 3
        # Closed under us (PostgreSQL restarted): replaced, not lent out dead.
        fresh.terminate()
        await pool.release(fresh)
        replacement = await pool.acquire()
        assert await replacement.fetchval("SELECT 4") == 4
        await pool.release(replacement)
        assert counting.acquired == 4
    finally:
        await pool.close()


async def test_connections_out_when_the_pool_is_wrapped_come_back_to_it() -> None:
    raw = await asyncpg.create_pool(POSTGRES, min_size=0, max_size=2)
    outside = await raw.acquire()
    pool = LendingPool(raw, 0.3)
    try:
        mine = await pool.acquire()
        with pytest.raises(TimeoutError):
            await pool.acquire()  # two are out: the limit
        await pool.release(outside)
        assert await pool.acquire() is outside
        await pool.release(outside)
        await pool.release(mine)
    finally:
        await asyncio.wait_for(pool.close(), 5)
