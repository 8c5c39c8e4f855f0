"""A charity whose connection dropped retries `recordDonation` with the same Idempotency-Key:
the donor gets the hearts once, and the retry learns which entry holds the gift."""

from __future__ import annotations

import httpx
import pytest

from heartchain.idempotency import idempotent_nonce
from heartchain.platform import idempotent
from tests.conftest import Ledger
from tests.retrying import retrying_client
from tests.tokens.factories import charity, member, token
from tokens import donors, services

RECORD = """mutation($donor: String!, $q: Int64!) {
  recordDonation(donor: $donor, kind: "cash", quantity: $q, campaign: "winter-2026") {
    __typename ... on DonationRecorded { donation { index hearts } }
    ... on Conflict { message } } }"""


async def test_retried_donation_is_written_once(ledger: Ledger, client: httpx.AsyncClient
                                                ) -> None:
    giver = await charity(ledger)
    donor = await member(ledger)
    headers = {"Authorization": f"Bearer {await token(ledger, giver)}",
               "Idempotency-Key": "till-7/receipt-0042"}

    async def record(quantity: int) -> dict[str, object]:
        response = await client.post("/graphql", headers=headers, json={
            "query": RECORD, "variables": {"donor": donor, "q": quantity}})
        result: dict[str, object] = response.json()["data"]["recordDonation"]
        return result

    first = await record(5000)
    size = await ledger.platform.log.size()
    retry = await record(5000)
    assert retry == first
    assert await ledger.platform.log.size() == size
    reused = await record(7000)  # the same key for a different gift is a client bug
    assert reused["__typename"] == "Conflict"
    assert await ledger.platform.log.size() == size
    headers["Idempotency-Key"] = "till-7/receipt-0043"
    other = await record(5000)
    assert other["__typename"] == "DonationRecorded" and other != first


CONTACT_GIFT = """mutation($contact: String!) {
  recordDonation(contact: $contact, kind: "cash", quantity: 500, campaign: "winter-2026") {
    __typename ... on DonationRecorded { newDonor donation { index donor hearts } }
    ... on Conflict { message } } }"""


async def _registrations_and_gifts(ledger: Ledger) -> tuple[int, int]:
    kinds = [e.kind for e in (await ledger.platform.log.get_entries(
        range(await ledger.platform.log.size()))).values()]
    return kinds.count("account.register"), kinds.count("donation.record")


async def test_retried_gift_for_a_new_contact_donor_is_written_once(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    """The hostile tester's repro: three sends, one key. The first attempt registers the donor
    (write 1) then records the gift (write 2); a retry finds the donor and writes only the gift,
    which must get the first attempt's nonce, not write 1's slot."""
    giver = await charity(ledger)
    headers = {"Authorization": f"Bearer {await token(ledger, giver)}",
               "Idempotency-Key": "till-3/receipt-9"}
    before = await _registrations_and_gifts(ledger)
    answers = [(await client.post("/graphql", headers=headers, json={
        "query": CONTACT_GIFT, "variables": {"contact": "+8613912345678"}})).json()
        for _ in range(3)]
    assert answers[0]["data"]["recordDonation"]["newDonor"] is True
    assert answers[1] == answers[0] == answers[2]
    assert await _registrations_and_gifts(ledger) == (before[0] + 1, before[1] + 1)


@pytest.mark.parametrize("crash", ["after_mapping", "after_registration"])
async def test_retry_completes_what_a_crashed_first_attempt_left(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch, crash: str) -> None:
    """Whatever state the first attempt left (the donor mapped but not registered, or registered
    but the gift not written), the retry writes each missing entry once and nothing twice."""
    platform = ledger.platform
    giver = await charity(ledger)
    # Registration is the donor module's step; recording the gift the services'.
    module, target = ((donors, "self_register_member") if crash == "after_mapping"
                      else (services, "record_donation"))
    real = getattr(module, target)

    async def crash_once(*args: object, **kwargs: object) -> object:
        monkeypatch.setattr(module, target, real)
        raise ConnectionError("the server died here")

    monkeypatch.setattr(module, target, crash_once)
    before = await _registrations_and_gifts(ledger)

    async def attempt() -> tuple[services.Donor, int]:
        with idempotent("gift-by-phone-1"):
            donor, gift = await services.record_donation_for_contact(
                platform, charity=giver, contact="+8613700000001", kind="cash", quantity=300,
                campaign="c")
        return donor, gift.index

    with pytest.raises(ConnectionError):
        await attempt()
    first = await attempt()
    assert await attempt() == first
    assert first[0].created
    assert await _registrations_and_gifts(ledger) == (before[0] + 1, before[1] + 1)
    assert (await services.get_donation(first[1])).donor == first[0].address


async def test_a_nonce_does_not_depend_on_earlier_writes_of_the_request(ledger: Ledger) -> None:
    platform = ledger.platform
    giver = await charity(ledger)
    donor = await member(ledger)
    with idempotent("k"):
        alone = idempotent_nonce("donation.record", giver)
        await services.set_heart_rates(platform, ledger.operator, {
            "cash": (1, 1), "food": (1, 1), "tree": (1, 1)})
        after_a_write = idempotent_nonce("donation.record", giver)
        assert alone == after_a_write
        assert idempotent_nonce("donation.record", giver, "lot L1") != alone
        assert idempotent_nonce("donation.record", donor) != alone
    with idempotent("other"):
        assert idempotent_nonce("donation.record", giver) != alone
    assert idempotent_nonce("donation.record", giver) is None


async def test_aliased_mutations_in_one_request_are_two_writes_retried_once(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    giver = await charity(ledger)
    donor = await member(ledger)
    headers = {"Authorization": f"Bearer {await token(ledger, giver)}",
               "Idempotency-Key": "batch-77"}
    twice = """mutation($d: String!) {
      a: recordDonation(donor: $d, kind: "cash", quantity: 100, campaign: "c") {
        ... on DonationRecorded { donation { index } } }
      b: recordDonation(donor: $d, kind: "cash", quantity: 100, campaign: "c") {
        ... on DonationRecorded { donation { index } } } }"""
    size = await ledger.platform.log.size()
    first = (await client.post("/graphql", headers=headers, json={
        "query": twice, "variables": {"d": donor}})).json()["data"]
    assert first["a"]["donation"]["index"] != first["b"]["donation"]["index"]
    assert await ledger.platform.log.size() == size + 2
    again = (await client.post("/graphql", headers=headers, json={
        "query": twice, "variables": {"d": donor}})).json()["data"]
    assert again == first and await ledger.platform.log.size() == size + 2


async def test_every_hearts_mutation_retried_writes_nothing_twice(ledger: Ledger) -> None:
    from tests.tokens.test_operations import test_every_operation

    async with retrying_client(ledger) as (client, transport):
        await test_every_operation(ledger, client)
    assert {"RecordDonation", "RecordDonationByContact", "ReverseDonation",
            "GrantConsent", "RevokeConsent", "SetHeartRates"} <= set(transport.retried)
