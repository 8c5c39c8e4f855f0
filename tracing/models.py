"""Projections of goods and money tracing: lots, their origins, every step, campaign cash.

All of these are pure functions of the log (rebuilt and compared by `heartchain verify`) except
`HandoverOffer`, the off-log pending half of a two-step handover.

How quantities are attributed (documented, deterministic, exact in integers):
- Every lot holds `LotShare`s: how many of its units came from which origin (a donation's entry
  index, or the lot.create index of a purchase).
- Anything taken out of a lot (a split output, a merge, a loss, a delivery) takes from its shares
  oldest origin first (FIFO), exactly like money: `OriginFlow` records each movement per origin, so
  for every origin: created = still held + delivered + lost, always.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from heartchain.ledger.kinds import register_projection
from tracing.campaign_models import (  # noqa: F401  (Tortoise finds the models here)
    CampaignEscrow,
    CampaignRefund,
    DeclaredCampaign,
    DisbursementKind,
)


class Lot(Model):
    id = fields.CharField(max_length=24, primary_key=True)  # "L<index>" or "L<index>-<n>"
    code = fields.CharField(max_length=8)  # label code derived from the creating entry's leaf hash
    created_idx = fields.BigIntField(db_index=True)
    origin = fields.CharField(max_length=8)  # donation | purchase | split | merge
    donation_idx = fields.BigIntField(null=True, db_index=True)
    receipt = fields.CharField(max_length=64, null=True)
    disbursement_idx = fields.BigIntField(null=True)
    goods = fields.CharField(max_length=200)
    unit = fields.CharField(max_length=8)  # grams | items | trees
    initial_quantity = fields.BigIntField()
    quantity = fields.BigIntField()
    charity = fields.CharField(max_length=80, db_index=True)
    custodian = fields.CharField(max_length=80, db_index=True)
    # held | delivered | lost | split | merged
    status = fields.CharField(max_length=10, db_index=True)
    place = fields.CharField(max_length=200, null=True)
    updated_idx = fields.BigIntField()

    class Meta:
        table = "tracing_lot"


class LotShare(Model):
    id = fields.CharField(max_length=48, primary_key=True)  # "<lot>|<origin>"
    lot_id = fields.CharField(max_length=24, db_index=True)
    origin_idx = fields.BigIntField(db_index=True)
    quantity = fields.BigIntField()

    class Meta:
        table = "tracing_lot_share"


class LotEvent(Model):
    """One step in a lot's timeline; one entry may add a step to several lots."""

    id = fields.CharField(max_length=48, primary_key=True)  # "<index>|<lot>"
    idx = fields.BigIntField(db_index=True)
    lot_id = fields.CharField(max_length=24, db_index=True)
    action = fields.CharField(max_length=12)
    quantity = fields.BigIntField()  # the lot's quantity after this step
    moved = fields.BigIntField()  # units this step moved (created, handed over, split off, ...)
    giver = fields.CharField(max_length=80, null=True)
    custodian = fields.CharField(max_length=80)  # custodian after the step
    place = fields.CharField(max_length=200, null=True)
    evidence = fields.CharField(max_length=64, null=True)
    reason = fields.CharField(max_length=200, null=True)
    beneficiary = fields.CharField(max_length=64, null=True)
    related = fields.CharField(max_length=4000, null=True)  # comma-separated lot ids
    at = fields.CharField(max_length=24)

    class Meta:
        table = "tracing_lot_event"


class OriginFlow(Model):
    """Units of one origin moving: into a lot (create), between lots, or out (loss, delivery)."""

    id = fields.CharField(max_length=32, primary_key=True)  # "<index>|<n>"
    idx = fields.BigIntField(db_index=True)
    origin_idx = fields.BigIntField(db_index=True)
    action = fields.CharField(max_length=12)  # create | split | merge | loss | deliver
    from_lot = fields.CharField(max_length=24, null=True)
    to_lot = fields.CharField(max_length=24, null=True)
    quantity = fields.BigIntField()

    class Meta:
        table = "tracing_origin_flow"


class TracedDonation(Model):
    """Every donation.record as tracing sees it: how much is left to dispatch or spend."""

    idx = fields.BigIntField(primary_key=True, generated=False)
    campaign_key = fields.CharField(max_length=150, db_index=True)
    campaign = fields.CharField(max_length=64)
    charity = fields.CharField(max_length=80)
    donor = fields.CharField(max_length=80, db_index=True)
    kind = fields.CharField(max_length=16)
    quantity = fields.BigIntField()
    reversed = fields.BigIntField(default=0)
    used = fields.BigIntField(default=0)  # cash: fen allocated to disbursements; goods: dispatched
    reversed_idx = fields.BigIntField(null=True)
    reversed_at = fields.CharField(max_length=24, null=True)
    at = fields.CharField(max_length=24)

    class Meta:
        table = "tracing_donation"


class Campaign(Model):
    """A charity's campaign cash: balance = donated − reversed − disbursed, always."""

    key = fields.CharField(max_length=150, primary_key=True)  # "<slug>@<charity>"
    slug = fields.CharField(max_length=64, db_index=True)
    charity = fields.CharField(max_length=80)
    donated = fields.BigIntField(default=0)
    reversed = fields.BigIntField(default=0)
    disbursed = fields.BigIntField(default=0)
    balance = fields.BigIntField(default=0)
    first_idx = fields.BigIntField()

    class Meta:
        table = "tracing_campaign"


class Disbursement(Model):
    idx = fields.BigIntField(primary_key=True, generated=False)
    campaign_key = fields.CharField(max_length=150, db_index=True)
    charity = fields.CharField(max_length=80)
    amount = fields.BigIntField()
    payee = fields.CharField(max_length=100)
    purpose = fields.CharField(max_length=200)
    receipt = fields.CharField(max_length=64)
    at = fields.CharField(max_length=24)

    class Meta:
        table = "tracing_disbursement"


class Allocation(Model):
    id = fields.CharField(max_length=48, primary_key=True)  # "<disbursement>|<donation>"
    disbursement_idx = fields.BigIntField(db_index=True)
    donation_idx = fields.BigIntField(db_index=True)
    amount = fields.BigIntField()

    class Meta:
        table = "tracing_allocation"


class HandoverOffer(Model):
    """Off-log: a lot.handover entry signed by the giver, waiting for the taker's signature."""

    id = fields.CharField(max_length=32, primary_key=True)
    lot_id = fields.CharField(max_length=24, db_index=True)
    giver = fields.CharField(max_length=80)
    taker = fields.CharField(max_length=80, db_index=True)
    data = fields.BinaryField()  # the giver-signed entry's JSON
    created_at = fields.CharField(max_length=24)
    accepted_idx = fields.BigIntField(null=True)

    class Meta:
        table = "tracing_handover_offer"


register_projection(Lot, LotShare, LotEvent, OriginFlow, TracedDonation, Campaign, Disbursement,
                    Allocation)
