"""Donors known by phone are scoped per charity: charity B recording a gift with a phone that
charity A's donor uses learns nothing about A's donor."""

from __future__ import annotations

import json

import httpx

from heartchain.ledger.entries import format_time
from heartchain.ledger.verify import verify_log
from heartchain.privacy import keyed_hash
from tests.conftest import Ledger, gql
from tests.tokens.factories import charity, token
from tokens import services
from tokens.models import DonorContact, LegacyDonorContact

GIFT = """mutation($contact: String!) {
  recordDonation(contact: $contact, kind: "cash", quantity: 700, campaign: "winter-2026") {
    __typename ... on DonationRecorded { newDonor donation { index donor charity hearts }
      entry { index body signers } } } }"""
PHONE = "+8613512345678"


async def _gift(client: httpx.AsyncClient, charity_token: str, contact: str = PHONE
                ) -> dict[str, object]:
    answer: dict[str, object] = (await gql(client, GIFT, {"contact": contact},
                                           token=charity_token))["data"]["recordDonation"]
    assert answer["__typename"] == "DonationRecorded", answer
    return answer


async def test_charity_b_cannot_learn_charity_a_donor_by_phone(ledger: Ledger,
                                                              client: httpx.AsyncClient) -> None:
    a, b = await charity(ledger, "Charity A"), await charity(ledger, "Charity B")
    a_token, b_token = await token(ledger, a), await token(ledger, b)
    for_a = await _gift(client, a_token)
    a_donor = for_a["donation"]["donor"]  # type: ignore[index]
    assert for_a["newDonor"] is True
    probe = await _gift(client, b_token, "135 1234 5678")  # the same phone, spelt otherwise
    assert probe["newDonor"] is True  # exactly what it says for a number nobody uses
    assert a_donor not in json.dumps(probe)
    b_donor = probe["donation"]["donor"]  # type: ignore[index]
    again = await _gift(client, b_token)
    assert again["newDonor"] is False and again["donation"]["donor"] == b_donor  # type: ignore[index]
    assert a_donor not in json.dumps(again)
    assert (await _gift(client, a_token))["donation"]["donor"] == a_donor  # type: ignore[index]
    # The person, once they proved they hold the phone, sees both donors.
    assert await services.addresses_for_contact(ledger.platform, "13512345678") == sorted(
        [a_donor, b_donor])
    assert await services.addresses_for_contact(ledger.platform, "+8613500000000") == []
    await services.erase_donor_contact(ledger.platform, b_donor)
    assert await services.addresses_for_contact(ledger.platform, PHONE) == [a_donor]
    await verify_log(ledger.platform.log)


async def test_a_donor_from_before_scoping_is_adopted_only_by_charities_that_knew_it(
        ledger: Ledger) -> None:
    """A store from before per-charity donors has one shared phone -> donor row. A charity that
    already recorded gifts for that donor keeps it (it knew the address); another gets its own."""
    platform = ledger.platform
    a, b = await charity(ledger, "Charity A"), await charity(ledger, "Charity B")
    shared = await services.donor_for_contact(platform, PHONE, charity=a)
    await services.record_donation(platform, charity=a, donor=shared.address, kind="cash",
                                   quantity=100, campaign="c")
    # Rewrite the store as the older version left it: only the shared, unscoped row.
    await DonorContact.all().delete()
    await LegacyDonorContact.create(contact_hash=keyed_hash(platform, "donor-contact", PHONE),
                                    address=shared.address,
                                    created_at=format_time(platform.clock.now()))
    adopted = await services.donor_for_contact(platform, PHONE, charity=a)
    assert adopted.address == shared.address and not adopted.created
    stranger = await services.donor_for_contact(platform, PHONE, charity=b)
    assert stranger.created and stranger.address != shared.address
    assert await services.addresses_for_contact(platform, PHONE) == sorted(
        [shared.address, stranger.address])
    # A legacy row re-pointed in the database is not adopted: the donor's own sealed contact
    # (under its subject key) must be this phone.
    other = await services.donor_for_contact(platform, "+8613500000001", charity=b)
    await services.record_donation(platform, charity=b, donor=other.address, kind="cash",
                                   quantity=100, campaign="c")
    await LegacyDonorContact.create(
        contact_hash=keyed_hash(platform, "donor-contact", "+8613599999999"),
        address=other.address, created_at=format_time(platform.clock.now()))
    fresh = await services.donor_for_contact(platform, "+8613599999999", charity=b)
    assert fresh.created and fresh.address != other.address
