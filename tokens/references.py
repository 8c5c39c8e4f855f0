"""What bulk import (heartchain.finance) adds to `donation.record`: the payment provider's
transaction, named by a keyed hash, recorded once per charity, and when the payer paid.

`reference` is an HMAC of (charity, provider transaction id) under a key derived from the master
key (heartchain.finance.importer.reference_of), so the public log never shows the transaction id
and nobody can confirm a guess of one; the same transaction imported twice gives the same
reference, which the rule below refuses the second time: a re-upload writes nothing twice, even
one that races another upload of the same file. Donations recorded one at a time carry neither
field and cost nothing here.
"""

from __future__ import annotations

from datetime import timedelta

from heartchain.errors import ValidationError
from heartchain.ledger.entries import format_time
from heartchain.ledger.kinds import ApplyContext, observes
from heartchain.ledger.store import execute, fetch
from tokens.entries import RecordBody
from tokens.errors import DuplicateReference

# A payment is in the past; the signer's clock may run this far ahead of the log's (entries).
CLOCK_SKEW = timedelta(minutes=5)


@observes(RecordBody, rules=True)
async def _check_reference(ctx: ApplyContext, body: RecordBody) -> None:
    if body.paid_at is not None and body.paid_at > format_time(ctx.now + CLOCK_SKEW):
        raise ValidationError(f"donation.record: paid_at {body.paid_at} is in the future",
                              field="paid_at")
    if body.reference is None:
        return
    rows = await fetch(ctx.conn, "SELECT idx FROM heart_donation_reference WHERE charity = ? "
                       "AND reference = ?", [body.charity, body.reference])
    if rows:
        raise DuplicateReference(f"donation.record: {body.charity} already recorded this "
                                 f"transaction (reference {body.reference[:12]}…) as entry "
                                 f"{rows[0]['idx']}")


@observes(RecordBody)
async def _project_reference(ctx: ApplyContext, body: RecordBody) -> None:
    if body.reference is None and body.paid_at is None:
        return
    await execute(ctx.conn, "INSERT INTO heart_donation_reference (idx, charity, reference, "
                  "paid_at) VALUES (?, ?, ?, ?)",
                  [ctx.index, body.charity, body.reference, body.paid_at])
