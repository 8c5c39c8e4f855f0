"""Append and sequence entries; serve checkpoints, tiles and proofs from storage (DESIGN §3).

Writers hand entries to the sequencer, which integrates a batch every `batch_period` seconds (or
as soon as `batch_size` entries wait) in one transaction: for each entry in order it checks the
clock, the nonce and its kind's rules against the projections, applies the projector and stores
it; then it writes the tiles, signs a checkpoint and moves the head. A rejected entry leaves no
trace and the rest of the batch goes on. Callers get their index back only after the commit.

The first statement of every integration updates the single head row, which takes PostgreSQL's row
lock (or SQLite's write lock): processes sharing one database take turns, so the log never forks
and never has gaps. Proofs ask `merkle.py` which nodes they need and read only those tiles.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from heartchain import metrics
from heartchain.clock import Clock
from heartchain.errors import HeartchainError, NotFound, ValidationError
from heartchain.ledger import merkle, tiles
from heartchain.ledger.batches import BatchLine, batch_checkpoint
from heartchain.ledger.entries import (
    MAX_ENTRY_BYTES,
    Entry,
    ReplayError,
    check_clock,
    format_time,
    parse_entry,
    parse_time,
)
from heartchain.ledger.kinds import ApplyContext, PreparedEntry, check_all, prepare, project_all
from heartchain.ledger.notes import Checkpoint, NoteSigner, sign_note
from heartchain.ledger.store import execute, execute_many, fetch
from heartchain.unavailable import DatabaseBusy

logger = logging.getLogger(__name__)

_FULL_TILE_CACHE = 4096  # 4096 x 8 KiB = 32 MiB of immutable tiles
# How long a caller whose batch failed may wait to learn whether it committed after all.
_IN_DOUBT_ATTEMPTS = 20
_IN_DOUBT_PAUSE = 0.5


@dataclass(frozen=True)
class Appended:
    index: int
    leaf_hash: bytes
    checkpoint_size: int  # the checkpoint signed with this entry's batch includes it


@dataclass(frozen=True)
class SignedCheckpoint:
    checkpoint: Checkpoint
    note: str
    signed_at: str

    @property
    def size(self) -> int:
        return self.checkpoint.size

    @property
    def root_hash(self) -> bytes:
        return self.checkpoint.root_hash


@dataclass(frozen=True)
class StoredEntry:
    index: int
    leaf_hash: bytes
    data: bytes
    kind: str
    at: str
    integrated_at: str

    @property
    def entry(self) -> Entry:
        return parse_entry(self.data)


CheckpointListener = Callable[[SignedCheckpoint], Awaitable[None]]


class ProjectorFailed(Exception):
    """A projector raised after its checks passed: a bug, or a race the checks did not see."""


@dataclass
class _Waiting:
    prepared: PreparedEntry
    future: asyncio.Future[Appended]


class Log:
    def __init__(self, *, origin: str, signer: NoteSigner, clock: Clock,
                 connection: str = "default", batch_period: float = 0.02,
                 batch_size: int = 256, write_timeout: float | None = None) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.origin = origin
        self.signer = signer
        self.clock = clock
        self.connection = connection
        self.batch_period = batch_period
        self.batch_size = batch_size
        self.write_timeout = write_timeout
        self._waiting: list[_Waiting] = []
        self._worker: asyncio.Task[None] | None = None
        self._full: asyncio.Event | None = None
        self._frontier: merkle.CompactRange | None = None
        self._full_tiles: OrderedDict[tuple[int, int], bytes] = OrderedDict()
        self._listeners: set[asyncio.Queue[int]] = set()
        self._checkpoint_listeners: list[CheckpointListener] = []
        self._background: set[asyncio.Task[None]] = set()

    # -- writing -------------------------------------------------------------------------

    def prepare(self, entry: Entry | bytes | str) -> PreparedEntry:
        parsed = entry if isinstance(entry, Entry) else parse_entry(entry)
        if len(parsed.leaf_data) > MAX_ENTRY_BYTES:
            raise ValidationError(f"entry: exceeds the {MAX_ENTRY_BYTES}-byte limit")
        return prepare(parsed)

    async def append(self, entry: Entry | bytes | str) -> Appended:
        """Queue one entry for the next batch; return once it is committed, or raise why not."""
        prepared = self.prepare(entry)
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
            return await asyncio.wait_for(asyncio.shield(future), self.write_timeout)
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
            prepared: list[PreparedEntry | HeartchainError] = []
            for entry in entries[start:start + self.batch_size]:
                try:
                    prepared.append(self.prepare(entry))
                except HeartchainError as exc:
                    prepared.append(exc)
            ready = [p for p in prepared if isinstance(p, PreparedEntry)]
            outcome = iter(await self._integrate(ready) if ready else [])
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
            except Exception as exc:  # the database went away, say
                logger.exception("integration failed")
                # Settled aside, so the next batches need not wait for the answer.
                self._in_background(self._settle(live, exc))
                continue
            _resolve(live, list(outcomes))

    async def _settle(self, live: list[_Waiting], failure: Exception) -> None:
        _resolve(live, await self._settle_in_doubt([w.prepared for w in live], failure))

    async def _settle_in_doubt(self, batch: list[PreparedEntry], failure: Exception
                               ) -> list[Appended | Exception]:
        """A failed integration may still have committed: the answer to COMMIT can be lost with
        the connection. Once the database answers again, look each entry up (by its first
        signer's nonce, then its leaf hash), so no caller hears "failed" about an entry that is
        in the log, and a retry cannot write the same gift twice."""
        for _ in range(_IN_DOUBT_ATTEMPTS):
            try:
                committed = await self._find_committed(batch)
            except Exception:
                await asyncio.sleep(_IN_DOUBT_PAUSE)
                continue
            if committed:
                logger.warning("integration failed after its commit: %d of %d entries are in "
                               "the log", len(committed), len(batch))
            return [committed.get(i, failure) for i in range(len(batch))]
        return [failure] * len(batch)

    async def _find_committed(self, batch: list[PreparedEntry]) -> dict[int, Appended]:
        committed: dict[int, Appended] = {}
        for position, item in enumerate(batch):
            found = await self.find_signed(item.entry.signers[0], item.entry.nonce)
            if found is not None and found.data == item.entry.leaf_data:
                committed[position] = await self.appended(found.index)
        return committed

    async def find_signed(self, signer: str, nonce: str) -> StoredEntry | None:
        """The entry `signer` signed with `nonce`, if any: a (signer, nonce) pair is used once."""
        rows = await fetch(self._conn(), "SELECT e.idx, e.leaf_hash, e.data, e.kind, e.at, "
                           "e.integrated_at FROM log_entry_signer s JOIN log_entry e "
                           "ON e.idx = s.idx WHERE s.nonce = ? AND s.address = ?",
                           [nonce, signer])
        return _stored(rows[0]) if rows else None

    async def appended(self, index: int) -> Appended:
        """What `append` answered for the stored entry at `index`."""
        stored = await self.get_entry(index)
        covering = await self.checkpoint_covering(index)
        return Appended(index, stored.leaf_hash, covering.size)

    async def _integrate(self, batch: list[PreparedEntry]) -> list[Appended | HeartchainError]:
        started = time.perf_counter()
        outcomes = await self._integrate_isolating(batch)
        metrics.INTEGRATION_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        appended = 0
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Appended):
                appended += 1
                metrics.APPENDED.labels(item.entry.kind).inc()
            else:
                metrics.REJECTED.labels(item.entry.kind, type(outcome).__name__).inc()
                logger.info("entry rejected", extra={"kind": item.entry.kind,
                                                     "reason": type(outcome).__name__})
        logger.debug("integrated %d of %d entries", appended, len(batch), extra={
            "batch": len(batch), "appended": appended, "rejected": len(batch) - appended,
            "seconds": round(time.perf_counter() - started, 4)})
        return outcomes

    async def _integrate_isolating(self, batch: list[PreparedEntry]
                                   ) -> list[Appended | HeartchainError]:
        now = self.clock.now()
        try:
            return await self._integrate_batch(batch, now)
        except ProjectorFailed:
            logger.exception("a projector failed; integrating the batch one entry at a time")
        outcomes: list[Appended | HeartchainError] = []
        for item in batch:
            try:
                outcomes.extend(await self._integrate_batch([item], now))
            except ProjectorFailed as exc:
                outcomes.append(HeartchainError(f"{item.entry.kind}: could not be applied: "
                                                f"{exc.__cause__!r}"))
        return outcomes

    async def _integrate_batch(self, batch: list[PreparedEntry], now: datetime
                               ) -> list[Appended | HeartchainError]:
        try:
            async with in_transaction(self.connection) as conn:
                # Updating the head first takes the write lock before anything is read.
                if await execute(conn, "UPDATE log_head SET size = size WHERE id = 1") != 1:
                    raise RuntimeError("log_head is missing: run `heartchain init`")
                head = (await fetch(conn, "SELECT size FROM log_head WHERE id = 1"))[0]
                size = int(head["size"])
                # Batch times never go back (verify requires it): another process sharing the
                # database may have read its clock later and taken the lock first.
                before = await fetch(conn, "SELECT signed_at FROM log_checkpoint WHERE size = ?",
                                     [size])
                if before and parse_time(str(before[0]["signed_at"])) > now:
                    now = parse_time(str(before[0]["signed_at"]))
                integrated_at = format_time(now)
                frontier = (await self._frontier_at(conn, size)).copy()
                outcomes, rows, signer_rows, nodes = await self._apply_all(
                    conn, batch, now, frontier)
                if not rows:
                    return outcomes
                for row in rows:
                    row.append(integrated_at)
                await execute_many(conn, "INSERT INTO log_entry (idx, leaf_hash, data, kind, at, "
                                   "integrated_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
                await execute_many(conn, "INSERT INTO log_entry_signer (address, nonce, idx) "
                                   "VALUES (?, ?, ?)", signer_rows)
                await self._write_tiles(conn, nodes)
                checkpoint = batch_checkpoint(self.origin, frontier.size, frontier.root(),
                                              BatchLine(size, integrated_at))
                note = sign_note(checkpoint.to_text(), self.signer)
                await execute(conn, "INSERT INTO log_checkpoint (size, root_hash, note, signed_at)"
                              " VALUES (?, ?, ?, ?)",
                              [frontier.size, checkpoint.root_hash, note, integrated_at])
                await execute(conn, "UPDATE log_head SET size = ?, root_hash = ? WHERE id = 1",
                              [frontier.size, checkpoint.root_hash])
        except BaseException:
            self._frontier = None  # the cached border may be ahead of what committed
            raise
        self._frontier = frontier
        metrics.record_checkpoint(frontier.size)
        self._notify(frontier.size)
        self._announce(SignedCheckpoint(checkpoint, note, integrated_at))
        return outcomes

    async def _apply_all(self, conn: BaseDBAsyncClient, batch: list[PreparedEntry],
                         now: datetime, frontier: merkle.CompactRange
                         ) -> tuple[list[Appended | HeartchainError], list[list[object]],
                                    list[list[object]], list[tuple[merkle.NodeID, bytes]]]:
        outcomes: list[Appended | HeartchainError] = []
        rows: list[list[object]] = []
        signer_rows: list[list[object]] = []
        nodes: list[tuple[merkle.NodeID, bytes]] = []
        used = await self._used_nonces(conn, batch)
        memo: dict[object, object] = {}
        for item in batch:
            entry = item.entry
            index = frontier.size
            context = ApplyContext(conn, index, entry, now, memo)
            try:
                check_clock(entry, now)
                for signer in entry.signers:
                    if (signer, entry.nonce) in used:
                        raise ReplayError(f"nonce: {entry.nonce} was already used by {signer}")
                await check_all(context, item)
            except HeartchainError as exc:
                outcomes.append(exc)
                continue
            try:
                await project_all(context, item)
            except Exception as exc:
                raise ProjectorFailed(entry.kind) from exc
            used.update((signer, entry.nonce) for signer in entry.signers)
            leaf = merkle.leaf_hash(entry.leaf_data)
            nodes.extend(frontier.append(leaf))
            rows.append([index, leaf, entry.leaf_data, entry.kind, entry.at])
            signer_rows.extend([signer, entry.nonce, index] for signer in entry.signers)
            outcomes.append(Appended(index, leaf, 0))
        final = frontier.size
        return ([Appended(o.index, o.leaf_hash, final) if isinstance(o, Appended) else o
                 for o in outcomes], rows, signer_rows, nodes)

    async def _used_nonces(self, conn: BaseDBAsyncClient, batch: list[PreparedEntry]
                           ) -> set[tuple[str, str]]:
        nonces = sorted({item.entry.nonce for item in batch})
        used: set[tuple[str, str]] = set()
        for start in range(0, len(nonces), 500):
            chunk = nonces[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            found = await fetch(conn, f"SELECT address, nonce FROM log_entry_signer "
                                f"WHERE nonce IN ({marks})", list(chunk))
            used.update((row["address"], row["nonce"]) for row in found)
        return used

    async def _write_tiles(self, conn: BaseDBAsyncClient,
                           nodes: list[tuple[merkle.NodeID, bytes]]) -> None:
        grown: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
        for (level, index), digest in nodes:
            if level % tiles.TILE_HEIGHT:
                continue
            tile_level = level // tiles.TILE_HEIGHT
            grown.setdefault((tile_level, index // tiles.TILE_WIDTH), []).append(
                (index % tiles.TILE_WIDTH, digest))
        existing = await self._fetch_tiles(conn, list(grown), cache=False)
        upserts: list[list[object]] = []
        for (tile_level, tile_index), additions in grown.items():
            data = existing.get((tile_level, tile_index), b"")
            for offset, digest in additions:
                if offset * tiles.HASH_SIZE != len(data):
                    raise RuntimeError(
                        f"tile {tile_level}/{tile_index}: hash {offset} out of order")
                data += digest
            upserts.append([tile_level, tile_index, data])
        await execute_many(conn, "INSERT INTO log_tile (level, idx, data) VALUES (?, ?, ?) "
                           "ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data", upserts)

    # -- reading tiles and proofs ---------------------------------------------------------

    def _conn(self) -> BaseDBAsyncClient:
        return connections.get(self.connection)

    async def _fetch_tiles(self, conn: BaseDBAsyncClient, wanted: list[tuple[int, int]],
                           *, cache: bool = True) -> dict[tuple[int, int], bytes]:
        found: dict[tuple[int, int], bytes] = {}
        missing: dict[int, list[int]] = {}
        for key in wanted:
            if cache and key in self._full_tiles:
                self._full_tiles.move_to_end(key)
                found[key] = self._full_tiles[key]
            else:
                missing.setdefault(key[0], []).append(key[1])
        for level, indexes in missing.items():
            marks = ", ".join("?" * len(indexes))
            for row in await fetch(conn, f"SELECT idx, data FROM log_tile WHERE level = ? "
                                   f"AND idx IN ({marks})", [level, *indexes]):
                data = bytes(row["data"])
                key = (level, int(row["idx"]))
                found[key] = data
                if cache and len(data) == tiles.TILE_WIDTH * tiles.HASH_SIZE:
                    self._full_tiles[key] = data
                    if len(self._full_tiles) > _FULL_TILE_CACHE:
                        self._full_tiles.popitem(last=False)
        return found

    async def read_nodes(self, ids: Sequence[merkle.NodeID],
                         conn: BaseDBAsyncClient | None = None) -> list[bytes]:
        """Hashes of perfect-subtree nodes, computed from the few tiles that hold them."""
        conn = conn or self._conn()
        located = [tiles.node_location(level, index) for level, index in ids]
        tile_data = await self._fetch_tiles(conn, sorted({(r.level, r.index)
                                                          for r, _, _ in located}))
        hashes: list[bytes] = []
        for (ref, start, count), node in zip(located, ids, strict=True):
            data = tile_data.get((ref.level, ref.index), b"")
            chunk = data[start * tiles.HASH_SIZE:(start + count) * tiles.HASH_SIZE]
            if len(chunk) != count * tiles.HASH_SIZE:
                raise NotFound(f"tree node {node} is not stored")
            hashes.append(chunk if count == 1 else tiles.subtree_hash(
                [chunk[i:i + tiles.HASH_SIZE] for i in range(0, len(chunk), tiles.HASH_SIZE)]))
        return hashes

    async def _frontier_at(self, conn: BaseDBAsyncClient, size: int) -> merkle.CompactRange:
        if self._frontier is not None and self._frontier.size == size:
            return self._frontier
        hashes = await self.read_nodes(merkle.range_nodes(size), conn)
        self._frontier = merkle.CompactRange(size, hashes)
        return self._frontier

    async def size(self) -> int:
        rows = await fetch(self._conn(), "SELECT size FROM log_head WHERE id = 1")
        return int(rows[0]["size"]) if rows else 0

    async def latest_checkpoint(self) -> SignedCheckpoint:
        rows = await fetch(self._conn(), "SELECT size, note, signed_at FROM log_checkpoint "
                           "ORDER BY size DESC LIMIT 1")
        if not rows:
            raise NotFound("the log has no checkpoint yet: run `heartchain init`")
        return _signed(rows[0])

    async def checkpoint_at(self, size: int) -> SignedCheckpoint:
        rows = await fetch(self._conn(), "SELECT size, note, signed_at FROM log_checkpoint "
                           "WHERE size = ?", [size])
        if not rows:
            raise NotFound(f"no checkpoint was signed at size {size}")
        return _signed(rows[0])

    async def checkpoint_before(self, size: int) -> SignedCheckpoint | None:
        rows = await fetch(self._conn(), "SELECT size, note, signed_at FROM log_checkpoint "
                           "WHERE size < ? ORDER BY size DESC LIMIT 1", [size])
        return _signed(rows[0]) if rows else None

    async def checkpoint_covering(self, index: int) -> SignedCheckpoint:
        """The first checkpoint that includes `index`: when the entry became public."""
        rows = await fetch(self._conn(), "SELECT size, note, signed_at FROM log_checkpoint "
                           "WHERE size > ? ORDER BY size LIMIT 1", [index])
        if not rows:
            raise NotFound(f"no checkpoint includes entry {index}")
        return _signed(rows[0])

    async def get_entry(self, index: int) -> StoredEntry:
        rows = await fetch(self._conn(), "SELECT idx, leaf_hash, data, kind, at, integrated_at "
                           "FROM log_entry WHERE idx = ?", [index])
        if not rows:
            raise NotFound(f"entry {index} does not exist")
        return _stored(rows[0])

    async def get_entries(self, indexes: Sequence[int]) -> dict[int, StoredEntry]:
        found: dict[int, StoredEntry] = {}
        unique = sorted(set(indexes))
        for start in range(0, len(unique), 500):
            chunk = unique[start:start + 500]
            marks = ", ".join("?" * len(chunk))
            for row in await fetch(self._conn(), "SELECT idx, leaf_hash, data, kind, at, "
                                   f"integrated_at FROM log_entry WHERE idx IN ({marks})", chunk):
                stored = _stored(row)
                found[stored.index] = stored
        return found

    async def inclusion_proof(self, index: int, size: int) -> list[bytes]:
        if not 0 <= index < size:
            raise ValidationError(f"index {index} out of bounds for tree size {size}")
        if size > await self.size():
            raise NotFound(f"the log is smaller than {size}")
        nodes = merkle.inclusion_nodes(index, size)
        return nodes.rehash(await self.read_nodes(nodes.ids))

    async def consistency_proof(self, size1: int, size2: int) -> list[bytes]:
        if not 0 <= size1 <= size2:
            raise ValidationError(f"consistency needs 0 <= from <= to, got {size1}, {size2}")
        if size2 > await self.size():
            raise NotFound(f"the log is smaller than {size2}")
        if size1 == 0 or size1 == size2:
            return []
        nodes = merkle.consistency_nodes(size1, size2)
        return nodes.rehash(await self.read_nodes(nodes.ids))

    async def root_at(self, size: int) -> bytes:
        return merkle.fold_range(await self.read_nodes(merkle.range_nodes(size)))

    async def read_tile(self, ref: tiles.TileRef) -> bytes:
        """The bytes of a hash tile or entry bundle, exactly as tlog-tiles serves them."""
        size = await self.size()
        if ref.is_entries:
            available = max(0, min(size - ref.index * tiles.TILE_WIDTH, tiles.TILE_WIDTH))
        else:
            stored = size >> (tiles.TILE_HEIGHT * ref.level)
            available = max(0, min(stored - ref.index * tiles.TILE_WIDTH, tiles.TILE_WIDTH))
        if available < ref.width:
            raise NotFound(f"{ref.path} is beyond the log's size {size}")
        if ref.is_entries:
            first = ref.index * tiles.TILE_WIDTH
            rows = await fetch(self._conn(), "SELECT data FROM log_entry WHERE idx >= ? AND "
                               "idx < ? ORDER BY idx", [first, first + ref.width])
            return tiles.encode_entry_bundle([bytes(r["data"]) for r in rows])
        data = (await self._fetch_tiles(self._conn(), [(ref.level, ref.index)])).get(
            (ref.level, ref.index), b"")
        return data[:ref.width * tiles.HASH_SIZE]

    # -- live feed --------------------------------------------------------------------------

    def add_checkpoint_listener(self, listener: CheckpointListener) -> None:
        """Call `listener` with every checkpoint this process signs, after its commit, in the
        background: a slow listener (a witness far away) never delays an append."""
        self._checkpoint_listeners.append(listener)

    def _announce(self, signed: SignedCheckpoint) -> None:
        for listener in self._checkpoint_listeners:
            self._in_background(listener(signed))

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background_done)

    def _background_done(self, task: asyncio.Task[None]) -> None:
        self._background.discard(task)
        if not task.cancelled() and task.exception() is not None:
            logger.error("background task failed", exc_info=task.exception())

    def _notify(self, size: int) -> None:
        for queue in list(self._listeners):
            queue.put_nowait(size)

    async def sizes(self, poll: float = 1.0) -> AsyncIterator[int]:
        """Yield the log size whenever it grows: at once for this process's appends, and by
        polling for appends made by other processes sharing the database."""
        queue: asyncio.Queue[int] = asyncio.Queue()
        self._listeners.add(queue)
        last = await self.size()
        try:
            while True:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(queue.get(), poll)
                current = await self.size()
                if current > last:
                    last = current
                    yield current
        finally:
            self._listeners.discard(queue)


def _resolve(live: list[_Waiting], outcomes: Sequence[Appended | Exception]) -> None:
    for waiting, outcome in zip(live, outcomes, strict=True):
        if waiting.future.done():
            continue
        if isinstance(outcome, Appended):
            waiting.future.set_result(outcome)
        else:
            waiting.future.set_exception(outcome)


async def create_head(conn: BaseDBAsyncClient, origin: str, signer: NoteSigner,
                      now: datetime) -> None:
    """Create the empty log: the head row and the signed checkpoint of size 0."""
    if await fetch(conn, "SELECT id FROM log_head WHERE id = 1"):
        return
    created_at = format_time(now)
    checkpoint = batch_checkpoint(origin, 0, merkle.EMPTY_ROOT, BatchLine(0, created_at))
    await execute(conn, "INSERT INTO log_head (id, size, root_hash) VALUES (1, 0, ?)",
                  [merkle.EMPTY_ROOT])
    await execute(conn, "INSERT INTO log_checkpoint (size, root_hash, note, signed_at) "
                  "VALUES (0, ?, ?, ?)", [merkle.EMPTY_ROOT,
                                          sign_note(checkpoint.to_text(), signer), created_at])


def _signed(row: dict[str, object]) -> SignedCheckpoint:
    note = str(row["note"])
    text = note.split("\n\n", 1)[0] + "\n"
    return SignedCheckpoint(Checkpoint.from_text(text), note, str(row["signed_at"]))


def _stored(row: dict[str, object]) -> StoredEntry:
    return StoredEntry(int(row["idx"]),  # type: ignore[call-overload]
                       bytes(row["leaf_hash"]), bytes(row["data"]),  # type: ignore[call-overload]
                       str(row["kind"]), str(row["at"]), str(row["integrated_at"]))
