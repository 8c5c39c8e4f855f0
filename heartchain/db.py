"""Tortoise configuration and the list of domains that make up the service.

A domain is a package with the same files (DESIGN §1): `models.py` (its projection tables),
`entries.py` (its entry kinds), `types.py` (its GraphQL `Query`, `Mutation`, `Subscription`),
and optionally `demo.py` (its demo seeders). Adding a domain means adding it to DOMAINS.
"""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType
from typing import Any

from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.connection import connections

from heartchain.files import private_sqlite_url

DOMAINS = [
    "heartchain.accounts",
    "heartchain.corrections",
    "tokens",
    "tracing",
    "heartchain.mutualaid",
    "heartchain.witness",
    "heartchain.finance",
]


def domain_modules(part: str) -> list[str]:
    """The `part` modules (models, entries, types, http, demo) of every domain that has one.

    Every domain package must import (a missing one is an installation error, never a silently
    smaller service); only the part is optional.
    """
    found = []
    for domain in DOMAINS:
        importlib.import_module(domain)
        name = f"{domain}.{part}"
        if importlib.util.find_spec(name) is not None:
            found.append(name)
    return found


def import_domain_modules(part: str) -> list[ModuleType]:
    return [importlib.import_module(name) for name in domain_modules(part)]


def model_modules() -> list[str]:
    # The sealed personal data (off the log) is shared by every domain that holds any.
    return ["heartchain.ledger.store", "heartchain.privacy", *domain_modules("models")]


def load_entry_kinds() -> None:
    """Import every domain's entries module so its kinds are registered, then its corrections
    module (what its projections do when one of its entries is corrected)."""
    import_domain_modules("entries")
    import_domain_modules("corrections")


def tortoise_config(db_url: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "connections": {"default": db_url, **(extra or {})},
        "apps": {"heartchain": {"models": model_modules(), "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def connect_db(db_url: str) -> BaseDBAsyncClient:
    """Connect Tortoise to the store as it is (`heartchain migrate` looks at it before anything)."""
    load_entry_kinds()
    private_sqlite_url(db_url)
    await Tortoise.init(config=tortoise_config(db_url))
    skip_pool_reset()
    conn: BaseDBAsyncClient = connections.get("default")
    return conn


async def _keep_session(connection: Any) -> None:
    """What a released pool connection needs beyond the rollback of an open transaction, which
    asyncpg always does first: nothing. Nothing here leaves session state behind (no LISTEN,
    cursors, advisory locks or session SETs on pooled connections: the witness submitter's lease
    holds its advisory lock on a connection of its own; `SET LOCAL` ends with its transaction)."""


def skip_pool_reset() -> None:
    """Release PostgreSQL pool connections without asyncpg's reset query (`SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`): Tortoise takes a pooled
    connection per query, so that round trip followed every query of a request, half of the
    request path's round trips (issue 17's profile). Call once the connections exist."""
    for client in connections.all():
        if not hasattr(client, "create_pool") or getattr(client, "_keeps_sessions", False):
            continue
        create_pool = client.create_pool

        async def create(create_pool: Any = create_pool, **kwargs: Any) -> Any:
            return await create_pool(reset=_keep_session, **kwargs)

        client.create_pool = create
        client._keeps_sessions = True
        pool = getattr(client, "_pool", None)
        pool = getattr(pool, "_pool", pool)  # under heartchain.unavailable's bounded wrapper
        if pool is not None:
            pool._reset = _keep_session


async def init_db(db_url: str, *, create_schema: bool = True, upgrade: bool = True) -> None:
    """Connect, then settle the store's schema through the migrations (heartchain/migrate.py):

    - create_schema (the demo, test fixtures, benchmarks): apply every pending migration;
    - create_schema, not upgrade (`heartchain init`): migrate a new, empty store, but refuse an
      existing one that is behind: upgrading is the operator's `heartchain migrate`;
    - neither (every other command): refuse a store that is behind (PendingMigrations).
    """
    from heartchain import migrate

    conn = await connect_db(db_url)
    if create_schema and (upgrade or (await migrate.status(conn)).empty):
        await migrate.migrate(conn)
    else:
        await migrate.ensure_current(conn)
