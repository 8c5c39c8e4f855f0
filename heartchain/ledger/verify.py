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
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tortoise import Tortoise, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import get_connections
from tortoise.models import Model
from tortoise.transactions import in_transaction

from heartchain.clock import FixedClock
from heartchain.errors import HeartchainError, VerificationError
from heartchain.ledger import merkle
from heartchain.ledger.batches import BatchLine
from heartchain.ledger.entries import parse_time
from heartchain.ledger.kinds import PreparedEntry, projections
from heartchain.ledger.log import Log, create_head
from heartchain.ledger.notes import Checkpoint, NoteSigner, NoteVerifier, open_note
from heartchain.ledger.sequencer import prepare_entries
from heartchain.ledger.store import fetch, is_postgres
from heartchain.settings import sqlite_url

SCRATCH = "verify_scratch"
_CHUNK = 2000

Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Difference:
    table: str
    key: str
    expected: str
    found: str

    def __str__(self) -> str:
        return f"{self.table} {self.key}: expected {self.expected}, found {self.found}"


class VerifyFailed(VerificationError):
    def __init__(self, difference: Difference) -> None:
        self.difference = difference
        super().__init__(str(difference))


@dataclass
class VerifyReport:
    entries: int = 0
    checkpoints: int = 0
    tiles: int = 0
    projection_rows: dict[str, int] = field(default_factory=dict)
    root_hash: bytes = b""


def _show(value: Any) -> str:
    if isinstance(value, (bytes, bytearray, memoryview)):
        data = bytes(value)
        return data.hex() if len(data) <= 64 else f"{data[:32].hex()}… ({len(data)} bytes)"
    text = repr(value)
    return text if len(text) <= 200 else text[:200] + "…"


def _normal(value: Any) -> Any:
    """One representation per value, whichever database produced it."""
    if isinstance(value, (bytearray, memoryview)):
        return bytes(value)
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, bool):
        return int(value)
    return value


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
                     scratch_dir: Path | None = None) -> VerifyReport:
    """Raise VerifyFailed naming the first difference; return what was checked otherwise."""
    with tempfile.TemporaryDirectory(dir=scratch_dir) as tmp:
        scratch_conn = await _scratch_client(Path(tmp) / "replay.sqlite3")
        try:
            return await _verify(live, scratch_conn, progress)
        finally:
            await _drop_scratch()


async def _verify(live: Log, scratch_conn: BaseDBAsyncClient,
                  progress: Progress | None) -> VerifyReport:
    live_conn = live.reader.connection()
    report = VerifyReport()
    head = await fetch(live_conn, "SELECT size, root_hash FROM log_head WHERE id = 1")
    if not head:
        raise VerifyFailed(Difference("log_head", "1", "a head row", "none"))
    size = int(head[0]["size"])
    clock = FixedClock(dt.datetime(2000, 1, 1, tzinfo=dt.UTC))
    replay = Log(origin=live.origin, signer=NoteSigner.generate("verify.scratch"), clock=clock,
                 connection=SCRATCH, batch_size=live.batch_size)
    async with in_transaction(SCRATCH) as conn:
        await create_head(conn, live.origin, replay.signer, clock.now())

    report.checkpoints = await _replay(live, live_conn, replay, clock, size, progress)
    report.entries = size
    replayed_root = await replay.root_at(size)
    report.root_hash = replayed_root
    if bytes(head[0]["root_hash"]) != replayed_root:
        raise VerifyFailed(Difference("log_head", "1", _show(replayed_root),
                                      _show(head[0]["root_hash"])))

    report.tiles = await _compare("log_tile", live_conn, scratch_conn,
                                  "SELECT level, idx, data FROM log_tile",
                                  ("level", "idx"), progress)
    await _compare("log_entry", live_conn, scratch_conn,
                   "SELECT idx, leaf_hash, data, kind, at, integrated_at FROM log_entry",
                   ("idx",), progress)
    await _compare("log_entry_signer", live_conn, scratch_conn,
                   "SELECT idx, address, nonce FROM log_entry_signer", ("idx", "address"),
                   progress, text_keys=frozenset({"address"}))
    for model in projections():
        report.projection_rows[model._meta.db_table] = await _compare_model(
            model, live_conn, scratch_conn, progress)
    return report


async def _rows(conn: BaseDBAsyncClient, select: str, key: tuple[str, ...],
                text_keys: frozenset[str] = frozenset()) -> AsyncIterator[dict[str, Any]]:
    """All rows of `select`, in `key` order, a chunk at a time.

    Keyset pagination (WHERE key > last), so each chunk costs the same however far into a
    million-row table it is; text keys compare bytewise on PostgreSQL too, so both stores
    list rows in one order.
    """
    postgres = is_postgres(conn)

    def column(name: str) -> str:
        return f'{_quote(name)} COLLATE "C"' if postgres and name in text_keys else _quote(name)

    order = ", ".join(column(k) for k in key)
    # (k1 > ?) OR (k1 = ? AND k2 > ?) OR ...: the row after `last` in key order.
    after = " OR ".join(
        "(" + " AND ".join([*(f"{column(k)} = ?" for k in key[:i]), f"{column(key[i])} > ?"]) + ")"
        for i in range(len(key)))
    last: list[Any] | None = None
    while True:
        if last is None:
            chunk = await fetch(conn, f"{select} ORDER BY {order} LIMIT {_CHUNK}")
        else:
            values = [v for i in range(len(key)) for v in (*last[:i], last[i])]
            chunk = await fetch(conn, f"{select} WHERE {after} ORDER BY {order} LIMIT {_CHUNK}",
                                values)
        for row in chunk:
            yield row
        if len(chunk) < _CHUNK:
            return
        last = [chunk[-1][k] for k in key]


async def _replay(live: Log, live_conn: BaseDBAsyncClient, replay: Log, clock: FixedClock,
                  size: int, progress: Progress | None) -> int:
    """Replay the stored entries batch by batch, as the stored checkpoints close them.

    Each checkpoint's batch line (`batches.py`) signs where its batch starts and when it was
    integrated, so the checkpoints must chain gap-free from size 0 to the head, their times never
    go back, every entry's `integrated_at` is its batch's signed time, and each batch is replayed
    at that time. Returns the number of checkpoints checked.
    """
    verifier = NoteVerifier.from_verifier_key(live.signer.verifier_key)
    entries = _rows(live_conn, "SELECT idx, data, integrated_at FROM log_entry",
                    ("idx",)).__aiter__()
    pending = await anext(entries, None)
    end, end_time = 0, ""  # the previous checkpoint's size and time
    count = 0
    async for row in _rows(live_conn, "SELECT size, root_hash, note, signed_at "
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
        datas: list[bytes] = []
        late: Difference | None = None  # the first entry not integrated at the batch's time
        while pending is not None and int(pending["idx"]) < at:
            index = int(pending["idx"])
            if index != end + len(datas):
                break
            if str(pending["integrated_at"]) != line.integrated_at:
                late = Difference("log_entry.integrated_at", f"idx={index}",
                                  f"{line.integrated_at} (signed in checkpoint {at})",
                                  str(pending["integrated_at"]))
                break
            datas.append(bytes(pending["data"]))
            pending = await anext(entries, None)
        batch: list[PreparedEntry] = []
        for position, item in enumerate(prepare_entries(datas)):
            if isinstance(item, HeartchainError):
                raise VerifyFailed(Difference("log_entry", f"idx={end + position}",
                                              "a well-formed entry signed by its signers",
                                              str(item)))
            batch.append(item)
        if late is not None:
            raise VerifyFailed(late)
        if len(batch) != at - end:
            following = "none" if pending is None else str(pending["idx"])
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
        root = await replay.root_at(at) if at else merkle.EMPTY_ROOT
        if checkpoint.root_hash != root:
            raise VerifyFailed(Difference("log_checkpoint.note", key, _show(root),
                                          _show(checkpoint.root_hash)))
        if bytes(row["root_hash"]) != root:
            raise VerifyFailed(Difference("log_checkpoint.root_hash", key, _show(root),
                                          _show(row["root_hash"])))
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
        raise VerifyFailed(Difference("log_entry", f"idx={pending['idx']}",
                                      f"no entry beyond the head's size {size}", "present"))
    return count


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


async def _compare(table: str, live_conn: BaseDBAsyncClient, scratch_conn: BaseDBAsyncClient,
                   select: str, key: tuple[str, ...], progress: Progress | None,
                   text_keys: frozenset[str] = frozenset()) -> int:
    live_rows = _rows(live_conn, select, key, text_keys).__aiter__()
    replay_rows = _rows(scratch_conn, select, key, text_keys).__aiter__()
    count = 0
    while True:
        found = await anext(live_rows, None)
        expected = await anext(replay_rows, None)
        if found is None and expected is None:
            return count
        if expected is None and found is not None:
            raise VerifyFailed(Difference(table, _key(found, key), "no such row",
                                          _show({k: _normal(v) for k, v in found.items()})))
        if found is None or expected is None:
            row = expected or {}
            raise VerifyFailed(Difference(table, _key(row, key), "a row", "missing"))
        if _key(found, key) != _key(expected, key):
            raise VerifyFailed(Difference(table, _key(expected, key), "this row next",
                                          f"{_key(found, key)} instead"))
        for column, value in expected.items():
            if _normal(value) != _normal(found[column]):
                raise VerifyFailed(Difference(f"{table}.{column}", _key(expected, key),
                                              _show(_normal(value)), _show(_normal(found[column]))))
        count += 1
        if progress and count % 10_000 == 0:
            progress(table, count, 0)


def _key(row: dict[str, Any], key: tuple[str, ...]) -> str:
    return ", ".join(f"{k}={row[k]}" for k in key)


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


async def _compare_model(model: type[Model], live_conn: BaseDBAsyncClient,
                         scratch_conn: BaseDBAsyncClient, progress: Progress | None) -> int:
    meta = model._meta
    columns = [meta.fields_db_projection[name] for name in meta.db_fields]
    # Projections key rows naturally (an entry index, an address), so the primary key orders and
    # identifies rows in both stores; an autoincrement key would differ after a rollback.
    pk = meta.fields_map[meta.pk_attr]
    key = meta.fields_db_projection[meta.pk_attr]
    text = frozenset({key}) if isinstance(pk, (fields.CharField, fields.TextField)) \
        else frozenset()
    select = (f"SELECT {', '.join(_quote(c) for c in columns)} "
              f"FROM {_quote(meta.db_table)}")
    return await _compare(meta.db_table, live_conn, scratch_conn, select, (key,), progress,
                          text_keys=text)


__all__ = ["Difference", "VerifyFailed", "VerifyReport", "verify_log"]
