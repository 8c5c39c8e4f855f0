"""Rate limits on /graphql: a token bucket per bearer token, else per client address.

Each request is charged a cost read from its GraphQL document, so a query that walks a donation
down to every delivery costs more than a score check:

    1   every request
    +2  each top-level mutation field (a signed append)
    +n  each expensive field wherever it appears, aliases included (EXPENSIVE_FIELDS)
    +f  each `first: N` page argument, N // 50 (a page of 100 adds 2; donationJourney's 1000, 20)

A caller may spend `burst` at once and `rate` per second after that. When its bucket is short, it
gets 429 with Retry-After (seconds) and a GraphQL-shaped JSON error; nothing reaches the schema,
so a refused request can never write. Requests that carry a bearer token are also charged, at ten
times the allowance, to their client address: minting fake tokens buys a client nothing.

Configuration (per process: N uvicorn workers allow N times as much):

| variable                   | default                                        |
|----------------------------|------------------------------------------------|
| HEARTCHAIN_RATE_LIMIT      | 200 (cost units per second per key; 0 = off)   |
| HEARTCHAIN_RATE_BURST      | 2 × the rate                                   |

WebSocket subscriptions and the other routes are not charged here (tiles are static and
cacheable; the body size limit of heartchain/limits.py applies to every request).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    IntValueNode,
    OperationDefinitionNode,
    OperationType,
    SelectionSetNode,
    VariableNode,
    parse,
)

ENV_RATE = "HEARTCHAIN_RATE_LIMIT"
ENV_BURST = "HEARTCHAIN_RATE_BURST"
DEFAULT_RATE = 200.0
ADDRESS_FACTOR = 10  # token traffic from one address may use ten tokens' worth
MAX_KEYS = 50_000  # buckets kept; the least recently used (long since refilled) go first
MAX_TOKENS = 2_000  # as the schema's MaxTokensLimiter: longer documents are refused there

MUTATION_COST = 2
PAGE_DIVISOR = 50
EXPENSIVE_FIELDS: Mapping[str, int] = {
    "donationJourney": 10,  # a donation's lots down to every delivery
    "period": 10,  # a period's notice: its cases and member counts
    "consistencyProof": 5,  # reads O(log n) tiles at two sizes
    "member": 3,  # hearts, donations, consents, checks
    "membership": 3,  # shares with Merkle proofs
    "inclusionProof": 2,
    "receipt": 3,  # an inclusion proof, the witnessed checkpoint and its cosignatures
    "entries": 2,
}


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key, each refilling at `rate` up to `burst`; bounded in memory."""

    def __init__(self, rate: float, burst: float, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def _refilled(self, key: str, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = Bucket(self.burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        return bucket

    def wait(self, key: str, cost: float) -> float:
        """Seconds until `key` can spend `cost` (0: now). Costs above the burst count as it."""
        bucket = self._refilled(key, self.clock())
        short = min(cost, self.burst) - bucket.tokens
        return max(0.0, short / self.rate)

    def spend(self, key: str, cost: float) -> None:
        bucket = self._refilled(key, self.clock())
        bucket.tokens -= min(cost, self.burst)


def graphql_cost(query: str, variables: Mapping[str, Any] | None = None,
                 operation_name: str | None = None) -> int:
    """The cost of one GraphQL request (see the module docstring); 1 if it does not parse."""
    document = _parse(query)
    if document is None:
        return 1
    fragments = {d.name.value: d for d in document.definitions
                 if isinstance(d, FragmentDefinitionNode)}
    cost = 1
    for operation in document.definitions:
        if not isinstance(operation, OperationDefinitionNode):
            continue
        if operation_name is not None and (operation.name is None
                                           or operation.name.value != operation_name):
            continue
        if operation.operation is OperationType.MUTATION:
            cost += MUTATION_COST * sum(1 for _ in _fields(operation.selection_set, fragments,
                                                           set(), deep=False))
        for field in _fields(operation.selection_set, fragments, set(), deep=True):
            cost += EXPENSIVE_FIELDS.get(field.name.value, 0)
            cost += _page(field, variables or {}) // PAGE_DIVISOR
    return cost


@lru_cache(maxsize=512)
def _parse(query: str) -> DocumentNode | None:
    try:
        return parse(query, no_location=True, max_tokens=MAX_TOKENS)
    except GraphQLError:
        return None


def _fields(selections: SelectionSetNode | None, fragments: Mapping[str, FragmentDefinitionNode],
            spread: set[str], *, deep: bool) -> Iterable[FieldNode]:
    if selections is None:
        return
    for node in selections.selections:
        if isinstance(node, FieldNode):
            yield node
            if deep:
                yield from _fields(node.selection_set, fragments, spread, deep=deep)
        elif isinstance(node, InlineFragmentNode):
            yield from _fields(node.selection_set, fragments, spread, deep=deep)
        elif isinstance(node, FragmentSpreadNode):
            name = node.name.value
            # Not validated yet: a fragment may spread itself. Count each fragment once.
            if name in fragments and name not in spread:
                spread.add(name)
                yield from _fields(fragments[name].selection_set, fragments, spread, deep=deep)


def _page(field: FieldNode, variables: Mapping[str, Any]) -> int:
    for argument in field.arguments or ():
        if argument.name.value != "first":
            continue
        value = argument.value
        if isinstance(value, IntValueNode):
            return _clamp(value.value)
        if isinstance(value, VariableNode):
            return _clamp(variables.get(value.name.value))
    return 0


def _clamp(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        return 0
    try:
        number = int(value)
    except ValueError:
        return 0
    return max(0, min(number, 100_000))


def request_cost(method: str, body: bytes, query_string: bytes) -> int:
    """The cost of a /graphql request from its JSON body (POST) or query parameters (GET)."""
    if method == "GET":
        params = parse_qs(query_string.decode("latin-1"))
        query = params.get("query", [""])[0]
        try:
            variables = json.loads(params.get("variables", ["{}"])[0])
        except ValueError:
            variables = {}
        return graphql_cost(query, variables if isinstance(variables, dict) else None) \
            if query else 1
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return 1
    requests = payload if isinstance(payload, list) else [payload]
    cost = 0
    for item in requests:
        if not isinstance(item, dict) or not isinstance(item.get("query"), str):
            cost += 1
            continue
        variables = item.get("variables")
        name = item.get("operationName")
        cost += graphql_cost(item["query"], variables if isinstance(variables, dict) else None,
                             name if isinstance(name, str) else None)
    return max(cost, 1)


def rate_from_env(environ: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(rate, burst) from HEARTCHAIN_RATE_LIMIT / HEARTCHAIN_RATE_BURST; rate 0 disables."""
    env = os.environ if environ is None else environ
    rate = float(env.get(ENV_RATE, DEFAULT_RATE))
    if rate < 0 or math.isnan(rate):
        raise ValueError(f"{ENV_RATE} must be >= 0, got {env.get(ENV_RATE)!r}")
    burst = float(env.get(ENV_BURST, 2 * rate))
    return rate, max(burst, 1.0)


class RateLimit:
    """Pure ASGI middleware: charge each /graphql request to its caller's bucket, or refuse it.

        app = RateLimit(app)                       # configured from the environment
        app = RateLimit(app, rate=5, burst=10)     # explicit (tests)
    """

    def __init__(self, app: ASGIApp, *, rate: float | None = None, burst: float | None = None,
                 paths: Iterable[str] = ("/graphql",),
                 clock: Callable[[], float] = time.monotonic) -> None:
        env_rate, env_burst = rate_from_env()
        self.app = app
        self.rate = env_rate if rate is None else rate
        if burst is None:
            burst = env_burst if rate is None else max(2 * self.rate, 1.0)
        self.paths = frozenset(paths)
        self.enabled = self.rate > 0
        if self.enabled:
            self.keys = TokenBuckets(self.rate, burst, clock=clock)
            self.hosts = TokenBuckets(self.rate * ADDRESS_FACTOR, burst * ADDRESS_FACTOR,
                                      clock=clock)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (not self.enabled or scope["type"] != "http" or scope["path"] not in self.paths
                or scope["method"] not in ("GET", "POST")):
            await self.app(scope, receive, send)
            return
        charges = self._charges(scope)
        # A caller with an empty bucket is refused before its body is even read.
        wait = self._wait(charges, 1)
        if wait > 0:
            await _too_many(send, wait)
            return
        body, replay = await _read_body(receive)
        cost = request_cost(scope["method"], body, scope.get("query_string", b""))
        wait = self._wait(charges, cost)
        if wait > 0:
            await _too_many(send, wait)
            return
        for buckets, key in charges:
            buckets.spend(key, cost)
        await self.app(scope, replay, send)

    def _charges(self, scope: Scope) -> list[tuple[TokenBuckets, str]]:
        client = scope.get("client")
        host = client[0] if client else "unknown"
        token = _bearer(scope)
        if token is None:
            return [(self.keys, f"address:{host}")]
        digest = hashlib.sha256(token.encode()).hexdigest()[:32]
        return [(self.keys, f"token:{digest}"), (self.hosts, f"host:{host}")]

    @staticmethod
    def _wait(charges: list[tuple[TokenBuckets, str]], cost: float) -> float:
        return max(buckets.wait(key, cost) for buckets, key in charges)


def _bearer(scope: Scope) -> str | None:
    for name, value in scope.get("headers", ()):
        if name == b"authorization":
            text: str = bytes(value).decode("latin-1")
            if text[:7].lower() == "bearer " and text[7:].strip():
                return text[7:].strip()
    return None


async def _read_body(receive: Receive) -> tuple[bytes, Receive]:
    """Read the whole body (the size limit wraps `receive`), and a receive that replays it."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            # The client went away: hand the app the disconnect as it came.
            return b"", _replaying(message)
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = b"".join(chunks)
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if not replayed:
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return body, replay


def _replaying(message: Message) -> Receive:
    async def receive() -> Message:
        return message

    return receive


async def _too_many(send: Send, wait: float) -> None:
    seconds = max(1, math.ceil(wait))
    body = json.dumps({"errors": [{
        "message": f"rate limit exceeded: retry after {seconds} s",
        "extensions": {"code": "RATE_LIMITED", "retryAfter": seconds}}]}).encode()
    await send({"type": "http.response.start", "status": 429,
                "headers": [(b"content-type", b"application/json"),
                            (b"retry-after", str(seconds).encode()),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})
