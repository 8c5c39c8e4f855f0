"""Sequencing: queueing writers' entries into batches (DESIGN §3).

Writers hand entries to the sequencer, which integrates a batch every `batch_period` seconds (or
as soon as `batch_size` entries wait). Callers get their index back only after the commit. A
batch whose integration failed is settled aside (`settle.py`), so the batches behind it need not
wait for the answer.

Entries given many at once (`append_now`, and `verify`'s replay) are checked before the batch
takes the lock. Not on a thread pool: PyNaCl releases the GIL while it verifies (1.7x on two idle
cores for bare signatures), but parsing and decoding hold it and take most of the time, and on a
busy machine (every core already running a worker) two threads checked 0.85-0.94x as many
entries per second as one (issue 17, measured 2026-12-02).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from heartchain.errors import HeartchainError, ValidationError
from heartchain.ledger.body import decode
from heartchain.ledger.entries import MAX_ENTRY_BYTES, Entry, parse_entry, verify_signatures
from heartchain.ledger.integrate import BatchNotCommitted
from heartchain.ledger.kinds import PreparedEntry, applied_class, prepare
from heartchain.ledger.reader import Appended
from heartchain.unavailable import DatabaseBusy

logger = logging.getLogger(__name__)

Integrate = Callable[[list[PreparedEntry]], Awaitable[list[Appended | HeartchainError]]]
Settle = Callable[[list[PreparedEntry], Exception], Awaitable[list[Appended | Exception]]]


def prepare_entry(entry: Entry | bytes | str) -> PreparedEntry:
    """Parse `entry` and check what needs no database: its size, then its kind's own checks."""
    parsed = entry if isinstance(entry, Entry) else parse_entry(entry)
    if len(parsed.leaf_data) > MAX_ENTRY_BYTES:
        raise ValidationError(f"entry: exceeds the {MAX_ENTRY_BYTES}-byte limit")
    return prepare(parsed)


Prepared = PreparedEntry | HeartchainError


def prepare_entries(entries: Sequence[Entry | bytes | str]) -> list[Prepared]:
    """`prepare_entry` for each of `entries`: each its outcome or the error that refused it
    (the same error as alone), shapes first, then signatures."""
    shaped: list[Prepared] = []
    for entry in entries:
        try:
            parsed = entry if isinstance(entry, Entry) else parse_entry(entry)
            if len(parsed.leaf_data) > MAX_ENTRY_BYTES:
                raise ValidationError(f"entry: exceeds the {MAX_ENTRY_BYTES}-byte limit")
            shaped.append(PreparedEntry(parsed, decode(applied_class(parsed.kind), parsed.body)))
        except HeartchainError as exc:
            shaped.append(exc)
    return [_verified(item) for item in shaped]


def _verified(item: Prepared) -> Prepared:
    if isinstance(item, HeartchainError):
        return item
    try:
        verify_signatures(item.entry, item.body.signers())
    except HeartchainError as exc:
        return exc
    return item


@dataclass
class _Waiting:
    prepared: PreparedEntry
    future: asyncio.Future[Appended]


class Sequencer:
    def __init__(self, *, integrate: Integrate, settle: Settle,
                 in_background: Callable[[Coroutine[Any, Any, None]], None],
                 batch_period: float, batch_size: int, write_timeout: float | None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self._integrate = integrate
        self._settle_in_doubt = settle
        self._in_background = in_background
        self.batch_period = batch_period
        self.batch_size = batch_size
        self.write_timeout = write_timeout
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task[None] | None = None
        self._full: asyncio.Event | None = None

    async def append(self, prepared: PreparedEntry) -> Appended:
        """Queue one entry for the next batch; return once it is committed, or raise why not."""
        future: asyncio.Future[Appended] = asyncio.get_running_loop().create_future()
        waiting = _Waiting(prepared, future)
        self._waiting.append(waiting)
        if self._full is None:
            self._full = asyncio.Event()
        if len(self._waiting) >= self.batch_size:
            self._full.set()
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._sequence())
        if self.write_timeout is None:
            return await future
        try:
            # A timer on this task, not wait_for's extra task per write.
            async with asyncio.timeout(self.write_timeout):
                return await asyncio.shield(future)
        except TimeoutError:
            if not any(w is waiting for w in self._waiting):
                # Already in a batch being integrated: that ends within the database's own
                # busy timeout, and its answer is the true one.
                return await future
            # Still queued (batches ahead of it are stuck on a lock): withdraw it, so this
            # refusal is certain to have written nothing.
            self._waiting = [w for w in self._waiting if w is not waiting]
            future.cancel()
            raise DatabaseBusy(f"the log could not take this entry within {self.write_timeout:g}"
                               " s; nothing was written: retry shortly") from None

    async def append_now(self, entries: Sequence[Entry | bytes | str]
                         ) -> list[Appended | HeartchainError]:
        """Integrate `entries` directly in batches, in order (seeding, imports, benchmarks)."""
        results: list[Appended | HeartchainError] = []
        for start in range(0, len(entries), self.batch_size):
            prepared = prepare_entries(entries[start:start + self.batch_size])
            ready = [p for p in prepared if isinstance(p, PreparedEntry)]
            try:
                outcome = iter(await self._integrate(ready) if ready else [])
            except BatchNotCommitted as exc:
                raise exc.cause from None
            results.extend(p if isinstance(p, HeartchainError) else next(outcome)
                           for p in prepared)
        return results

    async def _sequence(self) -> None:
        while self._waiting:
            if len(self._waiting) < self.batch_size and self._full is not None:
                self._full.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self.batch_period)
            batch, self._waiting = (self._waiting[:self.batch_size],
                                    self._waiting[self.batch_size:])
            live = [w for w in batch if not w.future.done()]
            if not live:
                continue
            try:
                outcomes = await self._integrate([w.prepared for w in live])
            except BatchNotCommitted as exc:  # certainly not in the log: say so at once
                logger.error("integration failed before its commit: %r", exc.cause)
                _resolve(live, [exc.cause] * len(live))
                continue
            except Exception as exc:  # the database went away during the commit, say
                logger.exception("integration failed")
                # Settled aside, so the next batches need not wait for the answer.
                self._in_background(self._settle(live, exc))
                continue
            _resolve(live, list(outcomes))

    async def _settle(self, live: list[_Waiting], failure: Exception) -> None:
        _resolve(live, await self._settle_in_doubt([w.prepared for w in live], failure))


def _resolve(live: list[_Waiting], outcomes: Sequence[Appended | Exception]) -> None:
    for waiting, outcome in zip(live, outcomes, strict=True):
        if waiting.future.done():
            continue
        if isinstance(outcome, Appended):
            waiting.future.set_result(outcome)
        else:
            waiting.future.set_exception(outcome)
