"""GraphQL types of money and gifts: traced donations, campaigns and their disbursements, and
where a gift went (its journey through lots)."""

from __future__ import annotations

import strawberry

from heartchain.gql import (
    Connection,
    Info,
    Int64,
    connection,
    decode_cursor,
    encode_cursor,
    page_size,
)
from heartchain.ledger.types import FromEntry
from tracing import models, services
from tracing.campaign_models import CampaignEscrow
from tracing.lot_types import Lot, LotLink, LotStep

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


@strawberry.type(description="A charity's campaign cash: balance = donated − reversed − "
                             "refunded − disbursed, always (refunded: a pay-for-success "
                             "campaign's campaign.refund, else 0).")
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

    @strawberry.field(description="Fen given back to the donors by a pay-for-success refund.")
    async def refunded(self) -> Int64:
        row = await CampaignEscrow.get_or_none(key=self.key)
        return Int64(row.refunded if row is not None else 0)

    @strawberry.field
    def ledger_csv_url(self, info: Info) -> str:
        return (f"{info.context.platform.settings.public_url}/campaigns/{self.slug}/ledger.csv"
                f"?charity={self.charity}")

    @strawberry.field(description="Cash donations, oldest first.")
    async def donations(self, first: int = 50, after: str | None = None
                        ) -> Connection[TracedDonation]:
        limit = page_size(first)
        query = models.TracedDonation.filter(campaign_key=self.key, kind="cash")
        start = decode_cursor("donation", after)
        if start is not None:
            query = query.filter(idx__gt=int(start))
        rows = await query.order_by("idx").limit(limit + 1)
        return connection(rows, limit, cursor=lambda r: encode_cursor("donation", r.idx),
                          node=TracedDonation.of)

    @strawberry.field(description="Disbursements, oldest first.")
    async def disbursements(self, first: int = 50, after: str | None = None
                            ) -> Connection[Disbursement]:
        limit = page_size(first)
        query = models.Disbursement.filter(campaign_key=self.key)
        start = decode_cursor("disbursement", after)
        if start is not None:
            query = query.filter(idx__gt=int(start))
        rows = await query.order_by("idx").limit(limit + 1)
        return connection(rows, limit, cursor=lambda r: encode_cursor("disbursement", r.idx),
                          node=Disbursement.of)


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
