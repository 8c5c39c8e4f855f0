"""GraphQL root types of goods and money tracing: lots, where a gift went, campaigns.

Queries read the services; every mutation is one service call (the `mutation` guard checks the
caller and answers expected failures as the result union's error member) signed with the
caller's custodial key. The object types are in `tracing.lot_types` and `tracing.money_types`;
declared campaigns (their queries and mutations too) in `tracing.campaign_types`.
"""

from __future__ import annotations

from typing import Annotated

import strawberry

from heartchain.errors import HeartchainError
from heartchain.gql import (
    Connection,
    ErrorResult,
    Info,
    Int64,
    connection,
    decode_cursor,
    encode_cursor,
    mutation,
    page_size,
)
from heartchain.ledger.entries import format_time, parse_entry
from heartchain.ledger.types import LogEntry, load_entry, written_entry
from tracing import models, services
from tracing.campaign_types import CampaignMutation, CampaignQuery
from tracing.lot_types import HandoverOffer, LabelCheck, Lot
from tracing.money_types import Campaign, Disbursement, DonationJourney

# ---------------------------------------------------------------------------------------------
# Root types


@strawberry.type
class Query(CampaignQuery):
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
        except HeartchainError as exc:  # LabelMismatch, or no such lot
            return LabelCheck(valid=False, message=str(exc), lot=None)

    @strawberry.field(description="Lots an account holds now.")
    async def lots_held(self, custodian: str, first: int = 20, after: str | None = None
                        ) -> Connection[Lot]:
        limit = page_size(first)
        rows = await services.lots_held_by(custodian, after=decode_cursor("lot", after, text=True),
                                           limit=limit + 1)
        return connection(rows, limit, cursor=lambda r: encode_cursor("lot", r.id), node=Lot.of)

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
class Mutation(CampaignMutation):
    @mutation(roles=["charity", "operator"],
              description="Charity: create a lot from a goods donation or a purchase.")
    async def create_lot(self, info: Info, input: CreateLotInput) -> LotResult:
        charity = info.context.caller.address
        lot = await services.create_lot(
            info.context.platform, charity=charity, goods=input.goods, quantity=input.quantity,
            unit=input.unit, custodian=input.custodian or charity, donation=input.donation_index,
            receipt=input.receipt, disbursement=input.disbursement_index, place=input.place)
        return await _changed(info, lot.id, lot.created_idx)

    @mutation(signed_in=True, description="Custodian: sign a handover of a lot to `to`; it is "
                                          "appended when the taker accepts (acceptLot).")
    async def offer_lot(self, info: Info, lot_id: str, to: str, place: str,
                        evidence: str) -> OfferLotResult:
        offer = await services.offer_handover(info.context.platform, lot=lot_id,
                                              giver=info.context.caller.address, taker=to,
                                              place=place, evidence=evidence)
        expires = parse_entry(bytes(offer.data)).at_datetime + services.OFFER_TTL
        return HandoverOffered(offer=HandoverOffer.of(offer), expires_at=format_time(expires))

    @mutation(signed_in=True,
              description="Taker: co-sign a handover offered to you; custody moves.")
    async def accept_lot(self, info: Info, offer_id: str) -> LotResult:
        appended = await services.accept_handover(info.context.platform, offer_id=offer_id,
                                                  taker=info.context.caller.address)
        lot = services.written_lot(appended)
        if lot is None:  # answered again (a retry): as it stands now
            offer = await models.HandoverOffer.get(id=offer_id)
            lot = await services.get_lot(offer.lot_id)
        return LotChanged(lot=Lot.of(lot), entry=await written_entry(info, appended))

    @mutation(signed_in=True,
              description="Custodian: split a lot; outputs + loss = its quantity.")
    async def split_lot(self, info: Info, lot_id: str, outputs: list[Int64], loss: Int64 = NONE,
                        reason: str | None = None, place: str | None = None) -> SplitLotResult:
        lots = await services.split_lot(info.context.platform, by=info.context.caller.address,
                                        lot=lot_id, outputs=outputs, loss=loss, reason=reason,
                                        place=place)
        parent = await services.get_lot(lot_id)
        return LotSplit(parent=Lot.of(parent), lots=[Lot.of(lot) for lot in lots],
                        entry=await load_entry(info, parent.updated_idx))

    @mutation(signed_in=True, description="Custodian: merge lots of one unit you hold.")
    async def merge_lots(self, info: Info, lot_ids: list[str], goods: str | None = None,
                         loss: Int64 = NONE, reason: str | None = None,
                         place: str | None = None) -> LotResult:
        lot = await services.merge_lots(info.context.platform, by=info.context.caller.address,
                                        lots=lot_ids, goods=goods, loss=loss, reason=reason,
                                        place=place)
        return await _changed(info, lot.id, lot.created_idx)

    @mutation(signed_in=True, description="Custodian: record units spoiled, damaged, stolen, "
                                          "expired or otherwise lost.")
    async def record_loss(self, info: Info, lot_id: str, quantity: Int64, reason: str,
                          note: str | None = None, evidence: str | None = None,
                          place: str | None = None) -> LotResult:
        appended = await services.record_loss(
            info.context.platform, by=info.context.caller.address, lot=lot_id,
            quantity=quantity, reason=reason, note=note, evidence=evidence, place=place)
        return await _changed(info, lot_id, appended.index)

    @mutation(signed_in=True, description="Custodian: deliver units to a beneficiary. Give the "
                                          "person (sealed off-log; only a salted commitment "
                                          "goes on the log) or a commitment made elsewhere.")
    async def deliver_lot(self, info: Info, lot_id: str, quantity: Int64, place: str,
                          beneficiary: str | None = None,
                          beneficiary_commitment: str | None = None,
                          evidence: str | None = None) -> LotResult:
        appended = await services.deliver_lot(
            info.context.platform, by=info.context.caller.address, lot=lot_id,
            quantity=quantity, place=place, beneficiary=beneficiary,
            commitment=beneficiary_commitment, evidence=evidence)
        return await _changed(info, lot_id, appended.index)

    @mutation(roles=["charity"],
              description="Charity: spend campaign cash; refused beyond its balance, or on "
                          "goods or a payee kind the campaign did not declare.")
    async def disburse_funds(self, info: Info, campaign: str, amount: Int64, payee: str,
                             purpose: str, receipt: str, goods: str | None = None,
                             payee_kind: str | None = None) -> DisburseFundsResult:
        charity = info.context.caller.address
        paid = await services.disburse(info.context.platform, charity=charity,
                                       campaign=campaign, amount=amount, payee=payee,
                                       purpose=purpose, receipt=receipt, goods=goods,
                                       payee_kind=payee_kind)
        row = await services.find_campaign(campaign, charity)
        return FundsDisbursed(disbursement=Disbursement.of(paid), campaign=Campaign.of(row),
                              entry=await load_entry(info, paid.idx))
