"""Checking the stored entries for `verify` ahead of its replay, in worker processes (issue 17).

Parsing an entry, decoding its body and verifying its signatures depend on its bytes alone, so
`verify` has them checked a few chunks ahead of the replay, which must go in order: in worker
processes when there are spare cores (Ed25519 and bech32 decoding are most of `verify`'s work and
a thread would hold the GIL for the parsing), so the checking and the replay's writes run at
once. Each chunk goes through `prepare_entries`, exactly what checks a live append, and comes
back as each entry prepared or the message of the error that refused it.

Workers are forked: they inherit the registry of kinds the parent loaded (test kinds included)
and run only that code, never the parent's event loop or database connections. Where fork is
not available, entries are checked in the main process.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import os
from collections import deque
from collections.abc import AsyncIterator
from concurrent.futures import Executor, ProcessPoolExecutor
from dataclasses import dataclass
from typing import Any

from heartchain.errors import HeartchainError
from heartchain.ledger.kinds import PreparedEntry
from heartchain.ledger.sequencer import prepare_entries

CHUNK = 1000  # entries sent to a worker at once: enough to amortise the round trip
PARALLEL_FROM = 5000  # below this many entries a pool costs more to start than it saves


@dataclass(frozen=True)
class Refused:
    """Why a stored entry is not well-formed or not signed by its signers."""

    message: str


Checked = PreparedEntry | Refused


def default_workers(size: int) -> int:
    """Worker processes for a log of `size` entries: one per core for a large log, none (check
    in this process) for a small one or where processes cannot be forked."""
    if size < PARALLEL_FROM or "fork" not in multiprocessing.get_all_start_methods():
        return 0
    return os.cpu_count() or 1


def check_chunk(datas: list[bytes]) -> list[Checked]:
    """`prepare_entries` of stored leaf data; errors as their messages (what verify reports)."""
    checked: list[Checked] = []
    for item in prepare_entries(datas):
        if isinstance(item, HeartchainError):
            checked.append(Refused(str(item)))
        else:
            # Cached on the way through verification, and not needed by the replay: not sent.
            item.entry.__dict__.pop("signing_bytes", None)
            item.entry.at_datetime  # parsed here, not in the replay's clock check  # noqa: B018
            item.entry.leaf_hash  # hashed here, not in the replay  # noqa: B018
            checked.append(item)
    return checked


class EntryChecker:
    """Checks chunks of entries in `workers` forked processes, or in this one if 0."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._pool: Executor | None = None
        if workers > 0:
            self._pool = ProcessPoolExecutor(workers,
                                             mp_context=multiprocessing.get_context("fork"))

    @property
    def depth(self) -> int:
        """Chunks in flight: each worker has the next one queued while it checks one."""
        return 2 * self.workers + 1 if self.workers else 1

    async def check(self, datas: list[bytes]) -> list[Checked]:
        if self._pool is None:
            return check_chunk(datas)
        return await asyncio.get_running_loop().run_in_executor(self._pool, check_chunk, datas)

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


async def checked_rows(rows: AsyncIterator[dict[str, Any]], checker: EntryChecker
                       ) -> AsyncIterator[tuple[dict[str, Any], Checked]]:
    """Each of `rows` (with its `data`) and what checking it found, in order, with up to
    `checker.depth` chunks checked ahead."""
    ahead: deque[tuple[list[dict[str, Any]], asyncio.Future[list[Checked]]]] = deque()
    exhausted = False
    try:
        while True:
            while not exhausted and len(ahead) < checker.depth:
                chunk: list[dict[str, Any]] = []
                while len(chunk) < CHUNK:
                    row = await anext(rows, None)
                    if row is None:
                        exhausted = True
                        break
                    chunk.append(row)
                if chunk:
                    ahead.append((chunk, asyncio.ensure_future(
                        checker.check([bytes(row["data"]) for row in chunk]))))
            if not ahead:
                return
            chunk, future = ahead.popleft()
            for row, item in zip(chunk, await future, strict=True):
                yield row, item
    finally:
        for _, future in ahead:
            future.cancel()
