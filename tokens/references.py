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

from collections.abc import Sequence
from datetime import timedelta

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.errors import ValidationError
from heartchain.ledger.entries import format_time
from heartchain.ledger.kinds import ApplyContext, observes, prefetches
from heartchain.ledger.store import fetch
from tokens.entries import RecordBody
from tokens.errors import DuplicateReference

# A payment is in the past; the signer's clock may run this far ahead of the log's (entries).
CLOCK_SKEW = timedelta(minutes=5)


async def _recorded_as(ctx: ApplyContext, charity: str, reference: str) -> int | None:
    key = ("donation.reference", charity, reference)
    if key not in ctx.memo:
        rows = await fetch(ctx.conn, "SELECT idx FROM heart_donation_reference WHERE charity = ? "
                           "AND reference = ?", [charity, reference])
        ctx.memo[key] = int(rows[0]["idx"]) if rows else None
    found: int | None = ctx.memo[key]
    return found


async def recorded_references(conn: BaseDBAsyncClient, charity: str,
                              references: Sequence[str]) -> dict[str, int]:
    """Which of `references` the charity already recorded, and at which entry; one query a
    chunk, per charity so it uses the (charity, reference) unique index."""
    recorded: dict[str, int] = {}
    for start in range(0, len(references), 400):
        chunk = list(references[start:start + 400])
        marks = ", ".join("?" * len(chunk))
        found = await fetch(conn, "SELECT idx, reference FROM heart_donation_reference "
                            f"WHERE charity = ? AND reference IN ({marks})", [charity, *chunk])
        recorded.update((str(row["reference"]), int(row["idx"])) for row in found)
    return recorded


@prefetches(RecordBody)
async def _prefetch_references(ctx: ApplyContext, bodies: list[RecordBody]) -> None:
    """The batch's references already on the log (bulk import sends a thousand at a time)."""
    wanted = sorted({(b.charity, b.reference) for b in bodies if b.reference is not None
                     and ("donation.reference", b.charity, b.reference) not in ctx.memo})
    for charity in sorted({c for c, _ in wanted}):
        references = [r for c, r in wanted if c == charity]
        recorded = await recorded_references(ctx.conn, charity, references)
        for reference in references:
            ctx.memo[("donation.reference", charity, reference)] = recorded.get(reference)


@observes(RecordBody, rules=True, batched=True)
async def _check_reference(ctx: ApplyContext, body: RecordBody) -> None:
    if body.paid_at is not None and body.paid_at > format_time(ctx.now + CLOCK_SKEW):
        raise ValidationError(f"donation.record: paid_at {body.paid_at} is in the future",
                              field="paid_at")
    if body.reference is None:
        return
    recorded = await _recorded_as(ctx, body.charity, body.reference)
    if recorded is not None:
        raise DuplicateReference(f"donation.record: {body.charity} already recorded this "
                                 f"transaction (reference {body.reference[:12]}…) as entry "
                                 f"{recorded}")


@observes(RecordBody, batched=True)
async def _project_reference(ctx: ApplyContext, body: RecordBody) -> None:
    if body.reference is None and body.paid_at is None:
        return
    await ctx.write("INSERT INTO heart_donation_reference (idx, charity, reference, paid_at) "
                    "VALUES (?, ?, ?, ?)", [ctx.index, body.charity, body.reference, body.paid_at])
    if body.reference is not None:  # a later entry of the same batch must see it
        ctx.memo[("donation.reference", body.charity, body.reference)] = ctx.index
