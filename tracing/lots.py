"""Lots come and change shape: ``lot.create``, ``lot.split``, ``lot.merge``.

- ``lot.create`` charity signs: from a food/tree donation (by its log index) or a purchase
  (receipt hash, optionally the fund.disburse that paid for it); goods, quantity + unit, first
  custodian.
- ``lot.split``  the custodian splits a lot into child lots; outputs + loss = the lot's quantity.
- ``lot.merge``  the custodian merges lots of one unit; inputs = output + loss.
"""

from __future__ import annotations

from typing import Literal

from heartchain.accounts.entries import require_role
from heartchain.errors import PermissionDenied, ValidationError
from heartchain.ledger.body import Address, Body, Hex32, Index, Quantity, Text
from heartchain.ledger.kinds import ApplyContext, projects, rules
from tracing import fifo
from tracing.errors import (
    DonationExhausted,
    DonationNotFound,
    NotConserved,
    NotGoods,
    StaleQuantity,
    UnitMismatch,
)
from tracing.lotstate import LotId, Unit, Writer, held_lot, pool, registered, save_pool, update_lot
from tracing.models import Disbursement, Lot, TracedDonation

# Which donation kinds are goods, and the unit their lots are counted in.
GOODS_UNITS = {"food": "grams", "goods": "items", "tree": "trees", "trees": "trees"}
MAX_SPLIT = 1000
MAX_MERGE = 100


class CreateBody(Body):
    """A charity creates a lot from a goods donation or a purchase."""

    KIND = "lot.create"
    SIGNERS = ("charity",)

    charity: Address
    source: Literal["donation", "purchase"]
    goods: Text
    quantity: Quantity
    unit: Unit
    custodian: Address
    donation: Index | None = None
    receipt: Hex32 | None = None
    disbursement: Index | None = None
    place: Text | None = None

    def __post_init__(self) -> None:
        if self.source == "donation":
            if self.donation is None:
                raise ValidationError("lot.create: donation: is required for a donated lot",
                                      field="donation")
            if self.receipt is not None or self.disbursement is not None:
                raise ValidationError("lot.create: a donated lot has no purchase receipt",
                                      field="receipt")
        else:
            if self.receipt is None:
                raise ValidationError("lot.create: receipt: a purchase needs its receipt hash",
                                      field="receipt")
            if self.donation is not None:
                raise ValidationError("lot.create: donation: a purchased lot has no donation",
                                      field="donation")


class SplitBody(Body):
    """The custodian splits a lot; `quantity` is the lot's quantity, which the rules check."""

    KIND = "lot.split"
    SIGNERS = ("by",)

    lot: LotId
    by: Address
    quantity: Quantity
    outputs: tuple[int, ...]
    loss: Index
    reason: Text | None = None
    place: Text | None = None

    def __post_init__(self) -> None:
        # Checked here, not with Meta bounds, to keep the wording clients already match on.
        if not 1 <= len(self.outputs) <= MAX_SPLIT:
            raise ValidationError(f"lot.split: outputs: must list 1..{MAX_SPLIT} quantities",
                                  field="outputs")
        for value in self.outputs:
            if value < 1:
                raise ValidationError("lot.split: outputs: quantities must be whole numbers ≥ 1, "
                                      f"got {value!r}", field="outputs")
        if sum(self.outputs) + self.loss != self.quantity:
            raise NotConserved(f"lot.split: outputs {sum(self.outputs)} + loss {self.loss} != "
                               f"quantity {self.quantity}", field="outputs")
        if self.loss and self.reason is None:
            raise ValidationError("lot.split: reason: a declared loss needs a reason",
                                  field="reason")


class MergeInput(Body):
    """One lot going into a merge, with the quantity it holds."""

    lot: LotId
    quantity: Quantity


class MergeBody(Body):
    """The custodian merges lots of one unit into a new lot."""

    KIND = "lot.merge"
    SIGNERS = ("by",)

    by: Address
    inputs: tuple[MergeInput, ...]
    quantity: Quantity
    loss: Index
    goods: Text
    reason: Text | None = None
    place: Text | None = None

    def __post_init__(self) -> None:
        if not 2 <= len(self.inputs) <= MAX_MERGE:
            raise ValidationError(f"lot.merge: inputs: must list 2..{MAX_MERGE} lots",
                                  field="inputs")
        if len({i.lot for i in self.inputs}) != len(self.inputs):
            raise ValidationError("lot.merge: inputs: a lot appears twice", field="inputs")
        total = sum(i.quantity for i in self.inputs)
        if self.quantity + self.loss != total:
            raise NotConserved(f"lot.merge: quantity {self.quantity} + loss {self.loss} != "
                               f"inputs {total}", field="quantity")
        if self.loss and self.reason is None:
            raise ValidationError("lot.merge: reason: a declared loss needs a reason",
                                  field="reason")


# ---------------------------------------------------------------------------------------------
# lot.create


@rules(CreateBody)
async def _check_create(ctx: ApplyContext, body: CreateBody) -> None:
    await require_role(ctx, body.charity, "charity", "operator")
    await registered(ctx, body.custodian, "custodian")
    if body.donation is not None:
        donation = await TracedDonation.get_or_none(idx=body.donation).using_db(ctx.conn)
        if donation is None:
            raise DonationNotFound(f"entry {body.donation} is not a recorded donation")
        if donation.charity != body.charity:
            raise PermissionDenied(f"donation {body.donation} was received by another charity")
        unit = GOODS_UNITS.get(donation.kind)
        if unit is None:
            raise NotGoods(f"donation {body.donation} is {donation.kind}, not goods: cash "
                           "becomes goods through fund.disburse and a purchased lot",
                           field="donation")
        if body.unit != unit:
            raise UnitMismatch(f"donation {body.donation} is counted in {unit}, not {body.unit}",
                               field="unit")
        left = donation.quantity - donation.reversed - donation.used
        if body.quantity > left:
            raise DonationExhausted(f"donation {body.donation} has {left} {unit} left to "
                                    f"dispatch, not {body.quantity}")
    if body.disbursement is not None:
        paid = await Disbursement.get_or_none(idx=body.disbursement).using_db(ctx.conn)
        if paid is None or paid.charity != body.charity:
            raise DonationNotFound(f"entry {body.disbursement} is not a disbursement of "
                                   f"{body.charity}")


@projects(CreateBody)
async def _project_create(ctx: ApplyContext, body: CreateBody) -> None:
    writer = Writer(ctx)
    lot_id = f"L{ctx.index}"
    origin = body.donation if body.donation is not None else ctx.index
    lot = writer.new_lot(lot_id, origin=body.source, goods=body.goods, unit=body.unit,
                         quantity=body.quantity, charity=body.charity, custodian=body.custodian,
                         place=body.place, shares=[(origin, body.quantity)],
                         donation_idx=body.donation, receipt=body.receipt,
                         disbursement_idx=body.disbursement)
    writer.flow(origin, "create", body.quantity, target=lot_id)
    writer.event(lot, "create", body.quantity, giver=body.charity, place=body.place)
    await writer.save()
    if body.donation is not None:
        donation = await TracedDonation.get(idx=body.donation).using_db(ctx.conn)
        await TracedDonation.filter(idx=body.donation).using_db(ctx.conn).update(
            used=donation.used + body.quantity)


# ---------------------------------------------------------------------------------------------
# lot.split


@rules(SplitBody)
async def _check_split(ctx: ApplyContext, body: SplitBody) -> None:
    lot = await held_lot(ctx, body.lot, body.by)
    if lot.quantity != body.quantity:
        raise StaleQuantity(f"lot {lot.id} holds {lot.quantity} {lot.unit}, the split declares "
                            f"{body.quantity}")


@projects(SplitBody)
async def _project_split(ctx: ApplyContext, body: SplitBody) -> None:
    parent = await Lot.get(id=body.lot).using_db(ctx.conn)
    shares = await pool(ctx, parent.id)
    before = [row.copy() for row in shares]
    writer = Writer(ctx)
    place = body.place or parent.place
    children = []
    for n, quantity in enumerate(body.outputs, 1):
        child_id = f"L{ctx.index}-{n}"
        taken = fifo.take(shares, quantity)
        child = writer.new_lot(child_id, origin="split", goods=parent.goods, unit=parent.unit,
                               quantity=quantity, charity=parent.charity, custodian=body.by,
                               place=place, shares=taken)
        for origin, units in taken:
            writer.flow(origin, "split", units, source=parent.id, target=child_id)
        writer.event(child, "split_from", quantity, place=place, related=parent.id)
        children.append(child_id)
    for origin, units in fifo.take(shares, body.loss):
        writer.flow(origin, "loss", units, source=parent.id)
    await save_pool(ctx, parent.id, before, shares)
    await update_lot(ctx, parent, quantity=0, status="split", place=place)
    writer.event(parent, "split", body.quantity, place=place, related=",".join(children),
                 reason=body.reason)
    await writer.save()


# ---------------------------------------------------------------------------------------------
# lot.merge


@rules(MergeBody)
async def _check_merge(ctx: ApplyContext, body: MergeBody) -> None:
    units = set()
    for item in body.inputs:
        lot = await held_lot(ctx, item.lot, body.by)
        if lot.quantity != item.quantity:
            raise StaleQuantity(f"lot {lot.id} holds {lot.quantity} {lot.unit}, the merge "
                                f"declares {item.quantity}")
        units.add(lot.unit)
    if len(units) > 1:
        raise UnitMismatch(f"lot.merge: inputs mix units ({', '.join(sorted(units))})",
                           field="inputs")


@projects(MergeBody)
async def _project_merge(ctx: ApplyContext, body: MergeBody) -> None:
    writer = Writer(ctx)
    output_id = f"L{ctx.index}"
    loss_left = body.loss
    shares: list[tuple[int, int]] = []
    first: Lot | None = None
    inputs: list[Lot] = []
    for item in body.inputs:
        lot = await Lot.get(id=item.lot).using_db(ctx.conn)
        first = first or lot
        inputs.append(lot)
        held = await pool(ctx, lot.id)
        before = [row.copy() for row in held]
        lost = min(loss_left, lot.quantity)
        loss_left -= lost
        for origin, units in fifo.take(held, lost):
            writer.flow(origin, "loss", units, source=lot.id)
        for origin, units in fifo.take(held, lot.quantity - lost):
            writer.flow(origin, "merge", units, source=lot.id, target=output_id)
            shares.append((origin, units))
        await save_pool(ctx, lot.id, before, held)
    if first is None:
        raise RuntimeError("lot.merge without inputs passed its checks")
    place = body.place or first.place
    output = writer.new_lot(output_id, origin="merge", goods=body.goods, unit=first.unit,
                            quantity=body.quantity, charity=first.charity, custodian=body.by,
                            place=place, shares=shares)
    writer.event(output, "merge_from", body.quantity, place=place,
                 related=",".join(i.lot for i in body.inputs), reason=body.reason)
    for lot in inputs:
        moved = lot.quantity
        await update_lot(ctx, lot, quantity=0, status="merged", place=place)
        writer.event(lot, "merge", moved, place=place, related=output_id)
    await writer.save()
