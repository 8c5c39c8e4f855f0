"""The Starlette application: /graphql (+ws), the tlog HTTP endpoints, web pages, lifespan."""

from __future__ import annotations

import contextlib
import importlib
import logging
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket
from strawberry.asgi import GraphQL
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.exceptions import DBConnectionError

from heartchain import http_log
from heartchain.accounts.services import authenticate
from heartchain.clock import Clock
from heartchain.db import import_domain_modules, load_entry_kinds, tortoise_config
from heartchain.gql import Context
from heartchain.limits import BodySizeLimit
from heartchain.logs import AccessLog, log_checkpoints
from heartchain.metrics import metrics
from heartchain.platform import Platform, build_platform, set_idempotency_key
from heartchain.ratelimit import RateLimit
from heartchain.schema import schema
from heartchain.security_headers import SecurityHeaders
from heartchain.settings import Settings
from heartchain.witness.client import attach


class HeartchainGraphQL(GraphQL[Context, None]):
    @property
    def graphql_ide_html(self) -> str:
        # The vendored GraphiQL (no CDN, no inline script): web/graphiql.py.
        from web.graphiql import GRAPHIQL_HTML

        return GRAPHIQL_HTML

    async def get_context(self, request: Request | WebSocket, response: Any) -> Context:
        platform: Platform = request.app.state.platform
        set_idempotency_key(request.headers.get("idempotency-key"))
        account = None
        header = request.headers.get("authorization", "")
        if header.lower().startswith("bearer "):
            account = await authenticate(header[7:].strip())
        if account is None and isinstance(request, WebSocket):
            # Browsers cannot set headers on a WebSocket: the token may come as a query param.
            token = request.query_params.get("token")
            account = await authenticate(token) if token else None
        return Context(request=request, platform=platform, account=account)


logger = logging.getLogger(__name__)


async def database_unavailable(request: Request, exc: Exception) -> Response:
    """The database cannot be reached (PostgreSQL down or restarting): answer 503 at once, log
    one line. Unhandled, it was a 500 with a traceback per request, and uvicorn then dropped the
    connection under requests already sent on it (tests/faults)."""
    logger.warning("database unavailable: %s %s: %r", request.method, request.url.path, exc)
    return JSONResponse(
        {"errors": [{"message": "the database is unavailable; retry shortly"}]},
        status_code=503, headers={"Retry-After": "1"})


async def health(request: Request) -> Response:
    platform: Platform = request.app.state.platform
    return JSONResponse({"status": "ok", "size": await platform.log.size()})


def create_app(settings: Settings | None = None, *, clock: Clock | None = None) -> Starlette:
    the_settings = settings or Settings.from_env()
    load_entry_kinds()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        app.state.platform = build_platform(the_settings, clock=clock)
        log_checkpoints(app.state.platform.log)
        async with RegisterTortoise(app, config=tortoise_config(the_settings.database_url),
                                    generate_schemas=False), attach(app.state.platform):
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
    # The access log is outermost, so 413 and 429 answers are logged too; the body limit wraps
    # the rate limiter, so the limiter's read of the body is capped.
    middleware = [Middleware(AccessLog), Middleware(SecurityHeaders), Middleware(BodySizeLimit),
                  Middleware(RateLimit)]
    return Starlette(routes=routes, lifespan=lifespan, middleware=middleware,
                     exception_handlers={ConnectionError: database_unavailable,
                                         DBConnectionError: database_unavailable})


def _extra_routes() -> list[BaseRoute]:
    """Each domain's plain HTTP routes (`<domain>/http.py`), then the pages (`web/routes.py`)."""
    modules = [*import_domain_modules("http"), importlib.import_module("web.routes")]
    return [route for module in modules for route in module.routes]
