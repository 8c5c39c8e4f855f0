"""Off-log tables of charity finance: configuration and the charity's own bookkeeping, not log
state, so `verify` ignores them."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ImportMapping(Model):
    """A charity's column mapping for one kind of export: field -> the header it is under."""

    id = fields.CharField(max_length=150, primary_key=True)  # "<charity>|<name>"
    charity = fields.CharField(max_length=80, db_index=True)
    name = fields.CharField(max_length=64)
    columns: fields.Field[dict[str, str]] = fields.JSONField()
    updated_at = fields.CharField(max_length=24)

    class Meta:
        table = "finance_import_mapping"


class ImportedTransaction(Model):
    """An imported gift's provider transaction id, for its charity's own accounting export. The
    log holds only `reference`, a keyed hash of (charity, transaction id), so the public cannot
    confirm a guessed id; the reference names one charity's transaction, so it is the key."""

    reference = fields.CharField(max_length=64, primary_key=True)
    transaction_id = fields.CharField(max_length=128)

    class Meta:
        table = "finance_import_transaction"
