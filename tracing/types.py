"""GraphQL types of goods and money tracing: lots and their timelines, where a gift went, campaigns.

Resolvers parse input, call one service, map the result; every object from the log exposes its
entry (with inclusion proof). Mutations sign with the caller's custodial key.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from heartchain.errors import HeartchainError
from heartchain.gql import (
    ErrorResult,
    Info,
    Int64,
    PageInfo,
    decode_cursor,
    encode_cursor,
    error_result,
    page_size,
)
from heartchain.ledger.entries import format_time, parse_entry
from heartchain.ledger.types import FromEntry, LogEntry, load_entry
from tracing import models, services
from tracing.errors import LabelMismatch

# ---------------------------------------------------------------------------------------------
# Lots


@strawberry.type(description="One step of a lot's history, as its entry recorded it.")
class LotStep(FromEntry):
    index: Int64
    action: str = strawberry.field(description="create | handover | split | split_from | merge "
                                               "| merge_from | loss | deliver")
    quantity: Int64 = strawberry.field(description="the lot's quantity after this step")
    moved: Int64 = strawberry.field(description="units this step created, moved or removed")
    giver: str | None
    custodian: str = strawberry.field(description="the custodian after this step")
    place: str | None
    evidence: str | None = strawberry.field(description="hex SHA-256 of a photo or document")
    reason: str | None
    beneficiary: str | None = strawberry.field(
        description="salted commitment of the beneficiary (the person stays off the log)")
    related: list[str] = strawberry.field(description="lots split into / merged from")
    at: str = strawberry.field(description="when the signers signed (bounded by the log clock)")

    @classmethod
    def of(cls, row: models.LotEvent) -> LotStep:
        return cls(index=Int64(row.idx), action=row.action, quantity=Int64(row.quantity),
                   moved=Int64(row.moved), giver=row.giver, custodian=row.custodian,
                   place=row.place, evidence=row.evidence, reason=row.reason,
                   beneficiary=row.beneficiary,
                   related=row.related.split(",") if row.related else [], at=row.at)



@strawberry.type(description="Units that moved between two lots in a split or merge.")
class LotLink:
    lot_id: str
    quantity: Int64
    index: Int64

    @classmethod
    def of(cls, link: services.Link) -> LotLink:
        return cls(lot_id=link.lot, quantity=Int64(link.quantity), index=Int64(link.index))

    @strawberry.field
    async def lot(self) -> Lot:
        return Lot.of(await services.get_lot(self.lot_id))


@strawberry.type(description="A lot of goods: its label, custodian and history.")
class Lot:
    id: str
    code: str = strawberry.field(description="the short code printed on its label")
    goods: str
    unit: str = strawberry.field(description="grams | items | trees")
    quantity: Int64
    initial_quantity: Int64
    status: str = strawberry.field(description="held | delivered | lost | split | merged")
    custodian: str
    charity: str
    place: str | None
    origin: str = strawberry.field(description="donation | purchase | split | merge")
    donation_index: Int64 | None
    receipt: str | None
    disbursement_index: Int64 | None
    created_index: Int64

    @classmethod
    def of(cls, row: models.Lot) -> Lot:
        return cls(id=row.id, code=row.code, goods=row.goods, unit=row.unit,
                   quantity=Int64(row.quantity), initial_quantity=Int64(row.initial_quantity),
                   status=row.status, custodian=row.custodian, charity=row.charity,
                   place=row.place, origin=row.origin,
                   donation_index=_int64(row.donation_idx), receipt=row.receipt,
                   disbursement_index=_int64(row.disbursement_idx),
                   created_index=Int64(row.created_idx))

    @strawberry.field(description="The public trace URL its QR label carries.")
    def trace_url(self, info: Info) -> str:
        return f"{info.context.platform.settings.public_url}/lots/{self.id}?c={self.code}"

    @strawberry.field
    def label_svg_url(self, info: Info) -> str:
        return f"{info.context.platform.settings.public_url}/lots/{self.id}/label.svg"

    @strawberry.field
    def label_png_url(self, info: Info) -> str:
        return f"{info.context.platform.settings.public_url}/lots/{self.id}/label.png"

    @strawberry.field(description="GS1 EPCIS 2.0 JSON-LD export of its history.")
    def epcis_url(self, info: Info) -> str:
        return f"{info.context.platform.settings.public_url}/lots/{self.id}/epcis"

    @strawberry.field(description="The entry that created the lot, with its proof.")
    async def creation(self, info: Info) -> LogEntry:
        return await load_entry(info, self.created_index)

    @strawberry.field(description="Every step, oldest first.")
    async def timeline(self) -> list[LotStep]:
        return [LotStep.of(e) for e in await services.timeline(self.id)]

    @strawberry.field(description="Lots this one was split or merged from.")
    async def parents(self) -> list[LotLink]:
        return [LotLink.of(link) for link in (await services.lineage(self.id))[0]]

    @strawberry.field(description="Lots this one was split or merged into.")
    async def children(self) -> list[LotLink]:
        return [LotLink.of(link) for link in (await services.lineage(self.id))[1]]


def _int64(value: int | None) -> Int64 | None:
    return None if value is None else Int64(value)


@strawberry.type(description="What a scan of a label found.")
class LabelCheck:
    valid: bool
    message: str | None
    lot: Lot | None


@strawberry.type
class LotEdge:
    cursor: str
    node: Lot


@strawberry.type
class LotConnection:
    edges: list[LotEdge]
    page_info: PageInfo


@strawberry.type(description="A handover the giver signed; the taker accepts it to append it.")
class HandoverOffer:
    id: str
    lot_id: str
    giver: str
    taker: str
    offered_at: str
    place: str
    evidence: str

    @classmethod
    def of(cls, row: models.HandoverOffer) -> HandoverOffer:
        body = parse_entry(bytes(row.data)).body
        return cls(id=row.id, lot_id=row.lot_id, giver=row.giver, taker=row.taker,
                   offered_at=row.created_at, place=str(body["place"]),
                   evidence=str(body["evidence"]))

    @strawberry.field
    async def lot(self) -> Lot:
        return Lot.of(await services.get_lot(self.lot_id))


# ---------------------------------------------------------------------------------------------
# Donations and money


@strawberry.type(description="A donation as tracing sees it: how much was dispatched or spent.")
class TracedDonation(FromEntry):
    index: Int64
    donor: str
    charity: str
    kind: str
    quantity: Int64
    campaign: str
    reversed: Int64
    used: Int64 = strawberry.field(description="cash: fen disbursed; goods: units put in lots")

    @classmethod
    def of(cls, row: models.TracedDonation) -> TracedDonation:
        return cls(index=Int64(row.idx), donor=row.donor, charity=row.charity, kind=row.kind,
                   quantity=Int64(row.quantity), campaign=row.campaign,
                   reversed=Int64(row.reversed), used=Int64(row.used))

    @strawberry.field
    def unused(self) -> Int64:
        return Int64(self.quantity - self.reversed - self.used)


    @strawberry.field(description="The disbursements this donation's fen paid for (FIFO).")
    async def allocations(self) -> list[Allocation]:
        rows = await models.Allocation.filter(donation_idx=self.index).order_by(
            "disbursement_idx")
        return [Allocation.of(a) for a in rows]


@strawberry.type(description="Part of a disbursement paid from one donation.")
class Allocation:
    disbursement_index: Int64
    donation_index: Int64
    amount: Int64

    @classmethod
    def of(cls, row: models.Allocation) -> Allocation:
        return cls(disbursement_index=Int64(row.disbursement_idx),
                   donation_index=Int64(row.donation_idx), amount=Int64(row.amount))

    @strawberry.field
    async def disbursement(self) -> Disbursement:
        return Disbursement.of(await models.Disbursement.get(idx=self.disbursement_index))


@strawberry.type(description="Campaign cash spent on a purpose, with its receipt hash.")
class Disbursement(FromEntry):
    index: Int64
    charity: str
    amount: Int64
    payee: str
    purpose: str
    receipt: str
    at: str

    @classmethod
    def of(cls, row: models.Disbursement) -> Disbursement:
        return cls(index=Int64(row.idx), charity=row.charity, amount=Int64(row.amount),
                   payee=row.payee, purpose=row.purpose, receipt=row.receipt, at=row.at)

    @strawberry.field(description="Which donations paid for it, oldest first.")
    async def allocations(self) -> list[Allocation]:
        rows = await models.Allocation.filter(disbursement_idx=self.index).order_by(
            "donation_idx")
        return [Allocation.of(a) for a in rows]



@strawberry.type
class TracedDonationEdge:
    cursor: str
    node: TracedDonation


@strawberry.type
class TracedDonationConnection:
    edges: list[TracedDonationEdge]
    page_info: PageInfo


@strawberry.type
class DisbursementEdge:
    cursor: str
    node: Disbursement


@strawberry.type
class DisbursementConnection:
    edges: list[DisbursementEdge]
    page_info: PageInfo


@strawberry.type(description="A charity's campaign cash: balance = donated − reversed − "
                             "disbursed, always.")
class Campaign:
    slug: str
    charity: str
    donated: Int64
    reversed: Int64
    disbursed: Int64
    balance: Int64
    key: strawberry.Private[str]

    @classmethod
    def of(cls, row: models.Campaign) -> Campaign:
        return cls(slug=row.slug, charity=row.charity, donated=Int64(row.donated),
                   reversed=Int64(row.reversed), disbursed=Int64(row.disbursed),
                   balance=Int64(row.balance), key=row.key)

    @strawberry.field
    def ledger_csv_url(self, info: Info) -> str:
        return (f"{info.context.platform.settings.public_url}/campaigns/{self.slug}/ledger.csv"
                f"?charity={self.charity}")

    @strawberry.field(description="Cash donations, oldest first.")
    async def donations(self, first: int = 50, after: str | None = None
                        ) -> TracedDonationConnection:
        limit = page_size(first)
        query = models.TracedDonation.filter(campaign_key=self.key, kind="cash")
        start = decode_cursor("donation", after)
        if start is not None:
            query = query.filter(idx__gt=int(start))
        rows = await query.order_by("idx").limit(limit + 1)
        edges = [TracedDonationEdge(cursor=encode_cursor("donation", r.idx),
                                    node=TracedDonation.of(r)) for r in rows[:limit]]
        return TracedDonationConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="Disbursements, oldest first.")
    async def disbursements(self, first: int = 50, after: str | None = None
                            ) -> DisbursementConnection:
        limit = page_size(first)
        query = models.Disbursement.filter(campaign_key=self.key)
        start = decode_cursor("disbursement", after)
        if start is not None:
            query = query.filter(idx__gt=int(start))
        rows = await query.order_by("idx").limit(limit + 1)
        edges = [DisbursementEdge(cursor=encode_cursor("disbursement", r.idx),
                                  node=Disbursement.of(r)) for r in rows[:limit]]
        return DisbursementConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None))


# ---------------------------------------------------------------------------------------------
# Where did my gift go


@strawberry.type(description="A lot in a donation's journey; quantities count this donation's "
                             "units only.")
class JourneyLot:
    lot: Lot
    received: Int64
    delivered: Int64
    lost: Int64
    held: Int64
    parents: list[LotLink]
    children: list[LotLink]
    steps: list[LotStep]


@strawberry.type(description="Where a gift went: every lot descended from it, to each delivery.")
class DonationJourney:
    donation: TracedDonation
    dispatched: Int64
    undispatched: Int64
    delivered: Int64
    lost: Int64
    held: Int64
    lots: list[JourneyLot]
    allocations: list[Allocation] = strawberry.field(
        description="cash: the disbursements its fen paid for")
    purchased: list[Lot] = strawberry.field(description="cash: lots bought with those payments")

    @classmethod
    def of(cls, journey: services.Journey, first: int) -> DonationJourney:
        return cls(
            donation=TracedDonation.of(journey.donation),
            dispatched=Int64(journey.dispatched), undispatched=Int64(journey.undispatched),
            delivered=Int64(journey.delivered), lost=Int64(journey.lost),
            held=Int64(journey.held),
            lots=[JourneyLot(lot=Lot.of(n.lot), received=Int64(n.received),
                             delivered=Int64(n.delivered), lost=Int64(n.lost),
                             held=Int64(n.held), parents=[LotLink.of(p) for p in n.parents],
                             children=[LotLink.of(c) for c in n.children],
                             steps=[LotStep.of(s) for s in n.steps])
                  for n in journey.lots[:first]],
            allocations=[Allocation.of(a) for a, _ in journey.allocations],
            purchased=[Lot.of(lot) for lot in journey.purchased])


# ---------------------------------------------------------------------------------------------
# Root types


@strawberry.type
class Query:
    @strawberry.field(description="A lot by id (scanLabel checks a label's code).")
    async def lot(self, id: str) -> Lot | None:
        try:
            return Lot.of(await services.get_lot(id))
        except HeartchainError:
            return None

    @strawberry.field(description="What scanning a label shows: its lot, if the code is the "
                                  "lot's own (a copied or forged label is reported).")
    async def scan_label(self, lot_id: str, code: str) -> LabelCheck:
        try:
            return LabelCheck(valid=True, message=None,
                              lot=Lot.of(await services.check_label(lot_id, code)))
        except LabelMismatch as exc:
            return LabelCheck(valid=False, message=str(exc), lot=None)
        except HeartchainError as exc:
            return LabelCheck(valid=False, message=str(exc), lot=None)

    @strawberry.field(description="Lots an account holds now.")
    async def lots_held(self, custodian: str, first: int = 20, after: str | None = None
                        ) -> LotConnection:
        limit = page_size(first)
        rows = await services.lots_held_by(custodian, after=decode_cursor("lot", after, text=True),
                                           limit=limit + 1)
        edges = [LotEdge(cursor=encode_cursor("lot", r.id), node=Lot.of(r)) for r in rows[:limit]]
        return LotConnection(edges=edges, page_info=PageInfo(
            has_next_page=len(rows) > limit, end_cursor=edges[-1].cursor if edges else None))

    @strawberry.field(description="Where did my gift go: the donation's lots down to every "
                                  "delivery (at most `first` lots), or what its fen paid for.")
    async def donation_journey(self, index: Int64, first: int = 1000) -> DonationJourney | None:
        limit = page_size(first, limit=5000)
        try:
            return DonationJourney.of(await services.donation_journey(index), limit)
        except HeartchainError:
            return None

    @strawberry.field(description="A campaign's cash; name the charity when two use one slug.")
    async def campaign(self, slug: str, charity: str | None = None) -> Campaign | None:
        try:
            return Campaign.of(await services.find_campaign(slug, charity))
        except HeartchainError:
            return None

    @strawberry.field(description="Handover offers waiting for the signed-in account to accept.")
    async def pending_handovers(self, info: Info) -> list[HandoverOffer]:
        account = info.context.require_account()
        return [HandoverOffer.of(o) for o in await services.pending_offers(account.address)]


@strawberry.input
class CreateLotInput:
    goods: str
    quantity: Int64
    unit: str = strawberry.field(description="grams | items | trees")
    custodian: str | None = strawberry.field(default=None,
                                             description="first custodian; default: you")
    donation_index: Int64 | None = strawberry.field(
        default=None, description="the donation.record entry it comes from")
    receipt: str | None = strawberry.field(
        default=None, description="a purchase: hex SHA-256 of the receipt")
    disbursement_index: Int64 | None = None
    place: str | None = None


@strawberry.type(description="The lot changed (or was created); its entry is appended.")
class LotChanged:
    lot: Lot
    entry: LogEntry


@strawberry.type(description="The lot was split; its children have their own labels.")
class LotSplit:
    parent: Lot
    lots: list[Lot]
    entry: LogEntry


@strawberry.type(description="The giver signed; the taker must accept within a few minutes.")
class HandoverOffered:
    offer: HandoverOffer
    expires_at: str


@strawberry.type(description="The campaign's cash paid for this; allocated FIFO to donations.")
class FundsDisbursed:
    disbursement: Disbursement
    campaign: Campaign
    entry: LogEntry


NONE = Int64(0)
LotResult = Annotated[LotChanged | ErrorResult, strawberry.union("LotResult")]
SplitLotResult = Annotated[LotSplit | ErrorResult, strawberry.union("SplitLotResult")]
OfferLotResult = Annotated[HandoverOffered | ErrorResult, strawberry.union("OfferLotResult")]
DisburseFundsResult = Annotated[FundsDisbursed | ErrorResult,
                                strawberry.union("DisburseFundsResult")]


async def _changed(info: Info, lot_id: str, index: int) -> LotChanged:
    return LotChanged(lot=Lot.of(await services.get_lot(lot_id)),
                      entry=await load_entry(info, index))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Charity: create a lot from a goods donation or a purchase.")
    async def create_lot(self, info: Info, input: CreateLotInput) -> LotResult:
        try:
            charity = info.context.require_account("charity", "operator")
            lot = await services.create_lot(
                info.context.platform, charity=charity.address, goods=input.goods,
                quantity=input.quantity, unit=input.unit,
                custodian=input.custodian or charity.address, donation=input.donation_index,
                receipt=input.receipt, disbursement=input.disbursement_index, place=input.place)
            return await _changed(info, lot.id, lot.created_idx)
        except HeartchainError as exc:
            return error_result(exc)

    @strawberry.mutation(description="Custodian: sign a handover of a lot to `to`; it is "
                                     "appended when the taker accepts (acceptLot).")
    async def offer_lot(self, info: Info, lot_id: str, to: str, place: str,
                        evidence: str) -> OfferLotResult:
        try:
            giver = info.context.require_account()
            offer = await services.offer_handover(info.context.platform, lot=lot_id,
                                                  giver=giver.address, taker=to, place=place,
                                                  evidence=evidence)
            expires = parse_entry(bytes(offer.data)).at_datetime + services.OFFER_TTL
            return HandoverOffered(offer=HandoverOffer.of(offer), expires_at=format_time(expires))
        except HeartchainError as exc:
            return error_result(exc)

    @strawberry.mutation(description="Taker: co-sign a handover offered to you; custody moves.")
    async def accept_lot(self, info: Info, offer_id: str) -> LotResult:
        try:
            taker = info.context.require_account()
            appended = await services.accept_handover(info.context.platform, offer_id=offer_id,
                                                      taker=taker.address)
            offer = await models.HandoverOffer.get(id=offer_id)
            return await _changed(info, offer.lot_id, appended.index)
        except HeartchainError as exc:
            return error_result(exc)

    @strawberry.mutation(description="Custodian: split a lot; outputs + loss = its quantity.")
    async def split_lot(self, info: Info, lot_id: str, outputs: list[Int64], loss: Int64 = NONE,
                        reason: str | None = None, place: str | None = None) -> SplitLotResult:
        try:
            by = info.context.require_account()
            lots = await services.split_lot(info.context.platform, by=by.address, lot=lot_id,
                                            outputs=outputs, loss=loss, reason=reason,
                                            place=place)
            parent = await services.get_lot(lot_id)
            return LotSplit(parent=Lot.of(parent), lots=[Lot.of(lot) for lot in lots],
                            entry=await load_entry(info, parent.updated_idx))
        except HeartchainError as exc:
            return error_result(exc)

    @strawberry.mutation(description="Custodian: merge lots of one unit you hold.")
    async def merge_lots(self, info: Info, lot_ids: list[str], goods: str | None = None,
                         loss: Int64 = NONE, reason: str | None = None,
                         place: str | None = None) -> LotResult:
        try:
            by = info.context.require_account()
            lot = await services.merge_lots(info.context.platform, by=by.address, lots=lot_ids,
                                            goods=goods, loss=loss, reason=reason, place=place)
            return await _changed(info, lot.id, lot.created_idx)
        except HeartchainError as exc:
            return error_result(exc)

    @strawberry.mutation(description="Custodian: record units spoiled, damaged, stolen, expired "
                                     "or otherwise lost.")
    async def record_loss(self, info: Info, lot_id: str, quantity: Int64, reason: str,
                          note: str | None = None, evidence: str | None = None,
                          place: str | None = None) -> LotResult:
        try:
            by = info.context.require_account()
            appended = await services.record_loss(
                info.context.platform, by=by.address, lot=lot_id, quantity=quantity,
                reason=reason, note=note, evidence=evidence, place=place)
            return await _changed(info, lot_id, appended.index)
        except HeartchainError as exc:
            return error_result(exc)

    @strawberry.mutation(description="Custodian: deliver units to a beneficiary. Give the "
                                     "person (sealed off-log; only a salted commitment goes on "
                                     "the log) or a commitment made elsewhere.")
    async def deliver_lot(self, info: Info, lot_id: str, quantity: Int64, place: str,
                          beneficiary: str | None = None,
                          beneficiary_commitment: str | None = None,
                          evidence: str | None = None) -> LotResult:
        try:
            by = info.context.require_account()
            appended = await services.deliver_lot(
                info.context.platform, by=by.address, lot=lot_id, quantity=quantity,
                place=place, beneficiary=beneficiary, commitment=beneficiary_commitment,
                evidence=evidence)
            return await _changed(info, lot_id, appended.index)
        except HeartchainError as exc:
            return error_result(exc)

    @strawberry.mutation(description="Charity: spend campaign cash; refused beyond its balance.")
    async def disburse_funds(self, info: Info, campaign: str, amount: Int64, payee: str,
                             purpose: str, receipt: str) -> DisburseFundsResult:
        try:
            charity = info.context.require_account("charity")
            paid = await services.disburse(info.context.platform, charity=charity.address,
                                           campaign=campaign, amount=amount, payee=payee,
                                           purpose=purpose, receipt=receipt)
            row = await services.find_campaign(campaign, charity.address)
            return FundsDisbursed(disbursement=Disbursement.of(paid), campaign=Campaign.of(row),
                                  entry=await load_entry(info, paid.idx))
        except HeartchainError as exc:
            return error_result(exc)
