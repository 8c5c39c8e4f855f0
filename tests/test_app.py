from __future__ import annotations

import base64
import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import httpx
import pytest

from heartchain.accounts.entries import RegisterBody
from heartchain.keys import address_of, new_signing_key
from heartchain.ledger import merkle
from heartchain.ledger.entries import new_entry
from heartchain.ledger.notes import NoteVerifier, open_note
from heartchain.ledger.tiles import decode_entry_bundle
from tests.conftest import Ledger, gql
from tests.factories import self_registration

ROOT = Path(__file__).resolve().parents[1]


async def test_checkpoint_and_verifier_key_endpoints(ledger: Ledger, client: httpx.AsyncClient
                                                     ) -> None:
    key = (await client.get("/log/verifier-key")).text.strip()
    assert key == ledger.platform.verifier_key
    response = await client.get("/log/checkpoint")
    assert response.headers["cache-control"] == "no-cache"
    note = open_note(response.text, [NoteVerifier.from_verifier_key(key)])
    assert note.text.startswith(f"{ledger.platform.log.origin}\n1\n")


async def test_tiles_over_http(ledger: Ledger, client: httpx.AsyncClient) -> None:
    await ledger.platform.log.append_now([self_registration(ledger) for _ in range(299)])
    full = await client.get("/log/tile/0/000")
    assert full.status_code == 200 and len(full.content) == 8192
    assert "immutable" in full.headers["cache-control"]
    partial = await client.get("/log/tile/0/001.p/44")
    assert partial.status_code == 200 and len(partial.content) == 44 * 32
    assert "immutable" not in partial.headers["cache-control"]
    bundle = await client.get("/log/tile/entries/000")
    leaves = decode_entry_bundle(bundle.content)
    assert len(leaves) == 256
    assert merkle.leaf_hash(leaves[3]) == full.content[3 * 32:4 * 32]
    assert (await client.get("/log/tile/0/001.p/45")).status_code == 404
    assert (await client.get("/log/tile/0/002")).status_code == 404
    for bad in ("/log/tile/0/1", "/log/tile/0/001.p/0", "/log/tile/0/x000/001",
                "/log/tile/64/000", "/log/tile/0/001.p/256", "/log/tile/a/000"):
        assert (await client.get(bad)).status_code == 400, bad


ENTRY = """query($i: Int64!) { entry(index: $i) { index kind signers body leafHash data
  inclusionProof { leafIndex treeSize hashes checkpoint { size rootHash note } }
  firstCheckpoint { size } } }"""


async def test_entry_with_proof_verifies(ledger: Ledger, client: httpx.AsyncClient) -> None:
    await ledger.platform.log.append_now([self_registration(ledger) for _ in range(20)])
    result = await gql(client, ENTRY, {"i": 5})
    assert "errors" not in result
    entry = result["data"]["entry"]
    proof = entry["inclusionProof"]
    leaf = base64.b64decode(entry["leafHash"])
    assert leaf == merkle.leaf_hash(entry["data"].encode())
    hashes = [base64.b64decode(h) for h in proof["hashes"]]
    merkle.verify_inclusion(leaf, 5, proof["treeSize"], hashes,
                            base64.b64decode(proof["checkpoint"]["rootHash"]))
    assert entry["firstCheckpoint"]["size"] > 5
    assert (await gql(client, ENTRY, {"i": 999}))["data"]["entry"] is None


async def test_entries_pagination_and_filters(ledger: Ledger, client: httpx.AsyncClient) -> None:
    keys = [new_signing_key() for _ in range(25)]
    await ledger.platform.log.append_now([self_registration(ledger, k) for k in keys])
    query = """query($after: String, $signer: String) { entries(first: 10, after: $after,
      kind: "account.register", signer: $signer) { edges { cursor node { index } }
      pageInfo { hasNextPage endCursor } } }"""
    seen: list[int] = []
    after = None
    while True:
        page = (await gql(client, query, {"after": after}))["data"]["entries"]
        seen.extend(e["node"]["index"] for e in page["edges"])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert seen == list(range(25, -1, -1))
    mine = (await gql(client, query, {"signer": address_of(keys[3])}))["data"]["entries"]
    assert [e["node"]["index"] for e in mine["edges"]] == [4]


async def test_consistency_proof_query(ledger: Ledger, client: httpx.AsyncClient) -> None:
    log = ledger.platform.log
    await log.append_now([self_registration(ledger) for _ in range(30)])
    old_root = await log.root_at(7)
    result = await gql(client, "{ consistencyProof(fromSize: 7, toSize: 31) { hashes "
                               "toCheckpoint { rootHash } } }")
    proof = result["data"]["consistencyProof"]
    merkle.verify_consistency(7, 31, [base64.b64decode(h) for h in proof["hashes"]], old_root,
                              base64.b64decode(proof["toCheckpoint"]["rootHash"]))


SUBMIT = """mutation($e: String!) { submitEntry(entry: $e) { __typename
  ... on EntryAccepted { entry { index kind inclusionProof { treeSize } } }
  ... on ValidationError { message field } ... on PermissionDenied { message }
  ... on Conflict { message } } }"""


async def test_submit_self_custody_entry(ledger: Ledger, client: httpx.AsyncClient) -> None:
    key = new_signing_key()
    signed = self_registration(ledger, key)
    result = (await gql(client, SUBMIT, {"e": signed.leaf_data.decode()}))["data"]["submitEntry"]
    assert result["__typename"] == "EntryAccepted"
    assert result["entry"]["index"] == 1
    # The same signed entry again (its answer was lost) answers the stored one, writing nothing;
    # another entry with that signer's used nonce is a replay.
    again = (await gql(client, SUBMIT, {"e": signed.leaf_data.decode()}))["data"]["submitEntry"]
    assert again == result
    replay = new_entry(signed.kind, signed.body, at=ledger.platform.clock.now() + timedelta(
        seconds=1), nonce=base64.b64decode(signed.nonce)).signed_by(key)
    replayed = (await gql(client, SUBMIT, {"e": replay.leaf_data.decode()}))["data"]["submitEntry"]
    assert replayed["__typename"] == "Conflict"
    bad = (await gql(client, SUBMIT, {"e": '{"v":1.5}'}))["data"]["submitEntry"]
    assert bad["__typename"] == "ValidationError" and "floats" in bad["message"]
    assert await ledger.platform.log.size() == 2


async def test_register_account_needs_the_operator(ledger: Ledger, client: httpx.AsyncClient
                                                   ) -> None:
    mutation = """mutation { registerAccount(role: "charity", label: "Food Bank") { __typename
      ... on AccountRegistered { token account { address role label } entry { index } }
      ... on PermissionDenied { message } } }"""
    denied = (await gql(client, mutation))["data"]["registerAccount"]
    assert denied["__typename"] == "PermissionDenied"
    made = (await gql(client, mutation, token=ledger.operator_token))["data"]["registerAccount"]
    assert made["__typename"] == "AccountRegistered"
    assert made["account"]["role"] == "charity"
    me = await gql(client, "{ me { address role } }", token=made["token"])
    assert me["data"]["me"] == {"address": made["account"]["address"], "role": "charity"}
    # the charity's token may not register accounts
    again = (await gql(client, mutation, token=made["token"]))["data"]["registerAccount"]
    assert again["__typename"] == "PermissionDenied"
    assert await ledger.platform.log.size() == 2


async def test_query_limits_and_masking(ledger: Ledger, client: httpx.AsyncClient) -> None:
    deep = "{ entries { edges { node { inclusionProof { checkpoint { size } } } } } }"
    assert "errors" not in await gql(client, deep)
    nested = "{ checkpoint { " + "previous { " * 10 + "size" + " }" * 10 + " } }"
    result = await gql(client, nested)
    assert "exceeds maximum operation depth" in result["errors"][0]["message"]
    aliases = "{ " + " ".join(f"a{i}: checkpoint {{ size }}" for i in range(40)) + " }"
    result = await gql(client, aliases)
    assert "aliases" in result["errors"][0]["message"]
    tokens = "{ checkpoint { " + " ".join(["size"] * 3000) + " } }"
    result = await gql(client, tokens)
    assert "token" in result["errors"][0]["message"].lower()
    # an unexpected failure is masked; an expected NotFound is not
    result = await gql(client, "{ checkpoint(size: 12345) { size } }")
    assert "no checkpoint was signed at size 12345" in result["errors"][0]["message"]


def test_schema_file_matches_code() -> None:
    from heartchain.schema_export import sdl

    stored = (ROOT / "graphql" / "schema.graphql").read_text()
    assert stored == sdl(), "graphql/schema.graphql is stale: run `make schema`"


def test_graphql_dir_is_not_a_package_and_strawberry_imports_from_repo_root() -> None:
    assert not (ROOT / "graphql" / "__init__.py").exists()
    result = subprocess.run([sys.executable, "-c", "import strawberry, graphql; "
                             "print(graphql.__file__)"], cwd=ROOT, capture_output=True,
                            text=True, check=True)
    assert "site-packages" in result.stdout


async def test_unexpected_errors_are_masked(ledger: Ledger, client: httpx.AsyncClient,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    async def broken() -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(ledger.platform.log, "latest_checkpoint", broken)
    result = await gql(client, "{ checkpoint { size } }")
    assert result["errors"][0]["message"] == "Unexpected error."
    assert "hunter2" not in str(result)


async def test_request_bodies_are_read_as_json_reads_them(client: httpx.AsyncClient) -> None:
    """The fast decoder (msgspec) refuses what json reads (a BOM, UTF-16, NaN): those are
    still answered; malformed JSON is still a 400, never a 500."""
    query = '{ __typename a: __typename }'
    for body in (b"\xef\xbb\xbf" + json.dumps({"query": query}).encode(),
                 json.dumps({"query": query}).encode("utf-16"),
                 b'{"query": "' + query.encode() + b'", "variables": {"x": NaN}}'):
        response = await client.post("/graphql", content=body,
                                     headers={"content-type": "application/json"})
        assert response.status_code == 200, (body[:20], response.text)
        assert response.json()["data"] == {"__typename": "Query", "a": "Query"}
    for body in (b'{"query": ', b'{"query": "{ __typename }"} trailing', b"\xff\xfe\x00"):
        response = await client.post("/graphql", content=body,
                                     headers={"content-type": "application/json"})
        assert response.status_code == 400, (body, response.text)


async def test_oversized_request_bodies_are_refused(ledger: Ledger, client: httpx.AsyncClient
                                                    ) -> None:
    huge = {"query": "mutation($e: String!) { submitEntry(entry: $e) { __typename } }",
            "variables": {"e": "x" * 300_000}}
    response = await client.post("/graphql", json=huge)
    assert response.status_code == 413
    assert await ledger.platform.log.size() == 1


async def test_metrics_count_appends_and_rejections(ledger: Ledger, client: httpx.AsyncClient
                                                    ) -> None:
    from heartchain.ledger.entries import new_entry

    await ledger.platform.log.append_now([self_registration(ledger) for _ in range(3)])
    key = new_signing_key()
    charity = new_entry("account.register", {"address": address_of(key), "role": "charity",
                                             "registrar": address_of(key)},
                        at=ledger.platform.clock.now()).signed_by(key)
    await ledger.platform.log.append_now([charity])
    text = (await client.get("/metrics")).text
    assert 'heartchain_entries_appended_total{kind="account.register"}' in text
    assert ('heartchain_entries_rejected_total{kind="account.register",'
            'reason="PermissionDenied"}') in text
    assert "heartchain_integration_seconds_bucket" in text


async def test_idempotency_key_makes_a_retried_write_return_the_first(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    mutation = """mutation($label: String!) { registerAccount(role: "partner", label: $label) {
      __typename ... on AccountRegistered { entry { index } } ... on Conflict { message } } }"""

    async def register(label: str, key: str) -> dict[str, object]:
        response = await client.post("/graphql", json={"query": mutation,
                                                       "variables": {"label": label}},
                                     headers={"Authorization": f"Bearer {ledger.operator_token}",
                                              "Idempotency-Key": key})
        result: dict[str, object] = response.json()["data"]["registerAccount"]
        return result

    first = await register("Shop", "req-1")
    assert first["__typename"] == "AccountRegistered"
    size = await ledger.platform.log.size()
    again = await register("Shop", "req-1")
    # the retry answers the account the first attempt registered (its fresh key is not used)
    assert again == first
    assert await ledger.platform.log.size() == size
    other = await register("Cafe", "req-1")
    assert other["__typename"] == "Conflict" and "different request" in str(other["message"])
    assert await ledger.platform.log.size() == size


async def test_idempotent_writes_through_the_platform(ledger: Ledger) -> None:
    from heartchain.platform import idempotent

    platform = ledger.platform
    key = new_signing_key()
    body = RegisterBody(address=address_of(key), role="member", registrar=address_of(key))
    with idempotent("gift-42"):
        first = await platform.write(body, key)
    with idempotent("gift-42"):
        again = await platform.write(body, key)
    assert again == first
    assert await platform.log.size() == 2
