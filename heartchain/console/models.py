"""Off-log console data: receipt files a charity uploaded (their SHA-256 goes on the log in a
`fund.disburse`; the bytes stay in the data directory, 0600)."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class ReceiptFile(Model):
    id = fields.CharField(max_length=150, primary_key=True)  # "<sha256>@<charity>"
    sha256 = fields.CharField(max_length=64, db_index=True)
    charity = fields.CharField(max_length=80, db_index=True)
    filename = fields.CharField(max_length=200)
    content_type = fields.CharField(max_length=100)
    size = fields.BigIntField()
    uploaded_at = fields.CharField(max_length=24)

    class Meta:
        table = "receipt_file"
