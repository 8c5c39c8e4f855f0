"""Issuing receipts (heartchain/ledger/receipts.py) from the live log: entries and shares.

A receipt is proved against the newest checkpoint that meets the witness policy, with its
cosignature lines, when that checkpoint already includes the entry; else (an entry newer than
the witnesses' last cosignature) against the latest checkpoint with whatever cosignatures it has,
which a verifier holding a witness policy will refuse until a newer receipt is downloaded.
`size` asks for a receipt against one given checkpoint.
"""

from __future__ import annotations

import re

from heartchain.errors import NotFound, ValidationError
from heartchain.ledger import witness_client, witness_status, witnessed
from heartchain.ledger.log import Log
from heartchain.ledger.receipts import Receipt, SharePath
from heartchain.platform import Platform


async def _proved(log: Log, index: int, size: int | None) -> tuple[str, tuple[bytes, ...]]:
    policy = witness_client.policy_for(log)
    if size is not None:
        if index >= size:
            raise ValidationError(f"entry {index} is not in the tree of size {size}",
                                  field="size")
        found = await witnessed.cosigned(log, policy, await log.checkpoint_at(size))
    else:
        found = await witness_status.served_checkpoint(log, policy)
        if found.signed.size <= index:
            found = await witnessed.cosigned(log, policy, await log.latest_checkpoint())
    if found.signed.size <= index:
        raise NotFound(f"entry {index} is in no signed checkpoint yet")
    hashes = await log.inclusion_proof(index, found.signed.size)
    return found.note, tuple(bytes(h) for h in hashes)


async def entry_receipt(platform: Platform, index: int, size: int | None = None) -> str:
    """The tlog-proof receipt of entry `index` (NotFound if there is no such entry)."""
    stored = await platform.log.get_entry(index)
    note, hashes = await _proved(platform.log, index, size)
    return Receipt(bytes(stored.data), index, hashes, note).to_text()


async def share_receipt(platform: Platform, period_index: int, member: str,
                        size: int | None = None) -> str:
    """The receipt of `member`'s share in the period apportioned by entry `period_index`."""
    from heartchain.mutualaid import services  # mutual aid is a domain; the log works alone

    proof = await services.share_proof(period_index, member)
    stored = await platform.log.get_entry(period_index)
    note, hashes = await _proved(platform.log, period_index, size)
    share = SharePath(bytes(proof.leaf_data), proof.position, proof.tree_size,
                      tuple(bytes(h) for h in proof.hashes))
    return Receipt(bytes(stored.data), period_index, hashes, note, share).to_text()


def receipt_filename(index: int, member: str | None = None) -> str:
    if member is None:
        return f"heartchain-entry-{index}.tlog-proof"
    # Only address characters reach the Content-Disposition header.
    return f"heartchain-share-{index}-{re.sub(r'[^0-9a-z]', '', member)[:16]}.tlog-proof"
