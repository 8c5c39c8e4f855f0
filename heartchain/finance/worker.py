"""One forked worker process beside a large import, so that its pure CPU work uses both cores.

Two steps of an import depend only on their inputs and are a third of its CPU: checking the
rows (heartchain.finance.rows) and signing each chunk (heartchain.finance.signing). For a file
of `PARALLEL_FROM` rows or more, a forked process checks half of the rows while this process
checks the other half, then signs the next chunk while this process appends the current one.
The worker runs only those functions, never the parent's event loop or database connections,
and is stopped when the import or dry run ends. For a small file, or where fork is not
available, everything runs in this process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any, TypeVar

# Below this many rows a worker costs more to fork than its overlap saves.
PARALLEL_FROM = 2500

T = TypeVar("T")


class ImportWorker:
    """`run` a function in the worker process once `fork_for` started one; use as an async
    context manager, which stops it."""

    def __init__(self) -> None:
        self._pool: ProcessPoolExecutor | None = None

    def fork_for(self, rows: int) -> None:
        """Start the worker if a file of `rows` rows is worth one (and none runs yet)."""
        if (self._pool is None and rows >= PARALLEL_FROM
                and "fork" in multiprocessing.get_all_start_methods()):
            self._pool = ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("fork"))

    @property
    def forked(self) -> bool:
        return self._pool is not None

    async def __aenter__(self) -> ImportWorker:
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)

    def run(self, function: Callable[..., T], *args: Any, **kwargs: Any
            ) -> asyncio.Future[T] | None:
        """`function(*args, **kwargs)` started in the worker (await the future), or None when
        there is no worker: the caller runs it itself."""
        if self._pool is None:
            return None
        return asyncio.wrap_future(self._pool.submit(function, *args, **kwargs))
