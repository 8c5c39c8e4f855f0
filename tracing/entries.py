"""Entry kinds of goods and money tracing (DESIGN §4), and what tracing observes of donations.

Goods:
- ``lot.create``   charity signs: from a food/tree donation (by its log index) or a purchase
  (receipt hash, optionally the fund.disburse that paid for it); goods, quantity + unit, first
  custodian.
- ``lot.handover`` giver AND taker sign one entry: place, evidence hash; time = the entry's `at`,
  which both signed and the log bounds to its own clock.
- ``lot.split``    the custodian splits a lot into child lots; outputs + loss = the lot's quantity.
- ``lot.merge``    the custodian merges lots of one unit; inputs = output + loss.
- ``lot.loss``     spoiled, damaged, stolen, expired or other, with a reason.
- ``lot.deliver``  to a beneficiary, who appears only as a salted commitment.
Money:
- ``fund.disburse`` a charity spends campaign cash (amount in fen, payee, purpose, receipt hash);
  allocated first in, first out to the campaign's cash donations.

Observed (owned by tokens): ``donation.record`` feeds the campaign ledger and the goods stock;
``donation.reverse`` is refused when the fen were already disbursed or the goods already dispatched,
so balance = donations − reversals − disbursements holds at every index.

Lot ids come from the creating entry: ``L<index>`` (create, merge) and ``L<index>-<n>`` (the n-th
output of a split).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from heartchain.accounts.entries import require_role, role_of
from heartchain.accounts.errors import UnknownAccount
from heartchain.errors import PermissionDenied, ValidationError
from heartchain.keys import Address
from heartchain.ledger import merkle
from heartchain.ledger.fields import BodyReader
from heartchain.ledger.kinds import ApplyContext
from heartchain.ledger.legacy_kinds import EntryKind, Observer, observe, register
from heartchain.ledger.store import execute, fetch
from tracing import fifo
from tracing.errors import (
    AlreadySpent,
    CampaignNotFound,
    DonationExhausted,
    DonationNotFound,
    InsufficientFunds,
    LotClosed,
    LotNotFound,
    NotConserved,
    NotCustodian,
    NotGoods,
    StaleQuantity,
    UnitMismatch,
)
from tracing.labels import label_code
from tracing.models import (
    Allocation,
    Campaign,
    Disbursement,
    Lot,
    LotEvent,
    LotShare,
    OriginFlow,
    TracedDonation,
)

UNITS = ("grams", "items", "trees")
# Which donation kinds are goods, and the unit their lots are counted in.
GOODS_UNITS = {"food": "grams", "goods": "items", "tree": "trees", "trees": "trees"}
LOSS_REASONS = ("spoiled", "damaged", "stolen", "expired", "other")
MAX_SPLIT = 1000
MAX_MERGE = 100
LOT_ID = re.compile(r"L[0-9]{1,16}(-[0-9]{1,4})?")
HELD = "held"


def campaign_key(slug: str, charity: str) -> str:
    """Campaigns belong to the charity that records their donations: the same slug used by two
    charities is two campaigns."""
    return f"{slug}@{charity}"


# ---------------------------------------------------------------------------------------------
# Bodies


def _lot_id(reader: BodyReader, name: str) -> str:
    return reader.text(name, max_length=24, pattern=LOT_ID)


@dataclass(frozen=True)
class CreateBody:
    charity: Address
    source: str
    donation: int | None
    receipt: str | None
    disbursement: int | None
    goods: str
    quantity: int
    unit: str
    custodian: Address
    place: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CreateBody:
        r = BodyReader(body, "lot.create")
        parsed = cls(r.address("charity"), r.choice("source", ("donation", "purchase")),
                     r.optional_integer("donation"), r.optional_hash_hex("receipt"),
                     r.optional_integer("disbursement"), r.text("goods", max_length=200),
                     r.integer("quantity", minimum=1), r.choice("unit", UNITS),
                     r.address("custodian"), r.optional_text("place", max_length=200))
        r.finish()
        if parsed.source == "donation":
            if parsed.donation is None:
                raise ValidationError("lot.create: donation: is required for a donated lot",
                                      field="donation")
            if parsed.receipt is not None or parsed.disbursement is not None:
                raise ValidationError("lot.create: a donated lot has no purchase receipt",
                                      field="receipt")
        else:
            if parsed.receipt is None:
                raise ValidationError("lot.create: receipt: a purchase needs its receipt hash",
                                      field="receipt")
            if parsed.donation is not None:
                raise ValidationError("lot.create: donation: a purchased lot has no donation",
                                      field="donation")
        return parsed


@dataclass(frozen=True)
class HandoverBody:
    lot: str
    giver: Address
    taker: Address
    place: str
    evidence: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> HandoverBody:
        r = BodyReader(body, "lot.handover")
        parsed = cls(_lot_id(r, "lot"), r.address("from"), r.address("to"),
                     r.text("place", max_length=200), r.hash_hex("evidence"))
        r.finish()
        if parsed.giver == parsed.taker:
            raise ValidationError("lot.handover: to: giver and taker are the same", field="to")
        return parsed


@dataclass(frozen=True)
class SplitBody:
    lot: str
    by: Address
    quantity: int
    outputs: tuple[int, ...]
    loss: int
    reason: str | None
    place: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> SplitBody:
        r = BodyReader(body, "lot.split")
        lot, by, quantity = _lot_id(r, "lot"), r.address("by"), r.integer("quantity")
        outputs = _positive_list(r.raw("outputs"), "lot.split", "outputs", MAX_SPLIT)
        loss = r.integer("loss", minimum=0)
        parsed = cls(lot, by, quantity, outputs, loss, r.optional_text("reason"),
                     r.optional_text("place", max_length=200))
        r.finish()
        if sum(outputs) + loss != quantity:
            raise NotConserved(f"lot.split: outputs {sum(outputs)} + loss {loss} != "
                               f"quantity {quantity}", field="outputs")
        if loss and parsed.reason is None:
            raise ValidationError("lot.split: reason: a declared loss needs a reason",
                                  field="reason")
        return parsed


@dataclass(frozen=True)
class MergeInput:
    lot: str
    quantity: int


@dataclass(frozen=True)
class MergeBody:
    by: Address
    inputs: tuple[MergeInput, ...]
    quantity: int
    loss: int
    goods: str
    reason: str | None
    place: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> MergeBody:
        r = BodyReader(body, "lot.merge")
        by = r.address("by")
        raw = r.raw("inputs")
        if not isinstance(raw, list) or not 2 <= len(raw) <= MAX_MERGE:
            raise ValidationError(f"lot.merge: inputs: must list 2..{MAX_MERGE} lots",
                                  field="inputs")
        inputs = []
        for item in raw:
            ir = BodyReader(item, "lot.merge inputs[]")
            inputs.append(MergeInput(_lot_id(ir, "lot"), ir.integer("quantity")))
            ir.finish()
        if len({i.lot for i in inputs}) != len(inputs):
            raise ValidationError("lot.merge: inputs: a lot appears twice", field="inputs")
        parsed = cls(by, tuple(inputs), r.integer("quantity"), r.integer("loss", minimum=0),
                     r.text("goods", max_length=200), r.optional_text("reason"),
                     r.optional_text("place", max_length=200))
        r.finish()
        total = sum(i.quantity for i in inputs)
        if parsed.quantity + parsed.loss != total:
            raise NotConserved(f"lot.merge: quantity {parsed.quantity} + loss {parsed.loss} != "
                               f"inputs {total}", field="quantity")
        if parsed.loss and parsed.reason is None:
            raise ValidationError("lot.merge: reason: a declared loss needs a reason",
                                  field="reason")
        return parsed


@dataclass(frozen=True)
class LossBody:
    lot: str
    by: Address
    quantity: int
    reason: str
    note: str | None
    evidence: str | None
    place: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> LossBody:
        r = BodyReader(body, "lot.loss")
        parsed = cls(_lot_id(r, "lot"), r.address("by"), r.integer("quantity"),
                     r.choice("reason", LOSS_REASONS), r.optional_text("note"),
                     r.optional_hash_hex("evidence"), r.optional_text("place", max_length=200))
        r.finish()
        return parsed


@dataclass(frozen=True)
class DeliverBody:
    lot: str
    by: Address
    quantity: int
    beneficiary: str
    place: str
    evidence: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> DeliverBody:
        r = BodyReader(body, "lot.deliver")
        parsed = cls(_lot_id(r, "lot"), r.address("by"), r.integer("quantity"),
                     r.hash_hex("beneficiary"), r.text("place", max_length=200),
                     r.optional_hash_hex("evidence"))
        r.finish()
        return parsed


@dataclass(frozen=True)
class DisburseBody:
    charity: Address
    campaign: str
    amount: int
    payee: str
    purpose: str
    receipt: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> DisburseBody:
        r = BodyReader(body, "fund.disburse")
        parsed = cls(r.address("charity"), r.slug("campaign"), r.integer("amount"),
                     r.text("payee", max_length=100), r.text("purpose", max_length=200),
                     r.hash_hex("receipt"))
        r.finish()
        return parsed


def _positive_list(raw: Any, kind: str, name: str, limit: int) -> tuple[int, ...]:
    if not isinstance(raw, list) or not 1 <= len(raw) <= limit:
        raise ValidationError(f"{kind}: {name}: must list 1..{limit} quantities", field=name)
    for value in raw:
        if type(value) is not int or value < 1:
            raise ValidationError(f"{kind}: {name}: quantities must be whole numbers ≥ 1, "
                                  f"got {value!r}", field=name)
    return tuple(raw)


# ---------------------------------------------------------------------------------------------
# Shared rules and projection helpers


async def held_lot(ctx: ApplyContext, lot_id: str, custodian: str) -> Lot:
    lot = await Lot.get_or_none(id=lot_id).using_db(ctx.conn)
    if lot is None:
        raise LotNotFound(f"lot {lot_id} does not exist")
    if lot.status != HELD:
        raise LotClosed(f"lot {lot_id} was {lot.status}; nothing more can happen to it")
    if lot.custodian != custodian:
        raise NotCustodian(f"{custodian} is not the custodian of lot {lot_id}")
    return lot


async def _registered(ctx: ApplyContext, address: str, what: str) -> None:
    if await role_of(ctx, address) is None:
        raise UnknownAccount(f"{what}: {address} is not a registered account")


class _Writer:
    """Collects one entry's projection rows and writes each table in one bulk insert."""

    def __init__(self, ctx: ApplyContext) -> None:
        self.ctx = ctx
        self.lots: list[Lot] = []
        self.shares: list[LotShare] = []
        self.events: list[LotEvent] = []
        self.flows: list[OriginFlow] = []

    def flow(self, origin: int, action: str, quantity: int, *, source: str | None = None,
             target: str | None = None) -> None:
        n = len(self.flows)
        self.flows.append(OriginFlow(id=f"{self.ctx.index}|{n}", idx=self.ctx.index,
                                     origin_idx=origin, action=action, from_lot=source,
                                     to_lot=target, quantity=quantity))

    def event(self, lot: Lot, action: str, moved: int, **extra: Any) -> None:
        self.events.append(LotEvent(id=f"{self.ctx.index}|{lot.id}", idx=self.ctx.index,
                                    lot_id=lot.id, action=action, quantity=lot.quantity,
                                    moved=moved, custodian=lot.custodian, at=self.ctx.entry.at,
                                    **extra))

    def new_lot(self, lot_id: str, *, origin: str, goods: str, unit: str, quantity: int,
                charity: str, custodian: str, place: str | None,
                shares: Sequence[tuple[int, int]], **extra: Any) -> Lot:
        lot = Lot(id=lot_id, code=label_code(merkle.leaf_hash(self.ctx.entry.leaf_data), lot_id),
                  created_idx=self.ctx.index, origin=origin, goods=goods, unit=unit,
                  initial_quantity=quantity, quantity=quantity, charity=charity,
                  custodian=custodian, status=HELD, place=place, updated_idx=self.ctx.index,
                  **extra)
        self.lots.append(lot)
        merged: dict[int, int] = {}
        for origin_idx, units in shares:
            merged[origin_idx] = merged.get(origin_idx, 0) + units
        self.shares.extend(LotShare(id=f"{lot_id}|{o}", lot_id=lot_id, origin_idx=o, quantity=q)
                           for o, q in sorted(merged.items()))
        return lot

    async def save(self) -> None:
        conn = self.ctx.conn
        for model, rows in ((Lot, self.lots), (LotShare, self.shares), (LotEvent, self.events),
                            (OriginFlow, self.flows)):
            if rows:
                await model.bulk_create(rows, using_db=conn)  # type: ignore[attr-defined]


async def _pool(ctx: ApplyContext, lot_id: str) -> list[list[int]]:
    rows = await fetch(ctx.conn, "SELECT origin_idx, quantity FROM tracing_lot_share "
                       "WHERE lot_id = ? AND quantity > 0 ORDER BY origin_idx", [lot_id])
    return [[int(r["origin_idx"]), int(r["quantity"])] for r in rows]


async def _save_pool(ctx: ApplyContext, lot_id: str, before: list[list[int]],
                     after: list[list[int]]) -> None:
    for (origin, old), (_, new) in zip(before, after, strict=True):
        if old != new:
            await LotShare.filter(id=f"{lot_id}|{origin}").using_db(ctx.conn).update(quantity=new)


async def _take_out(ctx: ApplyContext, writer: _Writer, lot: Lot, quantity: int,
                    action: str) -> None:
    """Remove `quantity` units from a held lot (loss or delivery), oldest origin first."""
    pool = await _pool(ctx, lot.id)
    before = [row.copy() for row in pool]
    for origin, units in fifo.take(pool, quantity):
        writer.flow(origin, action, units, source=lot.id)
    await _save_pool(ctx, lot.id, before, pool)


async def _update_lot(ctx: ApplyContext, lot: Lot, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(lot, name, value)
    lot.updated_idx = ctx.index
    await Lot.filter(id=lot.id).using_db(ctx.conn).update(updated_idx=ctx.index, **changes)


# ---------------------------------------------------------------------------------------------
# lot.create


async def _check_create(ctx: ApplyContext, body: CreateBody) -> None:
    await require_role(ctx, body.charity, "charity", "operator")
    await _registered(ctx, body.custodian, "custodian")
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


async def _project_create(ctx: ApplyContext, body: CreateBody) -> None:
    writer = _Writer(ctx)
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
# lot.handover


async def _check_handover(ctx: ApplyContext, body: HandoverBody) -> None:
    await held_lot(ctx, body.lot, body.giver)
    await _registered(ctx, body.taker, "to")


async def _project_handover(ctx: ApplyContext, body: HandoverBody) -> None:
    lot = await Lot.get(id=body.lot).using_db(ctx.conn)
    await _update_lot(ctx, lot, custodian=body.taker, place=body.place)
    writer = _Writer(ctx)
    writer.event(lot, "handover", lot.quantity, giver=body.giver, place=body.place,
                 evidence=body.evidence)
    await writer.save()


# ---------------------------------------------------------------------------------------------
# lot.split


async def _check_split(ctx: ApplyContext, body: SplitBody) -> None:
    lot = await held_lot(ctx, body.lot, body.by)
    if lot.quantity != body.quantity:
        raise StaleQuantity(f"lot {lot.id} holds {lot.quantity} {lot.unit}, the split declares "
                            f"{body.quantity}")


async def _project_split(ctx: ApplyContext, body: SplitBody) -> None:
    parent = await Lot.get(id=body.lot).using_db(ctx.conn)
    pool = await _pool(ctx, parent.id)
    before = [row.copy() for row in pool]
    writer = _Writer(ctx)
    place = body.place or parent.place
    children = []
    for n, quantity in enumerate(body.outputs, 1):
        child_id = f"L{ctx.index}-{n}"
        taken = fifo.take(pool, quantity)
        child = writer.new_lot(child_id, origin="split", goods=parent.goods, unit=parent.unit,
                               quantity=quantity, charity=parent.charity, custodian=body.by,
                               place=place, shares=taken)
        for origin, units in taken:
            writer.flow(origin, "split", units, source=parent.id, target=child_id)
        writer.event(child, "split_from", quantity, place=place, related=parent.id)
        children.append(child_id)
    for origin, units in fifo.take(pool, body.loss):
        writer.flow(origin, "loss", units, source=parent.id)
    await _save_pool(ctx, parent.id, before, pool)
    await _update_lot(ctx, parent, quantity=0, status="split", place=place)
    writer.event(parent, "split", body.quantity, place=place, related=",".join(children),
                 reason=body.reason)
    await writer.save()


# ---------------------------------------------------------------------------------------------
# lot.merge


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


async def _project_merge(ctx: ApplyContext, body: MergeBody) -> None:
    writer = _Writer(ctx)
    output_id = f"L{ctx.index}"
    loss_left = body.loss
    shares: list[tuple[int, int]] = []
    first: Lot | None = None
    inputs: list[Lot] = []
    for item in body.inputs:
        lot = await Lot.get(id=item.lot).using_db(ctx.conn)
        first = first or lot
        inputs.append(lot)
        pool = await _pool(ctx, lot.id)
        before = [row.copy() for row in pool]
        lost = min(loss_left, lot.quantity)
        loss_left -= lost
        for origin, units in fifo.take(pool, lost):
            writer.flow(origin, "loss", units, source=lot.id)
        for origin, units in fifo.take(pool, lot.quantity - lost):
            writer.flow(origin, "merge", units, source=lot.id, target=output_id)
            shares.append((origin, units))
        await _save_pool(ctx, lot.id, before, pool)
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
        await _update_lot(ctx, lot, quantity=0, status="merged", place=place)
        writer.event(lot, "merge", moved, place=place, related=output_id)
    await writer.save()


# ---------------------------------------------------------------------------------------------
# lot.loss and lot.deliver


async def _check_take(ctx: ApplyContext, body: LossBody | DeliverBody) -> None:
    lot = await held_lot(ctx, body.lot, body.by)
    if body.quantity > lot.quantity:
        raise StaleQuantity(f"lot {lot.id} holds {lot.quantity} {lot.unit}, fewer than "
                            f"{body.quantity}")


async def _project_loss(ctx: ApplyContext, body: LossBody) -> None:
    lot = await Lot.get(id=body.lot).using_db(ctx.conn)
    writer = _Writer(ctx)
    await _take_out(ctx, writer, lot, body.quantity, "loss")
    left = lot.quantity - body.quantity
    place = body.place or lot.place
    await _update_lot(ctx, lot, quantity=left, status=HELD if left else "lost", place=place)
    reason = body.reason + (f": {body.note}" if body.note else "")
    writer.event(lot, "loss", body.quantity, place=place, reason=reason, evidence=body.evidence)
    await writer.save()


async def _project_deliver(ctx: ApplyContext, body: DeliverBody) -> None:
    lot = await Lot.get(id=body.lot).using_db(ctx.conn)
    writer = _Writer(ctx)
    await _take_out(ctx, writer, lot, body.quantity, "deliver")
    left = lot.quantity - body.quantity
    await _update_lot(ctx, lot, quantity=left, status=HELD if left else "delivered",
                      place=body.place)
    writer.event(lot, "deliver", body.quantity, place=body.place, beneficiary=body.beneficiary,
                 evidence=body.evidence)
    await writer.save()


# ---------------------------------------------------------------------------------------------
# fund.disburse


async def _check_disburse(ctx: ApplyContext, body: DisburseBody) -> None:
    await require_role(ctx, body.charity, "charity")
    campaign = await Campaign.get_or_none(
        key=campaign_key(body.campaign, body.charity)).using_db(ctx.conn)
    if campaign is None:
        raise CampaignNotFound(f"{body.charity} has recorded no donations for campaign "
                               f"{body.campaign}")
    if body.amount > campaign.balance:
        raise InsufficientFunds(f"campaign {body.campaign} holds {campaign.balance} fen, "
                                f"less than {body.amount}")


async def _project_disburse(ctx: ApplyContext, body: DisburseBody) -> None:
    key = campaign_key(body.campaign, body.charity)
    rows = await fetch(ctx.conn, "SELECT idx, quantity, reversed, used FROM tracing_donation "
                       "WHERE campaign_key = ? AND kind = 'cash' AND used + reversed < quantity "
                       "ORDER BY idx", [key])
    pool = [[int(r["idx"]), int(r["quantity"]) - int(r["reversed"]) - int(r["used"])]
            for r in rows]
    used = {int(r["idx"]): int(r["used"]) for r in rows}
    allocations = []
    for donation, amount in fifo.take(pool, body.amount):
        allocations.append(Allocation(id=f"{ctx.index}|{donation}", disbursement_idx=ctx.index,
                                      donation_idx=donation, amount=amount))
        await TracedDonation.filter(idx=donation).using_db(ctx.conn).update(
            used=used[donation] + amount)
    await Allocation.bulk_create(allocations, using_db=ctx.conn)
    await Disbursement.create(using_db=ctx.conn, idx=ctx.index, campaign_key=key,
                              charity=body.charity, amount=body.amount, payee=body.payee,
                              purpose=body.purpose, receipt=body.receipt, at=ctx.entry.at)
    campaign = await Campaign.get(key=key).using_db(ctx.conn)
    await Campaign.filter(key=key).using_db(ctx.conn).update(
        disbursed=campaign.disbursed + body.amount, balance=campaign.balance - body.amount)


# ---------------------------------------------------------------------------------------------
# Observing tokens' donation.record and donation.reverse


@dataclass(frozen=True)
class DonationFacts:
    charity: str
    donor: str
    kind: str
    quantity: int
    campaign: str


def donation_facts(body: Mapping[str, Any]) -> DonationFacts:
    """The fields tracing needs from a donation.record body (already validated by tokens)."""
    return DonationFacts(charity=str(body["charity"]), donor=str(body["donor"]),
                         kind=str(body["kind"]), quantity=int(body["quantity"]),
                         campaign=str(body.get("campaign") or "general"))


async def _reversal_target(ctx: ApplyContext) -> tuple[TracedDonation, int]:
    body = ctx.entry.body
    index = body.get("donation")
    if type(index) is not int:
        raise ValidationError("donation.reverse: donation: expected an entry index",
                              field="donation")
    donation = await TracedDonation.get_or_none(idx=index).using_db(ctx.conn)
    if donation is None:
        raise DonationNotFound(f"entry {index} is not a recorded donation")
    amount = body.get("quantity")
    if type(amount) is not int:
        amount = donation.quantity - donation.reversed
    return donation, amount


async def _observe_record(ctx: ApplyContext, _: Any) -> None:
    # Raw SQL and one upsert: this runs for every donation, the log's hottest kind.
    facts = donation_facts(ctx.entry.body)
    key = campaign_key(facts.campaign, facts.charity)
    await execute(ctx.conn, "INSERT INTO tracing_donation (idx, campaign_key, campaign, "
                  "charity, donor, kind, quantity, reversed, used, at) "
                  "VALUES (?, ?, ?, ?, ?, ?, ?, 0, 0, ?)",
                  [ctx.index, key, facts.campaign, facts.charity, facts.donor, facts.kind,
                   facts.quantity, ctx.entry.at])
    if facts.kind != "cash":
        return
    await execute(ctx.conn, "INSERT INTO tracing_campaign (key, slug, charity, donated, reversed, "
                  "disbursed, balance, first_idx) VALUES (?, ?, ?, ?, 0, 0, ?, ?) "
                  "ON CONFLICT (key) DO UPDATE SET donated = tracing_campaign.donated + "
                  "excluded.donated, balance = tracing_campaign.balance + excluded.balance",
                  [key, facts.campaign, facts.charity, facts.quantity, facts.quantity, ctx.index])


async def _check_reverse(ctx: ApplyContext, _: Any) -> None:
    donation, amount = await _reversal_target(ctx)
    left = donation.quantity - donation.reversed - donation.used
    if amount > left:
        what = "disbursed" if donation.kind == "cash" else "dispatched into lots"
        raise AlreadySpent(f"donation {donation.idx}: {donation.used} of {donation.quantity} "
                           f"were already {what}; only {left} can be reversed")


async def _observe_reverse(ctx: ApplyContext, _: Any) -> None:
    donation, amount = await _reversal_target(ctx)
    await TracedDonation.filter(idx=donation.idx).using_db(ctx.conn).update(
        reversed=donation.reversed + amount, reversed_idx=ctx.index, reversed_at=ctx.entry.at)
    if donation.kind == "cash":
        campaign = await Campaign.get(key=donation.campaign_key).using_db(ctx.conn)
        await Campaign.filter(key=campaign.key).using_db(ctx.conn).update(
            reversed=campaign.reversed + amount, balance=campaign.balance - amount)


observe(Observer(kind="donation.record", project=_observe_record))
observe(Observer(kind="donation.reverse", project=_observe_reverse, check=_check_reverse))


# ---------------------------------------------------------------------------------------------
# Registration


def _one(name: str) -> Any:
    return lambda body: [getattr(body, name)]


LOT_CREATE = register(EntryKind(
    name="lot.create", parse=CreateBody.parse, signers=_one("charity"), check=_check_create,
    project=_project_create, summary="a lot of goods from a donation or a purchase"))
LOT_HANDOVER = register(EntryKind(
    name="lot.handover", parse=HandoverBody.parse,
    signers=lambda body: [body.giver, body.taker], check=_check_handover,
    project=_project_handover, summary="custody passes from giver to taker (both sign)"))
LOT_SPLIT = register(EntryKind(
    name="lot.split", parse=SplitBody.parse, signers=_one("by"), check=_check_split,
    project=_project_split, summary="a lot split into child lots (outputs + loss = input)"))
LOT_MERGE = register(EntryKind(
    name="lot.merge", parse=MergeBody.parse, signers=_one("by"), check=_check_merge,
    project=_project_merge, summary="lots of one unit merged (inputs = output + loss)"))
LOT_LOSS = register(EntryKind(
    name="lot.loss", parse=LossBody.parse, signers=_one("by"), check=_check_take,
    project=_project_loss, summary="units of a lot spoiled, damaged, stolen or expired"))
LOT_DELIVER = register(EntryKind(
    name="lot.deliver", parse=DeliverBody.parse, signers=_one("by"), check=_check_take,
    project=_project_deliver, summary="units of a lot delivered to a beneficiary commitment"))
FUND_DISBURSE = register(EntryKind(
    name="fund.disburse", parse=DisburseBody.parse, signers=_one("charity"),
    check=_check_disburse, project=_project_disburse,
    summary="campaign cash spent; allocated first in, first out to its donations"))
