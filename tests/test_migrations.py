"""Schema migrations: they build what the models describe, a store made by the previous release
(before migrations) is recognised and upgraded, a store behind the code is never served."""

from __future__ import annotations

import gzip
import shutil
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import httpx
import pytest
from tortoise import Tortoise
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.backends.base.executor import EXECUTOR_CACHE

from heartchain import migrate
from heartchain.db import connect_db, init_db
from heartchain.ledger.kinds import projections
from heartchain.schema_shape import Schema, differences, read_schema
from heartchain.settings import sqlite_url
from tests.conftest import (
    BACKENDS,
    create_postgres_database,
    drop_postgres_database,
    postgres_url,
)
from tests.servers import Server, cli_env, run_cli

PREVIOUS = Path(__file__).resolve().parent / "fixtures" / "previous_release"
PREVIOUS_ENTRIES = 759  # the log size of the fixture stores


@pytest.fixture(params=BACKENDS)
async def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    """The URL of an empty database: a new SQLite file, or a new PostgreSQL database."""
    EXECUTOR_CACHE.clear()  # Tortoise caches SQL per connection name, whatever the dialect
    if request.param == "sqlite":
        yield sqlite_url(tmp_path / "store.sqlite3")
        return
    name = await create_postgres_database()
    try:
        yield postgres_url(name)
    finally:
        await Tortoise.close_connections()
        await drop_postgres_database(name)


async def schema_at(url: str) -> Schema:
    conn = await connect_db(url)
    dialect = conn.capabilities.dialect

    async def fetch(query: str, values: list[object]) -> list[dict[str, object]]:
        return await conn.execute_query_dict(query, values)

    try:
        return await read_schema(fetch, dialect, skip=(migrate.VERSION_TABLE,))
    finally:
        await Tortoise.close_connections()


async def test_migrations_build_what_the_models_describe(empty_url: str, tmp_path: Path
                                                         ) -> None:
    """A model changed without a migration fails here: the migrated schema must be what
    generate_schemas makes from the models, column by column, index by index (names too)."""
    await connect_db(empty_url)
    await Tortoise.generate_schemas(safe=False)
    from_models = await schema_at(empty_url)
    # The same kind of database again, built by the migrations this time.
    if empty_url.startswith("sqlite"):
        migrated_url = sqlite_url(tmp_path / "migrated.sqlite3")
        await init_db(migrated_url)
        await Tortoise.close_connections()
        migrated = await schema_at(migrated_url)
    else:
        name = await create_postgres_database()
        try:
            await init_db(postgres_url(name))
            await Tortoise.close_connections()
            migrated = await schema_at(postgres_url(name))
        finally:
            await drop_postgres_database(name)
    assert len(from_models) > 40 and "log_entry" in from_models and "ma_case" in from_models
    assert sorted(migrated) == sorted(from_models)
    assert differences(from_models, migrated) == [], (
        "the models changed without a migration: add the next heartchain/migrations/NNNN_*")


def test_migrations_are_numbered_and_have_both_dialects() -> None:
    found = migrate.available()
    assert [m.version for m in found] == list(range(1, len(found) + 1))
    first = found[0]
    assert first.label == "0001_initial"
    for dialect in ("sqlite", "postgres"):
        statements = first.statements(dialect)
        assert sum(s.startswith("CREATE TABLE") for s in statements) == 43


async def test_a_new_store_records_every_migration_once(empty_url: str) -> None:
    await init_db(empty_url)
    from tortoise.connection import connections

    conn = connections.get("default")
    state = await migrate.status(conn)
    assert state.current and not state.unversioned and not state.empty
    assert [(a.version, a.how) for a in state.applied] == [
        (m.version, "applied") for m in migrate.available()]
    assert await migrate.migrate(conn) == []  # nothing left to do
    await migrate.ensure_current(conn)
    await Tortoise.close_connections()


async def test_a_failing_migration_changes_nothing(empty_url: str,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    await init_db(empty_url)
    from tortoise.connection import connections

    conn = connections.get("default")
    real = migrate.available()
    broken = migrate.Migration(len(real) + 1, "broken", {
        dialect: 'CREATE TABLE "half_done" ("x" INTEGER);\nSELECT * FROM "no_such_table";\n'
        for dialect in ("sqlite", "postgres")})
    monkeypatch.setattr(migrate, "available", lambda: [*real, broken])
    with pytest.raises(Exception, match="no_such_table"):
        await migrate.migrate(conn)
    tables = await migrate._tables(conn)
    assert "half_done" not in tables  # the migration's first statement was rolled back too
    state = await migrate.status(conn)
    assert [m.label for m in state.pending] == [broken.label]
    with pytest.raises(migrate.PendingMigrations, match="heartchain migrate"):
        await migrate.ensure_current(conn)
    await Tortoise.close_connections()


async def test_a_python_migration_is_applied_and_recorded(empty_url: str,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    await init_db(empty_url)
    from tortoise.connection import connections

    conn = connections.get("default")
    await conn.execute_query("INSERT INTO account (address, role, label, registrar, "
                             "registered_idx) VALUES ('hc1pa', 'member', 'a', 'hc1pa', 0)")
    real = migrate.available()

    async def relabel(txn: BaseDBAsyncClient) -> None:
        await txn.execute_query("UPDATE account SET label = 'relabelled'")

    step = migrate.Migration(len(real) + 1, "relabel", {}, relabel)
    monkeypatch.setattr(migrate, "available", lambda: [*real, step])
    [line] = await migrate.migrate(conn)
    assert line.startswith(f"applied {step.label} in ")
    rows = await conn.execute_query_dict("SELECT DISTINCT label FROM account")
    assert rows == [{"label": "relabelled"}]
    state = await migrate.status(conn)
    assert state.current and state.applied[-1].name == "relabel"
    await Tortoise.close_connections()


async def test_an_unversioned_store_unlike_0001_is_refused(empty_url: str) -> None:
    """Tables but no version table, and one index short of 0001: migrate names what differs,
    records nothing, and the store stays refused."""
    await init_db(empty_url)
    from tortoise.connection import connections

    conn = connections.get("default")
    await conn.execute_script(f'DROP TABLE "{migrate.VERSION_TABLE}"')
    await conn.execute_script('DROP INDEX "idx_log_entry_kind_6ca761"')
    with pytest.raises(migrate.MigrationError) as refused:
        await migrate.migrate(conn)
    assert "log_entry: index (kind) is missing" in str(refused.value)
    state = await migrate.status(conn)
    assert state.unversioned and not state.applied
    await Tortoise.close_connections()


async def test_an_older_unversioned_store_gets_the_tables_it_lacks(empty_url: str) -> None:
    """A store from a release before the newest tables (as `init` used to complete with
    generate_schemas): migrate creates just those, with their indexes, and baselines it."""
    conn = await connect_db(empty_url)
    await migrate.available()[0].apply(conn)  # 0001's tables, unrecorded: made before migrations
    await conn.execute_script('DROP TABLE "log_entry_signer"')
    found = await migrate.compare_baseline(conn)
    assert (found.problems, found.missing, found.extra) == ([], ["log_entry_signer"], [])
    done = await migrate.migrate(conn)
    assert done[0] == ("recorded 0001_initial as this store's baseline: its tables were made "
                       "before migrations and match it (created the tables it lacked: "
                       "log_entry_signer)")
    assert [line.split(" in ")[0] for line in done[1:]] == [
        f"applied {m.label}" for m in migrate.available()[1:]]  # then the later migrations
    assert (await migrate.status(conn)).current
    await Tortoise.close_connections()


async def previous_release_store(backend: str, tmp_path: Path) -> tuple[Path, str, str | None]:
    """A copy of the store the previous release made: (data dir, database URL, PostgreSQL
    database to drop)."""
    data = tmp_path / "data"
    shutil.copytree(PREVIOUS / backend, data)
    for key in ("log.key", "master.key"):
        (data / key).chmod(0o600)  # git keeps no file modes
    if backend == "sqlite":
        with gzip.open(data / "heartchain.sqlite3.gz") as packed, \
                (data / "heartchain.sqlite3").open("wb") as store:
            shutil.copyfileobj(packed, store)
        (data / "heartchain.sqlite3.gz").unlink()
        (data / "heartchain.sqlite3").chmod(0o600)
        return data, sqlite_url(data / "heartchain.sqlite3"), None
    name = await create_postgres_database()
    conn = await asyncpg.connect(postgres_url(name))
    try:
        await conn.execute(gzip.decompress((data / "dump.sql.gz").read_bytes()).decode())
    finally:
        await conn.close()
    return data, postgres_url(name), name


@pytest.mark.parametrize("backend", BACKENDS)
async def test_a_store_made_by_the_previous_release_upgrades(backend: str, tmp_path: Path
                                                             ) -> None:
    data, url, database = await previous_release_store(backend, tmp_path)
    env = cli_env(data, url)
    try:
        refused = run_cli(env, "serve")  # not served before it is migrated
        assert refused.returncode == 2, refused.stdout
        assert "made before migrations" in refused.stderr
        assert "run `heartchain migrate`" in refused.stderr
        plan = run_cli(env, "migrate", "--plan")
        assert plan.returncode == 0, plan.stderr
        assert "its tables match 0001, which will be recorded as its baseline" in plan.stdout

        upgraded = run_cli(env, "migrate")
        assert upgraded.returncode == 0, upgraded.stderr
        assert "recorded 0001_initial as this store's baseline" in upgraded.stdout
        assert upgraded.stdout.rstrip().endswith("up to date")

        verified = run_cli(env, "verify")
        assert verified.returncode == 0, verified.stderr
        assert f"verified {PREVIOUS_ENTRIES} entries" in verified.stdout
        # every projection table is compared; the fixture's rows are in 26 of them
        assert f"1,302 projection rows in {len(projections())} tables" in verified.stdout

        server = Server(env)
        await server.start()
        try:
            async with httpx.AsyncClient(base_url=server.url) as http:
                assert (await http.get("/healthz")).json() == {"status": "ok",
                                                               "size": PREVIOUS_ENTRIES}
                answer = await http.post("/graphql", json={"query": (
                    '{ checkpoint { size } entries(first: 2, kind: "plan.join") '
                    "{ edges { node { kind signers } } } }")})
        finally:
            server.stop()
        document = answer.json()
        assert document["data"]["checkpoint"]["size"] == PREVIOUS_ENTRIES
        joins = document["data"]["entries"]["edges"]
        assert [edge["node"]["kind"] for edge in joins] == ["plan.join", "plan.join"]
    finally:
        if database:
            await drop_postgres_database(database)


def test_serve_refuses_a_store_with_a_pending_migration(tmp_path: Path) -> None:
    """A store one migration behind (its newest row removed, as if made before it was
    written) is refused by serve and init; migrate lists it under --plan."""
    database = tmp_path / "data" / "hc.sqlite3"
    env = cli_env(tmp_path / "data", sqlite_url(database))
    assert run_cli(env, "init").returncode == 0
    newest = migrate.available()[-1]
    with sqlite3.connect(database) as conn:
        conn.execute(f'DELETE FROM "{migrate.VERSION_TABLE}" WHERE version = ?',
                     [newest.version])
    for command in ("serve", "init"):  # nor does init upgrade an existing store
        refused = run_cli(env, command)
        assert refused.returncode == 2, refused.stdout
        assert f"1 pending migration(s) ({newest.label})" in refused.stderr
        assert "run `heartchain migrate`" in refused.stderr
    plan = run_cli(env, "migrate", "--plan")
    assert plan.returncode == 0, plan.stderr
    assert f"{newest.label:<29} pending" in plan.stdout
    with sqlite3.connect(database) as conn:  # --plan applied nothing
        assert conn.execute(f'SELECT count(*) FROM "{migrate.VERSION_TABLE}" WHERE version = ?',
                            [newest.version]).fetchone() == (0,)
