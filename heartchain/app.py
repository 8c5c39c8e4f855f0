"""The Starlette application: /graphql (+ws), the tlog HTTP endpoints, web pages, lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sqlite3
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from tortoise.connection import connections
from tortoise.contrib.starlette import RegisterTortoise
from tortoise.exceptions import DBConnectionError, OperationalError

from heartchain import http_log, unavailable
from heartchain.clock import Clock
from heartchain.collector import serving_pace
from heartchain.db import import_domain_modules, load_entry_kinds, skip_pool_reset, tortoise_config
from heartchain.files import private_sqlite_url
from heartchain.graphql_view import HeartchainGraphQL
from heartchain.ledger.static_tiles import publishing
from heartchain.ledger.witness_client import attach
from heartchain.limits import BodySizeLimit
from heartchain.logs import AccessLog, log_checkpoints
from heartchain.metrics import metrics, worker_lifetime
from heartchain.migrate import ensure_current
from heartchain.platform import Platform, build_platform
from heartchain.ratelimit import RateLimit
from heartchain.schema import schema
from heartchain.security_headers import SecurityHeaders
from heartchain.settings import Settings
from heartchain.timeouts import BodyTimeout
from heartchain.unavailable import DatabaseBusy, bound_connection_waits, is_unavailable
from heartchain.webhooks.delivery import delivering

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
