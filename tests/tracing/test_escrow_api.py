"""Pay for success over GraphQL: `attestOutcome` (the validator) and `refundCampaign` (the
charity, the validator or the operator), each one signed entry, union errors that write nothing,
an Idempotency-Key retry that writes nothing twice, and the escrow on the campaign's type."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from heartchain.ledger.entries import format_time
from tests.conftest import Ledger
from tests.factories import campaign
from tests.retrying import retrying_client
from tests.tokens.factories import token
from tests.tracing import factories as f
from tests.tracing.conftest import Cast

ESCROW = """campaign { slug escrow { released releasedAll attestations lastAttestIndex
  refundIndex refunded refunds { refundIndex donationIndex donor amount heartsBurned at } } }"""
# The documents users copy: graphql/operations/tracing.graphql (AttestOutcome, RefundCampaign).
ATTEST = REFUND = (Path(__file__).resolve().parents[2] / "graphql" / "operations"
                   / "tracing.graphql").read_text()
READ = f"""query Read($slug: String!) {{ campaignDeclaration(slug: $slug) {{
  {ESCROW.removeprefix("campaign { slug ").removesuffix(" }")} }} }}"""


async def _send(client: httpx.AsyncClient, query: str, name: str, variables: dict[str, Any],
                bearer: str | None = None) -> dict[str, Any]:
    response = await client.post("/graphql", json={
        "query": query, "operationName": name, "variables": variables},
        headers={"Authorization": f"Bearer {bearer}"} if bearer else {})
    document = response.json()
    assert "errors" not in document, document
    data: dict[str, Any] = document["data"]
    return data


async def _refused(ledger: Ledger, client: httpx.AsyncClient, query: str, name: str,
                   variables: dict[str, Any], bearer: str, typename: str) -> dict[str, Any]:
    size = await f.size(ledger)
    answer = next(iter((await _send(client, query, name, variables, bearer)).values()))
    assert answer["__typename"] == typename, answer
    assert await f.size(ledger) == size  # a refused mutation writes nothing
    return answer


async def _scenario(ledger: Ledger, client: httpx.AsyncClient, cast: Cast) -> None:
    platform = ledger.platform
    deadline = format_time(platform.clock.now() + timedelta(days=2))
    await campaign(ledger, cast.charity, "cure", category="medical", validator=cast.school,
                   outcome_deadline=deadline)
    first = await f.donate(ledger, cast.charity, cast.donor, "cash", 1_000, "cure")
    second = await f.donate(ledger, cast.charity, cast.donor, "cash", 2_000, "cure")
    school, charity = await token(ledger, cast.school), await token(ledger, cast.charity)
    driver = await token(ledger, cast.driver)
    attest = {"charity": cast.charity, "campaign": "cure", "evidence": f.digest("report"),
              "amount": 600}

    await _refused(ledger, client, ATTEST, "AttestOutcome", {"input": attest}, driver,
                   "PermissionDenied")
    bad = await _refused(ledger, client, ATTEST, "AttestOutcome",
                         {"input": {**attest, "evidence": "not-a-hash"}}, school,
                         "ValidationError")
    assert bad["field"] == "evidence"
    await _refused(ledger, client, ATTEST, "AttestOutcome",
                   {"input": {**attest, "campaign": "nope"}}, school, "NotFound")
    await _refused(ledger, client, ATTEST, "AttestOutcome",
                   {"input": {**attest, "amount": -1}}, school, "ValidationError")

    attested = (await _send(client, ATTEST, "AttestOutcome", {"input": attest},
                            school))["attestOutcome"]
    assert attested["__typename"] == "EscrowChanged", attested
    assert attested["entry"]["kind"] == "outcome.attest"
    assert attested["entry"]["signers"] == [cast.school]
    assert attested["campaign"]["escrow"] == {
        "released": 600, "releasedAll": False, "attestations": 1,
        "lastAttestIndex": attested["entry"]["index"], "refundIndex": None, "refunded": 0,
        "refunds": []}

    refund = {"charity": cast.charity, "campaign": "cure"}
    await _refused(ledger, client, REFUND, "RefundCampaign", {"input": refund}, charity,
                   "Conflict")  # not before the deadline
    platform.clock.advance(timedelta(days=2, minutes=1))
    await _refused(ledger, client, REFUND, "RefundCampaign", {"input": refund}, driver,
                   "PermissionDenied")
    refunded = (await _send(client, REFUND, "RefundCampaign", {"input": refund},
                            charity))["refundCampaign"]
    assert refunded["__typename"] == "EscrowChanged", refunded
    index = refunded["entry"]["index"]
    assert refunded["entry"]["kind"] == "campaign.refund"
    escrow = refunded["campaign"]["escrow"]
    assert (escrow["refundIndex"], escrow["refunded"]) == (index, 3_000)
    at = escrow["refunds"][0]["at"]
    assert escrow["refunds"] == [
        {"refundIndex": index, "donationIndex": first, "donor": cast.donor, "amount": 1_000,
         "heartsBurned": 1_000, "at": at},
        {"refundIndex": index, "donationIndex": second, "donor": cast.donor, "amount": 2_000,
         "heartsBurned": 2_000, "at": at}]
    await _refused(ledger, client, REFUND, "RefundCampaign", {"input": refund}, school,
                   "Conflict")  # once
    read = (await _send(client, READ, "Read", {"slug": "cure"}))["campaignDeclaration"]
    assert read["escrow"] == escrow
    gift = (await _send(client, "query Gift($i: Int64!) { donation(index: $i) { hearts "
                              "refundIndex refundHearts } }", "Gift", {"i": second}))
    assert gift["donation"] == {"hearts": 2_000, "refundIndex": index, "refundHearts": 2_000}
    cash = (await _send(client, "query Cash { campaignDeclaration(slug: \"cure\") { cash { "
                              "donated disbursed refunded balance } } }", "Cash", {}))
    assert cash["campaignDeclaration"]["cash"] == {"donated": 3_000, "disbursed": 0,
                                                   "refunded": 3_000, "balance": 0}


async def test_attest_and_refund_through_graphql(ledger: Ledger, client: httpx.AsyncClient,
                                                 cast: Cast) -> None:
    await _scenario(ledger, client, cast)


async def test_a_retried_attest_or_refund_writes_nothing_twice(ledger: Ledger,
                                                                cast: Cast) -> None:
    async with retrying_client(ledger) as (client, transport):
        await _scenario(ledger, client, cast)
    assert {"AttestOutcome", "RefundCampaign"} <= set(transport.retried)


async def test_a_campaign_without_a_validator_has_no_escrow(ledger: Ledger,
                                                             client: httpx.AsyncClient,
                                                             cast: Cast) -> None:
    await campaign(ledger, cast.charity, "meals")
    read = (await _send(client, READ, "Read", {"slug": "meals"}))["campaignDeclaration"]
    assert read == {"escrow": None}


async def test_the_campaigns_an_account_validates_or_runs(ledger: Ledger,
                                                         client: httpx.AsyncClient,
                                                         cast: Cast) -> None:
    deadline = format_time(ledger.platform.clock.now() + timedelta(days=2))
    await campaign(ledger, cast.charity, "cure", category="medical", validator=cast.school,
                   outcome_deadline=deadline)
    await campaign(ledger, cast.charity, "sight", category="medical", validator=cast.school,
                   outcome_deadline=deadline)
    await campaign(ledger, cast.charity, "meals")  # no validator: not pay for success

    async def listed(account: str) -> list[tuple[str, str]]:
        data = await _send(client, ATTEST, "PayForSuccessCampaigns", {"account": account})
        return [(c["slug"], c["validator"]) for c in data["payForSuccessCampaigns"]]

    newest_first = [("sight", cast.school), ("cure", cast.school)]
    assert await listed(cast.school) == newest_first  # the validator's
    assert await listed(cast.charity) == newest_first  # the charity's
    assert await listed(cast.driver) == []
    assert await listed("x" * 200) == []  # longer than any address: no query at all
