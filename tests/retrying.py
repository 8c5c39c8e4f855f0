"""An HTTP client that sends every GraphQL mutation twice with one Idempotency-Key.

Running a domain's whole operations scenario through it checks each mutation the scenario makes:
the retry must answer exactly what the first attempt answered and write nothing to the log.
Only fields that are fresh by design are left out of the comparison (an API token is shown once:
a retried `registerAccount` issues a new one, since the first was lost with its answer).
"""

from __future__ import annotations

import contextlib
import json
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any
from unittest import mock

import httpx

from graphql import OperationDefinitionNode, OperationType, parse
from heartchain.app import create_app
from tests.conftest import Ledger

FRESH_FIELDS = frozenset({"token"})
# Sent once, not retried: their entries are being reworked in other branches (case opening,
# consent checks); each answers a retry with a Conflict and writes nothing, but not the first
# answer yet.
NOT_RETRIED: frozenset[str] = frozenset()


def _is_mutation(payload: dict[str, Any]) -> bool:
    operations = [d for d in parse(payload["query"]).definitions
                  if isinstance(d, OperationDefinitionNode)]
    name = payload.get("operationName")
    chosen = [d for d in operations if name is None or (d.name and d.name.value == name)]
    return bool(chosen) and chosen[0].operation == OperationType.MUTATION


def _comparable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _comparable(v) for k, v in value.items() if k not in FRESH_FIELDS}
    if isinstance(value, list):
        return [_comparable(v) for v in value]
    return value


class RetryingTransport(httpx.AsyncBaseTransport):
    def __init__(self, inner: httpx.AsyncBaseTransport, ledger: Ledger) -> None:
        self.inner = inner
        self.ledger = ledger
        self.retried: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        body = await request.aread()
        payload = json.loads(body) if request.method == "POST" and body else None
        if (request.url.path != "/graphql" or not payload or not _is_mutation(payload)
                or payload.get("operationName") in NOT_RETRIED):
            return await self.inner.handle_async_request(request)
        headers = dict(request.headers)
        headers.setdefault("idempotency-key", f"retry-{uuid.uuid4()}")

        async def send() -> tuple[httpx.Response, bytes]:
            response = await self.inner.handle_async_request(
                httpx.Request(request.method, request.url, headers=headers, content=body))
            return response, await response.aread()

        first, first_body = await send()
        size = await self.ledger.platform.log.size()
        _, retry_body = await send()
        name = payload.get("operationName") or "mutation"
        answer, again = json.loads(first_body), json.loads(retry_body)
        assert _comparable(again) == _comparable(answer), (name, answer, again)
        assert await self.ledger.platform.log.size() == size, f"{name}: the retry wrote"
        self.retried.append(name)
        return httpx.Response(first.status_code, headers=first.headers, content=first_body)


@contextlib.asynccontextmanager
async def retrying_client(ledger: Ledger) -> AsyncIterator[tuple[httpx.AsyncClient,
                                                                 RetryingTransport]]:
    app = create_app(ledger.settings)
    app.state.platform = ledger.platform
    transport = RetryingTransport(httpx.ASGITransport(app=app), ledger)
    # Every operation goes twice from one address: the rate limiter is tests/hostile's.
    with mock.patch.dict(os.environ, {"HEARTCHAIN_RATE_LIMIT": "0"}):
        async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
            yield http, transport
