"""Heart points as plain async functions: build entries, write them, read the projections.

Writers take the signer as an address (the platform holds its custodial key) or a `SigningKey`
(self-custody); either way the entry kind's rules decide. Readers return projection rows or small
dataclasses; nothing here knows about GraphQL.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from tortoise import connections
from tortoise.exceptions import IntegrityError

from heartchain.accounts.models import Account, CustodialKey
from heartchain.accounts.services import self_register_member
from heartchain.errors import NotFound, ValidationError
from heartchain.keys import Address, SigningKey, address_of
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.log import Appended
from heartchain.ledger.store import fetch
from heartchain.lookups import can_match
from heartchain.platform import Platform
from heartchain.privacy import erase_subject, keyed_hash, read_personal, seal_personal
from tokens.attest import attestation_key, build_credential
from tokens.entries import (
    SCOPES,
    RateTable,
    RecordBody,
    consent_is_active,
    latest_rates,
    score_at,
)
from tokens.errors import ChecksArePrivate, NoActiveConsent
from tokens.models import (
    KINDS,
    DonorContact,
    HeartCheck,
    HeartConsent,
    HeartDonation,
    HeartRateVersion,
    HeartScore,
)

Signer = str | SigningKey
ATTESTATION_LIFETIME = timedelta(days=1)
CONTACT_FIELD = "contact"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9]{6,15}")


def _address(signer: Signer) -> Address:
    return address_of(signer) if isinstance(signer, SigningKey) else Address(signer)


def _db() -> Any:
    return connections.get("default")


# -- rates -----------------------------------------------------------------------------------


async def current_rates() -> RateTable:
    """The table in force for the next donation (built-in version 0 until the operator sets one)."""
    return await latest_rates()


async def rate_versions() -> list[HeartRateVersion]:
    return await HeartRateVersion.all().order_by("version")


async def set_heart_rates(platform: Platform, operator: Signer,
                          rates: Mapping[str, tuple[int, int]]) -> Appended:
    """Set the next rate table: `{"cash": (hearts, per_fen), "food": (hearts, per_gram), ...}`.

    Every kind needs a rate; it applies to donations recorded after this entry."""
    version = (await current_rates()).version + 1
    body = {"operator": _address(operator), "version": version,
            "rates": {kind: {"hearts": hearts, "per": per}
                      for kind, (hearts, per) in rates.items()}}
    return await platform.write("heart.rates", body, [operator])


# -- donors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Donor:
    address: Address
    created: bool


def normalise_contact(contact: str) -> str:
    """One spelling per phone number or e-mail address, so the same person maps to one donor.

    E-mail is lower-cased; a phone keeps its digits and a leading +; an 11-digit number starting
    with 1 is a mainland China mobile and gets +86."""
    text = contact.strip()
    if "@" in text:
        email = text.lower()
        if not _EMAIL.fullmatch(email) or len(email) > 254:
            raise ValidationError("contact: not an e-mail address", field="contact")
        return email
    phone = re.sub(r"[\s().-]", "", text)
    if not _PHONE.fullmatch(phone):
        raise ValidationError("contact: not a phone number or e-mail address", field="contact")
    if not phone.startswith("+") and len(phone) == 11 and phone.startswith("1"):
        phone = "+86" + phone
    return phone


async def donor_for_contact(platform: Platform, contact: str) -> Donor:
    """The custodial donor address for a phone or e-mail, created (and self-registered as a
    member) on first use. The contact stays off the log, sealed under the donor's own key; the
    index is a keyed hash, so the database never holds it in clear."""
    normal = normalise_contact(contact)
    index = keyed_hash(platform, "donor-contact", normal)
    existing = await DonorContact.get_or_none(contact_hash=index)
    if existing is not None:
        return Donor(Address(existing.address), False)
    key = await platform.new_custodial_key()
    address = address_of(key)
    try:
        await DonorContact.create(contact_hash=index, address=address,
                                  created_at=format_time(platform.clock.now()))
    except IntegrityError:  # a concurrent gift for the same contact won the race
        await CustodialKey.filter(address=address).delete()
        row = await DonorContact.get(contact_hash=index)
        return Donor(Address(row.address), False)
    await self_register_member(platform, key)
    await seal_personal(platform, address, CONTACT_FIELD, normal)
    return Donor(address, True)


async def donor_contact(platform: Platform, address: str) -> str | None:
    """The donor's sealed contact, or None (self-custody donor, or erased)."""
    return await read_personal(platform, address, CONTACT_FIELD)


async def erase_donor_contact(platform: Platform, address: str) -> None:
    """Forget how to reach a donor (crypto-shredding). The address, its hearts and the log stay:
    they never held the contact."""
    await DonorContact.filter(address=address).delete()
    await erase_subject(platform, address)


# -- donations -------------------------------------------------------------------------------


async def record_donation(platform: Platform, *, charity: Signer, donor: str, kind: str,
                          quantity: int, campaign: str, receipt: str | None = None) -> Appended:
    """A gift received by `charity`: mints hearts to `donor` at the rate in force."""
    body: dict[str, object] = {"charity": _address(charity), "donor": donor, "kind": kind,
                               "quantity": quantity, "campaign": campaign}
    if receipt is not None:
        body["receipt"] = receipt
    return await platform.write("donation.record", body, [charity])


async def record_donation_for_contact(platform: Platform, *, charity: Signer, contact: str,
                                      kind: str, quantity: int, campaign: str,
                                      receipt: str | None = None) -> tuple[Donor, Appended]:
    """`record_donation` for a donor known by phone or e-mail. The gift is checked for shape
    first, so a malformed one creates no donor either."""
    probe: dict[str, object] = {"charity": _address(charity), "donor": _address(charity),
                                "kind": kind, "quantity": quantity, "campaign": campaign,
                                "receipt": receipt}
    RecordBody.parse(probe)
    donor = await donor_for_contact(platform, contact)
    appended = await record_donation(platform, charity=charity, donor=donor.address, kind=kind,
                                     quantity=quantity, campaign=campaign, receipt=receipt)
    return donor, appended


async def reverse_donation(platform: Platform, *, charity: Signer, donation: int,
                           reason: str = "refund") -> Appended:
    """A refund or chargeback: burns exactly what `donation` minted. Only its charity, once."""
    return await platform.write("donation.reverse", {"charity": _address(charity),
                                                     "donation": donation, "reason": reason},
                                [charity])


async def get_donation(index: int) -> HeartDonation:
    row = await HeartDonation.get_or_none(idx=index)
    if row is None:
        raise NotFound(f"entry {index} is not a donation")
    return row


async def donations_of(address: str, *, first: int = 20, before: int | None = None,
                       kind: str | None = None) -> list[HeartDonation]:
    """A donor's gifts, newest first; `before` is the index to continue below."""
    if not can_match(HeartDonation, donor=address, kind=kind or ""):
        return []
    query = HeartDonation.filter(donor=address)
    if kind is not None:
        query = query.filter(kind=kind)
    if before is not None:
        query = query.filter(idx__lt=before)
    return await query.order_by("-idx").limit(first)


# -- scores ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KindScore:
    kind: str
    hearts: int
    quantity: int
    gifts: int


@dataclass(frozen=True)
class Score:
    address: Address
    total: int
    minted: int
    burned: int
    gifts: int
    reversals: int
    by_kind: dict[str, int]


async def score(address: str) -> Score:
    row = await HeartScore.get_or_none(address=address)
    if row is None:
        return Score(Address(address), 0, 0, 0, 0, 0, dict.fromkeys(KINDS, 0))
    return Score(Address(address), row.total, row.minted, row.burned, row.gifts, row.reversals,
                 {"cash": row.cash, "food": row.food, "tree": row.tree})


async def breakdown(address: str) -> list[KindScore]:
    """Hearts, quantity given and gifts per kind, reversed gifts excluded."""
    rows = await fetch(_db(), "SELECT kind, SUM(hearts) AS hearts, SUM(quantity) AS quantity, "
                       "COUNT(*) AS gifts FROM heart_donation WHERE donor = ? AND reversed_idx "
                       "IS NULL GROUP BY kind", [address])
    found = {r["kind"]: r for r in rows}
    return [KindScore(kind, int(found[kind]["hearts"]) if kind in found else 0,
                      int(found[kind]["quantity"]) if kind in found else 0,
                      int(found[kind]["gifts"]) if kind in found else 0) for kind in KINDS]


@dataclass(frozen=True)
class ScorePoint:
    checkpoint_size: int  # the first checkpoint that included the change
    total: int            # the score at that checkpoint
    change: int


async def score_history(address: str, *, first: int = 50, after: int = 0) -> list[ScorePoint]:
    """The score at each checkpoint where it changed, oldest first, after checkpoint `after`."""
    rows = await fetch(_db(), """
        SELECT cp, SUM(delta) AS delta FROM (
          SELECT (SELECT MIN(size) FROM log_checkpoint WHERE size > ch.idx) AS cp, ch.delta
          FROM (SELECT idx, hearts AS delta FROM heart_donation WHERE donor = ?
                UNION ALL
                SELECT reversed_idx AS idx, -hearts AS delta FROM heart_donation
                WHERE donor = ? AND reversed_idx IS NOT NULL) ch
          WHERE ch.idx >= ?) g
        GROUP BY cp ORDER BY cp LIMIT ?""",
                       [address, address, after, first])
    total = await score_at(_db(), address, after) if after else 0
    points = []
    for row in rows:
        change = int(row["delta"])
        total += change
        points.append(ScorePoint(int(row["cp"]), total, change))
    return points


# -- consent and checks ----------------------------------------------------------------------


async def grant_consent(platform: Platform, *, member: Signer, partner: str,
                        expires: datetime, scope: str = SCOPES[0]) -> Appended:
    return await platform.write("consent.grant", {
        "member": _address(member), "partner": partner, "scope": scope,
        "expires": format_time(expires)}, [member])


async def revoke_consent(platform: Platform, *, member: Signer, consent: int) -> Appended:
    return await platform.write("consent.revoke", {"member": _address(member),
                                                   "consent": consent}, [member])


async def consents_of(member: str) -> list[HeartConsent]:
    return await HeartConsent.filter(member=member).order_by("-idx")


async def active_consent(member: str, partner: str, now: datetime) -> HeartConsent:
    consents = await HeartConsent.filter(member=member, partner=partner, scope=SCOPES[0],
                                         revoked_idx=None).order_by("-idx") \
        if can_match(HeartConsent, member=member, partner=partner) else []
    for consent in consents:
        if consent_is_active(consent, now):
            return consent
    raise NoActiveConsent(f"{member} has no active consent for {partner} to check hearts")


def pseudonym(platform: Platform, partner: str, member: str) -> str:
    """The member as this partner sees them in attestations: stable for the partner, unlinkable
    across partners (a keyed hash only the platform can compute)."""
    return "urn:heartchain:pseudonym:" + keyed_hash(platform, "partner-pseudonym",
                                                    f"{partner}\n{member}")[:32]


@dataclass(frozen=True)
class Checked:
    index: int
    result: bool
    checkpoint_size: int
    attestation: dict[str, Any]
    appended: Appended


async def check_hearts(platform: Platform, *, partner: Signer, member: str,
                       threshold: int) -> Checked:
    """Does `member` hold at least `threshold` hearts at the latest checkpoint? Needs the
    member's active consent; the check is recorded (a `consent.check` entry signed by the
    partner) and answered with a signed attestation."""
    partner_address = _address(partner)
    consent = await active_consent(member, partner_address, platform.clock.now())
    checkpoint = await platform.log.latest_checkpoint()
    result = await score_at(_db(), member, checkpoint.size) >= threshold
    appended = await platform.write("consent.check", {
        "partner": partner_address, "member": member, "consent": consent.idx,
        "threshold": threshold, "checkpoint": checkpoint.size, "result": result}, [partner])
    row = await HeartCheck.get(idx=appended.index)
    return Checked(appended.index, row.result, row.checkpoint_size,
                   await attestation_for(platform, row), appended)


async def attestation_for(platform: Platform, check: HeartCheck) -> dict[str, Any]:
    """The signed credential for a recorded check. Deterministic: asking again gives the same
    document (Ed25519 signatures are deterministic, every field comes from the log)."""
    consent = await HeartConsent.get(idx=check.consent_idx)
    checked_at = parse_time(check.checked_at)
    valid_until = min(parse_time(consent.expires_at), checked_at + ATTESTATION_LIFETIME)
    root_hash = await platform.log.root_at(check.checkpoint_size)
    credential_id = uuid.UUID(hex=keyed_hash(platform, "attestation-id",
                                             f"{platform.log.origin}\n{check.idx}")[:32],
                              version=4)
    return build_credential(
        key=attestation_key(platform), credential_id=credential_id.urn,
        valid_from=check.checked_at, valid_until=format_time(valid_until),
        pseudonym=pseudonym(platform, check.partner, check.member), threshold=check.threshold,
        result=check.result, origin=platform.log.origin, checkpoint_size=check.checkpoint_size,
        root_hash=root_hash)


async def checks_on(member: str, *, viewer: Account | None, first: int = 20,
                    before: int | None = None) -> list[HeartCheck]:
    """Partner checks made on `member`, newest first; only the member may read them."""
    if viewer is None or viewer.address != member:
        raise ChecksArePrivate("partner checks are visible only to the member they were made on")
    query = HeartCheck.filter(member=member)
    if before is not None:
        query = query.filter(idx__lt=before)
    return await query.order_by("-idx").limit(first)


async def get_check(index: int) -> HeartCheck:
    row = await HeartCheck.get_or_none(idx=index)
    if row is None:
        raise NotFound(f"entry {index} is not a partner check")
    return row
