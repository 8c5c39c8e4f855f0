"""Full audit: replay the log into a scratch store and compare everything (DESIGN §3).

The replay integrates every stored entry again, in order and in its original batches, through the
same code as live appends: each signature, the clock against the recorded integration time, nonce
replays and every kind's rules against projections rebuilt from nothing. The batches and their
times come from the stored checkpoints, whose batch lines the log signed (`batches.py`): every
checkpoint's signature, size and root are checked, they must chain from size 0 to the head with
no gap, and every entry's `integrated_at` must be the time its checkpoint signs. Then it compares,
table by table, what the replay computed with what is stored: entries and their leaf hashes,
signers, tiles, every projection row. The first difference is reported as (table, key, expected,
found). The log's records of its witnesses are checked by `heartchain.witness.records`.
"""

from __future__ import annotations

import datetime as dt
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connections
from tortoise.transactions import in_transaction

from heartchain.clock import FixedClock
from heartchain.collector import fewer_collections
from heartchain.errors import HeartchainError
from heartchain.ledger import merkle
from heartchain.ledger.batches import BatchLine
from heartchain.ledger.entries import parse_time
from heartchain.ledger.kinds import PreparedEntry, projections
from heartchain.ledger.log import Log, create_head
from heartchain.ledger.notes import Checkpoint, NoteSigner, NoteVerifier, open_note
from heartchain.ledger.store import fetch
from heartchain.ledger.verify_compare import (
    Difference,
    Matcher,
    Progress,
    VerifyFailed,
    check_row,
    compare,
    compare_model,
    rows,
    show,
)
from heartchain.ledger.verify_pool import EntryChecker, Refused, checked_rows, default_workers
from heartchain.settings import sqlite_url

SCRATCH = "verify_scratch"


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    tiles: int = 0
    projection_rows: dict[str, int] = field(default_factory=dict)
    root_hash: bytes = b""
    workers: int = 0  # processes that checked the entries besides this one


async def _scratch_client(path: Path) -> BaseDBAsyncClient:
    handler = get_connections()
    handler.db_config[SCRATCH] = sqlite_url(path)
    client = handler.get(SCRATCH)
    generator = client.schema_generator(client)
    models = [m for m in Tortoise.apps.get_models_iterable()] if Tortoise.apps else []
    generator._get_models_to_create = lambda: models  # type: ignore[method-assign]
    await generator.generate_from_string(generator.get_create_schema_sql(safe=False))
    return client


async def _drop_scratch() -> None:
    handler = get_connections()
    client = handler.discard(SCRATCH)
    if client is not None:
        await client.close()
    handler.db_config.pop(SCRATCH, None)


async def verify_log(live: Log, *, progress: Progress | None = None,
                     scratch_dir: Path | None = None, workers: int | None = None
                     ) -> VerifyReport:
    """Raise VerifyFailed naming the first difference; return what was checked otherwise.

    `workers`: processes that parse and verify the entries ahead of the replay (0: this process
    does it all); by default one per core for a large log (`verify_pool.default_workers`)."""
    live_conn = live.reader.connection()
    head = await fetch(live_conn, "SELECT size, root_hash FROM log_head WHERE id = 1")
    if not head:
        raise VerifyFailed(Difference("log_head", "1", "a head row", "none"))
    # Default-paced collections were a third of the replay's CPU in bench/ledger.py; frozen
    # before the workers fork, so that collections in them copy no inherited page either.
    with fewer_collections():
        checker = EntryChecker(default_workers(int(head[0]["size"])) if workers is None
                               else workers)
        try:
            with tempfile.TemporaryDirectory(dir=scratch_dir) as tmp:
                scratch_conn = await _scratch_client(Path(tmp) / "replay.sqlite3")
                try:
                    return await _verify(live, head[0], scratch_conn, checker, progress)
                finally:
                    await _drop_scratch()
        finally:
            checker.close()


async def _verify(live: Log, head: dict[str, Any], scratch_conn: BaseDBAsyncClient,
                  checker: EntryChecker, progress: Progress | None) -> VerifyReport:
    """The replay and comparisons against the live `head` row that verify_log read."""
    live_conn = live.reader.connection()
    report = VerifyReport(workers=checker.workers)
    size = int(head["size"])
    clock = FixedClock(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    replay = Log(origin=live.origin, signer=NoteSigner.generate("verify.scratch"), clock=clock,
                 connection=SCRATCH, batch_size=live.batch_size)
    async with in_transaction(SCRATCH) as conn:
        await create_head(conn, live.origin, replay.signer, clock.now())

    report.checkpoints = await _replay(live, live_conn, replay, clock, size, checker, progress)
    report.entries = size
    replayed_root = await replay.root_at(size)
    report.root_hash = replayed_root
    if bytes(head["root_hash"]) != replayed_root:
        raise VerifyFailed(Difference("log_head", "1", show(replayed_root),
                                      show(head["root_hash"])))

    report.tiles = await compare("log_tile", live_conn, scratch_conn,
                                 "SELECT level, idx, data FROM log_tile",
                                 ("level", "idx"), progress)
    for model in projections():
        report.projection_rows[model._meta.db_table] = await compare_model(
            model, live_conn, scratch_conn, progress)
    return report


async def _replay(live: Log, live_conn: BaseDBAsyncClient, replay: Log, clock: FixedClock,
                  size: int, checker: EntryChecker, progress: Progress | None) -> int:
    """Replay the stored entries batch by batch, as the stored checkpoints close them.

    Each checkpoint's batch line (`batches.py`) signs where its batch starts and when it was
    integrated, so the checkpoints must chain gap-free from size 0 to the head, their times never
    go back, every entry's `integrated_at` is its batch's signed time, and each batch is replayed
    at that time. Returns the number of checkpoints checked.

    The entries' and signers' rows are compared with what the replay wrote as it goes: the
    entries from the rows the replay reads anyway, the signers against one ordered scan.
    """
    verifier = NoteVerifier.from_verifier_key(live.signer.verifier_key)
    entries = checked_rows(rows(live_conn, f"SELECT {', '.join(_ENTRY_COLUMNS)} FROM log_entry",
                                ("idx",)), checker).__aiter__()
    signers = Matcher("log_entry_signer", _SIGNER_KEY, rows(
        live_conn, "SELECT idx, address, nonce FROM log_entry_signer", _SIGNER_KEY,
        frozenset({"address"})))
    stored: list[dict[str, Any]] = []  # the batch's stored rows
    pending = await anext(entries, None)  # (the next stored entry's row, what checking found)
    end, end_time = 0, ""  # the previous checkpoint's size and time
    count = 0
    async for row in rows(live_conn, "SELECT size, root_hash, note, signed_at "
                          "FROM log_checkpoint", ("size",)):
        at = int(row["size"])
        checkpoint, line = _open_checkpoint(row, verifier, live.origin)
        key = f"size={at}"
        if line.first > end or (count == 0 and at > 0):
            missing = line.first if count else 0
            raise VerifyFailed(Difference("log_checkpoint", f"size={missing}",
                                          "a signed checkpoint (a batch ends there)", "missing"))
        if line.first < end or (count and line.first == at):
            raise VerifyFailed(Difference("log_checkpoint.note", key,
                                          f"a batch of entries from {end}",
                                          f"a batch from {line.first} to {at}"))
        if line.integrated_at < end_time:
            raise VerifyFailed(Difference("log_checkpoint.note", key,
                                          f"integrated at or after {end_time}",
                                          line.integrated_at))
        if str(row["signed_at"]) != line.integrated_at:
            raise VerifyFailed(Difference("log_checkpoint.signed_at", key, line.integrated_at,
                                          str(row["signed_at"])))
        if at > size:
            raise VerifyFailed(Difference("log_checkpoint", key, f"size <= {size} (the head)",
                                          str(at)))
        batch: list[PreparedEntry] = []
        stored.clear()
        late: Difference | None = None  # the first entry not integrated at the batch's time
        while pending is not None and int(pending[0]["idx"]) < at:
            entry_row, checked = pending
            index = int(entry_row["idx"])
            if index != end + len(batch):
                break
            if str(entry_row["integrated_at"]) != line.integrated_at:
                late = Difference("log_entry.integrated_at", f"idx={index}",
                                  f"{line.integrated_at} (signed in checkpoint {at})",
                                  str(entry_row["integrated_at"]))
                break
            if isinstance(checked, Refused):
                raise VerifyFailed(Difference("log_entry", f"idx={index}",
                                              "a well-formed entry signed by its signers",
                                              checked.message))
            batch.append(checked)
            stored.append(entry_row)
            pending = await anext(entries, None)
        if late is not None:
            raise VerifyFailed(late)
        if len(batch) != at - end:
            following = "none" if pending is None else str(pending[0]["idx"])
            raise VerifyFailed(Difference("log_entry", f"idx={end + len(batch)}", "present",
                                          f"missing (next stored is {following})"))
        if batch:
            clock._moment = parse_time(line.integrated_at)
            outcomes = await replay.integrator.integrate_batch(batch, clock.now())
            for position, outcome in enumerate(outcomes):
                if isinstance(outcome, HeartchainError):
                    raise VerifyFailed(Difference(
                        "log_entry", f"idx={end + position}", "an entry its kind's rules accept",
                        f"rejected on replay: {outcome}"))
            await _match_written(batch, outcomes, stored, signers)
        root = await replay.root_at(at) if at else merkle.EMPTY_ROOT
        if checkpoint.root_hash != root:
            raise VerifyFailed(Difference("log_checkpoint.note", key, show(root),
                                          show(checkpoint.root_hash)))
        if bytes(row["root_hash"]) != root:
            raise VerifyFailed(Difference("log_checkpoint.root_hash", key, show(root),
                                          show(row["root_hash"])))
        end, end_time = at, line.integrated_at
        count += 1
        if progress:
            progress("replay", end, size)
    if count == 0:
        raise VerifyFailed(Difference("log_checkpoint", "size=0", "a signed checkpoint",
                                      "missing"))
    if end != size:
        raise VerifyFailed(Difference("log_checkpoint", f"size={size}",
                                      "the checkpoint of the head",
                                      f"missing (the latest is at size {end})"))
    if pending is not None:
        raise VerifyFailed(Difference("log_entry", f"idx={pending[0]['idx']}",
                                      f"no entry beyond the head's size {size}", "present"))
    await signers.finish()
    return count


_ENTRY_COLUMNS = ("idx", "leaf_hash", "data", "kind", "at", "integrated_at")
_SIGNER_KEY = ("idx", "address")


async def _match_written(batch: list[PreparedEntry], outcomes: list[Any],
                         stored: list[dict[str, Any]], signers: Matcher) -> None:
    """The batch's stored entry rows are the rows the replay wrote, and the stored signer rows
    next in (idx, address) order are the ones it wrote, none missing or added."""
    for item, outcome, found in zip(batch, outcomes, stored, strict=True):
        written = outcome.written.stored
        expected = dict(zip(_ENTRY_COLUMNS, (written.index, written.leaf_hash, written.data,
                                             written.kind, written.at, written.integrated_at),
                            strict=True))
        if found != expected:
            check_row("log_entry", ("idx",), expected, found)
        for address in sorted(item.entry.signers):
            await signers.expect({"idx": written.index, "address": address,
                                  "nonce": item.entry.nonce})


def _open_checkpoint(row: dict[str, Any], verifier: NoteVerifier, origin: str
                     ) -> tuple[Checkpoint, BatchLine]:
    at = int(row["size"])
    key = f"size={at}"
    try:
        note = open_note(str(row["note"]), [verifier])
        checkpoint = Checkpoint.from_text(note.text)
        line = BatchLine.of(checkpoint)
    except HeartchainError as exc:
        raise VerifyFailed(Difference("log_checkpoint.note", key,
                                      "a note signed by the log's key, with its batch line",
                                      str(exc))) from None
    if checkpoint.origin != origin or checkpoint.size != at:
        raise VerifyFailed(Difference("log_checkpoint.note", key, f"{origin} at size {at}",
                                      f"{checkpoint.origin} at size {checkpoint.size}"))
    return checkpoint, line


__all__ = ["Difference", "VerifyFailed", "VerifyReport", "verify_log"]
