"""Which of the log's checkpoints are witnessed, with which cosignatures (C2SP tlog-witness).

What `/log/checkpoint` serves: the newest checkpoint that k of the n witnesses cosigned, with
every cosignature it has. That is what a tlog client enforcing a witness policy expects (the
way Sigsum and Sunlight publish only witnessed tree heads): under load the newest checkpoint is
usually a batch ahead of its cosignatures, and a policy client would reject it. Tiles for the
smaller size stay servable, so nothing is lost. Until some checkpoint meets the policy (a new
log, witnesses down or refusing), the newest checkpoint is served with whatever cosignatures it
has, and `/log/witnesses` says why (`witness_status.served_checkpoint`, `witnesses_report`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from heartchain.errors import NotFound, VerificationError
from heartchain.ledger.log import Log, SignedCheckpoint
from heartchain.ledger.notes import Note, NoteSignature
from heartchain.ledger.store import fetch
from heartchain.ledger.witness_policy import WitnessEndpoint, WitnessPolicy
from heartchain.witness.models import WitnessCosignature

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Cosignature:
    witness: str
    line: str
    timestamp: int
    received_at: Any  # datetime


@dataclass(frozen=True)
class CosignedCheckpoint:
    signed: SignedCheckpoint
    cosignatures: tuple[Cosignature, ...]
    witnessed: bool  # enough cosignatures for the policy

    @property
    def note(self) -> str:
        """The log's signed note with the witnesses' cosignature lines appended."""
        return self.signed.note + "".join(c.line for c in self.cosignatures)


# Verified (witness, line, note text) triples: /log/checkpoint is polled, signatures are not
# re-checked on every request. Bounded; cleared when full.
_verified: dict[tuple[str, str, str], int] = {}
_VERIFIED_LIMIT = 4096


def _verify_line(endpoint: WitnessEndpoint, line: str, text: str) -> int:
    key = (endpoint.verifier.verifier_key, line, text)
    found = _verified.get(key)
    if found is None:
        found = endpoint.verifier.verify(text, NoteSignature.from_line(line))
        if len(_verified) >= _VERIFIED_LIMIT:
            _verified.clear()
        _verified[key] = found
    return found


def note_text(signed: SignedCheckpoint) -> str:
    """The checkpoint text a cosignature signs: the note without its signature lines."""
    return Note.from_text(signed.note).text


async def cosignatures_of(policy: WitnessPolicy, signed: SignedCheckpoint
                          ) -> tuple[Cosignature, ...]:
    """The stored cosignatures of `signed` by configured witnesses that verify over its note
    as stored now (a row that no longer verifies, after a database edit, is left out: one bad
    signature from a known key makes a client reject the whole note)."""
    if not policy.witnesses:
        return ()
    rows = await WitnessCosignature.filter(
        size=signed.size, witness__in=[w.name for w in policy.witnesses])
    by_name = {row.witness: row for row in rows}
    text = note_text(signed)
    found = []
    for endpoint in policy.witnesses:
        row = by_name.get(endpoint.name)
        if row is None:
            continue
        try:
            timestamp = _verify_line(endpoint, row.line, text)
        except VerificationError:
            logger.warning("stored cosignature by %s for size %d does not verify",
                           endpoint.name, signed.size)
            continue
        found.append(Cosignature(endpoint.name, row.line, timestamp, row.received_at))
    return tuple(found)


async def cosigned(log: Log, policy: WitnessPolicy, signed: SignedCheckpoint
                   ) -> CosignedCheckpoint:
    found = await cosignatures_of(policy, signed)
    return CosignedCheckpoint(signed, found, len(found) >= policy.required)


async def witnessed_checkpoint(log: Log, policy: WitnessPolicy) -> CosignedCheckpoint | None:
    """The newest checkpoint that meets the policy, with all its cosignatures."""
    if not policy.witnesses:
        return await cosigned(log, policy, await log.latest_checkpoint())
    conn = log.reader.connection()
    # Fast path, n short index reads however long the history: the witnesses' recent sizes.
    # It can only err towards an older witnessed checkpoint (a witness 64 checkpoints ahead
    # of the others on its own), never towards one the policy is not met for.
    counts: dict[int, int] = {}
    for endpoint in policy.witnesses:
        for row in await fetch(conn, "SELECT size FROM witness_cosignature WHERE witness = ? "
                               "ORDER BY size DESC LIMIT 64", [endpoint.name]):
            counts[int(row["size"])] = counts.get(int(row["size"]), 0) + 1
    sizes = sorted((size for size, count in counts.items() if count >= policy.required),
                   reverse=True)
    if not sizes:  # the witnesses cosigned no common recent checkpoint: search the history
        names = [w.name for w in policy.witnesses]
        rows = await fetch(conn, f"SELECT size FROM witness_cosignature WHERE witness IN "
                           f"({', '.join('?' * len(names))}) GROUP BY size HAVING COUNT(*) >= ?"
                           f" ORDER BY size DESC LIMIT 16", [*names, policy.required])
        sizes = [int(row["size"]) for row in rows]
    for size in sizes[:16]:
        try:
            signed = await log.checkpoint_at(size)
        except NotFound:
            continue
        candidate = await cosigned(log, policy, signed)
        if candidate.witnessed:
            return candidate
    return None
