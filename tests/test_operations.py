"""Every document in graphql/operations/ is valid against the schema; the ledger's run."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from graphql import parse, validate
from heartchain.schema import schema
from tests.conftest import Ledger
from tests.factories import self_registration

OPERATIONS = Path(__file__).resolve().parents[1] / "graphql" / "operations"


@pytest.mark.parametrize("path", sorted(OPERATIONS.glob("*.graphql")), ids=lambda p: p.name)
def test_operation_documents_are_valid(path: Path) -> None:
    document = parse(path.read_text())
    errors = validate(schema._schema, document)
    assert not errors, [e.message for e in errors]



async def run(client: httpx.AsyncClient, name: str, variables: dict[str, object] | None = None,
              token: str | None = None) -> dict[str, object]:
    response = await client.post("/graphql", json={
        "query": (OPERATIONS / "ledger.graphql").read_text(), "operationName": name,
        "variables": variables or {}},
        headers={"Authorization": f"Bearer {token}"} if token else {})
    document = response.json()
    assert "errors" not in document, document
    data: dict[str, object] = document["data"]
    return data


async def test_ledger_operations_run(ledger: Ledger, client: httpx.AsyncClient) -> None:
    signed = self_registration(ledger)
    submitted = await run(client, "SubmitEntry", {"entry": signed.leaf_data.decode()})
    assert submitted["submitEntry"]["__typename"] == "EntryAccepted"  # type: ignore[index]
    registered = await run(client, "RegisterAccount", {"role": "partner", "label": "Shop"},
                           token=ledger.operator_token)
    assert registered["registerAccount"]["__typename"] == "AccountRegistered"  # type: ignore[index]
    assert (await run(client, "LatestCheckpoint"))["checkpoint"]["size"] == 3  # type: ignore[index]
    assert (await run(client, "EntryWithProof", {"index": 1}))["entry"]["kind"] == \
        "account.register"  # type: ignore[index]
    assert len((await run(client, "RecentEntries"))["entries"]["edges"]) == 3  # type: ignore[index]
    receipt = (await run(client, "EntryReceipt", {"index": 1}))["entry"]["receipt"]  # type: ignore[index]
    assert receipt.startswith("c2sp.org/tlog-proof@v1\nextra ")
    assert (await run(client, "Consistency", {"fromSize": 1, "toSize": 3}))[
        "consistencyProof"]["hashes"]  # type: ignore[index]
    assert "account.register" in (await run(client, "EntryKinds"))["entryKinds"]  # type: ignore[operator]
    me = await run(client, "Me", token=ledger.operator_token)
    assert me["me"]["role"] == "operator"  # type: ignore[index]
    found = await run(client, "AccountByAddress", {"address": ledger.operator})
    assert found["account"]["registration"]["index"] == 0  # type: ignore[index]

