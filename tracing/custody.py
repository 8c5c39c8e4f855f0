"""Who holds a lot, and how units leave it: ``lot.handover``, ``lot.loss``, ``lot.deliver``.

- ``lot.handover`` giver AND taker sign one entry: place, evidence hash; time = the entry's `at`,
  which both signed and the log bounds to its own clock.
- ``lot.loss``     spoiled, damaged, stolen, expired or other, with a reason.
- ``lot.deliver``  to a beneficiary, who appears only as a salted commitment.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from heartchain.errors import ValidationError
from heartchain.ledger.body import Address, Body, Hex32, Quantity, Text, literal_values
from heartchain.ledger.kinds import ApplyContext, projects, rules
from tracing.errors import StaleQuantity
from tracing.lotstate import HELD, LotId, Writer, held_lot, registered, take_out, update_lot
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


@rules(HandoverBody)
async def _check_handover(ctx: ApplyContext, body: HandoverBody) -> None:
    await held_lot(ctx, body.lot, body.giver)
    await registered(ctx, body.taker, "to")


@projects(HandoverBody)
async def _project_handover(ctx: ApplyContext, body: HandoverBody) -> None:
    lot = await Lot.get(id=body.lot).using_db(ctx.conn)
    await update_lot(ctx, lot, custodian=body.taker, place=body.place)
    writer = Writer(ctx)
    writer.event(lot, "handover", lot.quantity, giver=body.giver, place=body.place,
                 evidence=body.evidence)
    await writer.save()


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
