"""The Starlette application: /graphql (+ws), the tlog HTTP endpoints, web pages, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import msgspec
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from strawberry.exceptions import ConnectionRejectionError
from strawberry.types import ExecutionResult
from strawberry.types.unset import UNSET, UnsetType
from tortoise.connection import connections
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.exceptions import DBConnectionError, OperationalError

from graphql import GraphQLError
from heartchain import http_log, request_json, unavailable
from heartchain.accounts.services import authenticate
from heartchain.clock import Clock
from heartchain.collector import serving_pace
from heartchain.db import import_domain_modules, load_entry_kinds, skip_pool_reset, tortoise_config
from heartchain.files import private_sqlite_url
from heartchain.gql import Context
from heartchain.ledger.static_tiles import publishing
from heartchain.ledger.witness_client import attach
from heartchain.limits import BodySizeLimit
from heartchain.logs import AccessLog, log_checkpoints
from heartchain.metrics import metrics, worker_lifetime
from heartchain.migrate import ensure_current
from heartchain.platform import Platform, build_platform, set_idempotency_key
from heartchain.ratelimit import RateLimit, connection_token
from heartchain.schema import schema
from heartchain.security_headers import SecurityHeaders
from heartchain.settings import Settings
from heartchain.timeouts import BodyTimeout
from heartchain.unavailable import DatabaseBusy, bound_connection_waits, is_unavailable
from heartchain.webhooks.delivery import delivering


class _SubResponse(Response):
    """The response resolvers may add to (status, headers): strawberry builds a full Response and
    then deletes its content-length header for every request; this starts empty."""

    def __init__(self) -> None:
        self.status_code = None  # type: ignore[assignment]  # strawberry: None keeps 200
        self.background = None
        self.raw_headers = []


class HeartchainGraphQL(GraphQL[Context, None]):
    async def execute_single(self, request: Any, request_adapter: Any, sub_response: Any,
                             context: Context, root_value: None, request_data: Any
                             ) -> ExecutionResult:
        """A resolver that found the database unavailable (locked, down, the sequencer's wait
        over) makes the whole answer a 503 with Retry-After, as for every other route."""
        result: ExecutionResult = await super().execute_single(
            request, request_adapter, sub_response, context, root_value, request_data)
        if result.errors and any(is_unavailable(e.original_error) for e in result.errors):
            logger.warning("database unavailable: GraphQL %s", request_data.operation_name or "")
            result.errors = [GraphQLError(unavailable.MESSAGE, extensions={
                "code": unavailable.CODE})]
            result.data = None
            sub_response.status_code = 503
            sub_response.headers["Retry-After"] = str(unavailable.RETRY_AFTER_SECONDS)
        return result
    async def get_sub_response(self, request: Request | WebSocket) -> Response:
        return _SubResponse()

    def decode_json(self, data: str | bytes) -> object:
        """strawberry answers a JSONDecodeError with 400 (HTTP) or closes the socket (ws); an
        integer past Python's 4,300-digit limit is a plain ValueError, and was a 500
        (request_json.parse makes it a JSONDecodeError). The rate limiter's decoding of this
        very body when it has one."""
        return request_json.decode(data)

    def encode_json(self, data: object) -> str:
        # A str, not bytes: strawberry sends bytes over a WebSocket as binary frames.
        return msgspec.json.encode(data).decode()

    @property
    def graphql_ide_html(self) -> str:
        # The vendored GraphiQL (no CDN, no inline script): web/graphiql.py.
        from web.graphiql import GRAPHIQL_HTML

        return GRAPHIQL_HTML

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        platform: Platform = request.app.state.platform
        # Per HTTP request only: one WebSocket carries many operations, which must not share one.
        set_idempotency_key(None if isinstance(request, WebSocket)
                            else request.headers.get("idempotency-key"))
        account = None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            account = await authenticate(platform, header[7:].strip())
        # Browsers cannot set headers on a WebSocket: they send the token in connection_init
        # (on_ws_connect). Never in the URL: URLs end up in access logs and proxies.
        return Context(request=request, platform=platform, account=account)

    async def on_ws_connect(self, context: Context) -> UnsetType | dict[str, object] | None:
        """graphql-transport-ws `connection_init` with {"authorization": "Bearer …"} or
        {"token": "…"}: a token that does not authenticate closes the socket (4403)."""
        token = connection_token(context.connection_params)
        if token is not None:
            account = await authenticate(context.platform, token)
            if account is None:
                raise ConnectionRejectionError
            context.account = account
        unset: UnsetType = UNSET
        return unset


logger = logging.getLogger(__name__)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot be reached (PostgreSQL down or restarting) or is locked past its
    busy timeout: answer 503 at once, log one line. Unhandled, it was a 500 with a traceback
    per request, and uvicorn then dropped the connection under requests already sent on it
    (tests/faults)."""
    if not is_unavailable(exc):
        raise exc
    logger.warning("database unavailable: %s %s: %r", request.method, request.url.path, exc)
    return JSONResponse(
        {"errors": [{"message": unavailable.MESSAGE,
                     "extensions": {"code": unavailable.CODE}}]},
        status_code=503, headers={"Retry-After": str(unavailable.RETRY_AFTER_SECONDS)})


HEALTH_TIMEOUT = 1.0  # a health check answers within this, whatever holds the database


async def health(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    try:
        size = await asyncio.wait_for(platform.log.size(), HEALTH_TIMEOUT)
    except Exception as exc:
        if not is_unavailable(exc):
            raise
        return JSONResponse({"status": "degraded", "reason": unavailable.MESSAGE},
                            status_code=503,
                            headers={"Retry-After": str(unavailable.RETRY_AFTER_SECONDS)})
    return JSONResponse({"status": "ok", "size": size})


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    the_settings = settings or Settings.from_env()
    load_entry_kinds()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.platform = build_platform(the_settings, clock=clock)
        private_sqlite_url(the_settings.database_url)  # a store made before it was 0600
        log_checkpoints(app.state.platform.log)
        async with RegisterTortoise(app, config=tortoise_config(the_settings.database_url),
                                    generate_schemas=False), \
                attach(app.state.platform, exclusive=True), \
                worker_lifetime():
            # `heartchain serve` says so before starting; this covers any other way of running
            # the app: a store behind the code is never served, nor migrated silently.
            await ensure_current(connections.get("default"))
            # A request waits at most this for a connection, then its own statement at most
            # the busy timeout: a held lock costs each request a few seconds, not a queue.
            bound_connection_waits(the_settings.db_busy_timeout_ms / 1000)
            skip_pool_reset()
            async with publishing(app.state.platform.log, the_settings.static_tiles_dir), \
                    delivering(app.state.platform):
                serving_pace()
                yield

    origin = urlsplit(the_settings.public_url)
    graphql_app = HeartchainGraphQL(
        schema, allowed_origins=[f"{origin.scheme}://{origin.netloc}"], keep_alive=True)
    routes: list[BaseRoute] = [
        Route("/graphql", graphql_app, methods=["GET", "POST"]),
        WebSocketRoute("/graphql", graphql_app),
        *http_log.routes,
        Route("/healthz", health),
        Route("/metrics", metrics),
    ]
    routes.extend(_extra_routes())
    # The access log is outermost, so 408, 413 and 429 answers are logged too (with their
    # security headers); the body limits (time, then size) wrap the rate limiter, so the
    # limiter's read of the body is bounded.
    middleware = [Middleware(AccessLog), Middleware(SecurityHeaders), Middleware(BodyTimeout),
                  Middleware(BodySizeLimit),
                  Middleware(RateLimit, redis_url=the_settings.redis_url,
                             redis_prefix=the_settings.redis_prefix)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware,
                     exception_handlers={ConnectionError: database_unavailable,
                                         DBConnectionError: database_unavailable,
                                         DatabaseBusy: database_unavailable,
                                         OperationalError: database_unavailable,
                                         sqlite3.OperationalError: database_unavailable})


def _extra_routes() -> list[BaseRoute]:
    """Each domain's plain HTTP routes (`<domain>/http.py`), then the pages (`web/routes.py`)."""
    modules = [*import_domain_modules("http"), importlib.import_module("web.routes")]
    return [route for module in modules for route in module.routes]
