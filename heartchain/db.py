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

from heartchain.files import private_sqlite_url

DOMAINS = [
    "heartchain.accounts",
    "tokens",
    "tracing",
    "heartchain.mutualaid",
    "heartchain.witness",
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
    """Import every domain's entries module so its kinds are registered."""
    import_domain_modules("entries")


def tortoise_config(db_url: str, extra: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "connections": {"default": db_url, **(extra or {})},
        "apps": {"heartchain": {"models": model_modules(), "default_connection": "default"}},
        "use_tz": True,
        "timezone": "UTC",
    }


async def init_db(db_url: str, *, create_schema: bool = True) -> None:
    load_entry_kinds()
    private_sqlite_url(db_url)
    await Tortoise.init(config=tortoise_config(db_url))
    if create_schema:
        await Tortoise.generate_schemas(safe=True)
