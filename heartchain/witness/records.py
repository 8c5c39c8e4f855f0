"""The log's records of its witnesses, bound and checked: part of `heartchain verify`.

`witness_cosignature` and `witness_refusal` are off-log rows (what witnesses answered), so no
replay rebuilds them. Instead:

- every row carries a MAC (HMAC-SHA256) under a key derived from the master key: a row written
  or edited by someone without it (a database administrator) does not verify;
- every cosignature must verify, with the witness's key from `HEARTCHAIN_WITNESSES`, over the
  stored checkpoint at its size, and its timestamp column must be the one it signs: not even
  the master key's holder can forge one;
- rows are evidence of how far the log had grown: a cosignature or a refusal at a size beyond
  the head, or a witness that had cosigned beyond it (the `old` size of a refusal), means the
  store was rolled back — found from inside the database, as long as these rows survived.

What a MAC cannot show is a deleted row; the witnesses themselves answer that
(`heartchain audit --witnesses`, README "Threat model").
"""

from __future__ import annotations

import hmac
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from heartchain.errors import HeartchainError
from heartchain.keys import Vault
from heartchain.ledger.entries import format_time
from heartchain.ledger.log import Log
from heartchain.ledger.notes import Note, NoteSignature
from heartchain.ledger.verify_compare import Difference, VerifyFailed
from heartchain.ledger.verify_compare import rows as _rows

if TYPE_CHECKING:
    from heartchain.ledger.witness_policy import WitnessPolicy

_PURPOSE = "witness-records/v1"
_NOTES_CHUNK = 500


class RecordSeal:
    """MACs over witness rows, under a key derived from the master key."""

    def __init__(self, vault: Vault) -> None:
        self._key = vault.derive_key(_PURPOSE)

    def _mac(self, *fields: object) -> bytes:
        message = "\n".join(str(f) for f in fields).encode()
        return hmac.digest(self._key, message, "sha256")

    def cosignature(self, *, size: int, witness: str, line: str, timestamp: int,
                    received_at: datetime) -> bytes:
        return self._mac("cosignature", size, witness, line, timestamp, format_time(received_at))

    def refusal(self, *, witness: str, size: int, old_size: int, status: int, body: str,
                at: datetime) -> bytes:
        return self._mac("refusal", witness, size, old_size, status, body, format_time(at))


@dataclass
class WitnessRecords:
    cosignatures: int = 0
    refusals: int = 0
    unchecked: dict[str, int] = field(default_factory=dict)  # rows by witnesses not configured
    cosigned_sizes: dict[str, int] = field(default_factory=dict)  # witness -> newest size


def _as_datetime(value: object) -> datetime:
    if isinstance(value, datetime):
        return value
    return datetime.fromisoformat(str(value))


async def verify_witness_records(log: Log, policy: WitnessPolicy, seal: RecordSeal
                                 ) -> WitnessRecords:
    """Raise VerifyFailed naming the first bad witness row; say what was checked otherwise."""
    conn = log.reader.connection()
    head = await log.size()
    report = WitnessRecords()
    cosignatures = _rows(conn, "SELECT id, size, witness, line, timestamp, received_at, mac "
                         "FROM witness_cosignature", ("id",))
    async for row in _with_notes(log, cosignatures):
        size, witness = int(row["size"]), str(row["witness"])
        key = f"size={size}, witness={witness}"
        expected = seal.cosignature(size=size, witness=witness, line=str(row["line"]),
                                    timestamp=int(row["timestamp"]),
                                    received_at=_as_datetime(row["received_at"]))
        if not hmac.compare_digest(expected, bytes(row["mac"] or b"")):
            raise VerifyFailed(Difference("witness_cosignature.mac", key,
                                          "the MAC of the row under the master key",
                                          "another value: the row was written or edited "
                                          "without it"))
        if size > head:
            raise VerifyFailed(Difference("witness_cosignature", key,
                                          f"size <= {head} (the head)",
                                          f"{witness} cosigned size {size}: the store was "
                                          f"rolled back"))
        if row["note"] is None:
            raise VerifyFailed(Difference("witness_cosignature", key,
                                          "the checkpoint it cosigns", "missing"))
        report.cosignatures += 1
        endpoint = policy.endpoint(witness)
        if endpoint is None:
            report.unchecked[witness] = report.unchecked.get(witness, 0) + 1
            continue
        try:
            timestamp = endpoint.verifier.verify(Note.from_text(str(row["note"])).text,
                                                 NoteSignature.from_line(str(row["line"])))
        except HeartchainError as exc:
            raise VerifyFailed(Difference("witness_cosignature.line", key,
                                          f"a cosignature by {witness} over checkpoint {size}",
                                          str(exc))) from None
        if timestamp != int(row["timestamp"]):
            raise VerifyFailed(Difference("witness_cosignature.timestamp", key, str(timestamp),
                                          str(row["timestamp"])))
        report.cosigned_sizes[witness] = max(report.cosigned_sizes.get(witness, 0), size)
    async for row in _rows(conn, "SELECT id, witness, size, old_size, status, body, at, mac "
                           "FROM witness_refusal", ("id",)):
        key = f"id={row['id']}"
        expected = seal.refusal(witness=str(row["witness"]), size=int(row["size"]),
                                old_size=int(row["old_size"]), status=int(row["status"]),
                                body=str(row["body"]), at=_as_datetime(row["at"]))
        if not hmac.compare_digest(expected, bytes(row["mac"] or b"")):
            raise VerifyFailed(Difference("witness_refusal.mac", key,
                                          "the MAC of the row under the master key",
                                          "another value: the row was written or edited "
                                          "without it"))
        for what, size in _sizes_seen(int(row["size"]), int(row["old_size"])):
            if size > head:
                raise VerifyFailed(Difference("witness_refusal", key,
                                              f"{what} <= {head} (the head)",
                                              f"{size}: the store was rolled back"))
        report.refusals += 1
    return report


async def _with_notes(log: Log, rows: AsyncIterator[dict[str, Any]]
                      ) -> AsyncIterator[dict[str, Any]]:
    """`rows` with the `note` of the checkpoint at each one's size (None if there is none),
    asked of the log a chunk of rows at a time."""
    chunk: list[dict[str, Any]] = []
    async for row in rows:
        chunk.append(row)
        if len(chunk) == _NOTES_CHUNK:
            for with_note in await _add_notes(log, chunk):
                yield with_note
            chunk = []
    for with_note in await _add_notes(log, chunk):
        yield with_note


async def _add_notes(log: Log, chunk: list[dict[str, Any]]) -> list[dict[str, Any]]:
    notes = await log.reader.checkpoint_notes([int(row["size"]) for row in chunk])
    return [{**row, "note": notes.get(int(row["size"]))} for row in chunk]


def _sizes_seen(size: int, old_size: int) -> Iterator[tuple[str, int]]:
    yield "the checkpoint size", size
    # `old` is the size the witness had cosigned, as the log knew it or the witness told it.
    yield "the witness's cosigned size", old_size
