"""Shared fixtures: a fresh log per test on SQLite and, when HEARTCHAIN_TEST_POSTGRES is set,
on its own PostgreSQL database (created and dropped here)."""

from __future__ import annotations

import os
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx
import pytest
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from heartchain.accounts.services import initialise
from heartchain.app import create_app
from heartchain.clock import Clock
from heartchain.db import init_db
from heartchain.keys import Address, SigningKey
from heartchain.platform import Platform, build_platform
from heartchain.settings import Settings, sqlite_url

POSTGRES = os.environ.get("HEARTCHAIN_TEST_POSTGRES", "")
VECTORS = Path(__file__).resolve().parent / "vectors"
BACKENDS = ["sqlite", *(["postgres"] if POSTGRES else [])]


def postgres_url(database: str) -> str:
    parts = urlsplit(POSTGRES)
    return urlunsplit(parts._replace(path=f"/{database}"))


async def create_postgres_database() -> str:
    name = f"hc_test_{secrets.token_hex(6)}"
    conn = await asyncpg.connect(postgres_url("postgres"))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return name


async def drop_postgres_database(name: str) -> None:
    conn = await asyncpg.connect(postgres_url("postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@dataclass
class Ledger:
    """A freshly initialised log: the platform, its operator, and the operator's token."""

    platform: Platform
    operator: Address
    operator_token: str
    settings: Settings
    backend: str

    async def operator_key(self) -> SigningKey:
        return await self.platform.custodial_key(self.operator)


@pytest.fixture(params=BACKENDS)
async def ledger(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Ledger]:
    backend = request.param
    database = None
    if backend == "postgres":
        database = await create_postgres_database()
        url = postgres_url(database) + "?minsize=1&maxsize=5"
    else:
        url = sqlite_url(tmp_path / "heartchain.sqlite3")
    # Tortoise caches SQL per connection name, whatever the dialect; tests switch dialects.
    EXECUTOR_CACHE.clear()
    settings = Settings(data_dir=tmp_path / "data", db_url=url, batch_period_ms=2)
    platform = build_platform(settings, clock=Clock(), create_keys=True)
    await init_db(url)
    genesis = await initialise(platform)
    if genesis.token is None:
        raise RuntimeError("a fresh log must issue an operator token")
    try:
        yield Ledger(platform, genesis.operator, genesis.token, settings, backend)
    finally:
        await Tortoise.close_connections()
        if database:
            await drop_postgres_database(database)


@pytest.fixture
async def client(ledger: Ledger, monkeypatch: pytest.MonkeyPatch
                 ) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client on the app, sharing the fixture's platform and database. Like the test
    servers (tests/servers.py), it runs without the rate limiter, which tests/hostile tests on
    its own: these tests send many operations from one address."""
    monkeypatch.setenv("HEARTCHAIN_RATE_LIMIT", "0")
    app = create_app(ledger.settings)
    app.state.platform = ledger.platform
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        yield http


async def gql(http: httpx.AsyncClient, query: str, variables: dict[str, Any] | None = None,
              token: str | None = None) -> dict[str, Any]:
    """POST a GraphQL operation; return the whole response document."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    response = await http.post("/graphql", json={"query": query, "variables": variables or {}},
                               headers=headers)
    if response.status_code != 200:
        raise AssertionError(f"HTTP {response.status_code}: {response.text}")
    document: dict[str, Any] = response.json()
    return document
