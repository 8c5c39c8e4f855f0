"""`correctEntry` over GraphQL: the caller must be the entry's only signer."""

from __future__ import annotations

import httpx

from tests.conftest import Ledger, gql
from tests.tokens.factories import token
from tests.tracing import factories as f
from tests.tracing.conftest import Cast
from tracing import services

CORRECT = """
mutation($entry: Int64!, $values: JSON!, $reason: String!, $note: String) {
  correctEntry(entry: $entry, values: $values, reason: $reason, note: $note) {
    __typename
    ... on EntryCorrected { correction { index targetIndex targetKind reason
                                         changes { field before after } } entry { index } }
    ... on ValidationError { message }
    ... on PermissionDenied { message }
    ... on NotFound { message }
    ... on Conflict { message }
  }
}"""


async def test_correct_entry(ledger: Ledger, client: httpx.AsyncClient, cast: Cast) -> None:
    gift = await f.donate(ledger, cast.charity, cast.donor, "cash", 3_000)
    bearer = await token(ledger, cast.charity)
    answer = (await gql(client, CORRECT, {"entry": gift, "values": {"quantity": 300},
                                          "reason": "wrong_amount"}, bearer))["data"]
    result = answer["correctEntry"]
    assert result["__typename"] == "EntryCorrected", result
    assert result["correction"]["targetIndex"] == gift
    assert result["correction"]["changes"] == [{"field": "quantity", "before": 3000,
                                                "after": 300}]
    listed = await gql(client, "query($e: Int64!) { corrections(entry: $e) { index } }",
                       {"e": gift})
    assert listed["data"]["corrections"] == [{"index": result["entry"]["index"]}]
    bad = (await gql(client, CORRECT, {"entry": gift, "values": {"quantity": 30},
                                       "reason": "oops"}, bearer))["data"]["correctEntry"]
    assert bad["__typename"] == "ValidationError" and "reason" in bad["message"]
    lot = await f.purchased_lot(ledger, cast.charity)
    handover = await services.hand_over(ledger.platform, lot=lot.id, giver=cast.charity,
                                        taker=cast.driver, place="dock", evidence=f.digest())
    size = await f.size(ledger)
    shared = (await gql(client, CORRECT, {"entry": handover.index, "values": {"place": "x"},
                                          "reason": "wrong_place"}, bearer))["data"]
    assert shared["correctEntry"]["__typename"] == "PermissionDenied"
    assert await f.size(ledger) == size  # the platform never signs for the taker
    anonymous = await gql(client, CORRECT, {"entry": gift, "values": {"quantity": 1},
                                            "reason": "typo"})
    assert anonymous["data"]["correctEntry"]["__typename"] == "PermissionDenied"
