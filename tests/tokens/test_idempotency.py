"""A charity whose connection dropped retries `recordDonation` with the same Idempotency-Key:
the donor gets the hearts once, and the retry learns which entry holds the gift."""

from __future__ import annotations

import httpx

from tests.conftest import Ledger
from tests.tokens.factories import charity, member, token

RECORD = """mutation($donor: String!, $q: Int64!) {
  recordDonation(donor: $donor, kind: "cash", quantity: $q, campaign: "winter") {
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
