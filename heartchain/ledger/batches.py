"""The batch line: a checkpoint extension line that signs each batch's start and time.

Every checkpoint the log signs closes one batch (DESIGN §3). Its note text carries one C2SP
tlog-checkpoint extension line ("Note text", item 4: lines after the root hash are allowed and
opaque; cosignature/v1 signs them with the rest of the text):

    heartchain.localhost/log
    301
    <base64 root>
    heartchain/batch 256 2026-12-02T00:55:30.123Z

`256` is the batch's first entry index (the previous checkpoint's size) and the time is the log's
clock when it integrated the batch, which is every one of its entries' `integrated_at`: the
time the kinds' rules (waiting periods, notice windows) were checked against. So the log's key,
and every witness that cosigns the checkpoint, vouch for each entry's integration time, and the
chain of first indexes shows a missing checkpoint. Generic tlog clients ignore the line.

    >>> line = BatchLine(256, "2026-12-02T00:55:30.123Z")
    >>> BatchLine.of(batch_checkpoint("o", 301, bytes(32), line)) == line
    True
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from heartchain.errors import HeartchainError
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.notes import Checkpoint, NoteFormatError

PREFIX: Final = "heartchain/batch "


@dataclass(frozen=True)
class BatchLine:
    first: int  # the index of the batch's first entry: the previous checkpoint's size
    integrated_at: str  # the log's clock for the whole batch, as in `log_entry.integrated_at`

    def to_line(self) -> str:
        return f"{PREFIX}{self.first} {self.integrated_at}"

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> BatchLine:
        """The batch line of a checkpoint the log signed; NoteFormatError if it has none."""
        found = [line for line in checkpoint.extensions if line.startswith(PREFIX)]
        if len(found) != 1:
            raise NoteFormatError(f"checkpoint {checkpoint.size}: expected one "
                                  f"{PREFIX.strip()!r} line, found {len(found)}")
        first, _, at = found[0][len(PREFIX):].partition(" ")
        try:
            if not first.isdigit() or str(int(first)) != first:
                raise ValueError(first)
            if format_time(parse_time(at)) != at:
                raise ValueError(at)
        except (ValueError, HeartchainError):
            raise NoteFormatError(f"checkpoint {checkpoint.size}: malformed batch line "
                                  f"{found[0]!r}") from None
        if int(first) > checkpoint.size:
            raise NoteFormatError(f"checkpoint {checkpoint.size}: batch starts at {first}, "
                                  f"after its end")
        return cls(int(first), at)


def batch_checkpoint(origin: str, size: int, root_hash: bytes, line: BatchLine) -> Checkpoint:
    return Checkpoint(origin, size, root_hash, (line.to_line(),))
