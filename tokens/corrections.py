"""What hearts do when a donation is corrected (heartchain.corrections): a corrected amount
re-mints the gift at the rate table it was recorded under, moving the donor's score by the
difference; a corrected campaign changes only the row. A reversed donation cannot be corrected
(the reversal burned what it minted; record the gift anew instead)."""

from __future__ import annotations

from heartchain.corrections.entries import (
    Change,
    Current,
    correctable,
    correction_apply,
    correction_check,
)
from heartchain.corrections.errors import CorrectionRefused
from heartchain.ledger.body import MAX_QUANTITY
from heartchain.ledger.kinds import ApplyContext
from heartchain.ledger.store import execute, fetch
from tokens.entries import DEFAULT_RATES, RateTable, RecordBody, rate_table_of
from tokens.errors import HeartsOverflow
from tokens.models import KINDS, HeartRateVersion

CORRECTABLE = ("quantity", "campaign")


@correctable(RecordBody, CORRECTABLE)
async def _current(ctx: ApplyContext, index: int) -> Current | None:
    rows = await fetch(ctx.conn, "SELECT charity, donor, kind, quantity, campaign, hearts, "
                       "rate_version, reversed_idx, refund_idx FROM heart_donation WHERE idx = ?",
                       [index])
    if not rows:
        return None
    row = rows[0]
    return Current((str(row["charity"]),), {"quantity": int(row["quantity"]),
                                            "campaign": str(row["campaign"])}, row)


async def _rates(ctx: ApplyContext, version: int) -> RateTable:
    if version == 0:
        return DEFAULT_RATES
    row = await HeartRateVersion.get(version=version).using_db(ctx.conn)
    return rate_table_of(row)


async def _hearts(ctx: ApplyContext, change: Change) -> tuple[int, int]:
    """(hearts the corrected gift mints, the difference from what it minted)."""
    row = change.current.row
    quantity = int(change.after.get("quantity", row["quantity"]))
    hearts = (await _rates(ctx, int(row["rate_version"]))).hearts(str(row["kind"]), quantity)
    return hearts, hearts - int(row["hearts"])


@correction_check(RecordBody)
async def _check(ctx: ApplyContext, change: Change) -> None:
    row = change.current.row
    if row["reversed_idx"] is not None:
        raise CorrectionRefused(f"correction: donation {change.target} was reversed by entry "
                                f"{row['reversed_idx']}; a reversed gift cannot be corrected")
    if row["refund_idx"] is not None:  # the refund burned hearts for the gift as it was
        raise CorrectionRefused(f"correction: donation {change.target} was refunded pro rata by "
                                f"entry {row['refund_idx']}; a refunded gift cannot be corrected")
    hearts, delta = await _hearts(ctx, change)
    total = await fetch(ctx.conn, "SELECT total FROM heart_score WHERE address = ?",
                        [row["donor"]])
    if hearts > MAX_QUANTITY or (total and int(total[0]["total"]) + delta > MAX_QUANTITY):
        raise HeartsOverflow(f"correction: donation {change.target} would mint {hearts} hearts, "
                             f"beyond {MAX_QUANTITY}", field="values")


@correction_apply(RecordBody)
async def _apply(ctx: ApplyContext, change: Change) -> None:
    row = change.current.row
    hearts, delta = await _hearts(ctx, change)
    await execute(ctx.conn, "UPDATE heart_donation SET quantity = ?, campaign = ?, hearts = ? "
                  "WHERE idx = ?", [int(change.after.get("quantity", row["quantity"])),
                                    str(change.after.get("campaign", row["campaign"])), hearts,
                                    change.target])
    if delta == 0:
        return
    kind = str(row["kind"])
    if kind not in KINDS:
        raise RuntimeError(f"heart_donation {change.target} has kind {kind!r}")
    # The gift minted the wrong amount: its mint is corrected, not a second mint or a burn.
    await execute(ctx.conn, f"UPDATE heart_score SET total = total + ?, {kind} = {kind} + ?, "
                  "minted = minted + ?, last_idx = ? WHERE address = ?",
                  [delta, delta, delta, ctx.index, row["donor"]])
    key = ("heart.score", str(row["donor"]))
    if key in ctx.memo:
        ctx.memo[key] += delta
