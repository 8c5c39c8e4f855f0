"""Several server processes on one PostgreSQL database, and kill -9 in the middle of appends."""

from __future__ import annotations

import asyncio
import base64
from pathlib import Path

import httpx
import pytest

from heartchain.keys import address_of, new_signing_key
from heartchain.ledger import merkle
from heartchain.ledger.entries import Entry, new_entry
from heartchain.settings import sqlite_url
from heartchain.timeouts import client_limits
from tests.conftest import POSTGRES, create_postgres_database, drop_postgres_database, postgres_url
from tests.servers import Server, cli_env, run_cli

pytestmark = pytest.mark.slow

SUBMIT = ("mutation($e: String!) { submitEntry(entry: $e) { __typename "
          "... on EntryAccepted { entry { index leafHash } } } }")


def registrations(count: int) -> list[Entry]:
    from datetime import UTC, datetime

    now = datetime.now(UTC)
    keys = [new_signing_key() for _ in range(count)]
    return [new_entry("account.register", {"address": address_of(k), "role": "member",
                                           "registrar": address_of(k)}, at=now).signed_by(k)
            for k in keys]


async def submit_all(url: str, entries: list[Entry], concurrency: int = 32,
                     refused: list[str] | None = None) -> dict[bytes, int]:
    """Submit concurrently; return leaf hash -> index for every acknowledged entry, and add why
    each other one was not acknowledged to `refused`."""
    reasons = [] if refused is None else refused
    acknowledged: dict[bytes, int] = {}
    queue: asyncio.Queue[Entry] = asyncio.Queue()
    for entry in entries:
        queue.put_nowait(entry)

    async def worker(client: httpx.AsyncClient) -> None:
        while not queue.empty():
            entry = queue.get_nowait()
            try:
                response = await client.post(f"{url}/graphql", json={
                    "query": SUBMIT, "variables": {"e": entry.leaf_data.decode()}})
            except httpx.TransportError as exc:
                reasons.append(repr(exc))
                return  # the server died: this entry was never acknowledged
            document = response.json()
            result = (document.get("data") or {}).get("submitEntry")
            if result and result["__typename"] == "EntryAccepted":
                acknowledged[base64.b64decode(result["entry"]["leafHash"])] = \
                    result["entry"]["index"]
            else:
                reasons.append(f"HTTP {response.status_code}: {str(document)[:300]}")

    # Connections idle past the server's keep-alive would race its close (heartchain.timeouts).
    async with httpx.AsyncClient(timeout=120, limits=client_limits()) as client:
        await asyncio.gather(*[worker(client) for _ in range(concurrency)])
    return acknowledged


async def stored_leaves(url: str) -> list[bytes]:
    """Every leaf, read back through the public tlog-tiles endpoints."""
    from heartchain.ledger.notes import Checkpoint, Note
    from heartchain.ledger.tiles import TileRef, decode_entry_bundle

    async with httpx.AsyncClient() as client:
        note = Note.from_text((await client.get(f"{url}/log/checkpoint")).text)
        size = Checkpoint.from_text(note.text).size
        leaves: list[bytes] = []
        for bundle in range((size + 255) // 256):
            width = min(256, size - bundle * 256)
            path = TileRef(-1, bundle, width).path
            leaves.extend(decode_entry_bundle((await client.get(f"{url}/log/{path}")).content))
    return leaves


async def check_checkpoints(db_url: str, leaves: list[bytes]) -> int:
    """Every stored checkpoint is the root of a prefix of the one sequence of leaves."""
    import asyncpg

    conn = await asyncpg.connect(db_url.split("?")[0])
    try:
        rows = await conn.fetch("SELECT size, root_hash FROM log_checkpoint ORDER BY size")
    finally:
        await conn.close()
    roots = {int(r["size"]): bytes(r["root_hash"]) for r in rows}
    frontier = merkle.CompactRange()
    if roots.get(0) is not None:
        assert roots[0] == merkle.EMPTY_ROOT
    for leaf in leaves:
        frontier.append(merkle.leaf_hash(leaf))
        if frontier.size in roots:
            assert roots[frontier.size] == frontier.root(), frontier.size
    assert max(roots) == len(leaves)
    return len(roots)


@pytest.mark.skipif(not POSTGRES, reason="needs HEARTCHAIN_TEST_POSTGRES")
async def test_two_servers_one_postgres_log(tmp_path: Path) -> None:
    database = await create_postgres_database()
    db_url = postgres_url(database)
    env = cli_env(tmp_path / "data", db_url)
    servers = [Server(env), Server(env)]
    try:
        init = run_cli(env, "init")
        assert init.returncode == 0, init.stderr
        for server in servers:
            await server.start()
        batches = [registrations(2000), registrations(2000)]
        refused: list[str] = []
        results = await asyncio.gather(*[submit_all(server.url, batch, refused=refused)
                                         for server, batch in zip(servers, batches, strict=True)])
        acknowledged = {**results[0], **results[1]}
        assert len(acknowledged) == 4000, refused[:5]
        assert sorted(acknowledged.values()) == list(range(1, 4001))  # once each, no gaps
        leaves = await stored_leaves(servers[0].url)
        assert len(leaves) == 4001
        for leaf_hash, index in acknowledged.items():
            assert merkle.leaf_hash(leaves[index]) == leaf_hash
        assert await check_checkpoints(db_url, leaves) > 10
    finally:
        for server in servers:
            server.stop()
    verify = run_cli(env, "verify")
    assert verify.returncode == 0, verify.stderr
    assert "verified 4,001 entries" in verify.stdout
    await drop_postgres_database(database)


@pytest.mark.parametrize("backend", ["sqlite", *(["postgres"] if POSTGRES else [])])
async def test_kill_9_loses_no_acknowledged_entry(tmp_path: Path, backend: str) -> None:
    database = await create_postgres_database() if backend == "postgres" else None
    db_url = postgres_url(database) if database else sqlite_url(tmp_path / "data" / "hc.sqlite3")
    env = cli_env(tmp_path / "data", db_url)
    server = Server(env)
    try:
        assert run_cli(env, "init").returncode == 0
        await server.start()
        entries = registrations(3000)
        stream = asyncio.create_task(submit_all(server.url, entries, concurrency=16))
        await asyncio.sleep(1.5)
        server.kill()
        acknowledged = await stream
        assert 0 < len(acknowledged) < 3000, "the kill should land mid-stream"
        await server.start()
        leaves = await stored_leaves(server.url)
        for leaf_hash, index in acknowledged.items():
            assert merkle.leaf_hash(leaves[index]) == leaf_hash
        # the restarted server keeps appending after the surviving tail
        more = await submit_all(server.url, registrations(50))
        assert sorted(more.values()) == list(range(len(leaves), len(leaves) + 50))
    finally:
        server.stop()
    verify = run_cli(env, "verify")
    assert verify.returncode == 0, verify.stderr
    if database:
        await drop_postgres_database(database)
