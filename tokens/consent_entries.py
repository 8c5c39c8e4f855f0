"""Entry kinds of consents and partner checks (heart points' other kinds: tokens.entries).

- `consent.grant` / `consent.revoke` (the member, under a per-partner *handle*: a key of its own
  that signs nothing else, so the log never links the member to the partner): lets the partner
  check "hearts >= N" until expiry.
- `consent.check`: a check for a partner, signed by the partner under the handle's active consent
  (the rule checks it), or signed by the handle itself when the member presents a credential.
  Who was checked, the threshold, the checkpoint and the answer are only in a salted commitment
  (`check_commitment`) that the member can open; no entry names the member.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any, Literal

from heartchain.accounts.entries import load_roles, require_role, role_of
from heartchain.errors import ValidationError
from heartchain.ledger.body import Address, Body, Hex32, Index, Time, literal_values
from heartchain.ledger.entries import format_time, jcs, parse_time
from heartchain.ledger.kinds import ApplyContext, prefetches, projects, rules
from heartchain.ledger.store import fetch, in_chunks
from tokens.errors import (
    ConsentAlreadyRevoked,
    NoActiveConsent,
    NotYourConsent,
    UnknownConsent,
)
from tokens.models import HeartConsent

Scope = Literal["hearts.threshold"]
SCOPES: tuple[str, ...] = literal_values(Scope)


class GrantBody(Body):
    """A member, under a pseudonymous per-partner handle, lets a partner check their hearts
    against a threshold, until expiry."""

    KIND = "consent.grant"
    SIGNERS = ("handle",)

    handle: Address
    partner: Address
    scope: Scope
    expires: Time

    def __post_init__(self) -> None:
        try:  # the pattern admits month 13; the calendar does not
            parse_time(self.expires)
        except ValidationError:
            raise ValidationError(f"consent.grant: expires: expected YYYY-MM-DDTHH:MM:SS.mmmZ, "
                                  f"got {self.expires!r}", field="expires") from None


async def _require_handle(ctx: ApplyContext, handle: str, kind: str) -> None:
    # A member's own address here would name them: a handle is a key used for nothing else.
    if await role_of(ctx, handle) is not None:
        raise ValidationError(f"{kind}: handle: {handle} is a registered account, not a "
                              "pseudonymous consent handle", field="handle")


@rules(GrantBody)
async def _check_grant(ctx: ApplyContext, body: GrantBody) -> None:
    await _require_handle(ctx, body.handle, GrantBody.KIND)
    await require_role(ctx, body.partner, "partner")
    if parse_time(body.expires) <= ctx.now:
        raise ValidationError(f"consent.grant: expires: {body.expires} is already past",
                              field="expires")


@projects(GrantBody)
async def _project_grant(ctx: ApplyContext, body: GrantBody) -> None:
    await HeartConsent.create(using_db=ctx.conn, idx=ctx.index, handle=body.handle,
                              partner=body.partner, scope=body.scope, expires_at=body.expires,
                              granted_at=format_time(ctx.now))


class RevokeBody(Body):
    """A member withdraws a consent (signed by its handle); later checks under it are refused."""

    KIND = "consent.revoke"
    SIGNERS = ("handle",)

    handle: Address
    consent: Index


async def _consent(ctx: ApplyContext, index: int) -> HeartConsent:
    row = await HeartConsent.filter(idx=index).using_db(ctx.conn).first()
    if row is None:
        raise UnknownConsent(f"entry {index} is not a consent")
    return row


@rules(RevokeBody)
async def _check_revoke(ctx: ApplyContext, body: RevokeBody) -> None:
    consent = await _consent(ctx, body.consent)
    if consent.handle != body.handle:
        raise NotYourConsent(f"consent.revoke: consent {body.consent} was granted under "
                             "another handle")
    if consent.revoked_idx is not None:
        raise ConsentAlreadyRevoked(f"consent.revoke: consent {body.consent} was already "
                                    f"revoked by entry {consent.revoked_idx}")


@projects(RevokeBody)
async def _project_revoke(ctx: ApplyContext, body: RevokeBody) -> None:
    await HeartConsent.filter(idx=body.consent).using_db(ctx.conn).update(revoked_idx=ctx.index)


def consent_is_active(consent: HeartConsent, now: datetime) -> bool:
    return consent.revoked_idx is None and parse_time(consent.expires_at) > now


CHECK_COMMITMENT_DOMAIN = b"heartchain/consent-check/v1\n"


def check_commitment(*, member: str, partner: str, handle: str, threshold: int,
                     checkpoint: int, result: bool, salt: bytes) -> str:
    """What a `consent.check` entry holds instead of who was checked and the answer: hex
    SHA-256 of a domain tag and the JCS of the opening. The member (who holds the salt) can open
    it; without the salt it reveals nothing."""
    opening: dict[str, Any] = {"checkpoint": checkpoint, "handle": handle, "member": member,
               "partner": partner, "result": result, "salt": salt.hex(),
               "threshold": threshold}
    return hashlib.sha256(CHECK_COMMITMENT_DOMAIN + jcs(opening)).hexdigest()


class CheckBody(Body):
    """A recorded check of 'hearts >= N' for a partner, under the consent of a pseudonymous
    handle (signed by the partner) or presented by the member (signed by the handle); who and
    what are in a salted commitment only the member can open."""

    KIND = "consent.check"
    SIGNERS = ("partner",)  # under a consent; a presented check (no consent): the handle

    partner: Address
    handle: Address
    commitment: Hex32
    consent: Index | None = None  # None: presented by the member, who signs with the handle

    def signers(self) -> list[str]:
        return [self.partner] if self.consent is not None else [self.handle]


# Set-based (heartchain.ledger.kinds): a partner check is a write on every call. The batch's
# consents are read once (prefetch) into the memo; only consent.grant / consent.revoke (and
# corrections) change a consent, and they are per-entry kinds, after which the memo is cleared.


def _consent_key(index: int) -> tuple[str, int]:
    return ("tokens.consent", index)


async def _load_consents(ctx: ApplyContext, indexes: list[int]) -> None:
    wanted = sorted({i for i in indexes if _consent_key(i) not in ctx.memo})
    for chunk in in_chunks(wanted):
        rows = await fetch(ctx.conn, f"SELECT {', '.join(_CONSENT_COLUMNS)} FROM heart_consent "
                           f"WHERE idx IN ({', '.join('?' * len(chunk))})", chunk)
        for row in rows:  # a miss is not memoized: read again when asked
            ctx.memo[_consent_key(int(row["idx"]))] = HeartConsent._init_from_db(**row)


async def _memo_consent(ctx: ApplyContext, index: int) -> HeartConsent:
    if _consent_key(index) not in ctx.memo:
        await _load_consents(ctx, [index])
    row: HeartConsent | None = ctx.memo.get(_consent_key(index))
    if row is None:
        raise UnknownConsent(f"entry {index} is not a consent")
    return row


@prefetches(CheckBody)
async def _prefetch_check(ctx: ApplyContext, bodies: list[CheckBody]) -> None:
    await _load_consents(ctx, [b.consent for b in bodies if b.consent is not None])
    await load_roles(ctx, [a for b in bodies for a in (b.partner, b.handle)])


@rules(CheckBody, batched=True)
async def _check_check(ctx: ApplyContext, body: CheckBody) -> None:
    await require_role(ctx, body.partner, "partner")
    if body.consent is None:  # member-presented: the handle's own signature is the consent
        await _require_handle(ctx, body.handle, CheckBody.KIND)
        return
    consent = await _memo_consent(ctx, body.consent)
    if (consent.handle, consent.partner) != (body.handle, body.partner):
        raise NoActiveConsent(f"consent.check: consent {body.consent} is not {body.handle}'s "
                              f"consent to {body.partner}")
    if not consent_is_active(consent, ctx.now):
        state = "revoked" if consent.revoked_idx is not None else "expired"
        raise NoActiveConsent(f"consent.check: consent {body.consent} was {state}")


@projects(CheckBody, batched=True)
async def _project_check(ctx: ApplyContext, body: CheckBody) -> None:
    await ctx.write("INSERT INTO heart_check (idx, handle, partner, consent_idx, commitment, "
                    "checked_at) VALUES (?, ?, ?, ?, ?, ?)",
                    [ctx.index, body.handle, body.partner, body.consent, body.commitment,
                     format_time(ctx.now)])


_CONSENT_COLUMNS = tuple(sorted(HeartConsent._meta.db_fields))
