"""Integrating a batch of entries into the log, in one transaction (DESIGN §3).

For each entry in order the integrator checks the clock, the nonce and its kind's rules against
the projections, applies the projector and stores it; then it writes the tiles, signs a
checkpoint and moves the head. A rejected entry leaves no trace and the rest of the batch goes
on.

Set-based kinds (heartchain.ledger.kinds) are checked against state their prefetch hooks load
once for the whole batch, and their projection rows are buffered and written with one
`executemany` per statement; the buffer is flushed before any entry of a kind still applied one
entry at a time, and before the log rows. The rows an entry carries off the log
(`PreparedEntry.off_log`) join the buffer once it is accepted, so they are written with it or not
at all.

The first statement of every integration updates the single head row, which takes PostgreSQL's row
lock (or SQLite's write lock): processes sharing one database take turns, so the log never forks
and never has gaps.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from heartchain import metrics
from heartchain.clock import Clock
from heartchain.errors import HeartchainError
from heartchain.ledger import merkle, tiles
from heartchain.ledger.batches import BatchLine, batch_checkpoint
from heartchain.ledger.entries import ReplayError, check_clock, format_time, parse_time
from heartchain.ledger.kinds import (
    ENTRY_INDEX,
    ApplyContext,
    PreparedEntry,
    SetRefused,
    check_all,
    is_set_based,
    prefetch_all,
    project_all,
)
from heartchain.ledger.notes import NoteSigner, sign_note
from heartchain.ledger.reader import (
    Appended,
    BatchProofs,
    LogReader,
    SignedCheckpoint,
    StoredEntry,
    Written,
)
from heartchain.ledger.store import (
    execute,
    execute_many,
    fetch,
    in_chunks,
    is_postgres,
    socket_fd,
)
from heartchain.ledger.writes import WriteBuffer
from heartchain.priority_loop import holding_the_log_head

logger = logging.getLogger(__name__)

Outcomes = list[Appended | HeartchainError]
_Rows = list[list[object]]
_Nodes = list[tuple[merkle.NodeID, bytes]]
_Tiles = dict[tuple[int, int], bytes]


@dataclass
class _Batch:
    """A batch written inside its transaction, waiting for the COMMIT."""

    outcomes_before: Outcomes
    rows: _Rows
    answers: dict[int, object]
    frontier: merkle.CompactRange
    tiles: _Tiles
    signed: SignedCheckpoint
    nodes: dict[merkle.NodeID, bytes]

    def outcomes(self) -> Outcomes:
        proofs = BatchProofs(self.signed, self.nodes)
        written = {int(row[0]): row for row in self.rows}
        return [Appended(o.index, o.leaf_hash, self.frontier.size, Written(
                    StoredEntry(o.index, o.leaf_hash, *written[o.index][2:6]),
                    self.answers[o.index], proofs))
                if isinstance(o, Appended) else o for o in self.outcomes_before]


async def lock_head(conn: BaseDBAsyncClient) -> tuple[int, str | None]:
    """Take the log head's write lock (before anything is read); the head's size and when its
    checkpoint was signed."""
    head = await fetch(conn, "UPDATE log_head SET size = size WHERE id = 1 RETURNING size, "
                       "(SELECT signed_at FROM log_checkpoint WHERE log_checkpoint.size = "
                       "log_head.size) AS signed_at")
    if not head:
        raise RuntimeError("log_head is missing: run `heartchain init`")
    size, signed_at = int(head[0]["size"]), head[0]["signed_at"]
    if signed_at is None and size > 0:
        # The UPDATE waited for another worker's batch and returned the head that batch left,
        # but its subquery read the snapshot taken before the wait (PostgreSQL, read committed),
        # which lacks that batch's checkpoint. A new statement sees it.
        found = await fetch(conn, "SELECT signed_at FROM log_checkpoint WHERE size = ?", [size])
        signed_at = found[0]["signed_at"] if found else None
    return size, None if signed_at is None else str(signed_at)


_INSERT_CHECKPOINT = ("INSERT INTO log_checkpoint (size, root_hash, note, signed_at)"
                      " VALUES (?, ?, ?, ?)")
_MOVE_HEAD = "UPDATE log_head SET size = ?, root_hash = ? WHERE id = 1"


async def _advance_head(conn: BaseDBAsyncClient, size: int, root_hash: bytes, note: str,
                        signed_at: str) -> None:
    """Store the batch's checkpoint and move the head to it: on PostgreSQL one statement (a
    round trip is ~45 µs of a worker's CPU), on SQLite two (it has no INSERT in a WITH)."""
    if is_postgres(conn):
        await execute(conn, f"WITH checkpoint AS ({_INSERT_CHECKPOINT}) {_MOVE_HEAD}",
                      [size, root_hash, note, signed_at, size, root_hash])
        return
    await execute(conn, _INSERT_CHECKPOINT, [size, root_hash, note, signed_at])
    await execute(conn, _MOVE_HEAD, [size, root_hash])


class ProjectorFailed(Exception):
    """A projector raised after its checks passed: a bug, or a race the checks did not see."""


class BatchNotCommitted(Exception):
    """The batch's transaction failed before its COMMIT was sent (the database unreachable, a
    statement refused): none of it is in the log, so its writers can be answered at once with
    `cause` instead of waiting to find out (settle.py, for a failure during the COMMIT)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(str(cause))
        self.cause = cause


class Integrator:
    def __init__(self, *, origin: str, signer: NoteSigner, clock: Clock, connection: str,
                 reader: LogReader, committed: Callable[[SignedCheckpoint], None]) -> None:
        self.origin = origin
        self.signer = signer
        self.clock = clock
        self.connection = connection
        self.reader = reader
        self._committed = committed  # told of each checkpoint once its batch has committed
        self._frontier: merkle.CompactRange | None = None
        self._partial_tiles: _Tiles = {}  # the log's partial tiles when _frontier is current

    async def integrate(self, batch: list[PreparedEntry]) -> Outcomes:
        """Integrate `batch`, recording metrics; each entry's outcome in order."""
        started = time.perf_counter()
        outcomes = await self._integrate_isolating(batch)
        metrics.INTEGRATION_SECONDS.observe(time.perf_counter() - started)
        metrics.BATCH_SIZE.observe(len(batch))
        appended_kinds: list[str] = []
        for item, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, Appended):
                appended_kinds.append(item.entry.kind)
            else:
                metrics.REJECTED.labels(item.entry.kind, type(outcome).__name__).inc()
                logger.info("entry rejected", extra={"kind": item.entry.kind,
                                                     "reason": type(outcome).__name__})
        metrics.count_appended(appended_kinds)
        appended = len(appended_kinds)
        logger.debug("integrated %d of %d entries", appended, len(batch), extra={
            "batch": len(batch), "appended": appended, "rejected": len(batch) - appended,
            "seconds": round(time.perf_counter() - started, 4)})
        return outcomes

    async def _integrate_isolating(self, batch: list[PreparedEntry]) -> Outcomes:
        now = self.clock.now()
        try:
            return await self.integrate_batch(batch, now)
        except ProjectorFailed:
            logger.exception("a projector failed; integrating the batch one entry at a time")
        outcomes: Outcomes = []
        for item in batch:
            try:
                outcomes.extend(await self.integrate_batch([item], now))
            except ProjectorFailed as exc:
                outcomes.append(HeartchainError(f"{item.entry.kind}: could not be applied: "
                                                f"{exc.__cause__!r}"))
            except BatchNotCommitted as exc:
                if outcomes:  # the entries before it did commit: settle.py finds which
                    raise exc.cause from None
                raise
        return outcomes

    async def integrate_batch(self, batch: list[PreparedEntry], now: datetime) -> Outcomes:
        """One transaction at the log's time `now` (verify replays batches through this)."""
        committing = False
        try:
            # From the lock's request to its COMMIT this task runs ahead of the requests sharing
            # its event loop (priority_loop.py), so the head is held for this work alone.
            with holding_the_log_head() as holding:
                async with in_transaction(self.connection) as conn:
                    holding.watch(socket_fd(conn))
                    written = await self._write_batch(conn, batch, now)
                    if isinstance(written, list):
                        return written
                    committing = True  # leaving the block sends COMMIT: now in doubt
        except (ProjectorFailed, SetRefused):  # a bug, or a refused all-or-none set: no doubt
            self._forget_frontier()
            raise
        except Exception as exc:
            self._forget_frontier()  # the cached border may be ahead of what committed
            if committing:
                raise
            raise BatchNotCommitted(exc) from exc
        except BaseException:
            self._forget_frontier()
            raise
        self._frontier = written.frontier
        self._partial_tiles = written.tiles
        metrics.record_checkpoint(written.frontier.size)
        self._committed(written.signed)
        return written.outcomes()

    async def _write_batch(self, conn: BaseDBAsyncClient, batch: list[PreparedEntry],
                           now: datetime) -> _Batch | Outcomes:
        size, signed_at = await lock_head(conn)
        # Batch times never go back (verify requires it): another process sharing the database
        # may have read its clock later and taken the lock first.
        if signed_at is not None and parse_time(signed_at) > now:
            now = parse_time(signed_at)
        integrated_at = format_time(now)
        frontier = (await self._frontier_at(conn, size)).copy()
        border = dict(zip(merkle.range_nodes(size), frontier.hashes, strict=True))
        outcomes, rows, signer_rows, nodes, answers = await self._apply_all(
            conn, batch, now, frontier)
        if not rows:
            return outcomes
        for row in rows:
            row.append(integrated_at)
        await execute_many(conn, "INSERT INTO log_entry (idx, leaf_hash, data, kind, at, "
                           "integrated_at) VALUES (?, ?, ?, ?, ?, ?)", rows)
        await execute_many(conn, "INSERT INTO log_entry_signer (address, nonce, idx) "
                           "VALUES (?, ?, ?)", signer_rows)
        grown = await self._write_tiles(conn, nodes)
        checkpoint = batch_checkpoint(self.origin, frontier.size, frontier.root(),
                                      BatchLine(size, integrated_at))
        note = sign_note(checkpoint.to_text(), self.signer)
        await _advance_head(conn, frontier.size, checkpoint.root_hash, note, integrated_at)
        return _Batch(outcomes, rows, answers, frontier, grown,
                      SignedCheckpoint(checkpoint, note, integrated_at), {**border, **dict(nodes)})

    async def _apply_all(self, conn: BaseDBAsyncClient, batch: list[PreparedEntry],
                         now: datetime, frontier: merkle.CompactRange
                         ) -> tuple[Outcomes, _Rows, _Rows, _Nodes, dict[int, object]]:
        outcomes: Outcomes = []
        answers: dict[int, object] = {}
        rows: _Rows = []
        signer_rows: _Rows = []
        nodes: _Nodes = []
        used = await self._used_nonces(conn, batch)
        memo: dict[object, object] = {}
        writes = WriteBuffer()
        if batch:
            await prefetch_all(ApplyContext(conn, frontier.size, batch[0].entry, now, memo,
                                            writes), batch)
        for item in batch:
            entry = item.entry
            index = frontier.size
            batched = is_set_based(type(item.body))
            if not batched:
                await _flush(conn, writes)  # its steps may read what is buffered
            context = ApplyContext(conn, index, entry, now, memo, writes, batched)
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
            for query, values in item.off_log:
                writes.add(query, [index if value is ENTRY_INDEX else value for value in values])
            if not batched:
                # Its steps wrote without the memo (a new rate table, a correction's score):
                # later entries read afresh rather than trust what was loaded before it.
                memo.clear()
            used.update((signer, entry.nonce) for signer in entry.signers)
            leaf = entry.leaf_hash
            nodes.extend(frontier.append(leaf))
            rows.append([index, leaf, entry.leaf_data, entry.kind, entry.at])
            answers[index] = context.answer
            signer_rows.extend([signer, entry.nonce, index] for signer in entry.signers)
            outcomes.append(Appended(index, leaf, 0))
        await _flush(conn, writes)
        return outcomes, rows, signer_rows, nodes, answers

    async def _used_nonces(self, conn: BaseDBAsyncClient, batch: list[PreparedEntry]
                           ) -> set[tuple[str, str]]:
        nonces = sorted({item.entry.nonce for item in batch})
        used: set[tuple[str, str]] = set()
        for chunk in in_chunks(nonces):
            marks = ", ".join("?" * len(chunk))
            found = await fetch(conn, f"SELECT address, nonce FROM log_entry_signer "
                                f"WHERE nonce IN ({marks})", list(chunk))
            used.update((row["address"], row["nonce"]) for row in found)
        return used

    async def _write_tiles(self, conn: BaseDBAsyncClient, nodes: _Nodes) -> _Tiles:
        """Grow the tiles `nodes` fall in; the log's partial tiles afterwards."""
        grown: dict[tuple[int, int], list[tuple[int, bytes]]] = {}
        for (level, index), digest in nodes:
            if level % tiles.TILE_HEIGHT:
                continue
            tile_level = level // tiles.TILE_HEIGHT
            grown.setdefault((tile_level, index // tiles.TILE_WIDTH), []).append(
                (index % tiles.TILE_WIDTH, digest))
        # The partial tiles this process wrote last are still the stored ones when the head has
        # not moved since (the frontier cache's condition): only the others are read.
        partial = self._partial_tiles
        unknown = [key for key in grown if key not in partial]
        existing = {**partial, **(await self.reader.fetch_tiles(conn, unknown, cache=False)
                                  if unknown else {})}
        upserts: _Rows = []
        after: _Tiles = {}
        for (tile_level, tile_index), additions in grown.items():
            data = existing.get((tile_level, tile_index), b"")
            for offset, digest in additions:
                if offset * tiles.HASH_SIZE != len(data):
                    raise RuntimeError(
                        f"tile {tile_level}/{tile_index}: hash {offset} out of order")
                data += digest
            upserts.append([tile_level, tile_index, data])
            if len(data) < tiles.TILE_WIDTH * tiles.HASH_SIZE:
                after[(tile_level, tile_index)] = data
        await execute_many(conn, "INSERT INTO log_tile (level, idx, data) VALUES (?, ?, ?) "
                           "ON CONFLICT (level, idx) DO UPDATE SET data = excluded.data", upserts)
        # A partial tile this batch did not reach stays as it was; a full one never grows.
        reached = {level for level, _ in grown}
        return {**{key: data for key, data in partial.items() if key[0] not in reached}, **after}

    def _forget_frontier(self) -> None:
        self._frontier = None
        self._partial_tiles = {}

    async def _frontier_at(self, conn: BaseDBAsyncClient, size: int) -> merkle.CompactRange:
        if self._frontier is not None and self._frontier.size == size:
            return self._frontier
        self._partial_tiles = {}  # another process wrote since: read them afresh
        hashes = await self.reader.read_nodes(merkle.range_nodes(size), conn)
        self._frontier = merkle.CompactRange(size, hashes)
        return self._frontier


async def _flush(conn: BaseDBAsyncClient, writes: WriteBuffer) -> None:
    if not writes.pending():
        return
    try:
        await writes.flush(conn)
    except Exception as exc:  # as a projector's own failure: the batch is redone one by one
        raise ProjectorFailed("buffered projection writes") from exc


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


async def write_bare_tree(conn: BaseDBAsyncClient, leaf_hashes: Iterable[bytes]
                          ) -> merkle.CompactRange:
    """Store only the tiles and head of a tree of `leaf_hashes` in an empty log: no entries and
    no checkpoints. For benchmarks of proofs over a large tree, which read nothing else."""
    frontier = merkle.CompactRange()
    tile_data: dict[tuple[int, int], bytearray] = {}
    for leaf in leaf_hashes:
        for (level, index), digest in frontier.append(leaf):
            if level % tiles.TILE_HEIGHT == 0:
                key = (level // tiles.TILE_HEIGHT, index // tiles.TILE_WIDTH)
                tile_data.setdefault(key, bytearray()).extend(digest)
    await execute_many(conn, "INSERT INTO log_tile (level, idx, data) VALUES (?, ?, ?)",
                       [[level, index, bytes(data)] for (level, index), data in tile_data.items()])
    await execute(conn, "INSERT INTO log_head (id, size, root_hash) VALUES (1, ?, ?)",
                  [frontier.size, frontier.root()])
    return frontier
