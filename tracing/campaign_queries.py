"""What a campaign's public page shows, read from the projections: raised vs goal, the cash
ledger, what was spent and on what, the goods its gifts and purchases became (in stock, delivered,
lost), its donors count and its latest entries. Every figure carries the entries it comes from."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from tracing.campaign_models import (
    CampaignEscrow,
    CampaignRefund,
    DeclaredCampaign,
    DisbursementKind,
)
from tracing.campaigns import RAISED_BY, campaign_key
from tracing.models import Campaign, Disbursement, Lot, OriginFlow, TracedDonation

GOODS_UNIT = {"food": "grams", "tree": "trees"}


@dataclass
class GoodsFigures:
    unit: str
    received: int = 0
    delivered: int = 0
    lost: int = 0

    @property
    def in_stock(self) -> int:
        return self.received - self.delivered - self.lost


@dataclass
class Spend:
    row: Disbursement
    goods: str | None
    payee_kind: str | None


@dataclass
class LatestEntry:
    index: int
    kind: str  # donation | reversal | disbursement
    quantity: int
    unit: str
    at: str


@dataclass
class CampaignFigures:
    declared: DeclaredCampaign
    cash: Campaign | None
    raised: int  # toward the goal, in the goal's unit, net of reversals
    donors: int
    donations: int
    spends: list[Spend]
    goods: list[GoodsFigures]
    latest: list[LatestEntry]
    lots: list[Lot] = field(default_factory=list)
    escrow: CampaignEscrow | None = None  # pay for success: released, refunded
    refunds: list[CampaignRefund] = field(default_factory=list)

    @property
    def percent(self) -> int:
        return min(100, self.raised * 100 // self.declared.goal) if self.declared.goal else 0


async def campaign_figures(declared: DeclaredCampaign, latest: int = 10) -> CampaignFigures:
    key = declared.key
    cash = await Campaign.get_or_none(key=key)
    gifts = await TracedDonation.filter(campaign_key=key).order_by("idx")
    kind = RAISED_BY.get(declared.unit)
    raised = sum(g.quantity - g.reversed for g in gifts if g.kind == kind)
    spent = await Disbursement.filter(campaign_key=key).order_by("idx")
    kinds = {k.idx: k for k in await DisbursementKind.filter(campaign_key=key)}
    spends = [Spend(d, getattr(kinds.get(d.idx), "goods", None),
                    getattr(kinds.get(d.idx), "payee_kind", None)) for d in spent]
    # Goods: lots made from the campaign's goods gifts, and lots bought with its cash.
    units = {g.idx: GOODS_UNIT[g.kind] for g in gifts if g.kind in GOODS_UNIT}
    bought = (await Lot.filter(disbursement_idx__in=[d.idx for d in spent], origin="purchase")
              if spent else [])
    units.update({lot.created_idx: lot.unit for lot in bought})
    by_unit: dict[str, GoodsFigures] = {}
    flows = (await OriginFlow.filter(origin_idx__in=list(units),
                                     action__in=["create", "deliver", "loss"])
             if units else [])
    for flow in flows:
        figures = by_unit.setdefault(units[flow.origin_idx], GoodsFigures(units[flow.origin_idx]))
        if flow.action == "create":
            figures.received += flow.quantity
        elif flow.action == "deliver":
            figures.delivered += flow.quantity
        else:
            figures.lost += flow.quantity
    lots = (await Lot.filter(donation_idx__in=list(units)).order_by("created_idx").limit(20)
            if units else [])
    events = [LatestEntry(g.idx, "donation", g.quantity, _unit(g.kind), g.at) for g in gifts]
    events += [LatestEntry(g.reversed_idx, "reversal", g.reversed, _unit(g.kind),
                           g.reversed_at or "") for g in gifts if g.reversed_idx is not None]
    events += [LatestEntry(d.idx, "disbursement", d.amount, "fen", d.at) for d in spent]
    events.sort(key=lambda e: e.index, reverse=True)
    return CampaignFigures(
        declared=declared, cash=cash, raised=raised, donors=len({g.donor for g in gifts}),
        donations=len(gifts), spends=spends, goods=sorted(by_unit.values(), key=lambda g: g.unit),
        latest=events[:latest], lots=[*lots, *bought][:20],
        escrow=await CampaignEscrow.get_or_none(key=key),
        refunds=await CampaignRefund.filter(campaign_key=key).order_by("donation_idx").limit(200))


def _unit(kind: str) -> str:
    return GOODS_UNIT.get(kind, "fen")


@dataclass
class EscrowSteps:
    """A cash gift in a pay-for-success campaign, as its donor follows it: held until the
    validator attests (`escrow`: what it released, its latest outcome.attest), or refunded
    (`refund`: this gift's share and its campaign.refund entry; the hearts it burned)."""

    validator: str
    deadline: str
    escrow: CampaignEscrow | None
    refund: CampaignRefund | None
    hearts_burned: int = 0

    def entries(self) -> list[int]:
        """The entries behind the steps, for their inclusion proofs."""
        found = [] if self.escrow is None or self.escrow.last_attest_idx is None else [
            self.escrow.last_attest_idx]
        return found + ([self.refund.refund_idx] if self.refund is not None else [])


async def escrow_steps(gifts: Sequence[Any]) -> dict[int, EscrowSteps]:
    """The escrow steps of each cash gift (rows with idx, kind, campaign, charity and
    refund_hearts: tokens' HeartDonation) given to a pay-for-success campaign."""
    keys = {campaign_key(g.campaign, g.charity) for g in gifts if g.kind == "cash"}
    if not keys:
        return {}
    declared = {d.key: d for d in await DeclaredCampaign.filter(
        key__in=sorted(keys), validator__not_isnull=True)}
    if not declared:
        return {}
    escrows = {e.key: e for e in await CampaignEscrow.filter(key__in=list(declared))}
    ours = [g for g in gifts
            if g.kind == "cash" and campaign_key(g.campaign, g.charity) in declared]
    refunds = {r.donation_idx: r for r in await CampaignRefund.filter(
        donation_idx__in=[g.idx for g in ours])}
    steps = {}
    for g in ours:
        key = campaign_key(g.campaign, g.charity)
        row = declared[key]
        steps[g.idx] = EscrowSteps(str(row.validator), str(row.outcome_deadline),
                                   escrows.get(key), refunds.get(g.idx),
                                   int(g.refund_hearts or 0))
    return steps
