"""The live feed: who hears of the log's growth, and how (DESIGN §3).

Two kinds of listener: checkpoint listeners (the witness client) get every checkpoint this
process signs, after its commit, in the background; `sizes()` iterators (the live pages) get the
log's size whenever it grows, at once for this process's appends and by polling for appends
made by other processes sharing the database.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from typing import Any

from heartchain.ledger.reader import SignedCheckpoint
from heartchain.unavailable import is_unavailable

logger = logging.getLogger(__name__)

CheckpointListener = Callable[[SignedCheckpoint], Coroutine[Any, Any, None]]


class Feed:
    def __init__(self, size: Callable[[], Awaitable[int]]) -> None:
        self._size = size  # reads the stored head
        self._listeners: set[asyncio.Queue[int]] = set()
        self._checkpoint_listeners: list[CheckpointListener] = []
        self._background: set[asyncio.Task[None]] = set()

    def add_checkpoint_listener(self, listener: CheckpointListener) -> None:
        """Call `listener` with every checkpoint this process signs, after its commit, in the
        background: a slow listener (a witness far away) never delays an append."""
        self._checkpoint_listeners.append(listener)

    def committed(self, signed: SignedCheckpoint) -> None:
        """A batch committed with checkpoint `signed`: wake the size iterators, tell the
        checkpoint listeners."""
        for queue in list(self._listeners):
            queue.put_nowait(signed.size)
        for listener in self._checkpoint_listeners:
            self.in_background(listener(signed))

    def in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run `work` without awaiting it; keep a reference so it is not collected, log its
        failure."""
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    async def settled(self) -> None:
        """Wait for the background work running now (listeners, settling) to finish."""
        while self._background:
            await asyncio.gather(*list(self._background), return_exceptions=True)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())

    async def sizes(self, poll: float = 1.0) -> AsyncIterator[int]:
        """Yield the log size whenever it grows: at once for this process's appends, and by
        polling for appends made by other processes sharing the database.

        A poll that finds the database unavailable (down, restarting, locked) counts as no
        growth seen yet: the iterator outlives the outage and yields the size once the
        database answers again, so a live page or subscription pauses instead of ending."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._listeners.add(queue)
        last = await self._size()
        unavailable = False
        try:
            while True:
                try:
                    # This process's commit says the new size (the whole log's: a commit
                    # follows every earlier one, whichever process made it); only a quiet
                    # poll asks the database, for other processes' appends.
                    current = _latest(queue, await asyncio.wait_for(queue.get(), poll))
                except TimeoutError:
                    current = None
                try:
                    if current is None:
                        current = await self._size()
                except Exception as exc:
                    if not is_unavailable(exc):
                        raise
                    if not unavailable:
                        logger.warning("log feed: the database is unavailable (%s); polling "
                                       "on", type(exc).__name__)
                    unavailable = True
                    continue
                unavailable = False
                if current > last:
                    last = current
                    yield current
        finally:
            self._listeners.discard(queue)


def _latest(queue: asyncio.Queue[int], told: int) -> int:
    """The largest of `told` and the sizes queued behind it (several commits since the
    iterator last ran), leaving the queue empty."""
    while not queue.empty():
        told = max(told, queue.get_nowait())
    return told
