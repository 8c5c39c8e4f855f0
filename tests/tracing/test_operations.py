"""Every operation in graphql/operations/tracing.graphql runs, as the user it is written for."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx

from heartchain.accounts.services import issue_token
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast, needs_donations

OPERATIONS = Path(__file__).resolve().parents[2] / "graphql" / "operations" / "tracing.graphql"


async def run(client: httpx.AsyncClient, name: str, variables: dict[str, Any] | None = None,
              token: str | None = None) -> Any:
    response = await client.post("/graphql", json={
        "query": OPERATIONS.read_text(), "operationName": name, "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"} if token else {})
    document = response.json()
    assert "errors" not in document, document
    return document["data"]


@needs_donations
async def test_tracing_operations_run(ledger: Ledger, client: httpx.AsyncClient,
                                      cast: Cast) -> None:
    platform = ledger.platform
    charity = await issue_token(platform, cast.charity, "t")
    driver = await issue_token(platform, cast.driver, "t")
    school = await issue_token(platform, cast.school, "t")
    rice = await f.donate(ledger, cast.charity, cast.donor, "food", 20_000)
    cash = await f.donate(ledger, cast.charity, cast.donor, "cash", 10_000, "meals")

    created = (await run(client, "CreateLot", {"input": {
        "goods": "rice 大米", "quantity": 20_000, "unit": "grams", "donationIndex": rice,
        "place": "Sunrise warehouse"}}, charity))["createLot"]
    assert created["__typename"] == "LotChanged", created
    lot = created["lot"]
    assert lot["traceUrl"].endswith(f"/lots/{lot['id']}?c={lot['code']}")

    refused = (await run(client, "CreateLot", {"input": {
        "goods": "rice", "quantity": 1, "unit": "grams", "donationIndex": rice}},
        charity))["createLot"]
    assert refused["__typename"] == "Conflict"

    offered = (await run(client, "OfferLot", {"lotId": lot["id"], "to": cast.driver,
                                              "place": "warehouse door",
                                              "evidence": f.digest()}, charity))["offerLot"]
    assert offered["__typename"] == "HandoverOffered", offered
    pending = (await run(client, "PendingHandovers", token=driver))["pendingHandovers"]
    assert [p["id"] for p in pending] == [offered["offer"]["id"]]
    accepted = (await run(client, "AcceptLot", {"offerId": pending[0]["id"]}, driver))["acceptLot"]
    assert accepted["entry"]["signers"] == [cast.charity, cast.driver]

    split = (await run(client, "SplitLot", {"lotId": lot["id"], "outputs": [12_000, 7_000],
                                            "loss": 1_000, "reason": "wet"}, driver))["splitLot"]
    assert split["__typename"] == "LotSplit", split
    a, b = (x["id"] for x in split["lots"])
    bad = (await run(client, "SplitLot", {"lotId": a, "outputs": [1, 2]}, driver))["splitLot"]
    assert bad["__typename"] == "ValidationError"

    lost = (await run(client, "RecordLoss", {"lotId": b, "quantity": 500, "reason": "damaged",
                                             "note": "rain"}, driver))["recordLoss"]
    assert lost["lot"]["quantity"] == 6_500
    merged = (await run(client, "MergeLots", {"lotIds": [a, b], "goods": "rice"},
                        driver))["mergeLots"]
    assert merged["lot"]["quantity"] == 18_500
    mixed = (await run(client, "MergeLots", {"lotIds": [a, b]}, driver))["mergeLots"]
    assert mixed["__typename"] == "Conflict"
    held = (await run(client, "LotsIHold", {"custodian": cast.driver}, driver))["lotsHeld"]
    assert [e["node"]["id"] for e in held["edges"]] == [merged["lot"]["id"]]

    delivered = (await run(client, "DeliverLot", {
        "lotId": merged["lot"]["id"], "quantity": 18_500, "place": "Village school",
        "beneficiary": "王芳 13800000000"}, driver))["deliverLot"]
    assert delivered["lot"]["status"] == "delivered"
    assert "王芳" not in str(delivered["entry"]["body"])
    wrong = (await run(client, "DeliverLot", {"lotId": a, "quantity": 1, "place": "x",
                                              "beneficiary": "x"}, school))["deliverLot"]
    assert wrong["__typename"] == "Conflict"

    scan = (await run(client, "ScanLabel", {"lotId": lot["id"], "code": lot["code"]}))["scanLabel"]
    assert scan["valid"] and [s["action"] for s in scan["lot"]["timeline"]] == [
        "create", "handover", "split"]
    forged = (await run(client, "ScanLabel", {"lotId": a, "code": lot["code"]}))["scanLabel"]
    assert (forged["valid"], forged["lot"]) == (False, None)
    assert (await run(client, "Lot", {"id": a}))["lot"]["status"] == "merged"

    journey = (await run(client, "DonationJourney", {"index": rice}))["donationJourney"]
    assert (journey["dispatched"], journey["delivered"], journey["lost"]) == (20_000, 18_500,
                                                                              1_500)
    assert len(journey["lots"]) == 4

    paid = (await run(client, "DisburseFunds", {
        "campaign": "meals", "amount": 4_000, "payee": "Grain Co 粮油公司", "purpose": "rice",
        "receipt": f.digest()}, charity))["disburseFunds"]
    assert paid["campaign"]["balance"] == 6_000
    assert paid["disbursement"]["allocations"] == [{"donationIndex": cash, "amount": 4_000}]
    too_much = (await run(client, "DisburseFunds", {
        "campaign": "meals", "amount": 6_001, "payee": "x", "purpose": "x",
        "receipt": f.digest()}, charity))["disburseFunds"]
    assert too_much["__typename"] == "Conflict"
    not_charity = (await run(client, "DisburseFunds", {
        "campaign": "meals", "amount": 1, "payee": "x", "purpose": "x",
        "receipt": f.digest()}, driver))["disburseFunds"]
    assert not_charity["__typename"] == "PermissionDenied"
    campaign = (await run(client, "Campaign", {"slug": "meals"}))["campaign"]
    assert campaign["balance"] == 6_000
    assert campaign["donations"]["edges"][0]["node"]["used"] == 4_000
    cash_journey = (await run(client, "DonationJourney", {"index": cash}))["donationJourney"]
    assert cash_journey["allocations"][0]["disbursement"]["payee"] == "Grain Co 粮油公司"
