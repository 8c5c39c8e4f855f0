"""Projection of corrections: one row per `correction` entry, rebuilt and compared by `verify`.

`changes` is JSON: `{"field": [before, after], …}` — the value the entry stood at (after any
earlier correction) and the corrected one, so a field's original value is the `before` of the
first correction that touched it.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from heartchain.ledger.kinds import register_projection


class Correction(Model):
    idx = fields.BigIntField(primary_key=True, generated=False)  # the correction entry
    target_idx = fields.BigIntField(db_index=True)  # the entry it corrects
    target_kind = fields.CharField(max_length=64)
    signers = fields.CharField(max_length=200)  # comma-separated, in signing order
    reason = fields.CharField(max_length=24)
    note = fields.CharField(max_length=200, null=True)
    changes = fields.TextField()
    at = fields.CharField(max_length=24)

    class Meta:
        table = "correction"


register_projection(Correction)
