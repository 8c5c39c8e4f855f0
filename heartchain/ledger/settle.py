"""Settling a batch whose integration failed: did it commit after all? (DESIGN §3)

The answer to COMMIT can be lost with the connection, so a failed integration may still have
written its entries. Once the database answers again, each entry is looked up (by its first
signer's nonce, then its leaf data), so no caller hears "failed" about an entry that is in the
log, and a retry cannot write the same gift twice.
"""

from __future__ import annotations

import asyncio
import logging

from heartchain.ledger.kinds import PreparedEntry
from heartchain.ledger.reader import Appended, LogReader

logger = logging.getLogger(__name__)

# How long a caller whose batch failed may wait to learn whether it committed after all.
IN_DOUBT_ATTEMPTS = 20
IN_DOUBT_PAUSE = 0.5


async def settle_in_doubt(reader: LogReader, batch: list[PreparedEntry], failure: Exception
                          ) -> list[Appended | Exception]:
    """Each entry's true outcome: where it is in the log, or `failure` if it is not (or the
    database stayed away for every attempt)."""
    for _ in range(IN_DOUBT_ATTEMPTS):
        try:
            committed = await find_committed(reader, batch)
        except Exception:
            await asyncio.sleep(IN_DOUBT_PAUSE)
            continue
        if committed:
            logger.warning("integration failed after its commit: %d of %d entries are in "
                           "the log", len(committed), len(batch))
        return [committed.get(i, failure) for i in range(len(batch))]
    return [failure] * len(batch)


async def find_committed(reader: LogReader, batch: list[PreparedEntry]) -> dict[int, Appended]:
    """Positions in `batch` of the entries that are in the log, with what append answers."""
    committed: dict[int, Appended] = {}
    for position, item in enumerate(batch):
        found = await reader.find_signed(item.entry.signers[0], item.entry.nonce)
        if found is not None and found.data == item.entry.leaf_data:
            committed[position] = await reader.appended(found.index)
    return committed
