"""Schema migrations: numbered files in heartchain/migrations, applied in order, each in one
transaction with the row in `heartchain_migration` that records it.

A migration is `NNNN_name.sqlite.sql` plus `NNNN_name.postgres.sql` (statements separated by `;`
at a line's end), or `NNNN_name.py` with `async def apply(conn)` for what SQL alone cannot do.
Tortoise 1.1's own migrations were tried and not used: on SQLite their runner hung applying the
first migration, and it records a migration outside that migration's transaction.

A store made before migrations (tables, no `heartchain_migration`) is recognised: `migrate`
checks its tables are 0001's, then records 0001 as its baseline instead of applying it.
"""

from __future__ import annotations

import functools
import importlib
import re
import sqlite3
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.transactions import in_transaction

from heartchain.errors import HeartchainError
from heartchain.ledger.store import execute, fetch, is_postgres
from heartchain.schema_shape import Fetch, Schema, differences, read_schema

VERSION_TABLE = "heartchain_migration"
_PACKAGE = "heartchain.migrations"
_FILE = re.compile(r"^(\d{4})_(\w+?)(?:\.(sqlite|postgres))?\.(sql|py)$")
_CREATE_VERSION_TABLE = (
    f'CREATE TABLE IF NOT EXISTS "{VERSION_TABLE}" ("version" INTEGER NOT NULL PRIMARY KEY, '
    '"name" VARCHAR(100) NOT NULL, "applied_at" VARCHAR(32) NOT NULL, '
    '"how" VARCHAR(16) NOT NULL)')
# A table that every store has had since the first release: its presence without the version
# table marks a store made before migrations.
_ALWAYS_PRESENT = "log_head"


class MigrationError(HeartchainError):
    """The store cannot be migrated as it is (its tables are not what a migration expects)."""


class PendingMigrations(HeartchainError):
    """The store is behind the code: it must be migrated before it is served."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    sql: dict[str, str]  # dialect -> script
    function: Callable[[BaseDBAsyncClient], Awaitable[None]] | None = None

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"

    def statements(self, dialect: str) -> list[str]:
        lines = [line for line in self.sql[dialect].splitlines()
                 if not line.lstrip().startswith("--")]
        # SQLite runs them one by one: sqlite3's executescript commits first, outside the
        # transaction.
        return [s.strip() for s in re.split(r";\s*\n", "\n".join(lines) + "\n") if s.strip()]

    async def apply(self, conn: BaseDBAsyncClient) -> None:
        if self.function is not None:
            await self.function(conn)
            return
        statements = self.statements(_dialect(conn))
        if is_postgres(conn):
            # One round trip: asyncpg runs a script inside the open transaction.
            await conn.execute_script(";\n".join(statements))
            return
        for statement in statements:
            await conn.execute_query(statement)


def available() -> list[Migration]:
    """Every migration in heartchain/migrations, in order; a gap or a half pair is an error."""
    return list(_load())


@functools.cache
def _load() -> tuple[Migration, ...]:
    found: dict[int, dict[str, Any]] = {}
    for entry in resources.files(_PACKAGE).iterdir():
        match = _FILE.match(entry.name)
        if not match:
            continue
        version, name, dialect, ext = int(match[1]), match[2], match[3], match[4]
        spec = found.setdefault(version, {"name": name, "sql": {}, "function": None})
        if spec["name"] != name:
            raise MigrationError(f"two migrations numbered {version:04d}")
        if ext == "py":
            module = importlib.import_module(f"{_PACKAGE}.{match[1]}_{name}")
            spec["function"] = module.apply
        elif dialect:
            spec["sql"][dialect] = entry.read_text(encoding="utf-8")
    migrations = []
    for n, version in enumerate(sorted(found), 1):
        spec = found[version]
        if version != n:
            raise MigrationError(f"migration {n:04d} is missing (found {version:04d})")
        if spec["function"] is None and set(spec["sql"]) != {"sqlite", "postgres"}:
            raise MigrationError(f"migration {version:04d} needs a .sqlite.sql and a "
                                 ".postgres.sql file")
        migrations.append(Migration(version, spec["name"], spec["sql"], spec["function"]))
    return tuple(migrations)


@dataclass(frozen=True)
class Applied:
    version: int
    name: str
    applied_at: str
    how: str  # "applied" or "baseline" (a store made before migrations, recorded as 0001)


@dataclass(frozen=True)
class Status:
    applied: list[Applied]
    pending: list[Migration]
    empty: bool  # no table at all: a new store
    unversioned: bool  # tables but no version table: a store made before migrations

    @property
    def current(self) -> bool:
        return not self.pending and not self.unversioned


async def status(conn: BaseDBAsyncClient) -> Status:
    tables = await _tables(conn)
    applied: list[Applied] = []
    if VERSION_TABLE in tables:
        rows = await fetch(conn, f'SELECT version, name, applied_at, how FROM "{VERSION_TABLE}" '
                                 "ORDER BY version")
        applied = [Applied(int(r["version"]), r["name"], r["applied_at"], r["how"])
                   for r in rows]
    done = {a.version for a in applied}
    pending = [m for m in available() if m.version not in done]
    unversioned = VERSION_TABLE not in tables and _ALWAYS_PRESENT in tables
    return Status(applied, pending, empty=not tables, unversioned=unversioned)


async def ensure_current(conn: BaseDBAsyncClient) -> None:
    """Refuse a store that is behind the code, saying how to bring it up to date."""
    state = await status(conn)
    if state.current:
        return
    if state.unversioned:
        raise PendingMigrations(
            "this store was made before migrations: back it up, then run `heartchain migrate` "
            "(it checks the tables and records them as migration 0001)")
    if state.empty:
        raise PendingMigrations("this store has no tables: run `heartchain init` first")
    names = ", ".join(m.label for m in state.pending)
    raise PendingMigrations(f"this store has {len(state.pending)} pending migration(s) "
                            f"({names}): back it up, then run `heartchain migrate`")


Progress = Callable[[str], None]


async def migrate(conn: BaseDBAsyncClient, *, progress: Progress | None = None) -> list[str]:
    """Bring the store up to date; return what was done, one line each."""
    say = progress or (lambda line: None)
    state = await status(conn)
    done = []
    pending = state.pending
    if state.unversioned:
        line = await _baseline(conn, pending[0])
        say(line)
        done.append(line)
        pending = pending[1:]
    for migration in pending:
        started = datetime.now(UTC)
        async with in_transaction(conn.connection_name) as txn:
            await txn.execute_query(_CREATE_VERSION_TABLE)
            await migration.apply(txn)
            await _record(txn, migration, "applied")
        ms = (datetime.now(UTC) - started).total_seconds() * 1000
        line = f"applied {migration.label} in {ms:,.0f} ms"
        say(line)
        done.append(line)
    return done


@dataclass(frozen=True)
class Baseline:
    """How a store made before migrations compares with 0001."""

    problems: list[str]  # what differs in the tables both have (empty: it can be baselined)
    missing: list[str]  # 0001's tables it lacks (an older release's store): created by migrate
    extra: list[str]  # tables beyond 0001's: left alone


async def compare_baseline(conn: BaseDBAsyncClient) -> Baseline:
    expected = await _schema_of(conn, available()[0])
    actual = await read_schema(_fetcher(conn), _dialect(conn), skip=(VERSION_TABLE,))
    missing = sorted(set(expected) - set(actual))
    present = {name: table for name, table in expected.items() if name in actual}
    return Baseline(differences(present, actual, index_names=False), missing,
                    sorted(set(actual) - set(expected)))


async def _baseline(conn: BaseDBAsyncClient, first: Migration) -> str:
    if first.version != 1:
        raise MigrationError("a store made before migrations is baselined as 0001 only")
    found = await compare_baseline(conn)
    if found.problems:
        listed = "\n  ".join(found.problems)
        raise MigrationError(
            f"this store was made before migrations, but its tables are not those of "
            f"{first.label}, so it cannot be recorded as that; nothing was changed:\n  {listed}")
    async with in_transaction(conn.connection_name) as txn:
        await txn.execute_query(_CREATE_VERSION_TABLE)
        # An older release's store lacks the tables added since: created as generate_schemas
        # (safe) used to create them when such a store was initialised again.
        for statement in first.statements(_dialect(conn)):
            if _table_of(statement) in found.missing:
                await txn.execute_query(statement)
        await _record(txn, first, "baseline")
    notes = []
    if found.missing:
        notes.append(f"created the tables it lacked: {', '.join(found.missing)}")
    if found.extra:
        notes.append(f"tables beyond it left alone: {', '.join(found.extra)}")
    note = f" ({'; '.join(notes)})" if notes else ""
    return (f"recorded {first.label} as this store's baseline: its tables were made before "
            f"migrations and match it{note}")


_TARGET = re.compile(r'^(?:CREATE (?:UNIQUE )?(?:TABLE|INDEX) (?:"[^"]+" ON )?|COMMENT ON TABLE )'
                     r'"([^"]+)"')


def _table_of(statement: str) -> str | None:
    """The table a CREATE TABLE, CREATE INDEX or COMMENT ON TABLE statement is about."""
    match = _TARGET.match(statement)
    return match[1] if match else None


async def _record(conn: BaseDBAsyncClient, migration: Migration, how: str) -> None:
    at = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    await execute(conn, f'INSERT INTO "{VERSION_TABLE}" (version, name, applied_at, how) '
                        "VALUES (?, ?, ?, ?)", [migration.version, migration.name, at, how])


async def _schema_of(conn: BaseDBAsyncClient, migration: Migration) -> Schema:
    """The schema `migration` builds on an empty store, built where it touches nothing."""
    if not is_postgres(conn):
        scratch = sqlite3.connect(":memory:")
        scratch.row_factory = sqlite3.Row
        try:
            for statement in migration.statements("sqlite"):
                scratch.execute(statement)

            async def fetch_scratch(query: str, values: list[Any]) -> list[dict[str, Any]]:
                return [dict(row) for row in scratch.execute(query, values)]

            return await read_schema(fetch_scratch, "sqlite")
        finally:
            scratch.close()
    schema: Schema = {}

    class _Undo(Exception):
        pass

    # PostgreSQL: in a schema of its own, inside a transaction that is then rolled back.
    try:
        async with in_transaction(conn.connection_name) as txn:
            await txn.execute_query('CREATE SCHEMA "heartchain_baseline_check"')
            await txn.execute_query('SET LOCAL search_path TO "heartchain_baseline_check"')
            for statement in migration.statements("postgres"):
                await txn.execute_query(statement)
            schema = await read_schema(_fetcher(txn), "postgres")
            raise _Undo
    except _Undo:
        pass
    return schema


async def _tables(conn: BaseDBAsyncClient) -> set[str]:
    if is_postgres(conn):
        rows = await fetch(conn, "SELECT tablename AS name FROM pg_tables "
                                 "WHERE schemaname = current_schema()")
    else:
        rows = await fetch(conn, "SELECT name FROM sqlite_master WHERE type = 'table' "
                                 "AND name NOT LIKE 'sqlite_%'")
    return {r["name"] for r in rows}


def _dialect(conn: BaseDBAsyncClient) -> str:
    return "postgres" if is_postgres(conn) else "sqlite"


def _fetcher(conn: BaseDBAsyncClient) -> Fetch:
    async def run(query: str, values: list[Any]) -> list[dict[str, Any]]:
        return await fetch(conn, query, values)

    return run
