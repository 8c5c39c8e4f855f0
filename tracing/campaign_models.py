"""Projections of declared campaigns (`campaign.create` / `campaign.update`) and, for campaigns
that pay for success, their escrow: what a validator released and what was refunded.

The cash balance stays in `tracing_campaign` (tracing.models.Campaign, keyed `slug@charity`);
this table holds what the charity declared under the same key.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from heartchain.ledger.kinds import register_projection


class DeclaredCampaign(Model):
    """A campaign as its charity declared it; `updated_idx` is the last campaign.update."""

    key = fields.CharField(max_length=150, primary_key=True)  # "<slug>@<charity>"
    slug = fields.CharField(max_length=64, db_index=True)
    charity = fields.CharField(max_length=80, db_index=True)
    title_zh = fields.CharField(max_length=200)
    title_en = fields.CharField(max_length=200)
    purpose = fields.CharField(max_length=200)
    category = fields.CharField(max_length=16)
    goal = fields.BigIntField()
    unit = fields.CharField(max_length=8)  # fen | grams | trees | items
    starts = fields.CharField(max_length=24)
    ends = fields.CharField(max_length=24, null=True)
    beneficiary = fields.CharField(max_length=200)
    goods = fields.CharField(max_length=400)  # comma-separated goods kinds; empty: any
    payees = fields.CharField(max_length=400)  # comma-separated payee kinds; empty: any
    validator = fields.CharField(max_length=80, null=True)  # pay for success
    outcome_deadline = fields.CharField(max_length=24, null=True)
    created_idx = fields.BigIntField()
    updated_idx = fields.BigIntField()

    class Meta:
        table = "tracing_campaign_declared"


class DisbursementKind(Model):
    """What a fund.disburse says it spent on, when it names a goods or payee kind."""

    idx = fields.BigIntField(primary_key=True, generated=False)
    campaign_key = fields.CharField(max_length=150, db_index=True)
    goods = fields.CharField(max_length=24, null=True)
    payee_kind = fields.CharField(max_length=16, null=True)

    class Meta:
        table = "tracing_disbursement_kind"


class CampaignEscrow(Model):
    """Pay for success: what the validator released (outcome.attest) and what was refunded."""

    key = fields.CharField(max_length=150, primary_key=True)  # "<slug>@<charity>"
    released = fields.BigIntField(default=0)  # fen released so far (ignored once all is)
    released_all = fields.BooleanField(default=False)
    attestations = fields.IntField(default=0)
    last_attest_idx = fields.BigIntField(null=True)
    refund_idx = fields.BigIntField(null=True)  # the campaign.refund entry, once
    refunded = fields.BigIntField(default=0)

    class Meta:
        table = "tracing_campaign_escrow"


class CampaignRefund(Model):
    """One cash gift's pro-rata share of a pay-for-success refund (tracing.escrow)."""

    id = fields.CharField(max_length=48, primary_key=True)  # "<refund>|<donation>"
    refund_idx = fields.BigIntField(db_index=True)
    donation_idx = fields.BigIntField(db_index=True)
    campaign_key = fields.CharField(max_length=150, db_index=True)
    donor = fields.CharField(max_length=80, db_index=True)
    amount = fields.BigIntField()
    at = fields.CharField(max_length=24)

    class Meta:
        table = "tracing_campaign_refund"


register_projection(DeclaredCampaign, DisbursementKind, CampaignEscrow, CampaignRefund)
