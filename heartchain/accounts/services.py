"""Accounts: registration through the log, API tokens, and the genesis of a new log."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from heartchain.accounts.entries import RegisterBody
from heartchain.accounts.models import Account, ApiToken, CustodialKey
from heartchain.errors import Conflict, NotFound, PermissionDenied
from heartchain.keys import Address, SigningKey, address_of
from heartchain.ledger.entries import format_time
from heartchain.ledger.log import Appended, StoredEntry, create_head
from heartchain.ledger.store import fetch, in_chunks
from heartchain.platform import Platform
from heartchain.privacy import derive_key

TOKEN_PREFIX = "hct_"
logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Registered:
    address: Address
    appended: Appended


# A token is "hct_" + base64url(nonce ‖ tag), tag = HMAC(nonce ‖ address) under a key derived
# from the master key; the row is found by another keyed hash of the token. The database alone
# therefore authenticates nobody: a row inserted, or re-pointed to another address, by someone
# without the master key names a token whose tag does not match. Tokens issued before this scheme
# (rows holding a plain SHA-256) no longer authenticate; `heartchain init` revokes them and issues
# the operator a new token (`legacy_tokens`).
_TOKEN_NONCE_BYTES = 16
_TOKEN_TAG_BYTES = 16
# Every authenticated request looks its token up: a token that authenticated is remembered for
# TOKEN_CACHE_SECONDS (bounded), so a revocation made by another process or in the database
# takes effect within that time; `forget_tokens()` (called by revocations here) at once. Accounts
# never change role, and a token that did not authenticate is never remembered.
TOKEN_CACHE_SECONDS = 5.0
_TOKEN_CACHE_SIZE = 4096
_known: OrderedDict[tuple[int, str], tuple[float, Account]] = OrderedDict()
_now = time.monotonic  # the cache's clock (tests move it)


def forget_tokens() -> None:
    """Drop every remembered token (after revoking tokens, or to read the rows again)."""
    _known.clear()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def token_id(platform: Platform, token: str) -> str:
    """What the `api_token` row stores for `token`: a keyed hash, 43 base64url characters."""
    return _b64(hmac.digest(derive_key(platform, "api-token/lookup"), token.encode(), "sha256"))


def _token_tag(platform: Platform, nonce: bytes, address: str) -> bytes:
    return hmac.digest(derive_key(platform, "api-token/tag"), nonce + address.encode(),
                       "sha256")[:_TOKEN_TAG_BYTES]


def _is_legacy_token_row(token_hash: str) -> bool:
    return len(token_hash) == hashlib.sha256().digest_size * 2  # hex SHA-256 of the token


async def issue_token(platform: Platform, address: str, label: str = "") -> str:
    """A new random API token for `address`; only a keyed hash is stored, so show it once."""
    if not await Account.exists(address=address):
        raise NotFound(f"{address} is not a registered account")
    nonce = secrets.token_bytes(_TOKEN_NONCE_BYTES)
    token = TOKEN_PREFIX + _b64(nonce + _token_tag(platform, nonce, address))
    await ApiToken.create(token_hash=token_id(platform, token), address=address, label=label,
                          created_at=format_time(platform.clock.now()))
    return token


async def authenticate(platform: Platform, token: str) -> Account | None:
    """The account `token` was issued to, or None (unknown, revoked, malformed or forged)."""
    if not token.startswith(TOKEN_PREFIX) or len(token) > 64:
        return None
    try:
        raw = base64.urlsafe_b64decode(token[len(TOKEN_PREFIX):] + "==")
    except (ValueError, binascii.Error):
        return None
    if len(raw) != _TOKEN_NONCE_BYTES + _TOKEN_TAG_BYTES:
        return None
    lookup = token_id(platform, token)
    key = (id(platform), lookup)
    remembered = _known.get(key)
    if remembered is not None and remembered[0] > _now():
        return remembered[1]
    # One raw query, not two through the ORM.
    rows = await fetch(platform.log.reader.connection(),
                       "SELECT a.address, a.role, a.label, a.registrar, a.registered_idx "
                       "FROM api_token t JOIN account a ON a.address = t.address "
                       "WHERE t.token_hash = ? AND t.revoked = ?", [lookup, False])
    if not rows:
        return None
    row = rows[0]
    expected = _token_tag(platform, raw[:_TOKEN_NONCE_BYTES], str(row["address"]))
    if not hmac.compare_digest(raw[_TOKEN_NONCE_BYTES:], expected):
        logger.warning("api_token row %s… names an address its token was not issued to",
                       lookup[:8])
        return None
    account = Account(address=row["address"], role=row["role"], label=row["label"],
                      registrar=row["registrar"], registered_idx=int(row["registered_idx"]))
    _known[key] = (_now() + TOKEN_CACHE_SECONDS, account)
    _known.move_to_end(key)
    if len(_known) > _TOKEN_CACHE_SIZE:
        _known.popitem(last=False)
    return account


async def revoke_legacy_tokens() -> int:
    """Revoke the rows of tokens issued before keyed tokens (they authenticate nobody now)."""
    legacy = [row.token_hash for row in await ApiToken.filter(revoked=False)
              if _is_legacy_token_row(row.token_hash)]
    for chunk in in_chunks(legacy):
        await ApiToken.filter(token_hash__in=chunk).update(revoked=True)
    forget_tokens()
    return len(legacy)


async def register_account(platform: Platform, *, role: str, registrar: str,
                           label: str | None = None,
                           key: SigningKey | None = None) -> Registered:
    """Register a new account. Without `key` the platform generates and seals one (custodial).

    A retry (same Idempotency-Key) of a custodial registration answers the account the first
    attempt registered: its fresh key would make a different body."""
    custodial = key is None
    if custodial:
        earlier = await platform.written_before(RegisterBody, registrar)
        if earlier is not None:
            return await _registered_before(platform, earlier, role=role, label=label)
    own_key = key or await platform.new_custodial_key()
    address = address_of(own_key)
    try:
        body = RegisterBody(address=address, role=role,  # type: ignore[arg-type]
                            registrar=Address(registrar), label=label)
        appended = await platform.write(body)
    except BaseException:
        if custodial:
            await CustodialKey.filter(address=address).delete()
        raise
    return Registered(address, appended)


async def _registered_before(platform: Platform, earlier: StoredEntry, *, role: str,
                             label: str | None) -> Registered:
    body = earlier.entry.body
    if (body.get("role"), body.get("label")) != (role, label):
        raise Conflict("Idempotency-Key was already used for a different request")
    return Registered(Address(body["address"]), await platform.log.appended(earlier.index))


async def self_register_member(platform: Platform, key: SigningKey) -> Registered:
    address = address_of(key)
    appended = await platform.write(
        RegisterBody(address=address, role="member", registrar=address), key)
    return Registered(address, appended)


async def operator(platform: Platform) -> Account:
    account = await Account.filter(role="operator").first()
    if account is None:
        raise NotFound("this log has no operator yet: run `heartchain init`")
    return account


@dataclass(frozen=True)
class Genesis:
    operator: Address
    token: str | None  # None when the log already existed (and held no legacy tokens)
    legacy_tokens: int = 0  # tokens from before keyed tokens, revoked now


async def initialise(platform: Platform, *, operator_label: str = "heartchain operator"
                     ) -> Genesis:
    """Create the empty log and register the operator as entry 0 (idempotent)."""
    async with in_transaction(platform.log.connection) as conn:
        await create_head(conn, platform.log.origin, platform.log.signer, platform.clock.now())
    existing = await Account.filter(role="operator").first()
    if existing is not None:
        legacy = await revoke_legacy_tokens()
        if not legacy:
            return Genesis(Address(existing.address), None)
        token = await issue_token(platform, existing.address, "operator (re-issued by init)")
        return Genesis(Address(existing.address), token, legacy)
    if await platform.log.size() != 0:
        raise PermissionDenied("the log has entries but no operator: refusing to add one")
    key = await platform.new_custodial_key()
    address = address_of(key)
    await platform.write(RegisterBody(address=address, role="operator", registrar=address,
                                      label=operator_label), key)
    token = await issue_token(platform, address, "operator (created by init)")
    return Genesis(address, token)
