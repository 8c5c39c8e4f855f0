"""Rate limits and the per-request work cap on /graphql, however an operation arrives.

Every operation is priced before it runs by heartchain/cost.py (the items each field may
return times what is selected under it; a trivial query costs 1): a POST body (each operation
of a batch), a GET's parameters, and each `subscribe` message on a graphql-transport-ws socket
(queries and mutations may run over the socket too). An operation costing more than the cap
(HEARTCHAIN_MAX_REQUEST_COST, and never more than the burst) is refused before it runs: HTTP
400 with a GraphQL error `QUERY_TOO_EXPENSIVE`, or an `error` message on the socket.

Callers are keyed by a bearer token that authenticates (HTTP Authorization header, or the
socket's `connection_init` payload), else by client address: made-up tokens share their
address's bucket. Token traffic is also charged, at ten times the allowance, to its address.
A caller may spend `burst` at once and `rate` per second after that; when its bucket is short
it gets 429 with Retry-After (seconds), or an `error` message with `RATE_LIMITED` on the
socket; nothing reaches the schema, so a refused request can never write.

A GET that repeats `query`, `variables` or `operationName` is refused with 400: the limiter
and the GraphQL server must never read different operations out of one request.

Configuration:

| variable                      | default                                        |
|-------------------------------|------------------------------------------------|
| HEARTCHAIN_RATE_LIMIT         | 200 (cost units per second per key; 0 = off)   |
| HEARTCHAIN_RATE_BURST         | 2 × the rate                                   |
| HEARTCHAIN_MAX_REQUEST_COST   | 1000 (and at most the burst); 0 = no cap       |
| HEARTCHAIN_REDIS_URL          | unset: buckets per process (N workers allow N  |
|                               | times as much); set: shared in Redis           |
| HEARTCHAIN_REDIS_PREFIX       | heartchain: (the keys' prefix in Redis)        |

Where the buckets live, and what happens when Redis is down: heartchain/buckets.py.

The other routes are not charged here (tiles are static and cacheable; the body size limit of
heartchain/limits.py applies to every request).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Any
from urllib.parse import parse_qs

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heartchain import metrics, request_json
from heartchain.buckets import (
    BucketStore,
    Charges,
    Limit,
    LocalBuckets,
    RedisBuckets,
    SharedBuckets,
    TokenBuckets,
)
from heartchain.cost import EXPENSIVE_FIELDS, MUTATION_COST, operation_cost

__all__ = ["EXPENSIVE_FIELDS", "MUTATION_COST", "RateLimit", "TokenBuckets", "graphql_cost",
           "rate_from_env", "request_cost"]

ENV_RATE = "HEARTCHAIN_RATE_LIMIT"
ENV_BURST = "HEARTCHAIN_RATE_BURST"
ENV_MAX_COST = "HEARTCHAIN_MAX_REQUEST_COST"
DEFAULT_RATE = 200.0
DEFAULT_MAX_COST = 1000
ADDRESS_FACTOR = 10  # token traffic from one address may use ten tokens' worth
TOKEN_CACHE_SECONDS = 10.0  # how long a token's validity is trusted without asking again
TOKEN_CACHE_SIZE = 10_000
GET_PARAMETERS = ("query", "variables", "operationName")

graphql_cost = operation_cost

Authenticate = Callable[[Scope, str], Awaitable[object | None]]


class AmbiguousRequest(ValueError):
    pass


def get_parameters(query_string: bytes) -> dict[str, str]:
    """A GET request's GraphQL parameters; AmbiguousRequest if one of them is repeated."""
    params = parse_qs(query_string.decode("latin-1"), keep_blank_values=True)
    repeated = [name for name in GET_PARAMETERS if len(params.get(name, ())) > 1]
    if repeated:
        raise AmbiguousRequest(f"repeated query parameter: {', '.join(repeated)}")
    return {name: params[name][0] for name in GET_PARAMETERS if name in params}


def _payload_cost(item: object) -> int:
    """The cost of one GraphQL request object ({"query", "variables", "operationName"})."""
    if not isinstance(item, dict) or not isinstance(item.get("query"), str):
        return 1
    variables = item.get("variables")
    name = item.get("operationName")
    return operation_cost(item["query"], variables if isinstance(variables, dict) else None,
                          name if isinstance(name, str) else None)


def request_cost(method: str, body: bytes, query_string: bytes, *,
                 payload: object | None = None) -> int:
    """The cost of a /graphql request from its JSON body (POST; `payload`: that body already
    decoded) or query parameters (GET)."""
    if method == "GET":
        params = get_parameters(query_string)
        try:
            variables = json.loads(params.get("variables") or "{}")
        except ValueError:
            variables = None
        return _payload_cost({"query": params.get("query") or "", "variables": variables,
                              "operationName": params.get("operationName")}) \
            if params.get("query") else 1
    if payload is None:
        try:
            payload = request_json.parse(body)
        except (ValueError, UnicodeDecodeError):
            return 1
    requests = payload if isinstance(payload, list) else [payload]
    return max(sum(_payload_cost(item) for item in requests), 1)


def rate_from_env(environ: Mapping[str, str] | None = None) -> tuple[float, float]:
    """(rate, burst) from HEARTCHAIN_RATE_LIMIT / HEARTCHAIN_RATE_BURST; rate 0 disables."""
    env = os.environ if environ is None else environ
    rate = float(env.get(ENV_RATE, DEFAULT_RATE))
    if rate < 0 or math.isnan(rate):
        raise ValueError(f"{ENV_RATE} must be >= 0, got {env.get(ENV_RATE)!r}")
    burst = float(env.get(ENV_BURST, 2 * rate))
    return rate, max(burst, 1.0)


def max_cost_from_env(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    value = int(env.get(ENV_MAX_COST, DEFAULT_MAX_COST))
    if value < 0:
        raise ValueError(f"{ENV_MAX_COST} must be >= 0, got {value}")
    return value


def connection_token(payload: object) -> str | None:
    """The token in a graphql-transport-ws `connection_init` payload: {"authorization":
    "Bearer …"} or {"token": "…"}."""
    if not isinstance(payload, dict):
        return None
    authorization = payload.get("authorization") or payload.get("Authorization")
    if isinstance(authorization, str) and authorization[:7].lower() == "bearer ":
        return authorization[7:].strip() or None
    token = payload.get("token")
    return token.strip() or None if isinstance(token, str) else None


async def _authenticate(scope: Scope, token: str) -> object | None:
    from heartchain.accounts.services import authenticate  # needs the models: only when used

    # Token tags are keyed by the master key, which the platform holds.
    return await authenticate(scope["app"].state.platform, token)


class TokenCheck:
    """Which bearer tokens authenticate, remembered briefly so a flood of requests with one
    token asks the database once per TOKEN_CACHE_SECONDS."""

    def __init__(self, authenticate: Authenticate, clock: Callable[[], float]) -> None:
        self.authenticate, self.clock = authenticate, clock
        self._known: OrderedDict[str, tuple[bool, float]] = OrderedDict()

    async def valid(self, scope: Scope, token: str, digest: str) -> bool:
        now = self.clock()
        known = self._known.get(digest)
        if known is not None and known[1] > now:
            return known[0]
        try:
            valid = await self.authenticate(scope, token) is not None
        except Exception:  # the database is down: the app answers 503; charge the address
            return False
        self._known[digest] = (valid, now + TOKEN_CACHE_SECONDS)
        self._known.move_to_end(digest)
        while len(self._known) > TOKEN_CACHE_SIZE:
            self._known.popitem(last=False)
        return valid


class RateLimit:
    """Pure ASGI middleware: price each /graphql operation, charge it to its caller's bucket,
    or refuse it.

        app = RateLimit(app)                       # configured from the environment
        app = RateLimit(app, rate=5, burst=10)     # explicit (tests)
        app = RateLimit(app, redis_url=url)        # buckets shared by every worker
    """

    def __init__(self, app: ASGIApp, *, rate: float | None = None, burst: float | None = None,
                 max_cost: int | None = None, paths: Iterable[str] = ("/graphql",),
                 clock: Callable[[], float] | None = None,
                 authenticate: Authenticate = _authenticate,
                 redis_url: str = "", redis_prefix: str = "heartchain:") -> None:
        env_rate, env_burst = rate_from_env()
        self.app = app
        self.rate = env_rate if rate is None else rate
        if burst is None:
            burst = env_burst if rate is None else max(2 * self.rate, 1.0)
        self.paths = frozenset(paths)
        self.enabled = self.rate > 0
        cap = max_cost_from_env() if max_cost is None else max_cost
        # An operation costing more than the burst could never be afforded: refuse it as such.
        limits = [c for c in (cap or None, burst if self.enabled else None) if c is not None]
        self.max_cost: float | None = min(limits) if limits else None
        self.tokens = TokenCheck(authenticate, clock or time.monotonic)
        self.keys = Limit("key", self.rate, burst)
        self.hosts = Limit("host", self.rate * ADDRESS_FACTOR, burst * ADDRESS_FACTOR)
        local = LocalBuckets(clock or time.monotonic)
        self.store: BucketStore = local
        if self.enabled and redis_url:
            self.store = SharedBuckets(
                RedisBuckets.from_url(redis_url, redis_prefix, clock or time.time), local)

    async def aclose(self) -> None:
        """Close the shared store's connections (done at lifespan shutdown)."""
        await self.store.aclose()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self.app(scope, receive, self._closing_at_shutdown(send))
            return
        if scope["type"] == "websocket" and scope["path"] in self.paths:
            await self.app(scope, self._socket_receive(scope, receive, send), send)
            return
        if (scope["type"] != "http" or scope["path"] not in self.paths
                or scope["method"] not in ("GET", "POST")):
            await self.app(scope, receive, send)
            return
        if scope["method"] == "GET":
            try:
                get_parameters(scope.get("query_string", b""))
            except AmbiguousRequest as exc:
                await _answer(send, 400, str(exc), "AMBIGUOUS_REQUEST")
                return
        charges = await self._charges(scope, bearer_token(scope))
        # A caller with an empty bucket is refused before its body is even read.
        wait = await self.store.wait(charges, 1)
        if wait > 0:
            await _too_many(send, wait)
            return
        body, replay = await _read_body(receive)
        # Decoded once for the price and for the GraphQL view (heartchain.request_json).
        with request_json.decoded_for_request(body if scope["method"] == "POST" else None
                                              ) as payload:
            cost = request_cost(scope["method"], body, scope.get("query_string", b""),
                                payload=payload)
            if self.max_cost is not None and cost > self.max_cost:
                await self.store.spend(charges, 1)  # pricing it was work too
                metrics.RATE_LIMITED.labels("cost").inc()
                await _answer(send, 400, _too_expensive(cost, self.max_cost),
                              "QUERY_TOO_EXPENSIVE", cost=cost, limit=self.max_cost)
                return
            wait = await self.store.take(charges, cost)
            if wait > 0:
                await _too_many(send, wait)
                return
            await self.app(scope, replay, send)

    def _closing_at_shutdown(self, send: Send) -> Send:
        async def closing(message: Message) -> None:
            if message["type"] == "lifespan.shutdown.complete":
                await self.aclose()
            await send(message)

        return closing

    def _socket_receive(self, scope: Scope, receive: Receive, send: Send) -> Receive:
        """The socket's receive, pricing each `subscribe` message; a refused one is answered
        with an `error` message for its id and never reaches the app."""
        header_token = bearer_token(scope)
        known: list[Charges] = []  # the connection's charges, once its token is known

        async def charges(token: str | None) -> Charges:
            if not known:
                known.append(await self._charges(scope, token or header_token))
            return known[0]

        async def limited() -> Message:
            while True:
                message = await receive()
                if message["type"] != "websocket.receive":
                    return message
                data = _json(message.get("text") or message.get("bytes"))
                if not isinstance(data, dict):
                    return message
                if data.get("type") == "connection_init":
                    await charges(connection_token(data.get("payload")))
                    return message
                if data.get("type") != "subscribe":
                    return message
                refusal = await self._price_subscribe(await charges(None), data.get("payload"))
                if refusal is None:
                    return message
                await send({"type": "websocket.send", "text": json.dumps(
                    {"id": data.get("id"), "type": "error", "payload": [refusal]})})

        return limited

    async def _price_subscribe(self, charges: Charges, payload: object
                               ) -> dict[str, Any] | None:
        """None if the operation may run (and is charged), else the GraphQL error to send."""
        wait = await self.store.wait(charges, 1)
        if wait == 0:
            cost = _payload_cost(payload)
            if self.max_cost is not None and cost > self.max_cost:
                await self.store.spend(charges, 1)
                metrics.RATE_LIMITED.labels("cost").inc()
                return {"message": _too_expensive(cost, self.max_cost), "extensions": {
                    "code": "QUERY_TOO_EXPENSIVE", "cost": cost, "limit": self.max_cost}}
            wait = await self.store.take(charges, cost)
            if wait == 0:
                return None
        metrics.RATE_LIMITED.labels("rate").inc()
        seconds = max(1, math.ceil(wait))
        return {"message": f"rate limit exceeded: retry after {seconds} s",
                "extensions": {"code": "RATE_LIMITED", "retryAfter": seconds}}

    async def _charges(self, scope: Scope, token: str | None) -> Charges:
        if not self.enabled:
            return []
        client = scope.get("client")
        host = client[0] if client else "unknown"
        if token is not None:
            digest = hashlib.sha256(token.encode()).hexdigest()[:32]
            # Only a token that authenticates has a bucket of its own; made-up ones share
            # their address's, so minting them buys nothing.
            if await self.tokens.valid(scope, token, digest):
                return [(self.keys, f"token:{digest}"), (self.hosts, f"host:{host}")]
        return [(self.keys, f"address:{host}")]


def _too_expensive(cost: int, limit: float) -> str:
    return (f"query too expensive: it may cost {cost} units, more than the {int(limit)} one "
            "request may; ask for smaller pages (first:) or fewer fields")


def _json(text: str | bytes | None) -> object:
    if text is None:
        return None
    try:
        return json.loads(text)
    except (ValueError, UnicodeDecodeError):
        return None


def bearer_token(scope: Scope) -> str | None:
    """The token of the request's first Authorization header, if it is `Bearer <token>`."""
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


async def _answer(send: Send, status: int, message: str, code: str,
                  headers: Iterable[tuple[bytes, bytes]] = (), **extensions: object) -> None:
    body = json.dumps({"errors": [{"message": message,
                                   "extensions": {"code": code, **extensions}}]}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode()), *headers]})
    await send({"type": "http.response.body", "body": body})


async def _too_many(send: Send, wait: float) -> None:
    metrics.RATE_LIMITED.labels("rate").inc()
    seconds = max(1, math.ceil(wait))
    await _answer(send, 429, f"rate limit exceeded: retry after {seconds} s", "RATE_LIMITED",
                  [(b"retry-after", str(seconds).encode())], retryAfter=seconds)
