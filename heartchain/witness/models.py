"""The log's record of its witnesses (main store). Off-log tables, not projections: they hold
what the witnesses answered, which no replay of the log could reproduce. Each row carries a MAC
under a key derived from the master key (`records.py`), so `heartchain verify` finds a row that
was written or edited without it; cosignatures are also checked against the witnesses' keys."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class WitnessCosignature(Model):
    """A witness's cosignature/v1 line over the checkpoint the log signed at `size`."""

    id = fields.BigIntField(primary_key=True)
    size = fields.BigIntField()
    witness = fields.CharField(max_length=255)  # the witness's key name
    line = fields.TextField()  # "— <name> base64(key ID || timestamp || signature)\n"
    timestamp = fields.BigIntField()  # the witness's time in the cosignature (POSIX seconds)
    received_at = fields.DatetimeField()
    mac = fields.BinaryField()  # records.RecordSeal.cosignature

    class Meta:
        table = "witness_cosignature"
        unique_together = (("size", "witness"),)
        indexes = (("witness", "size"),)


class WitnessRefusal(Model):
    """A witness refused a checkpoint (or could not be reached: status 0): the evidence."""

    id = fields.BigIntField(primary_key=True)
    witness = fields.CharField(max_length=255)
    size = fields.BigIntField()  # the checkpoint submitted
    old_size = fields.BigIntField()  # the `old` line sent with it
    status = fields.IntField()  # HTTP status, 0 when the witness was unreachable
    body = fields.TextField()  # its answer (truncated), or the transport error
    at = fields.DatetimeField()
    mac = fields.BinaryField()  # records.RecordSeal.refusal

    class Meta:
        table = "witness_refusal"
        indexes = (("witness", "id"),)
