"""Donors known by phone or e-mail: one custodial address per (recording charity, contact).

The lookup index is a keyed hash of both, so charity B recording with a phone that charity A's
donor uses learns nothing about A's donor (B gets a donor of its own; `created` says only whether
B had seen the number). Each mapping row carries an HMAC of (index, address) under a key derived
from the master key, so a row inserted or re-pointed in the database is refused. The contact
itself is sealed off the log under the donor's subject key (heartchain.privacy), so erasing keeps
`verify` green.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Iterable
from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from heartchain.accounts.entries import RegisterBody
from heartchain.accounts.models import Account, CustodialKey
from heartchain.accounts.services import self_register_member
from heartchain.errors import HeartchainError, ValidationError, VerificationError
from heartchain.keys import Address, SigningKey, address_of
from heartchain.ledger.entries import format_time
from heartchain.ledger.store import execute_many, in_chunks
from heartchain.platform import Platform
from heartchain.privacy import (
    derive_key,
    erase_subject,
    keyed_hash,
    read_personal,
    seal_new_subjects,
    seal_personal,
)
from tokens.models import ConsentHandle, DonorContact, HeartDonation, LegacyDonorContact

CONTACT_FIELD = "contact"
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+")
_PHONE = re.compile(r"\+?[0-9]{6,15}")


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
    return hmac.digest(derive_key(platform, "charity-donor/binding"),
                       f"{index}\n{address}".encode(), "sha256").hex()


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


@dataclass(frozen=True)
class BulkDonors:
    addresses: dict[str, Address]  # normalised contact -> the charity's donor
    unregistered: list[SigningKey]  # their keys: each signs its own account.register
    created: int


async def donors_for_contacts(platform: Platform, contacts: Iterable[str], *,
                              charity: str) -> BulkDonors:
    """`donor_for_contact` for many normalised contacts at once (bulk import): the same
    per-charity mapping, binding and sealed contact, written in bulk, off the log, before any
    entry. Registering the donors is left to the caller, who puts each key's self-signed
    `account.register` in the same all-or-none set as the gifts; a set that failed leaves the
    mappings, and the next attempt registers those donors then. Legacy donors (from before
    per-charity mappings) are not adopted here: the console's one-at-a-time path does that."""
    index_of = {c: _index(platform, charity, c) for c in dict.fromkeys(contacts)}
    by_index: dict[str, Address] = {}
    indexes = list(index_of.values())
    for chunk in in_chunks(indexes):
        for row in await DonorContact.filter(contact_index__in=chunk):
            by_index[row.contact_index] = _bound_address(platform, row)
    new = [c for c, i in index_of.items() if i not in by_index]
    fresh: dict[str, SigningKey] = {}
    if new:
        now = format_time(platform.clock.now())
        keys = {c: SigningKey.generate() for c in new}
        address = {c: address_of(k) for c, k in keys.items()}
        async with in_transaction() as conn:  # a concurrent import of these contacts: retry
            # Raw executemany: for a file of new donors, model instances cost more than sealing.
            await execute_many(conn, "INSERT INTO custodial_key (address, sealed) VALUES (?, ?)",
                               [[address[c], platform.vault.seal_signing_key(k)]
                                for c, k in keys.items()])
            await seal_new_subjects(platform, [(address[c], CONTACT_FIELD, c) for c in keys],
                                    using_db=conn)
            await execute_many(conn, "INSERT INTO heart_charity_donor (contact_index, address, "
                               "binding, created_at) VALUES (?, ?, ?, ?)",
                               [[index_of[c], address[c],
                                 _binding(platform, index_of[c], address[c]), now]
                                for c in keys])
        for contact, key in keys.items():
            by_index[index_of[contact]] = address[contact]
            fresh[address[contact]] = key
    addresses = {c: by_index[i] for c, i in index_of.items()}
    waiting = set(fresh)
    earlier = sorted({a for a in addresses.values() if a not in fresh})
    for chunk in in_chunks(earlier):
        registered = {str(a) for a in await Account.filter(address__in=chunk).values_list(
            "address", flat=True)}
        waiting.update(a for a in chunk if a not in registered)
    unregistered = [fresh.get(a) or await platform.custodial_key(a) for a in sorted(waiting)]
    return BulkDonors(addresses, unregistered, len(new))


async def _ensure_registered(platform: Platform, address: Address, contact: str) -> bool:
    """Seal the contact and register the donor, if not done yet (sealing first, so a registered
    donor always has its contact); True when this request registered it."""
    if await Account.exists(address=address):
        # A retry of the request that registered it answers as the first attempt did.
        return await platform.written_before(RegisterBody, address) is not None
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
    for chunk in in_chunks(indexes):
        for row in await DonorContact.filter(contact_index__in=chunk):
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
