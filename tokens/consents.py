"""A member's consents to partner checks: the per-partner consent handle, grants, revocations,
and the consent a check needs (tokens.services records the checks themselves).

The log never names the member in a consent or a check. Each (member, partner) pair has a
consent *handle*: an Ed25519 key that signs that member's grants, revocations and presented
checks for that partner and nothing else. Its seed comes from the member's sealed salt (or,
for a self-custody key, from that key), so nobody else can compute it and erasing the member
makes it unrecoverable; which member a handle is lives only in the off-log `ConsentHandle`.
A check entry holds the handle and a salted commitment to (member, threshold, checkpoint,
answer); the salt derives from the member's sealed salt, so the member can open every check.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError

from heartchain.accounts.models import Account
from heartchain.errors import Conflict
from heartchain.keys import Address, Signer, SigningKey, address_of, signer_address, verify_key_of
from heartchain.ledger.entries import format_time
from heartchain.ledger.log import Appended
from heartchain.ledger.store import fetch
from heartchain.lookups import can_match
from heartchain.platform import Platform
from heartchain.privacy import sealed_salt_columns, subject_salt
from tokens.checks import handles_of
from tokens.consent_entries import SCOPES, GrantBody, RevokeBody, consent_is_active
from tokens.entries import score_of, score_query
from tokens.errors import ChecksArePrivate, NoActiveConsent, NotYourConsent, UnknownConsent
from tokens.models import ConsentHandle, HeartConsent


def _db() -> Any:
    return connections.get("default")


_HANDLE_DOMAIN = b"heartchain/consent-handle/v1\n"


async def _member_secret(platform: Platform, member: Signer) -> bytes:
    if isinstance(member, SigningKey):
        return hashlib.sha256(_HANDLE_DOMAIN + bytes(member)).digest()
    return await subject_salt(platform, member)


async def consent_handle(platform: Platform, member: Signer, partner: str) -> SigningKey:
    """The member's consent handle key for `partner` (created, and its owner recorded off the
    log, on first use)."""
    verify_key_of(partner)  # a partner is an address: nothing else may name a handle row
    secret = await _member_secret(platform, member)
    key = SigningKey(hmac.digest(secret, _HANDLE_DOMAIN + partner.encode(), "sha256"))
    handle = address_of(key)
    if await ConsentHandle.get_or_none(handle=handle) is None:
        with contextlib.suppress(IntegrityError):  # a concurrent request recorded it first
            await ConsentHandle.create(handle=handle, member=signer_address(member),
                                       partner=partner)
    return key


async def grant_consent(platform: Platform, *, member: Signer, partner: str,
                        expires: datetime, scope: str = SCOPES[0]) -> Appended:
    handle = await consent_handle(platform, member, partner)
    earlier = await platform.written_before(GrantBody, handle)
    if earlier is not None:  # a retry: "for 30 days" counted from the first attempt
        body = earlier.entry.body
        if (body.get("partner"), body.get("scope")) != (partner, scope):
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    return await platform.write(GrantBody(handle=address_of(handle), partner=Address(partner),
                                          scope=scope,  # type: ignore[arg-type]
                                          expires=format_time(expires)), handle)


async def revoke_consent(platform: Platform, *, member: Signer, consent: int) -> Appended:
    row = await HeartConsent.get_or_none(idx=consent)
    if row is None:
        raise UnknownConsent(f"entry {consent} is not a consent")
    if row.handle not in await handles_of(signer_address(member)):
        raise NotYourConsent(f"consent {consent} belongs to another member")
    handle = await consent_handle(platform, member, row.partner)
    return await platform.write(RevokeBody(handle=Address(row.handle), consent=consent), handle)


@dataclass(frozen=True)
class MemberConsent:
    """A consent as its member sees it (the log only knows the handle)."""

    row: HeartConsent
    member: Address


async def consents_of(member: str, *, viewer: Account | None) -> list[MemberConsent]:
    """The member's consents, newest first; only the member may read them."""
    if viewer is None or viewer.address != member:
        raise ChecksArePrivate("consents are visible only to the member who granted them")
    rows = await HeartConsent.filter(handle__in=list(await handles_of(member))).order_by("-idx")
    return [MemberConsent(row, Address(member)) for row in rows]


# The member's handle for the partner joined to its unrevoked consents, newest first.
_CONSENT_COLUMNS = ("c.idx", "c.handle", "c.partner", "c.scope", "c.expires_at", "c.granted_at",
                    "c.revoked_idx")
_CONSENTS = ("heart_consent_handle h JOIN heart_consent c ON c.handle = h.handle AND "
             "c.partner = h.partner WHERE h.member = ? AND h.partner = ? AND c.scope = ? "
             "AND c.revoked_idx IS NULL ORDER BY c.idx DESC")


async def active_consent(member: str, partner: str, now: datetime) -> HeartConsent:
    # One raw round trip (two ORM queries cost a tenth of a check's CPU).
    rows = (await fetch(_db(), f"SELECT {', '.join(_CONSENT_COLUMNS)} FROM {_CONSENTS}",
                        [member, partner, SCOPES[0]])
            if can_match(ConsentHandle, member=member, partner=partner) else [])
    return _first_active(rows, member, partner, now)


@dataclass(frozen=True)
class CheckReads:
    """What a partner check reads before it is written: the member's active consent for the
    partner, hearts over the checkpoint's entries, and the member's sealed salt and subject key
    (`opened_salt_and_key` opens them: only once the check's input is known good, since on a
    member's first check it creates them)."""

    consent: HeartConsent
    score: int
    sealed_salt: dict[str, Any]


async def active_consent_and_score(member: str, partner: str, now: datetime, size: int
                                   ) -> CheckReads:
    """`active_consent`, the member's hearts over the first `size` entries, and the member's
    salt and key, in one round trip (each was one of a check's four)."""
    query, values = score_query(member, size)
    salt_columns, salt_values = sealed_salt_columns(member)
    rows = (await fetch(_db(), f"SELECT {', '.join(_CONSENT_COLUMNS)}, s.minted, s.burned, "
                        f"{salt_columns} FROM ({query}) s CROSS JOIN {_CONSENTS}",
                        [*salt_values, *values, member, partner, SCOPES[0]])
            if can_match(ConsentHandle, member=member, partner=partner) else [])
    extra = ("minted", "burned", "sealed_key", "sealed_salt")
    consent = _first_active([{k: row[k] for k in row if k not in extra} for row in rows],
                            member, partner, now)
    first = rows[0]  # exists: _first_active raised on none
    return CheckReads(consent, score_of(first),
                      {"sealed_key": first["sealed_key"], "sealed_salt": first["sealed_salt"]})


def _first_active(rows: list[dict[str, Any]], member: str, partner: str, now: datetime
                  ) -> HeartConsent:
    for row in rows:
        consent = HeartConsent._init_from_db(**row)  # every column: no ORM init to run
        if consent_is_active(consent, now):
            return consent
    raise NoActiveConsent(f"{member} has no active consent for {partner} to check hearts")
