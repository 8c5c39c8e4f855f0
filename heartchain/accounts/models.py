"""Accounts: the projection of `account.register`, plus off-log credentials.

`Account` is rebuilt from the log by `verify`. `ApiToken` and `CustodialKey` are secrets, so they
never go on the log: tokens are stored hashed, custodial keys sealed under the master key.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from heartchain.ledger.kinds import register_projection


class Account(Model):
    address = fields.CharField(max_length=80, primary_key=True)
    role = fields.CharField(max_length=16, db_index=True)
    label = fields.CharField(max_length=100, null=True)
    registrar = fields.CharField(max_length=80)
    registered_idx = fields.BigIntField()

    class Meta:
        table = "account"


class ApiToken(Model):
    token_hash = fields.CharField(max_length=64, primary_key=True)
    address = fields.CharField(max_length=80, db_index=True)
    label = fields.CharField(max_length=100, default="")
    created_at = fields.CharField(max_length=24)
    revoked = fields.BooleanField(default=False)

    class Meta:
        table = "api_token"


class CustodialKey(Model):
    address = fields.CharField(max_length=80, primary_key=True)
    sealed = fields.BinaryField()

    class Meta:
        table = "custodial_key"


register_projection(Account)
