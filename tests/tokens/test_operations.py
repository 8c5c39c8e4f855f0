"""Every operation in graphql/operations/tokens.graphql, run as its user would, over HTTP."""

from __future__ import annotations

import base64
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

from graphql import OperationDefinitionNode, parse
from heartchain.ledger import merkle
from tests.conftest import Ledger, gql
from tests.tokens import factories as f
from tokens.attest import verify_attestation

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "tokens.graphql"
DOCUMENT = OPERATIONS.read_text()
NAMES = {d.name.value for d in parse(DOCUMENT).definitions
         if isinstance(d, OperationDefinitionNode) and d.name is not None}


class Runner:
    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.ran: set[str] = set()

    async def __call__(self, name: str, variables: dict[str, Any] | None = None,
                       token: str | None = None) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        response = await self.client.post("/graphql", headers=headers, json={
            "query": DOCUMENT, "operationName": name, "variables": variables or {}})
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        self.ran.add(name)
        return result


async def test_every_operation(ledger: Ledger, client: httpx.AsyncClient) -> None:
    run = Runner(client)
    charity = await f.charity(ledger)
    partner = await f.partner(ledger)
    member = await f.member(ledger)
    charity_token, partner_token, member_token = (await f.token(ledger, charity),
                                                  await f.token(ledger, partner),
                                                  await f.token(ledger, member))
    # charity
    gift = await run("RecordDonation", {"donor": member, "kind": "cash", "quantity": 8_000,
                                        "campaign": "winter-2026", "receipt": "cd" * 32},
                     charity_token)
    recorded = gift["data"]["recordDonation"]
    assert recorded["__typename"] == "DonationRecorded", gift
    assert recorded["donation"]["hearts"] == 8_000 and recorded["donation"]["unit"] == "fen"
    proof = recorded["entry"]["inclusionProof"]
    assert proof["treeSize"] > recorded["entry"]["index"]
    second = await run("RecordDonation", {"donor": member, "kind": "tree", "quantity": 2,
                                          "campaign": "c"}, charity_token)
    by_contact = await run("RecordDonationByContact", {
        "contact": "+86 139 1234 5678", "kind": "food", "quantity": 1_500,
        "campaign": "winter-2026"}, charity_token)
    assert by_contact["data"]["recordDonation"]["newDonor"] is True
    refused = await run("RecordDonation", {"donor": member, "kind": "gold", "quantity": 1,
                                           "campaign": "x"}, charity_token)
    assert refused["data"]["recordDonation"] == {
        "__typename": "ValidationError", "field": "kind",
        "message": "donation.record: kind: 'gold' is not one of cash, food, tree"}
    not_charity = await run("RecordDonation", {"donor": member, "kind": "cash", "quantity": 1,
                                               "campaign": "x"}, partner_token)
    assert not_charity["data"]["recordDonation"]["__typename"] == "PermissionDenied"
    reversed_ = await run("ReverseDonation", {
        "donation": second["data"]["recordDonation"]["donation"]["index"], "reason": "refund"},
        charity_token)
    assert reversed_["data"]["reverseDonation"]["donation"]["reversalReason"] == "refund"
    again = await run("ReverseDonation", {
        "donation": second["data"]["recordDonation"]["donation"]["index"], "reason": "refund"},
        charity_token)
    assert again["data"]["reverseDonation"]["__typename"] == "Conflict"

    # operator
    rates = [{"kind": "cash", "hearts": 1, "per": 100}, {"kind": "food", "hearts": 1, "per": 1},
             {"kind": "tree", "hearts": 1000, "per": 1}]
    denied = await run("SetHeartRates", {"rates": rates}, charity_token)
    assert denied["data"]["setHeartRates"]["__typename"] == "PermissionDenied"
    set_ = await run("SetHeartRates", {"rates": rates}, ledger.operator_token)
    assert set_["data"]["setHeartRates"]["rates"]["version"] == 1
    table = (await run("HeartRates"))["data"]
    assert table["heartRates"]["rates"][2] == {"kind": "tree", "unit": "tree", "hearts": 1000,
                                               "per": 1}
    assert [v["version"] for v in table["heartRateHistory"]] == [0, 1]

    # anyone
    index = recorded["donation"]["index"]
    donation = (await run("Donation", {"index": index}))["data"]["donation"]
    entry = donation["entry"]
    proof = entry["inclusionProof"]
    merkle.verify_inclusion(base64.b64decode(entry["leafHash"]), index, proof["treeSize"],
                            [base64.b64decode(h) for h in proof["hashes"]],
                            base64.b64decode(proof["checkpoint"]["rootHash"]))
    assert donation["charityLabel"] == "Sunrise Food Bank"

    # member
    granted = await run("GrantConsent", {"partner": partner, "days": 30}, member_token)
    consent = granted["data"]["grantConsent"]["consent"]
    assert consent["active"] is True
    as_partner = await run("GrantConsent", {"partner": partner}, partner_token)
    assert as_partner["data"]["grantConsent"]["__typename"] == "PermissionDenied"

    # partner (checks answer as of the checkpoint before the hour began: let the gifts reach it)
    ledger.platform.clock.advance(timedelta(hours=1))
    checked = await run("CheckHearts", {"member": member, "threshold": 5_000}, partner_token)
    answer = checked["data"]["checkHearts"]
    assert answer["__typename"] == "HeartsChecked" and answer["atLeast"] is True
    key = (await run("AttestationKey"))["data"]["attestationKey"]
    verify_attestation(answer["attestation"], key["publicKey"], ledger.platform.clock.now())
    verdict = await run("VerifyAttestation", {"credential": answer["attestation"]})
    assert verdict["data"]["verifyAttestation"] == {"valid": True, "reason": None}
    forged = {**answer["attestation"], "validUntil": "2099-01-01T00:00:00.000Z"}
    verdict = await run("VerifyAttestation", {"credential": forged})
    assert verdict["data"]["verifyAttestation"]["valid"] is False

    # the member's own view; checks stay private to the member's token
    hearts = (await run("MemberHearts", {"address": member}))["data"]["member"]
    assert hearts["score"] == 8_000 and hearts["burned"] == 2
    assert [d["node"]["index"] for d in hearts["donations"]["edges"]][-1] == index
    assert [p["total"] for p in hearts["history"]] == [8_000, 8_002, 8_000]
    presented = await run("PresentHearts", {"partner": partner, "threshold": 7_000},
                          member_token)
    shown = presented["data"]["presentHearts"]
    assert shown["atLeast"] is True
    verdict = await run("VerifyAttestation", {"credential": shown["attestation"]})
    assert verdict["data"]["verifyAttestation"] == {"valid": True, "reason": None}
    not_member = await run("PresentHearts", {"partner": partner, "threshold": 1}, partner_token)
    assert not_member["data"]["presentHearts"]["__typename"] == "PermissionDenied"
    mine = await run("MyChecks", {"address": member}, member_token)
    assert mine["data"]["member"]["consents"][0]["partnerLabel"] == "Cycle Share"
    checks = mine["data"]["member"]["checks"]["edges"]
    assert [(c["node"]["threshold"], c["node"]["presented"]) for c in checks] == [
        (7_000, True), (5_000, False)]
    for token in (partner_token, ledger.operator_token, None):
        other = await run("MyChecks", {"address": member}, token)
        assert other["data"]["member"] is None or other["data"]["member"]["checks"] is None
        assert "visible only to the member" in other["errors"][0]["message"]

    revoked = await run("RevokeConsent", {"consent": consent["index"]}, member_token)
    assert revoked["data"]["revokeConsent"]["consent"]["active"] is False
    after = await run("CheckHearts", {"member": member, "threshold": 1}, partner_token)
    assert after["data"]["checkHearts"]["__typename"] == "PermissionDenied"

    assert run.ran == NAMES


async def test_member_is_null_for_unknown_addresses(ledger: Ledger,
                                                    client: httpx.AsyncClient) -> None:
    result = await gql(client, "{ member(address: \"hc1nothing\") { score } }")
    assert result["data"]["member"] is None


async def test_donations_page_through(ledger: Ledger, client: httpx.AsyncClient) -> None:
    from tokens import services

    charity, member = await f.charity(ledger), await f.member(ledger)
    for i in range(7):
        await services.record_donation(ledger.platform, charity=charity, donor=member,
                                       kind="food", quantity=10 + i, campaign="c")
    query = """query($a: String!, $after: String) { member(address: $a) {
      donations(first: 3, after: $after) { edges { node { quantity } }
      pageInfo { hasNextPage endCursor } } } }"""
    seen: list[int] = []
    after = None
    while True:
        page = (await gql(client, query, {"a": member, "after": after}))["data"]["member"]
        seen.extend(e["node"]["quantity"] for e in page["donations"]["edges"])
        if not page["donations"]["pageInfo"]["hasNextPage"]:
            break
        after = page["donations"]["pageInfo"]["endCursor"]
    assert seen == [16, 15, 14, 13, 12, 11, 10]
