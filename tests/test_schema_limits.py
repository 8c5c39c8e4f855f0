"""heartchain.schema.PreparedDocuments: the token, depth and alias limits hold, a request sent
again gets the same answer from the caches, and a valid query still runs."""

from __future__ import annotations

import httpx

from heartchain.schema import MAX_ALIASES, MAX_TOKENS
from tests.conftest import gql


async def test_the_token_limit_holds_every_time(client: httpx.AsyncClient) -> None:
    query = "{ " + "__typename " * (MAX_TOKENS + 10) + "}"
    for _ in range(2):
        result = await gql(client, query)
        assert "tokens" in result["errors"][0]["message"], result
        assert result.get("data") is None


async def test_the_alias_limit_holds_every_time(client: httpx.AsyncClient) -> None:
    query = "{ " + " ".join(f"a{i}: __typename" for i in range(MAX_ALIASES + 1)) + " }"
    for _ in range(2):
        result = await gql(client, query)
        assert "aliases" in result["errors"][0]["message"].lower(), result


async def test_a_cached_document_still_runs(client: httpx.AsyncClient) -> None:
    for _ in range(3):
        assert (await gql(client, "{ __typename }")) == {"data": {"__typename": "Query"}}
    result = await gql(client, "{ noSuchField }")
    again = await gql(client, "{ noSuchField }")
    assert result == again and "noSuchField" in result["errors"][0]["message"]
