"""Off-log delivery state: endpoints (with their sealed secrets), deliveries and attempts.

None of this is a projection: `verify` does not rebuild it. What is *due* to an endpoint is
derived from the log (entries at or after `next_index` that match its filters); these rows only
say how far each endpoint got and what each attempt answered.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model


class WebhookEndpoint(Model):
    id = fields.CharField(max_length=32, primary_key=True)  # "wh_" + 24 hex
    owner = fields.CharField(max_length=80, db_index=True)
    url = fields.CharField(max_length=500)
    kinds = fields.TextField()  # JSON list of kind names; [] = any kind
    campaigns = fields.TextField()  # JSON list of "<slug>@<charity>"; [] = any campaign
    secret_sealed = fields.BinaryField()  # Vault.seal(id + "\n" + secret)
    created_at = fields.CharField(max_length=24)
    start_index = fields.BigIntField()
    # Every entry below this was delivered to the endpoint or does not match its filters.
    next_index = fields.BigIntField()
    active = fields.BooleanField(default=True)
    failures = fields.IntField(default=0)  # consecutive failed attempts at next_index's entry
    retry_at = fields.FloatField(null=True)  # Unix time of the next attempt after a failure
    lease_owner = fields.CharField(max_length=32, null=True)
    lease_until = fields.FloatField(null=True)

    class Meta:
        table = "webhook_endpoint"


class WebhookDelivery(Model):
    """One entry sent (or being sent) to one endpoint; `id` is the receiver's dedup key."""

    id = fields.CharField(max_length=64, primary_key=True)  # "<endpoint>:<index>"
    endpoint_id = fields.CharField(max_length=32)
    idx = fields.BigIntField()
    attempts = fields.IntField(default=0)
    delivered_at = fields.CharField(max_length=24, null=True)

    class Meta:
        table = "webhook_delivery"
        indexes = (("endpoint_id", "idx"),)


class WebhookAttempt(Model):
    id = fields.BigIntField(primary_key=True)
    delivery_id = fields.CharField(max_length=64, db_index=True)
    endpoint_id = fields.CharField(max_length=32, db_index=True)
    idx = fields.BigIntField()
    at = fields.CharField(max_length=24)
    status_code = fields.IntField(null=True)
    error = fields.CharField(max_length=200, null=True)
    duration_ms = fields.IntField()

    class Meta:
        table = "webhook_attempt"
