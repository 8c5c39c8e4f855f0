"""Correcting an entry through the one write path: the signers and kind come from the log."""

from __future__ import annotations

from collections.abc import Mapping

from heartchain.corrections.entries import CorrectionBody
from heartchain.corrections.errors import CorrectionTargetNotFound, NotTheSigner
from heartchain.errors import NotFound
from heartchain.keys import Address, SigningKey
from heartchain.ledger.log import Appended
from heartchain.platform import Platform


async def correct(platform: Platform, *, entry: int, values: Mapping[str, str | int],
                  reason: str, note: str | None = None, keys: tuple[SigningKey, ...] = (),
                  caller: str | None = None) -> Appended:
    """Append a correction of entry `entry`, signed by that entry's signers (custodial keys,
    or the self-custody `keys` given). With `caller` (an API request), the caller must be the
    entry's only signer: the platform never signs for another party with its custodial key."""
    try:
        stored = await platform.log.get_entry(entry)
    except NotFound:
        raise CorrectionTargetNotFound(f"correction: entry {entry} does not exist") from None
    signers = stored.entry.signers
    if caller is not None and tuple(signers) != (caller,):
        raise NotTheSigner(f"correction: entry {entry} was signed by {', '.join(signers)}; "
                           "only its signer may correct it here (an entry several parties "
                           "signed is corrected by an entry.correct they all sign, sent to "
                           "submitEntry)")
    body = CorrectionBody(by=tuple(Address(s) for s in stored.entry.signers), entry=entry,
                          target=stored.entry.kind, reason=reason,  # type: ignore[arg-type]
                          values=dict(values), note=note)
    return await platform.write(body, *keys)
