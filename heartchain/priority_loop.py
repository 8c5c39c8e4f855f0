"""An event loop that runs the task holding the log head's lock ahead of the requests (issue 17).

Every round trip the integration awaits gives the loop back, and in a busy server the loop then
ran every request callback queued before the integration's wakeup: a 9-entry batch took 36-46 ms
of wall time for a few ms of work, and another worker waited on the head's row lock all along.
While a task is inside `holding_the_log_head()`, its wakeups (and the reads of the sockets it
awaits) go to the front of the loop's ready queue instead of the back, so the lock is held for
the integration's own work and round trips. Urgent callbacks keep their order among themselves;
everything else keeps its order too, only later.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import selectors
import threading
import weakref
from collections.abc import Iterator
from typing import Any

_HOLDING = contextvars.ContextVar("heartchain_holding_log_head", default=False)


class _Holding:
    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._urgent_fds: set[int] | None = getattr(loop, "urgent_fds", None)
        self._watched: list[int] = []

    def watch(self, socket_fd: int | None) -> None:
        """Put the readiness of `socket_fd` (the holder's database socket) first too."""
        if self._urgent_fds is not None and socket_fd is not None:
            self._urgent_fds.add(socket_fd)
            self._watched.append(socket_fd)

    def release(self) -> None:
        if self._urgent_fds is not None:
            self._urgent_fds.difference_update(self._watched)


@contextlib.contextmanager
def holding_the_log_head() -> Iterator[_Holding]:
    """Mark the running task as the lock holder until the block ends: on a PriorityEventLoop its
    wakeups, and the sockets it `watch`es, jump the queue. On any other loop nothing changes."""
    token = _HOLDING.set(True)
    holding = _Holding(asyncio.get_running_loop())
    try:
        yield holding
    finally:
        holding.release()
        _HOLDING.reset(token)


class PriorityEventLoop(asyncio.SelectorEventLoop):
    """asyncio's selector loop, with the lock holder's callbacks first (`heartchain serve`)."""

    def __init__(self, selector: selectors.BaseSelector | None = None) -> None:
        super().__init__(selector)
        self.urgent_fds: set[int] = set()
        self._urgent: weakref.WeakSet[asyncio.Handle] = weakref.WeakSet()

    def _put_first(self, handle: asyncio.Handle) -> None:
        ready: Any = self._ready  # type: ignore[attr-defined]
        if ready and ready[-1] is handle:
            ready.pop()
        else:
            ready.remove(handle)
        at = 0
        for queued in ready:  # after the urgent ones already waiting: FIFO among them
            if queued not in self._urgent:
                break
            at += 1
        ready.insert(at, handle)
        self._urgent.add(handle)

    def _call_soon(self, callback: Any, args: Any, context: Any) -> asyncio.Handle:
        handle: asyncio.Handle = super()._call_soon(callback, args, context)  # type: ignore[misc]
        if (context is not None and context.get(_HOLDING, False)
                and threading.get_ident() == self._thread_id):  # type: ignore[attr-defined]
            self._put_first(handle)
        return handle

    def _process_events(self, event_list: Any) -> None:
        super()._process_events(event_list)  # type: ignore[misc]
        if not self.urgent_fds:
            return
        for key, mask in event_list:
            reader = key.data[0]
            if (mask & selectors.EVENT_READ and reader is not None and not reader._cancelled
                    and key.fd in self.urgent_fds):
                self._put_first(reader)
