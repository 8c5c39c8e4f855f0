"""Who holds a lot, and how units leave it: ``lot.handover``, ``lot.loss``, ``lot.deliver``.

- ``lot.handover`` giver AND taker sign one entry: place, evidence hash; time = the entry's `at`,
  which both signed and the log bounds to its own clock.
- ``lot.loss``     spoiled, damaged, stolen, expired or other, with a reason.
- ``lot.deliver``  to a beneficiary, who appears only as a salted commitment.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from heartchain.accounts.entries import load_roles
from heartchain.errors import ValidationError
from heartchain.ledger.body import Address, Body, Hex32, Quantity, Text, literal_values
from heartchain.ledger.kinds import ApplyContext, prefetches, projects, rules
from tracing.errors import StaleQuantity
from tracing.lotstate import (
    HELD,
    LotId,
    Writer,
    held_lot,
    held_lot_row,
    load_lots,
    lot_of,
    memo_lot,
    registered,
    take_out,
    update_lot,
)
from tracing.models import Lot

LossReason = Literal["spoiled", "damaged", "stolen", "expired", "other"]
LOSS_REASONS: tuple[str, ...] = literal_values(LossReason)


class HandoverBody(Body):
    """Custody of a lot passes from giver to taker; both sign the one entry."""

    KIND = "lot.handover"
    SIGNERS = ("giver", "taker")

    lot: LotId
    giver: Address = msgspec.field(name="from")
    taker: Address = msgspec.field(name="to")
    place: Text
    evidence: Hex32

    def __post_init__(self) -> None:
        if self.giver == self.taker:
            raise ValidationError("lot.handover: to: giver and taker are the same", field="to")


class LossBody(Body):
    """Units of a lot spoiled, damaged, stolen, expired or otherwise lost."""

    KIND = "lot.loss"
    SIGNERS = ("by",)

    lot: LotId
    by: Address
    quantity: Quantity
    reason: LossReason
    note: Text | None = None
    evidence: Hex32 | None = None
    place: Text | None = None


class DeliverBody(Body):
    """Units of a lot delivered to a beneficiary, named only by a salted commitment."""

    KIND = "lot.deliver"
    SIGNERS = ("by",)

    lot: LotId
    by: Address
    quantity: Quantity
    beneficiary: Hex32
    place: Text
    evidence: Hex32 | None = None


# ---------------------------------------------------------------------------------------------
# lot.handover


# Set-based (heartchain.ledger.kinds): the hot lot kind, a write on every handover. The batch's
# lots are read once (prefetch), the rules read them from the memo, the projector keeps the memo
# current and buffers its two rows: the same rule, rows and errors as the per-entry lot kinds.


@prefetches(HandoverBody)
async def _prefetch_handover(ctx: ApplyContext, bodies: list[HandoverBody]) -> None:
    await load_lots(ctx, [body.lot for body in bodies])
    await load_roles(ctx, [body.taker for body in bodies])


@rules(HandoverBody, batched=True)
async def _check_handover(ctx: ApplyContext, body: HandoverBody) -> None:
    await held_lot_row(ctx, body.lot, body.giver)
    await registered(ctx, body.taker, "to")


@projects(HandoverBody, batched=True)
async def _project_handover(ctx: ApplyContext, body: HandoverBody) -> None:
    row = await memo_lot(ctx, body.lot)
    if row is None:  # the rule found it: only a bug gets here
        raise RuntimeError(f"lot {body.lot} vanished between its rule and its projector")
    row.update(custodian=body.taker, place=body.place, updated_idx=ctx.index)
    await ctx.write("UPDATE tracing_lot SET updated_idx = ?, custodian = ?, place = ? "
                    "WHERE id = ?", [ctx.index, body.taker, body.place, body.lot])
    await ctx.write(_EVENT_INSERT, [
        f"{ctx.index}|{body.lot}", ctx.index, body.lot, "handover", row["quantity"],
        row["quantity"], body.giver, body.taker, body.place, body.evidence, None, None, None,
        ctx.entry.at])
    ctx.answer = lot_of(row)  # the lot after this handover, for the accepting resolver


_EVENT_INSERT = ("INSERT INTO tracing_lot_event (id, idx, lot_id, action, quantity, moved, giver, "
                 "custodian, place, evidence, reason, beneficiary, related, at) "
                 "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")


# ---------------------------------------------------------------------------------------------
# lot.loss and lot.deliver


async def _check_take(ctx: ApplyContext, body: LossBody | DeliverBody) -> None:
    lot = await held_lot(ctx, body.lot, body.by)
    if body.quantity > lot.quantity:
        raise StaleQuantity(f"lot {lot.id} holds {lot.quantity} {lot.unit}, fewer than "
                            f"{body.quantity}")


rules(LossBody)(_check_take)
rules(DeliverBody)(_check_take)


@projects(LossBody)
async def _project_loss(ctx: ApplyContext, body: LossBody) -> None:
    lot = await Lot.get(id=body.lot).using_db(ctx.conn)
    writer = Writer(ctx)
    await take_out(ctx, writer, lot, body.quantity, "loss")
    left = lot.quantity - body.quantity
    place = body.place or lot.place
    await update_lot(ctx, lot, quantity=left, status=HELD if left else "lost", place=place)
    reason = body.reason + (f": {body.note}" if body.note else "")
    writer.event(lot, "loss", body.quantity, place=place, reason=reason, evidence=body.evidence)
    await writer.save()


@projects(DeliverBody)
async def _project_deliver(ctx: ApplyContext, body: DeliverBody) -> None:
    lot = await Lot.get(id=body.lot).using_db(ctx.conn)
    writer = Writer(ctx)
    await take_out(ctx, writer, lot, body.quantity, "deliver")
    left = lot.quantity - body.quantity
    await update_lot(ctx, lot, quantity=left, status=HELD if left else "delivered",
                     place=body.place)
    writer.event(lot, "deliver", body.quantity, place=body.place, beneficiary=body.beneficiary,
                 evidence=body.evidence)
    await writer.save()
