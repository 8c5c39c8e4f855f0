"""Witness cosignatures for the home page's checkpoint (from heartchain.witness, when present).

Only cosignatures that verify against the configured witnesses' keys are shown (the witness
client checks each line over the note as stored now).
"""

from __future__ import annotations

from datetime import UTC, datetime

from heartchain.errors import NotFound
from heartchain.ledger import witness_client, witnessed
from heartchain.platform import Platform
from web import hooks


@hooks.cosignature_source
async def _cosignatures(platform: Platform, size: int) -> list[hooks.Cosignature]:
    log = platform.log
    try:
        signed = await log.checkpoint_at(size)
    except NotFound:
        return []
    policy = witness_client.policy_for(log)
    found = await witnessed.cosigned(log, policy, signed)
    shown = []
    for c in found.cosignatures:
        endpoint = policy.endpoint(c.witness)
        when = datetime.fromtimestamp(c.timestamp, UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        shown.append(hooks.Cosignature(name=endpoint.label if endpoint else c.witness,
                                       key_id_hex=endpoint.verifier.key_id.hex()
                                       if endpoint else "", time=when))
    return shown


routes: list[object] = []
