"""GraphQL read types of pay for success (tracing.escrow): what the validator released and, after
the deadline, each gift's refunded share with the hearts it burned. `CampaignDeclaration.escrow`
answers them; the mutations are `attestOutcome` / `refundCampaign` (tracing.campaign_types)."""

from __future__ import annotations

import strawberry

from heartchain.gql import Int64, page_size
from tokens.models import HeartDonation
from tracing.campaign_models import CampaignEscrow, CampaignRefund


@strawberry.type(name="CampaignRefundShare",
                 description="One cash gift's pro-rata share of a campaign.refund (largest "
                             "remainder, exact to the fen) and the hearts it burned, "
                             "floor(hearts * share / net).")
class RefundShare:
    refund_index: Int64 = strawberry.field(description="the campaign.refund entry")
    donation_index: Int64 = strawberry.field(description="the donation.record entry")
    donor: str
    amount: Int64 = strawberry.field(description="fen back to the donor")
    hearts_burned: Int64
    at: str


@strawberry.type(name="CampaignEscrow",
                 description="Pay for success: cash held until the validator attests the "
                             "outcome (outcome.attest), refunded pro rata after the deadline "
                             "without it (campaign.refund).")
class Escrow:
    released: Int64 = strawberry.field(description="fen released by attestations so far")
    released_all: bool = strawberry.field(description="an attestation released all of it")
    attestations: int
    last_attest_index: Int64 | None = strawberry.field(description="the latest outcome.attest")
    refund_index: Int64 | None = strawberry.field(description="the campaign.refund, once")
    refunded: Int64 = strawberry.field(description="fen refunded to the donors in all")
    key: strawberry.Private[str]

    @classmethod
    def of(cls, key: str, row: CampaignEscrow | None) -> Escrow:
        if row is None:  # declared, nothing attested or refunded yet
            return cls(released=Int64(0), released_all=False, attestations=0,
                       last_attest_index=None, refund_index=None, refunded=Int64(0), key=key)
        return cls(released=Int64(row.released), released_all=row.released_all,
                   attestations=row.attestations,
                   last_attest_index=None if row.last_attest_idx is None
                   else Int64(row.last_attest_idx),
                   refund_index=None if row.refund_idx is None else Int64(row.refund_idx),
                   refunded=Int64(row.refunded), key=key)

    @strawberry.field(description="The refunded shares, by donation index; `after` is the "
                                  "donation index to continue after.")
    async def refunds(self, first: int = 100, after: Int64 | None = None) -> list[RefundShare]:
        query = CampaignRefund.filter(campaign_key=self.key)
        if after is not None:
            query = query.filter(donation_idx__gt=after)
        rows = await query.order_by("donation_idx").limit(page_size(first, 500))
        burned = {d.idx: d.refund_hearts or 0 for d in await HeartDonation.filter(
            idx__in=[r.donation_idx for r in rows])} if rows else {}
        return [RefundShare(refund_index=Int64(r.refund_idx), donation_index=Int64(r.donation_idx),
                            donor=r.donor, amount=Int64(r.amount),
                            hearts_burned=Int64(burned.get(r.donation_idx, 0)), at=r.at)
                for r in rows]


async def escrow_of(key: str) -> Escrow:
    return Escrow.of(key, await CampaignEscrow.get_or_none(key=key))
