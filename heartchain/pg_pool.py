"""PostgreSQL connections lent per query without asyncpg's checkout machinery.

Tortoise takes a pool connection for every query and gives it back after. asyncpg's
`Pool.acquire` with a timeout runs `wait_for` (a task per checkout) and `release` runs
`shield` (another task) and re-arms an inactivity timer: a third of each query's CPU on the
request path (issue 17's profile). `LendingPool` keeps the connections it has taken from
asyncpg and lends them out itself: a free connection is handed over without a task or an
await, a waiter is woken with one future, and a wait is bounded by `timeout` as before.
A connection goes back to asyncpg (which closes or resets it) only when it cannot be lent
again as it is: closed, cancelling a query, inside a transaction, expired, or worn out.
The cost: asyncpg no longer closes connections idle past its inactivity lifetime, so a
worker keeps up to its pool's maxsize open once a peak has needed them.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from typing import Any


def _reusable(connection: Any) -> bool:
    """Whether a returned pool proxy can be lent again without asyncpg's release and reset."""
    con = getattr(connection, "_con", None)
    holder = getattr(connection, "_holder", None)
    if con is None or holder is None or con.is_closed():
        return False
    protocol = con._protocol
    return (not protocol._is_cancelling() and not protocol.is_in_transaction()
            and con._top_xact is None and not con._listeners and not con._log_listeners
            and holder._generation == holder._pool._generation
            and protocol.queries_count < holder._max_queries)


class LendingPool:
    """An asyncpg pool as tortoise uses it (`acquire`, `release`, `close`, ...), whose
    connections, once taken, are lent from a free list; a wait for one ends within `timeout`
    with TimeoutError, as asyncpg's own bounded acquire does."""

    def __init__(self, pool: Any, timeout: float) -> None:
        self._pool, self._timeout = pool, timeout
        self._free: list[Any] = []
        # Connections taken from asyncpg: free here or lent out. Those out when the pool is
        # wrapped come back through `release`, so they count as taken.
        self._taken = int(pool._maxsize) - pool._queue.qsize()
        self._waiters: deque[asyncio.Future[Any]] = deque()
        self._limit = int(pool._maxsize)

    async def acquire(self, *, timeout: float | None = None) -> Any:
        bound = timeout or self._timeout
        while True:
            if self._free:
                return self._free.pop()
            if self._taken < self._limit:
                self._taken += 1
                try:
                    return await self._pool.acquire(timeout=bound)
                except BaseException:
                    self._taken -= 1
                    self._wake_one(None)
                    raise
            connection = await self._wait(bound)
            if connection is not None:
                return connection
            # None: a connection went back to asyncpg, so one may be taken anew.

    async def _wait(self, bound: float) -> Any:
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout(bound):
                return await waiter
        except BaseException:
            if waiter.done() and not waiter.cancelled():
                # Handed a connection just as the wait ended: pass it on, never lose it.
                self._hand_on(waiter.result())
            else:
                waiter.cancel()
                with contextlib.suppress(ValueError):
                    self._waiters.remove(waiter)
            raise

    def _wake_one(self, connection: Any) -> bool:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(connection)
                return True
        return False

    def _hand_on(self, connection: Any) -> None:
        if connection is None:
            self._wake_one(None)
        elif not self._wake_one(connection):
            self._free.append(connection)

    async def release(self, connection: Any, *, timeout: float | None = None) -> None:
        if _reusable(connection):
            self._hand_on(connection)
            return
        self._taken -= 1
        try:
            await self._pool.release(connection, timeout=timeout)
        finally:
            self._wake_one(None)

    async def _give_back_free(self) -> None:
        free, self._free = self._free, []
        self._taken -= len(free)
        for connection in free:
            await self._pool.release(connection)

    async def close(self) -> None:
        # asyncpg's close waits for every connection to be released: the free ones first.
        await self._give_back_free()
        await self._pool.close()

    def terminate(self) -> None:
        self._free.clear()
        self._pool.terminate()

    async def expire_connections(self) -> None:
        await self._give_back_free()
        await self._pool.expire_connections()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._pool, name)
