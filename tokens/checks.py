"""Recorded partner checks as their member sees them: opened from the member's sealed salt,
and the signed attestation (a W3C verifiable credential) for each.

The log holds only a check's handle and a salted commitment; which member a handle is lives off
the log (`ConsentHandle`), and so does the opening (sealed under the member's subject key).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from heartchain.accounts.models import Account
from heartchain.errors import NotFound, VerificationError
from heartchain.keys import Address
from heartchain.ledger.entries import format_time, parse_time
from heartchain.platform import Platform
from heartchain.privacy import keyed_hash, read_personal
from tokens.attest import attestation_key, build_credential
from tokens.consent_entries import check_commitment
from tokens.errors import ChecksArePrivate
from tokens.models import ConsentHandle, HeartCheck, HeartConsent

ATTESTATION_LIFETIME = timedelta(days=1)
CHECK_BUCKET = timedelta(hours=1)


def hour_of(moment: datetime) -> datetime:
    """The hour a check falls in: checks are answered, and attested, by the hour."""
    return moment.replace(minute=0, second=0, microsecond=0)


async def handles_of(member: str) -> dict[str, str]:
    """handle -> partner, for every handle of `member`."""
    return {h.handle: h.partner for h in await ConsentHandle.filter(member=member)}


def pseudonym(platform: Platform, partner: str, member: str) -> str:
    """The member as this partner sees them in attestations: stable for the partner, unlinkable
    across partners (a keyed hash only the platform can compute), and not the consent handle."""
    return "urn:heartchain:pseudonym:" + keyed_hash(platform, "partner-pseudonym",
                                                    f"{partner}\n{member}")[:32]


@dataclass(frozen=True)
class CheckOpening:
    """What a `consent.check` commitment hides; the member's view of one check."""

    index: int
    partner: str
    handle: str
    member: Address
    consent: int | None
    threshold: int
    checkpoint_size: int
    result: bool
    checked_at: str


async def open_check(platform: Platform, check: HeartCheck) -> CheckOpening:
    """The check's hidden fields, from the member's sealed opening, checked against the
    commitment on the log."""
    owner = await ConsentHandle.get_or_none(handle=check.handle)
    text = (await read_personal(platform, owner.member, f"check/{check.commitment[:48]}")
            if owner is not None else None)
    if owner is None or text is None:
        raise NotFound(f"check {check.idx} cannot be opened (its member was erased)")
    opening = json.loads(text)
    if check_commitment(member=owner.member, partner=check.partner, handle=check.handle,
                        threshold=opening["threshold"], checkpoint=opening["checkpoint"],
                        result=opening["result"], salt=bytes.fromhex(opening["salt"])
                        ) != check.commitment:
        raise VerificationError(f"check {check.idx}: the sealed opening does not match the "
                                "commitment on the log")
    return CheckOpening(check.idx, check.partner, check.handle, Address(owner.member),
                        check.consent_idx, int(opening["threshold"]),
                        int(opening["checkpoint"]), bool(opening["result"]), check.checked_at)


async def attestation_for(platform: Platform, check: HeartCheck) -> dict[str, Any]:
    """The signed credential for a recorded check. Deterministic: asking again gives the same
    document (Ed25519 signatures are deterministic, every field comes from the log and the
    member's opening)."""
    return await attestation(platform, await open_check(platform, check))


async def attestation(platform: Platform, check: CheckOpening, *,
                      consent_expires: str | None = None,
                      root_hash: bytes | None = None) -> dict[str, Any]:
    """`consent_expires`: the check's consent's expires_at, and `root_hash` the root of its
    checkpoint, when the caller has just read them."""
    if check.consent is not None and consent_expires is None:
        consent_expires = (await HeartConsent.get(idx=check.consent)).expires_at
    if root_hash is None:
        root_hash = await platform.log.root_at(check.checkpoint_size)
    return credential_for(platform, check, consent_expires=consent_expires, root_hash=root_hash)


def credential_for(platform: Platform, check: CheckOpening, *, consent_expires: str | None,
                   root_hash: bytes) -> dict[str, Any]:
    """The attestation from what it says (no reads): `consent_expires` is the check's consent's
    expires_at (None for a check the member presented), `root_hash` its checkpoint's root."""
    # validFrom is the hour the check was made in and asOf that hour's checkpoint: a log
    # reader holding the credential cannot pick its entry among that hour's checks.
    valid_from = hour_of(parse_time(check.checked_at))
    valid_until = valid_from + ATTESTATION_LIFETIME
    if check.consent is not None:
        if consent_expires is None:
            raise ValueError(f"check {check.index} was made under a consent: its expiry is needed")
        expires = parse_time(consent_expires)
        valid_until = min(valid_until, max(hour_of(expires), valid_from + CHECK_BUCKET))
    credential_id = uuid.UUID(hex=keyed_hash(platform, "attestation-id",
                                             f"{platform.log.origin}\n{check.index}")[:32],
                              version=4)
    return build_credential(
        key=attestation_key(platform), credential_id=credential_id.urn,
        valid_from=format_time(valid_from), valid_until=format_time(valid_until),
        pseudonym=pseudonym(platform, check.partner, check.member), threshold=check.threshold,
        result=check.result, origin=platform.log.origin, checkpoint_size=check.checkpoint_size,
        root_hash=root_hash)


async def checks_on(platform: Platform, member: str, *, viewer: Account | None,
                    first: int = 20, before: int | None = None) -> list[CheckOpening]:
    """Checks made on `member` (by partners, or presented by the member), newest first, opened;
    only the member may read them."""
    if viewer is None or viewer.address != member:
        raise ChecksArePrivate("partner checks are visible only to the member they were made on")
    query = HeartCheck.filter(handle__in=list(await handles_of(member)))
    if before is not None:
        query = query.filter(idx__lt=before)
    return [await open_check(platform, row) for row in await query.order_by("-idx").limit(first)]


async def get_check(index: int) -> HeartCheck:
    row = await HeartCheck.get_or_none(idx=index)
    if row is None:
        raise NotFound(f"entry {index} is not a partner check")
    return row
