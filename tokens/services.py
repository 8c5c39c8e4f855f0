"""Heart points as plain async functions: build entries, write them, read the projections.

Writers take the signer as an address (the platform holds its custodial key) or a `SigningKey`
(self-custody); either way the entry kind's rules decide. Readers return projection rows or small
dataclasses; nothing here knows about GraphQL.
"""

from __future__ import annotations

import functools
import hmac
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from tortoise import connections

from heartchain.accounts.models import Account
from heartchain.errors import Conflict, NotFound, ValidationError
from heartchain.keys import Address, Signer, address_of, signer_address, signing_keys
from heartchain.ledger.body import decode, wire
from heartchain.ledger.entries import format_time, jcs
from heartchain.ledger.log import Appended, LogReader
from heartchain.ledger.store import fetch
from heartchain.lookups import can_match
from heartchain.platform import Platform
from heartchain.privacy import opened_salt_and_key, sealed_row, subject_salt_and_key

# Re-exported: callers keep asking `tokens.services` for donors and opened checks.
from tokens.checks import CheckOpening as CheckOpening
from tokens.checks import attestation, credential_for, open_check
from tokens.checks import attestation_for as attestation_for
from tokens.checks import checks_on as checks_on
from tokens.checks import get_check as get_check
from tokens.checks import hour_of as _bucket
from tokens.checks import pseudonym as pseudonym
from tokens.consent_entries import (
    CheckBody,
    check_commitment,
)
from tokens.consents import MemberConsent as MemberConsent
from tokens.consents import active_consent as active_consent
from tokens.consents import active_consent_and_score, consent_handle
from tokens.consents import consents_of as consents_of
from tokens.consents import grant_consent as grant_consent
from tokens.consents import revoke_consent as revoke_consent
from tokens.donors import Donor as Donor
from tokens.donors import addresses_for_contact as addresses_for_contact
from tokens.donors import donor_contact as donor_contact
from tokens.donors import donor_for_contact as donor_for_contact
from tokens.donors import erase_donor_contact as erase_donor_contact
from tokens.donors import normalise_contact as normalise_contact
from tokens.entries import (
    Rate,
    RatesBody,
    RateTable,
    RateTerms,
    RecordBody,
    ReverseBody,
    latest_rates,
    score_at,
)
from tokens.models import (
    KINDS,
    HeartCheck,
    HeartDonation,
    HeartRateVersion,
    HeartScore,
)


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
    for kind in rates:
        if kind not in KINDS:
            raise ValidationError(f"heart.rates: rates: unknown kind {kind!r}", field="rates")
    terms = RateTerms(**{kind: Rate(hearts=hearts, per=per)
                         for kind, (hearts, per) in rates.items()})
    earlier = await platform.written_before(RatesBody, operator)
    if earlier is not None:
        if earlier.entry.body.get("rates") != wire(terms):
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    version = (await current_rates()).version + 1
    return await platform.write(RatesBody(operator=signer_address(operator), version=version,
                                          rates=terms), *signing_keys(operator))


# -- donations -------------------------------------------------------------------------------


async def record_donation(platform: Platform, *, charity: Signer, donor: str, kind: str,
                          quantity: int, campaign: str, receipt: str | None = None) -> Appended:
    """A gift received by `charity`: mints hearts to `donor` at the rate in force."""
    return await platform.write(
        RecordBody(charity=signer_address(charity), donor=Address(donor),
                   kind=kind, quantity=quantity,  # type: ignore[arg-type]  # decode checks
                   campaign=campaign, receipt=receipt), *signing_keys(charity))


async def record_donation_for_contact(platform: Platform, *, charity: Signer, contact: str,
                                      kind: str, quantity: int, campaign: str,
                                      receipt: str | None = None) -> tuple[Donor, Appended]:
    """`record_donation` for a donor known by phone or e-mail. The gift is checked for shape
    first, so a malformed one creates no donor either."""
    probe = RecordBody(charity=signer_address(charity), donor=signer_address(charity),
                       kind=kind, quantity=quantity,  # type: ignore[arg-type]  # decode checks
                       campaign=campaign, receipt=receipt)
    decode(RecordBody, wire(probe))
    donor = await donor_for_contact(platform, contact, charity=signer_address(charity))
    appended = await record_donation(platform, charity=charity, donor=donor.address, kind=kind,
                                     quantity=quantity, campaign=campaign, receipt=receipt)
    return donor, appended


async def reverse_donation(platform: Platform, *, charity: Signer, donation: int,
                           reason: str = "refund") -> Appended:
    """A refund or chargeback: burns exactly what `donation` minted. Only its charity, once."""
    return await platform.write(
        ReverseBody(charity=signer_address(charity), donation=donation,
                    reason=reason),  # type: ignore[arg-type]  # decode checks
        *signing_keys(charity))


def written_donation(appended: Appended) -> dict[str, Any] | None:
    """The columns of the donation row `appended` just wrote, as its projector answered them
    (no read back); None for an entry looked up again (a retried write)."""
    answer = appended.written.answer if appended.written is not None else None
    return answer if isinstance(answer, dict) else None


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
    """Hearts, quantity given and gifts per kind, reversed gifts excluded; a gift refunded in
    part (pay for success) counts the hearts it kept."""
    rows = await fetch(_db(), "SELECT kind, SUM(hearts - COALESCE(refund_hearts, 0)) AS hearts, "
                       "SUM(quantity) AS quantity, "
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
          WHERE donor = ? AND reversed_idx IS NOT NULL AND reversed_idx >= ?
          UNION ALL
          SELECT refund_idx AS idx, -refund_hearts AS delta FROM heart_donation
          WHERE donor = ? AND refund_idx IS NOT NULL AND refund_idx >= ?) ch
        GROUP BY idx ORDER BY idx""", [address, after, address, after, address, after])
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


# -- checks (consents: tokens.consents) -----------------------------------------------------


async def as_of_checkpoint(platform: Platform, now: datetime) -> tuple[int, bytes]:
    """The checkpoint (size, root hash) a check made at `now` is answered at: the newest one
    signed by the start of the hour (else the first after it), so every check in that hour
    shares it and none can be told apart by it."""
    return await platform.log.reader.checkpoint_as_of(format_time(_bucket(now)))


@dataclass(frozen=True)
class Checked:
    index: int
    result: bool
    checkpoint_size: int
    appended: Appended
    # Builds the attestation from what the check already holds (no reads): only a caller that
    # asks for it pays its signature, about a tenth of a check's CPU.
    credential: Callable[[], dict[str, Any]] = field(repr=False, compare=False)

    @functools.cached_property
    def attestation(self) -> dict[str, Any]:
        """The signed W3C credential for this check (the same document every time)."""
        return self.credential()


def _check_salt(member_salt: bytes, fields: Mapping[str, Any]) -> bytes:
    # Derived, not random: a retry with the same Idempotency-Key builds the same entry.
    return hmac.digest(member_salt, b"heartchain/consent-check-salt/v1\n" + jcs(dict(fields)),
                       "sha256")


@dataclass(frozen=True)
class _CheckInputs:
    """What a check is answered from: its time, the hour's checkpoint, the member's score."""

    now: datetime
    size: int
    root_hash: bytes
    score: int
    sealed_salt: Mapping[str, Any] | None = None  # the member's, when already read


async def _record_check(platform: Platform, inputs: _CheckInputs, *, member: str, partner: str,
                        handle: str, consent: int | None, threshold: int, signer: Signer,
                        consent_expires: str | None = None) -> Checked:
    now, size, root_hash = inputs.now, inputs.size, inputs.root_hash
    result = inputs.score >= threshold
    fields = {"checkpoint": size, "consent": consent, "handle": handle, "partner": partner,
              "threshold": threshold, "bucket": format_time(_bucket(now))}
    member_salt, member_key = (
        await opened_salt_and_key(platform, member, inputs.sealed_salt)
        if inputs.sealed_salt is not None else await subject_salt_and_key(platform, member))
    salt = _check_salt(member_salt, fields)
    opening = {"threshold": threshold, "checkpoint": size, "result": result, "salt": salt.hex()}
    commitment = check_commitment(member=member, partner=partner, handle=handle,
                                  threshold=threshold, checkpoint=size, result=result, salt=salt)
    # The opening is written in the entry's own transaction: a check whose opening were lost
    # could not be shown to its member, and one without its entry would be a stray row.
    sealed = sealed_row(member, f"check/{commitment[:48]}", json.dumps(opening), key=member_key)
    body = CheckBody(partner=Address(partner), handle=Address(handle), commitment=commitment,
                     consent=consent)
    appended = await platform.write(body, *signing_keys(signer), off_log=(sealed,))
    if appended.written is None:  # a retry, answered with what the first attempt wrote
        opened = await open_check(platform, await HeartCheck.get(idx=appended.index))
        credential = await attestation(platform, opened)
        return Checked(appended.index, opened.result, opened.checkpoint_size, appended,
                       lambda: credential)
    # Integrated by this request: the opening is the one sealed above, the check's time the
    # batch's (the projector's checked_at), so nothing is read back.
    opened = CheckOpening(appended.index, partner, handle, Address(member), consent, threshold,
                          size, result, appended.written.stored.integrated_at)
    return Checked(appended.index, result, size, appended,
                   functools.partial(credential_for, platform, opened,
                                     consent_expires=consent_expires, root_hash=root_hash))


async def check_hearts(platform: Platform, *, partner: Signer, member: str,
                       threshold: int) -> Checked:
    """Does `member` hold at least `threshold` hearts (as of this hour's checkpoint)? Needs the
    member's active consent for this partner; the partner signs the recorded check, which names
    neither the member nor the answer, and gets a signed attestation."""
    partner_address = signer_address(partner)
    now = platform.clock.now()
    size, root_hash = await as_of_checkpoint(platform, now)
    reads = await active_consent_and_score(member, partner_address, now, size)
    consent = reads.consent
    if threshold < 1:
        raise ValidationError("threshold: must be at least 1", field="threshold")
    return await _record_check(platform, _CheckInputs(now, size, root_hash, reads.score,
                                                      reads.sealed_salt),
                               member=member, partner=partner_address, handle=consent.handle,
                               consent=consent.idx, threshold=threshold, signer=partner,
                               consent_expires=consent.expires_at)


async def present_hearts(platform: Platform, *, member: Signer, partner: str,
                         threshold: int) -> Checked:
    """A credential the member asked for, to show `partner` themselves (a QR code or link): the
    partner needs neither the member's address nor a consent. Recorded as a check signed by the
    member's handle for that partner."""
    if threshold < 1:
        raise ValidationError("threshold: must be at least 1", field="threshold")
    await _require_partner(partner)
    handle = await consent_handle(platform, member, partner)
    member_address = signer_address(member)
    now = platform.clock.now()
    size, root_hash = await as_of_checkpoint(platform, now)
    score = await score_at(_db(), member_address, size)
    return await _record_check(platform, _CheckInputs(now, size, root_hash, score),
                               member=member_address, partner=partner,
                               handle=address_of(handle), consent=None, threshold=threshold,
                               signer=handle)


async def _require_partner(address: str) -> None:
    account = (await Account.get_or_none(address=address)
               if can_match(Account, address=address) else None)
    if account is None or account.role != "partner":
        raise NotFound(f"{address} is not a registered partner")
