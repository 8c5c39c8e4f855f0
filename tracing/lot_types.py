"""GraphQL types of lots: a lot, its label, its timeline and lineage, and handover offers."""

from __future__ import annotations

import strawberry

from heartchain.gql import Info, Int64
from heartchain.ledger.body import decode
from heartchain.ledger.entries import parse_entry
from heartchain.ledger.types import FromEntry, LogEntry, load_entry
from tracing import models, services
from tracing.entries import HandoverBody

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
        body = decode(HandoverBody, parse_entry(bytes(row.data)).body)
        return cls(id=row.id, lot_id=row.lot_id, giver=row.giver, taker=row.taker,
                   offered_at=row.created_at, place=body.place, evidence=body.evidence)

    @strawberry.field
    async def lot(self) -> Lot:
        return Lot.of(await services.get_lot(self.lot_id))
