"""Entry kinds of goods and money tracing (DESIGN §4), and what tracing observes of donations.

Importing this module registers them all, one module per concept:

- `tracing.lots`     ``lot.create``, ``lot.split``, ``lot.merge`` (lots come and change shape)
- `tracing.custody`  ``lot.handover``, ``lot.loss``, ``lot.deliver`` (who holds a lot; units
  leaving it)
- `tracing.campaigns` ``campaign.create``, ``campaign.update``, and the rule that a donation
  names a declared, open campaign of its charity
- `tracing.escrow`   ``outcome.attest``, ``campaign.refund`` (pay for success)
- `tracing.funds`    ``fund.disburse``, and the observers of tokens' ``donation.record`` and
  ``donation.reverse``

`tracing.lotstate` holds what the lot kinds share (lot ids, units, the held-lot rule, the
projection writer). The names other modules import are re-exported here.
"""

from __future__ import annotations

from tracing import campaigns, custody, escrow, funds, lots
from tracing.campaigns import CampaignCreateBody, CampaignUpdateBody
from tracing.custody import LOSS_REASONS, DeliverBody, HandoverBody, LossBody, LossReason
from tracing.escrow import OutcomeAttestBody, RefundBody
from tracing.funds import DisburseBody, campaign_key, reversal_target
from tracing.lots import (
    GOODS_UNITS,
    MAX_MERGE,
    MAX_SPLIT,
    CreateBody,
    MergeBody,
    MergeInput,
    SplitBody,
)
from tracing.lotstate import HELD, LOT_ID, UNITS, LotId, Unit, held_lot

KINDS = (CreateBody, HandoverBody, SplitBody, MergeBody, LossBody, DeliverBody, DisburseBody,
         CampaignCreateBody, CampaignUpdateBody, OutcomeAttestBody, RefundBody)

__all__ = [
    "GOODS_UNITS", "HELD", "KINDS", "LOSS_REASONS", "LOT_ID", "MAX_MERGE", "MAX_SPLIT", "UNITS",
    "CampaignCreateBody", "CampaignUpdateBody", "CreateBody", "DeliverBody", "DisburseBody",
    "HandoverBody", "LossBody", "LossReason", "LotId", "MergeBody", "MergeInput",
    "OutcomeAttestBody", "RefundBody", "SplitBody", "Unit", "campaign_key", "campaigns", "custody",
    "escrow", "funds", "held_lot", "lots",
    "reversal_target",
]
