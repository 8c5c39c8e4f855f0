"""Check a published checkpoint against a store: after a restore, is this the log people saw?

A checkpoint someone kept (from `/log/checkpoint`, a witness, a newspaper) commits to the first
`size` entries. `check_against` proves the store still holds exactly those entries:

1. the note is signed by the log's verifier key (and, if given, cosigned by each witness key);
2. the store holds at least `size` entries (a restore older than the checkpoint lost entries);
3. the root at `size` folded from the stored tiles equals the checkpoint's root, and so does
   the root recomputed from the stored entries themselves (`recompute=True`, streaming: O(size)
   time, O(log size) memory), so neither the tiles nor the entries were altered;
4. the checkpoint the store itself signed at that size has the same root (two roots at one size
   would be a fork) and the same text, batch line included (a store whose batch times were
   re-signed differs from what was published);
5. the store's newest checkpoint is consistent with it (RFC 9162 consistency proof from the
   stored tiles, checked against the newest stored root).

Together with `heartchain verify` (every tile, checkpoint and projection row recomputed from the
entries) this proves a restored copy extends what was published.

    audited = await check_against(platform.log, Path("checkpoint.txt").read_text(),
                                  "heartchain.localhost/log+1a2b3c4d+AQ...")
    print(audited.summary())
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from heartchain.errors import NotFound, RootMismatchError, VerificationError
from heartchain.ledger import merkle
from heartchain.ledger.log import Log
from heartchain.ledger.notes import Checkpoint, CosignatureVerifier, NoteVerifier, open_note
from heartchain.ledger.store import fetch

_CHUNK = 2000  # entries read per query when recomputing the root


class AuditError(VerificationError):
    """The store does not hold the log the checkpoint committed to."""


@dataclass(frozen=True)
class Audited:
    size: int  # the published checkpoint's size
    root_hash: bytes
    store_size: int  # entries in the store now
    store_root: bytes  # the store's newest checkpoint root
    recomputed: bool  # the root was also recomputed from the entries
    cosigned_by: tuple[tuple[str, int], ...]  # (witness name, cosignature timestamp)

    def summary(self) -> str:
        witnesses = "".join(
            f", cosigned by {name} at {datetime.fromtimestamp(ts, UTC):%Y-%m-%dT%H:%M:%SZ}"
            for name, ts in self.cosigned_by)
        how = "tiles and entries" if self.recomputed else "tiles"
        return (f"checkpoint {self.size} ({self.root_hash.hex()}){witnesses}: the store's root "
                f"at {self.size} from its {how} matches; the store holds {self.store_size} "
                f"entries (root {self.store_root.hex()}), consistent with it")


async def check_against(log: Log, note_text: str, verifier_key: str, *,
                        witness_keys: Sequence[str] = (), recompute: bool = True) -> Audited:
    """Verify a published checkpoint note against the store behind `log`; raise if it differs."""
    verifier = NoteVerifier.from_verifier_key(verifier_key.strip())
    note = open_note(note_text, [verifier])
    checkpoint = Checkpoint.from_text(note.text)
    if checkpoint.origin != verifier.name:
        raise AuditError(f"checkpoint origin {checkpoint.origin!r} is not the key's name "
                         f"{verifier.name!r}")
    cosigned = tuple(_cosignature(note_text, note.text, key) for key in witness_keys)

    store_size = await log.size()
    if checkpoint.size > store_size:
        raise AuditError(f"the store holds {store_size} entries but the checkpoint commits to "
                         f"{checkpoint.size}: entries after {store_size - 1} are missing "
                         f"(restored from an older backup?)")
    from_tiles = await log.root_at(checkpoint.size)
    if from_tiles != checkpoint.root_hash:
        raise RootMismatchError(checkpoint.root_hash, from_tiles,
                                context=f"at size {checkpoint.size} (stored tiles)")
    if recompute:
        from_entries = await _root_from_entries(log, checkpoint.size)
        if from_entries != checkpoint.root_hash:
            raise RootMismatchError(checkpoint.root_hash, from_entries,
                                    context=f"at size {checkpoint.size} (stored entries)")
    try:
        own = await log.checkpoint_at(checkpoint.size)
    except NotFound:
        # The log stores every checkpoint it signs, in the transaction that signs it.
        raise AuditError(f"the store has no checkpoint at size {checkpoint.size}, which the "
                         f"log signed: it was deleted") from None
    if own.root_hash != checkpoint.root_hash:
        raise RootMismatchError(checkpoint.root_hash, own.root_hash,
                                context=f"the store signed another root at size {checkpoint.size}")
    if own.checkpoint.to_text() != note.text:
        raise AuditError(f"the store's checkpoint at size {checkpoint.size} differs from the "
                         f"published one: {own.checkpoint.extensions} instead of "
                         f"{checkpoint.extensions}")

    latest = await log.latest_checkpoint()
    if latest.size < checkpoint.size:
        raise AuditError(f"the store's newest checkpoint ({latest.size}) is older than the "
                         f"published one ({checkpoint.size})")
    proof = await log.consistency_proof(checkpoint.size, latest.size)
    merkle.verify_consistency(checkpoint.size, latest.size, proof, checkpoint.root_hash,
                              latest.root_hash)
    return Audited(checkpoint.size, checkpoint.root_hash, store_size, latest.root_hash,
                   recompute, cosigned)


def _cosignature(note_text: str, checkpoint_text: str, key: str) -> tuple[str, int]:
    from heartchain.ledger.notes import Note

    verifier = CosignatureVerifier.from_verifier_key(key.strip())
    for sig in Note.from_text(note_text).signatures:
        if sig.name == verifier.name and sig.key_id == verifier.key_id:
            return verifier.name, verifier.verify(checkpoint_text, sig)
    raise AuditError(f"the checkpoint carries no cosignature by {verifier.name}")


async def _root_from_entries(log: Log, size: int) -> bytes:
    frontier = merkle.CompactRange()
    conn = log.reader.connection()
    for start in range(0, size, _CHUNK):
        rows = await fetch(conn, "SELECT idx, data FROM log_entry WHERE idx >= ? AND idx < ? "
                           "ORDER BY idx", [start, min(start + _CHUNK, size)])
        for row in rows:
            if int(row["idx"]) != frontier.size:
                raise AuditError(f"entry {frontier.size} is missing from the store")
            frontier.append(merkle.leaf_hash(bytes(row["data"])))
    if frontier.size != size:
        raise AuditError(f"entry {frontier.size} is missing from the store")
    return frontier.root()
