"""Accounts: registration through the log, API tokens, and the genesis of a new log."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from heartchain.accounts.models import Account, ApiToken, CustodialKey
from heartchain.errors import NotFound, PermissionDenied
from heartchain.keys import Address, SigningKey, address_of
from heartchain.ledger.entries import format_time
from heartchain.ledger.log import Appended, create_head
from heartchain.platform import Platform

TOKEN_PREFIX = "hct_"


@dataclass(frozen=True)
class Registered:
    address: Address
    appended: Appended


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def issue_token(platform: Platform, address: str, label: str = "") -> str:
    """A new random API token for `address`; only its hash is stored, so show it once."""
    if not await Account.exists(address=address):
        raise NotFound(f"{address} is not a registered account")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    await ApiToken.create(token_hash=hash_token(token), address=address, label=label,
                          created_at=format_time(platform.clock.now()))
    return token


async def authenticate(token: str) -> Account | None:
    if not token.startswith(TOKEN_PREFIX):
        return None
    row = await ApiToken.get_or_none(token_hash=hash_token(token), revoked=False)
    if row is None:
        return None
    return await Account.get_or_none(address=row.address)


async def register_account(platform: Platform, *, role: str, registrar: str,
                           label: str | None = None,
                           key: SigningKey | None = None) -> Registered:
    """Register a new account. Without `key` the platform generates and seals one (custodial)."""
    custodial = key is None
    own_key = key or await platform.new_custodial_key()
    address = address_of(own_key)
    body: dict[str, object] = {"address": address, "role": role, "registrar": registrar}
    if label is not None:
        body["label"] = label
    try:
        appended = await platform.write("account.register", body, [registrar])
    except BaseException:
        if custodial:
            await CustodialKey.filter(address=address).delete()
        raise
    return Registered(address, appended)


async def self_register_member(platform: Platform, key: SigningKey) -> Registered:
    address = address_of(key)
    appended = await platform.write(
        "account.register", {"address": address, "role": "member", "registrar": address}, [key])
    return Registered(address, appended)


async def operator(platform: Platform) -> Account:
    account = await Account.filter(role="operator").first()
    if account is None:
        raise NotFound("this log has no operator yet: run `heartchain init`")
    return account


@dataclass(frozen=True)
class Genesis:
    operator: Address
    token: str | None  # None when the log already existed


async def initialise(platform: Platform, *, operator_label: str = "heartchain operator"
                     ) -> Genesis:
    """Create the empty log and register the operator as entry 0 (idempotent)."""
    async with in_transaction(platform.log.connection) as conn:
        await create_head(conn, platform.log.origin, platform.log.signer, platform.clock.now())
    existing = await Account.filter(role="operator").first()
    if existing is not None:
        return Genesis(Address(existing.address), None)
    if await platform.log.size() != 0:
        raise PermissionDenied("the log has entries but no operator: refusing to add one")
    key = await platform.new_custodial_key()
    address = address_of(key)
    await platform.write("account.register", {"address": address, "role": "operator",
                                              "registrar": address, "label": operator_label},
                         [key])
    token = await issue_token(platform, address, "operator (created by init)")
    return Genesis(address, token)
