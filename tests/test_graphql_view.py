"""The /graphql view's direct path for a plain JSON POST answers exactly as strawberry's general
`run` does: the same status, headers and body for every kind of request it takes, and every
request it does not take still reaches strawberry's path. (Every other test's POST, writes and
Idempotency-Key retries included, goes through the direct path.)"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from strawberry.asgi import GraphQL

from heartchain import graphql_view
from tests.conftest import Ledger

JSON = "application/json"
DONATE = ('mutation { recordDonation(donor: "hc1nobody", kind: "cash", quantity: 100, '
          'campaign: "x") { __typename ... on PermissionDenied { message } } }')


def _post(body: Any, *, content_type: str = JSON, token: str | None = None,
          accept: str | None = None) -> dict[str, Any]:
    headers = {"content-type": content_type}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    if accept is not None:
        headers["accept"] = accept
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    return {"content": raw, "headers": headers}


# (name, request, whether the direct path answers it)
CASES: list[tuple[str, dict[str, Any], bool]] = [
    ("typename", _post({"query": "{ __typename }"}), True),
    ("charset", _post({"query": "{ __typename }"}, content_type="application/json; charset=utf-8"),
     True),
    ("variables", _post({"query": "query($i: Int64!) { entry(index: $i) { index kind } }",
                         "variables": {"i": 0}}), True),
    ("bad variable", _post({"query": "query($i: Int64!) { entry(index: $i) { index } }",
                            "variables": {"i": "zero"}}), True),
    ("not found", _post({"query": "{ entry(index: 99) { index } }"}), True),
    ("syntax", _post({"query": "{ entry(index: "}), True),
    ("unknown field", _post({"query": "{ nothingHere }"}), True),
    ("operation name", _post({"query": "query A { __typename } query B { __schema { "
                                       "queryType { name } } }", "operationName": "B"}), True),
    ("unknown operation", _post({"query": "query A { __typename }", "operationName": "C"}), True),
    ("no query", _post({"variables": {}}), True),
    ("query not a string", _post({"query": 7}), True),
    ("variables not an object", _post({"query": "{ __typename }", "variables": [1]}), True),
    ("extensions not an object", _post({"query": "{ __typename }", "extensions": "x"}), True),
    ("not json", _post(b"{nope"), True),
    ("json scalar", _post(b"3"), False),
    ("json null", _post(b"null"), False),
    ("json scalar, event stream", _post(b"3", accept="text/event-stream"), False),
    ("signed out mutation", _post({"query": DONATE}), True),
    ("bad token", _post({"query": DONATE}, token="hc_not_a_token"), True),
    ("subscription over POST", _post({"query": "subscription { entries { index } }"}), True),
    ("batch", _post([{"query": "{ __typename }"}]), False),
    ("form", _post(b"query=%7B__typename%7D",
                   content_type="application/x-www-form-urlencoded"), False),
    ("event stream", _post({"query": "{ __typename }"}, accept="text/event-stream"), False),
    ("multipart", _post({"query": "{ __typename }"}, accept="multipart/mixed"), False),
]


def _answer(response: httpx.Response) -> tuple[int, list[tuple[str, str]], bytes]:
    return response.status_code, sorted(response.headers.multi_items()), response.content


@pytest.mark.parametrize(("name", "request_args", "direct"), CASES, ids=[c[0] for c in CASES])
async def test_the_direct_path_answers_as_strawberrys_run(
        ledger: Ledger, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch,
        name: str, request_args: dict[str, Any], direct: bool) -> None:
    general_runs = 0
    strawberry_run = GraphQL.run

    async def counted_run(self: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal general_runs
        general_runs += 1
        return await strawberry_run(self, *args, **kwargs)

    monkeypatch.setattr(GraphQL, "run", counted_run)
    ours = _answer(await client.post("/graphql", **request_args))
    assert (general_runs == 0) is direct, name

    monkeypatch.setattr(graphql_view, "_is_plain_json_post", lambda request: False)
    theirs = _answer(await client.post("/graphql", **request_args))
    assert ours == theirs


@pytest.mark.parametrize("body", [b"3", b"null", b'"query"', b"true"])
@pytest.mark.parametrize("accept", [None, "text/event-stream"])
async def test_a_json_body_that_is_no_operation_is_a_400(
        ledger: Ledger, client: httpx.AsyncClient, body: bytes, accept: str | None) -> None:
    # strawberry's own parsing took `3` for an operation and failed with an AttributeError: a 500.
    response = await client.post("/graphql", **_post(body, accept=accept))
    assert response.status_code == 400
    assert "must be a JSON object" in response.text
    assert await ledger.platform.log.size() == 1


def test_the_view_reads_each_header_as_starlette_would() -> None:
    """One scan of the raw headers answers as `request.headers.get` did: the first of a
    repeated header, "" for one the request lacks, and names as the server passed them (ASGI:
    lowercase); the token is the first Authorization's (a second cannot override it)."""
    from starlette.requests import Request

    raw = [(b"authorization", b"Bearer first"), (b"content-type", b"application/json"),
           (b"authorization", b"Bearer second"), (b"x-other", b"x"), (b"Accept", b"text/x")]
    request = Request({"type": "http", "method": "POST", "path": "/graphql", "headers": raw})
    for name in ("content-type", "accept", "idempotency-key"):
        assert graphql_view._header(request, name.encode()) == request.headers.get(name, "")
    assert graphql_view.bearer_token(request.scope) == "first"
    assert graphql_view._is_plain_json_post(request)
