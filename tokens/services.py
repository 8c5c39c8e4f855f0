"""Heart points as plain async functions: build entries, write them, read the projections.

Writers take the signer as an address (the platform holds its custodial key) or a `SigningKey`
(self-custody); either way the entry kind's rules decide. Readers return projection rows or small
dataclasses; nothing here knows about GraphQL.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import rfc8785
from tortoise import connections
from tortoise.exceptions import IntegrityError

from heartchain.accounts.models import Account, CustodialKey
from heartchain.accounts.services import self_register_member
from heartchain.errors import (
    Conflict,
    HeartchainError,
    NotFound,
    ValidationError,
    VerificationError,
)
from heartchain.keys import Address, SigningKey, address_of, verify_key_of
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.log import Appended, LogReader
from heartchain.ledger.store import fetch
from heartchain.lookups import can_match
from heartchain.platform import Platform
from heartchain.privacy import (
    derive_key,
    erase_subject,
    keyed_hash,
    read_personal,
    seal_personal,
    subject_salt,
)
from tokens.attest import attestation_key, build_credential
from tokens.entries import (
    SCOPES,
    RateTable,
    RecordBody,
    check_commitment,
    consent_is_active,
    latest_rates,
    score_at,
)
from tokens.errors import ChecksArePrivate, NoActiveConsent, NotYourConsent, UnknownConsent
from tokens.models import (
    KINDS,
    ConsentHandle,
    DonorContact,
    HeartCheck,
    HeartConsent,
    HeartDonation,
    HeartRateVersion,
    HeartScore,
    LegacyDonorContact,
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

    Every kind needs a rate; it applies to donations recorded after this entry. A retry (same
    Idempotency-Key) answers the version the first attempt published."""
    table = {kind: {"hearts": hearts, "per": per} for kind, (hearts, per) in rates.items()}
    earlier = await platform.written_before("heart.rates", operator)
    if earlier is not None:
        if earlier.entry.body.get("rates") != table:
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    version = (await current_rates()).version + 1
    body = {"operator": _address(operator), "version": version, "rates": table}
    return await platform.write("heart.rates", body, [operator])


# -- donors ----------------------------------------------------------------------------------
# One custodial address per (recording charity, phone or e-mail): the lookup index is a keyed
# hash of both, so charity B recording with a phone that charity A's donor uses learns nothing
# about A's donor (B gets a donor of its own; `created` says only whether B had seen the number).
# Each mapping row carries an HMAC of (index, address) under a key derived from the master key,
# so a row inserted or re-pointed in the database is refused. The contact itself is sealed off
# the log under the donor's subject key (heartchain.privacy), so erasing keeps `verify` green.


@dataclass(frozen=True)
class Donor:
    address: Address
    created: bool  # this request (or its earlier attempt) created the donor


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


def _index(platform: Platform, charity: str, normal: str) -> str:
    return keyed_hash(platform, "charity-donor", f"{charity}\n{normal}")


def _binding(platform: Platform, index: str, address: str) -> str:
    return hmac.new(derive_key(platform, "charity-donor/binding"),
                    f"{index}\n{address}".encode(), hashlib.sha256).hexdigest()


def _bound_address(platform: Platform, row: DonorContact) -> Address:
    if not hmac.compare_digest(row.binding, _binding(platform, row.contact_index, row.address)):
        raise VerificationError("donor contact mapping was altered in the database: its "
                                "binding does not match its address")
    return Address(row.address)


async def donor_for_contact(platform: Platform, contact: str, *, charity: str) -> Donor:
    """`charity`'s custodial donor for a phone or e-mail, created (and self-registered as a
    member) on first use. Whatever an earlier attempt of the request left undone (the mapping
    written, the registration not) is completed, so a retry writes each entry once."""
    normal = normalise_contact(contact)
    index = _index(platform, charity, normal)
    row = await DonorContact.get_or_none(contact_index=index)
    created = False
    if row is not None:
        address = _bound_address(platform, row)
    else:
        adopted = await _legacy_donor(platform, charity, normal)
        address = adopted or address_of(await platform.new_custodial_key())
        try:
            await DonorContact.create(contact_index=index, address=address,
                                      binding=_binding(platform, index, address),
                                      created_at=format_time(platform.clock.now()))
            created = adopted is None
        except IntegrityError:  # a concurrent gift for the same contact won the race
            if adopted is None:
                await CustodialKey.filter(address=address).delete()
            address = _bound_address(platform, await DonorContact.get(contact_index=index))
    if await _ensure_registered(platform, address, normal):
        created = True
    return Donor(address, created)


async def _ensure_registered(platform: Platform, address: Address, contact: str) -> bool:
    """Seal the contact and register the donor, if not done yet (sealing first, so a registered
    donor always has its contact); True when this request registered it."""
    if await Account.exists(address=address):
        # A retry of the request that registered it answers as the first attempt did.
        return await platform.written_before("account.register", address) is not None
    if await read_personal(platform, address, CONTACT_FIELD) is None:
        await seal_personal(platform, address, CONTACT_FIELD, contact)
    try:
        await self_register_member(platform, await platform.custodial_key(address))
    except HeartchainError:
        if not await Account.exists(address=address):  # not a concurrent registration: real
            raise
        return False
    return True


async def _legacy_donor(platform: Platform, charity: str, normal: str) -> Address | None:
    """A donor from before per-charity mappings, adopted only by a charity that already recorded
    a gift for it (it knows the address already, so adopting tells it nothing new), and only if
    the donor's own sealed contact is this one (a row re-pointed in the database is ignored)."""
    legacy = await LegacyDonorContact.get_or_none(
        contact_hash=keyed_hash(platform, "donor-contact", normal))
    if legacy is None or not await HeartDonation.exists(charity=charity, donor=legacy.address):
        return None
    if await read_personal(platform, legacy.address, CONTACT_FIELD) != normal:
        return None
    return Address(legacy.address)


async def addresses_for_contact(platform: Platform, contact: str) -> list[Address]:
    """Every custodial donor address `contact` is bound to, across all charities.

    Call this ONLY after the person proved they hold the contact (a one-time code sent to it):
    it links what each charity alone cannot, so it must never answer a charity's or a stranger's
    question. Rows whose binding fails are refused, not skipped."""
    normal = normalise_contact(contact)
    charities = [a.address for a in await Account.filter(role="charity").only("address")]
    indexes = [_index(platform, charity, normal) for charity in charities]
    found: set[Address] = set()
    for start in range(0, len(indexes), 500):
        for row in await DonorContact.filter(contact_index__in=indexes[start:start + 500]):
            found.add(_bound_address(platform, row))
    legacy = await LegacyDonorContact.get_or_none(
        contact_hash=keyed_hash(platform, "donor-contact", normal))
    if legacy is not None and await read_personal(platform, legacy.address,
                                                  CONTACT_FIELD) == normal:
        found.add(Address(legacy.address))
    return sorted(found)


async def donor_contact(platform: Platform, address: str) -> str | None:
    """The donor's sealed contact, or None (self-custody donor, or erased)."""
    return await read_personal(platform, address, CONTACT_FIELD)


async def erase_donor_contact(platform: Platform, address: str) -> None:
    """Forget how to reach a donor (crypto-shredding). The address, its hearts and the log stay:
    they never held the contact."""
    await DonorContact.filter(address=address).delete()
    await ConsentHandle.filter(member=address).delete()
    await LegacyDonorContact.filter(address=address).delete()
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
    donor = await donor_for_contact(platform, contact, charity=_address(charity))
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
        SELECT idx, SUM(delta) AS delta FROM (
          SELECT idx, hearts AS delta FROM heart_donation WHERE donor = ? AND idx >= ?
          UNION ALL
          SELECT reversed_idx AS idx, -hearts AS delta FROM heart_donation
          WHERE donor = ? AND reversed_idx IS NOT NULL AND reversed_idx >= ?) ch
        GROUP BY idx ORDER BY idx""", [address, after, address, after])
    covering = await LogReader().checkpoint_sizes_covering([int(r["idx"]) for r in rows])
    changes: dict[int, int] = {}  # checkpoint size -> the change it brought, oldest first
    for row in rows:
        size = covering.get(int(row["idx"]))
        if size is None or (size not in changes and len(changes) == first):
            break
        changes[size] = changes.get(size, 0) + int(row["delta"])
    total = await score_at(_db(), address, after) if after else 0
    points = []
    for size, change in changes.items():
        total += change
        points.append(ScorePoint(size, total, change))
    return points


# -- consent and checks ----------------------------------------------------------------------
#
# The log never names the member in a consent or a check. Each (member, partner) pair has a
# consent *handle*: an Ed25519 key that signs that member's grants, revocations and presented
# checks for that partner and nothing else. Its seed comes from the member's sealed salt (or,
# for a self-custody key, from that key), so nobody else can compute it and erasing the member
# makes it unrecoverable; which member a handle is lives only in the off-log `ConsentHandle`.
# A check entry holds the handle and a salted commitment to (member, threshold, checkpoint,
# answer); the salt derives from the member's sealed salt, so the member can open every check.

CHECK_BUCKET = timedelta(hours=1)
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
    key = SigningKey(hmac.new(secret, _HANDLE_DOMAIN + partner.encode(), hashlib.sha256)
                     .digest())
    handle = address_of(key)
    if await ConsentHandle.get_or_none(handle=handle) is None:
        with contextlib.suppress(IntegrityError):  # a concurrent request recorded it first
            await ConsentHandle.create(handle=handle, member=_address(member), partner=partner)
    return key


async def _handles_of(member: str) -> dict[str, str]:
    """handle -> partner, for every handle of `member`."""
    return {h.handle: h.partner for h in await ConsentHandle.filter(member=member)}


async def grant_consent(platform: Platform, *, member: Signer, partner: str,
                        expires: datetime, scope: str = SCOPES[0]) -> Appended:
    handle = await consent_handle(platform, member, partner)
    earlier = await platform.written_before("consent.grant", handle)
    if earlier is not None:  # a retry: "for 30 days" counted from the first attempt
        body = earlier.entry.body
        if (body.get("partner"), body.get("scope")) != (partner, scope):
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    return await platform.write("consent.grant", {
        "handle": address_of(handle), "partner": partner, "scope": scope,
        "expires": format_time(expires)}, [handle])


async def revoke_consent(platform: Platform, *, member: Signer, consent: int) -> Appended:
    row = await HeartConsent.get_or_none(idx=consent)
    if row is None:
        raise UnknownConsent(f"entry {consent} is not a consent")
    if row.handle not in await _handles_of(_address(member)):
        raise NotYourConsent(f"consent {consent} belongs to another member")
    handle = await consent_handle(platform, member, row.partner)
    return await platform.write("consent.revoke", {"handle": row.handle, "consent": consent},
                                [handle])


@dataclass(frozen=True)
class MemberConsent:
    """A consent as its member sees it (the log only knows the handle)."""

    row: HeartConsent
    member: Address


async def consents_of(member: str, *, viewer: Account | None) -> list[MemberConsent]:
    """The member's consents, newest first; only the member may read them."""
    if viewer is None or viewer.address != member:
        raise ChecksArePrivate("consents are visible only to the member who granted them")
    rows = await HeartConsent.filter(handle__in=list(await _handles_of(member))).order_by("-idx")
    return [MemberConsent(row, Address(member)) for row in rows]


async def active_consent(member: str, partner: str, now: datetime) -> HeartConsent:
    handle = (await ConsentHandle.get_or_none(member=member, partner=partner)
              if can_match(ConsentHandle, member=member, partner=partner) else None)
    if handle is not None:
        for consent in await HeartConsent.filter(handle=handle.handle, partner=partner,
                                                 scope=SCOPES[0], revoked_idx=None
                                                 ).order_by("-idx"):
            if consent_is_active(consent, now):
                return consent
    raise NoActiveConsent(f"{member} has no active consent for {partner} to check hearts")


def pseudonym(platform: Platform, partner: str, member: str) -> str:
    """The member as this partner sees them in attestations: stable for the partner, unlinkable
    across partners (a keyed hash only the platform can compute), and not the consent handle."""
    return "urn:heartchain:pseudonym:" + keyed_hash(platform, "partner-pseudonym",
                                                    f"{partner}\n{member}")[:32]


def _bucket(moment: datetime) -> datetime:
    return moment.replace(minute=0, second=0, microsecond=0)


async def as_of_checkpoint(platform: Platform, now: datetime) -> int:
    """The checkpoint a check made at `now` is answered at: the newest one signed by the start
    of the hour (else the first after it), so every check in that hour shares it and none can be
    told apart by it."""
    start = format_time(_bucket(now))
    found = await platform.log.reader.last_checkpoint_size_signed_by(start)
    return found if found is not None else await platform.log.reader.first_checkpoint_size()


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


@dataclass(frozen=True)
class Checked:
    index: int
    result: bool
    checkpoint_size: int
    attestation: dict[str, Any]
    appended: Appended


async def _check_salt(platform: Platform, member: str, fields: Mapping[str, Any]) -> bytes:
    # Derived, not random: a retry with the same Idempotency-Key builds the same entry.
    return hmac.new(await subject_salt(platform, member),
                    b"heartchain/consent-check-salt/v1\n" + rfc8785.dumps(dict(fields)),
                    hashlib.sha256).digest()


async def _record_check(platform: Platform, *, member: str, partner: str, handle: str,
                        consent: int | None, threshold: int, signer: Signer) -> Checked:
    now = platform.clock.now()
    size = await as_of_checkpoint(platform, now)
    result = await score_at(_db(), member, size) >= threshold
    fields = {"checkpoint": size, "consent": consent, "handle": handle, "partner": partner,
              "threshold": threshold, "bucket": format_time(_bucket(now))}
    salt = await _check_salt(platform, member, fields)
    opening = {"threshold": threshold, "checkpoint": size, "result": result, "salt": salt.hex()}
    commitment = check_commitment(member=member, partner=partner, handle=handle,
                                  threshold=threshold, checkpoint=size, result=result, salt=salt)
    # Sealed before the entry is written: a check whose opening were lost could not be shown
    # to its member; an opening without its entry is never shown.
    await seal_personal(platform, member, f"check/{commitment[:48]}", json.dumps(opening))
    body: dict[str, Any] = {"partner": partner, "handle": handle, "commitment": commitment}
    if consent is not None:
        body["consent"] = consent
    appended = await platform.write("consent.check", body, [signer])
    row = await HeartCheck.get(idx=appended.index)
    opened = await open_check(platform, row)
    return Checked(appended.index, result, size, await _attestation(platform, opened),
                   appended)


async def check_hearts(platform: Platform, *, partner: Signer, member: str,
                       threshold: int) -> Checked:
    """Does `member` hold at least `threshold` hearts (as of this hour's checkpoint)? Needs the
    member's active consent for this partner; the partner signs the recorded check, which names
    neither the member nor the answer, and gets a signed attestation."""
    partner_address = _address(partner)
    consent = await active_consent(member, partner_address, platform.clock.now())
    if threshold < 1:
        raise ValidationError("threshold: must be at least 1", field="threshold")
    return await _record_check(platform, member=member, partner=partner_address,
                               handle=consent.handle, consent=consent.idx, threshold=threshold,
                               signer=partner)


async def present_hearts(platform: Platform, *, member: Signer, partner: str,
                         threshold: int) -> Checked:
    """A credential the member asked for, to show `partner` themselves (a QR code or link): the
    partner needs neither the member's address nor a consent. Recorded as a check signed by the
    member's handle for that partner."""
    if threshold < 1:
        raise ValidationError("threshold: must be at least 1", field="threshold")
    await _require_partner(partner)
    handle = await consent_handle(platform, member, partner)
    return await _record_check(platform, member=_address(member), partner=partner,
                               handle=address_of(handle), consent=None, threshold=threshold,
                               signer=handle)


async def _require_partner(address: str) -> None:
    account = (await Account.get_or_none(address=address)
               if can_match(Account, address=address) else None)
    if account is None or account.role != "partner":
        raise NotFound(f"{address} is not a registered partner")


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
    return await _attestation(platform, await open_check(platform, check))


async def _attestation(platform: Platform, check: CheckOpening) -> dict[str, Any]:
    # validFrom is the hour the check was made in and asOf that hour's checkpoint: a log
    # reader holding the credential cannot pick its entry among that hour's checks.
    valid_from = _bucket(parse_time(check.checked_at))
    valid_until = valid_from + ATTESTATION_LIFETIME
    if check.consent is not None:
        consent = await HeartConsent.get(idx=check.consent)
        expires = parse_time(consent.expires_at)
        valid_until = min(valid_until, max(_bucket(expires), valid_from + CHECK_BUCKET))
    root_hash = await platform.log.root_at(check.checkpoint_size)
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
    query = HeartCheck.filter(handle__in=list(await _handles_of(member)))
    if before is not None:
        query = query.filter(idx__lt=before)
    return [await open_check(platform, row) for row in await query.order_by("-idx").limit(first)]


async def get_check(index: int) -> HeartCheck:
    row = await HeartCheck.get_or_none(idx=index)
    if row is None:
        raise NotFound(f"entry {index} is not a partner check")
    return row
