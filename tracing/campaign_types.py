"""GraphQL types of declared campaigns: reading them, `createCampaign` / `updateCampaign`
(charity: one signed campaign.create or campaign.update each) and, for pay for success,
`attestOutcome` (the validator: outcome.attest) and `refundCampaign` (the charity, the validator
or the operator: campaign.refund). Merged into tracing's root types by `tracing.types`."""

from __future__ import annotations

from typing import Annotated

import strawberry

from heartchain.errors import HeartchainError
from heartchain.gql import ErrorResult, Info, Int64, mutation
from heartchain.ledger.log import Appended
from heartchain.ledger.types import LogEntry, load_entry, written_entry
from tracing import campaign_models, campaign_services, models
from tracing.escrow_types import Escrow, escrow_of
from tracing.money_types import Campaign


def _kinds(text: str) -> list[str]:
    return [v for v in text.split(",") if v]


@strawberry.type(name="CampaignDeclaration",
                 description="A campaign as its charity declared it (campaign.create, then any "
                             "campaign.update); its cash is `cash`.")
class CampaignDeclaration:
    slug: str
    charity: str
    title_zh: str
    title_en: str
    purpose: str
    category: str
    goal: Int64
    unit: str = strawberry.field(description="fen | grams | trees | items")
    starts: str
    ends: str | None
    beneficiary: str = strawberry.field(description="who it serves, described (no personal "
                                                    "data)")
    goods: list[str] = strawberry.field(description="goods kinds it may spend on; empty: any")
    payees: list[str] = strawberry.field(description="payee kinds it may pay; empty: any")
    validator: str | None = strawberry.field(description="pay for success: who attests the "
                                                         "outcome")
    outcome_deadline: str | None
    created_index: Int64
    updated_index: Int64
    key: strawberry.Private[str]

    @classmethod
    def of(cls, row: campaign_models.DeclaredCampaign) -> CampaignDeclaration:
        return cls(slug=row.slug, charity=row.charity, title_zh=row.title_zh,
                   title_en=row.title_en, purpose=row.purpose, category=row.category,
                   goal=Int64(row.goal), unit=row.unit, starts=row.starts, ends=row.ends,
                   beneficiary=row.beneficiary, goods=_kinds(row.goods),
                   payees=_kinds(row.payees), validator=row.validator,
                   outcome_deadline=row.outcome_deadline, created_index=Int64(row.created_idx),
                   updated_index=Int64(row.updated_idx), key=row.key)

    @strawberry.field(description="Its cash: donated, reversed, disbursed, balance (none before "
                                  "the first cash gift).")
    async def cash(self) -> Campaign | None:
        row = await models.Campaign.get_or_none(key=self.key)
        return Campaign.of(row) if row is not None else None

    @strawberry.field(description="Pay for success: released, refunded and each refunded "
                                  "share (none when the campaign names no validator).")
    async def escrow(self) -> Escrow | None:
        return await escrow_of(self.key) if self.validator is not None else None

    @strawberry.field(description="The campaign.create entry, with its inclusion proof.")
    async def entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.created_index)


@strawberry.input(description="A new campaign. Times in the log's format "
                              "(2026-12-01T00:00:00.000Z).")
class CampaignInput:
    slug: str
    title_zh: str
    title_en: str
    purpose: str
    category: str = strawberry.field(description="food | trees | medical | education | "
                                                 "disaster | water | elderly | children | "
                                                 "environment | other")
    goal: Int64
    unit: str = strawberry.field(description="fen | grams | trees | items")
    starts: str
    beneficiary: str
    ends: str | None = None
    goods: list[str] | None = None
    payees: list[str] | None = None
    validator: str | None = None
    outcome_deadline: str | None = None


@strawberry.input(description="What to change; a field left out stays as it was.")
class CampaignUpdateInput:
    slug: str
    title_zh: str | None = None
    title_en: str | None = None
    purpose: str | None = None
    goal: Int64 | None = None
    ends: str | None = None
    beneficiary: str | None = None
    goods: list[str] | None = None
    payees: list[str] | None = None


@strawberry.type(description="The campaign was declared or changed; its entry is appended.")
class CampaignSaved:
    campaign: CampaignDeclaration
    entry: LogEntry


CampaignResult = Annotated[CampaignSaved | ErrorResult, strawberry.union("CampaignResult")]


@strawberry.input(description="The validator's attestation of a pay-for-success campaign's "
                              "outcome, before its deadline.")
class OutcomeAttestInput:
    charity: str
    campaign: str
    evidence: str = strawberry.field(description="SHA-256 (hex) of the evidence document, kept "
                                                 "off the log")
    amount: Int64 | None = strawberry.field(default=None, description="fen it releases; "
                                                                      "left out: all of it")


@strawberry.input(description="After the outcome deadline without the outcome: the remaining "
                              "cash back to the donors, pro rata.")
class CampaignRefundInput:
    charity: str
    campaign: str


@strawberry.type(description="An outcome.attest or campaign.refund was appended; the campaign "
                             "as it now stands.")
class EscrowChanged:
    campaign: CampaignDeclaration
    entry: LogEntry


EscrowResult = Annotated[EscrowChanged | ErrorResult, strawberry.union("EscrowResult")]


@strawberry.type
class CampaignQuery:
    @strawberry.field(description="A declared campaign; name the charity when two use one slug.")
    async def campaign_declaration(self, slug: str, charity: str | None = None
                                   ) -> CampaignDeclaration | None:
        try:
            return CampaignDeclaration.of(await campaign_services.get_campaign(slug, charity))
        except HeartchainError:
            return None

    @strawberry.field(description="Every campaign a charity declared, newest first.")
    async def campaigns_of(self, charity: str) -> list[CampaignDeclaration]:
        return [CampaignDeclaration.of(r) for r in await campaign_services.campaigns_of(charity)]

    @strawberry.field(description="The pay-for-success campaigns an account validates or runs, "
                                  "newest first.")
    async def pay_for_success_campaigns(self, account: str) -> list[CampaignDeclaration]:
        return [CampaignDeclaration.of(r)
                for r in await campaign_services.pay_for_success_of(account)]


@strawberry.type
class CampaignMutation:
    @mutation(roles=["charity"], description="Charity: declare a campaign (campaign.create); "
                                             "donations and disbursements may then name it.")
    async def create_campaign(self, info: Info, input: CampaignInput) -> CampaignResult:
        row = await campaign_services.create_campaign(
            info.context.platform, charity=info.context.caller.address, slug=input.slug,
            title_zh=input.title_zh, title_en=input.title_en, purpose=input.purpose,
            category=input.category, goal=input.goal, unit=input.unit, starts=input.starts,
            beneficiary=input.beneficiary, ends=input.ends, goods=input.goods or (),
            payees=input.payees or (), validator=input.validator,
            outcome_deadline=input.outcome_deadline)
        return CampaignSaved(campaign=CampaignDeclaration.of(row),
                             entry=await load_entry(info, row.created_idx))

    @mutation(roles=["charity"], description="Charity: change a campaign it declared "
                                             "(campaign.update).")
    async def update_campaign(self, info: Info, input: CampaignUpdateInput) -> CampaignResult:
        row = await campaign_services.update_campaign(
            info.context.platform, charity=info.context.caller.address, slug=input.slug,
            title_zh=input.title_zh, title_en=input.title_en, purpose=input.purpose,
            goal=input.goal, ends=input.ends, beneficiary=input.beneficiary, goods=input.goods,
            payees=input.payees)
        return CampaignSaved(campaign=CampaignDeclaration.of(row),
                             entry=await load_entry(info, row.updated_idx))

    @mutation(signed_in=True, description="The campaign's validator: attest the outcome on "
                                          "evidence and release `amount` fen (all without it; "
                                          "outcome.attest).")
    async def attest_outcome(self, info: Info, input: OutcomeAttestInput) -> EscrowResult:
        appended = await campaign_services.attest_outcome(
            info.context.platform, validator=info.context.caller.address,
            charity=input.charity, slug=input.campaign, evidence=input.evidence,
            amount=input.amount)
        return await _escrow_changed(info, input.campaign, input.charity, appended)

    @mutation(signed_in=True, description="The charity, the validator or the operator, after "
                                          "the deadline without the outcome: refund the rest "
                                          "pro rata, burning the refunded gifts' hearts "
                                          "(campaign.refund).")
    async def refund_campaign(self, info: Info, input: CampaignRefundInput) -> EscrowResult:
        appended = await campaign_services.refund_campaign(
            info.context.platform, by=info.context.caller.address, charity=input.charity,
            slug=input.campaign)
        return await _escrow_changed(info, input.campaign, input.charity, appended)


async def _escrow_changed(info: Info, slug: str, charity: str,
                          appended: Appended) -> EscrowChanged:
    row = await campaign_services.get_campaign(slug, charity)
    return EscrowChanged(campaign=CampaignDeclaration.of(row),
                         entry=await written_entry(info, appended))
