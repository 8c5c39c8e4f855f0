"""Full tiles and entry bundles published as static files (heartchain/ledger/static_tiles.py)."""

from __future__ import annotations

import asyncio
import os
import stat
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from heartchain.ledger import merkle
from heartchain.ledger.integrate import Integrator
from heartchain.ledger.static_tiles import (
    StaticTiles,
    attach_static_tiles,
    full_tiles_between,
    static_tiles_of,
)
from heartchain.ledger.store import fetch
from heartchain.ledger.tiles import TileRef, decode_entry_bundle, parse_tile_path
from heartchain.settings import Settings
from tests.conftest import Ledger
from tests.factories import self_registration
from tests.servers import Server, cli_env, run_cli


def published_files(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


async def grow(ledger: Ledger, count: int) -> None:
    """Append `count` entries, then wait for the checkpoint listeners to finish."""
    await ledger.platform.log.append_now([self_registration(ledger) for _ in range(count)])
    await ledger.platform.log.feed.settled()


def test_full_tiles_between_names_each_tile_the_growth_completes() -> None:
    assert full_tiles_between(0, 255) == []
    assert full_tiles_between(0, 256) == [TileRef(0, 0), TileRef(-1, 0)]
    assert full_tiles_between(256, 511) == []
    assert full_tiles_between(300, 770) == [TileRef(0, 1), TileRef(0, 2), TileRef(-1, 1),
                                            TileRef(-1, 2)]
    # 65,536 leaves complete level-0 tile 255 and the first level-1 tile together.
    grown = full_tiles_between(65_535, 65_536)
    assert grown == [TileRef(0, 255), TileRef(1, 0), TileRef(-1, 255)]
    every = full_tiles_between(0, 70_000)
    assert len([r for r in every if r.level == 0]) == 273
    assert [r for r in every if r.level == 1] == [TileRef(1, 0)]
    assert all(r.is_full for r in every)


async def test_files_appear_after_commits_with_the_served_bytes(
        ledger: Ledger, client: httpx.AsyncClient, tmp_path: Path) -> None:
    directory = tmp_path / "public-tiles"
    published = attach_static_tiles(ledger.platform.log, directory)
    assert published is not None and static_tiles_of(ledger.platform.log) is published
    await grow(ledger, 254)  # genesis + 254: one short of a full tile
    assert published_files(directory) == []
    await grow(ledger, 300)  # 555 entries: two full tiles, a partial one
    assert published_files(directory) == ["tile/0/000", "tile/0/001",
                                          "tile/entries/000", "tile/entries/001"]
    rows = await fetch(ledger.platform.log._conn(),
                       "SELECT data FROM log_tile WHERE level = 0 AND idx = 1")
    assert (directory / "tile/0/001").read_bytes() == bytes(rows[0]["data"])
    for path in ("tile/0/000", "tile/0/001", "tile/entries/000", "tile/entries/001"):
        response = await client.get(f"/log/{path}")
        assert response.status_code == 200
        assert response.content == (directory / path).read_bytes()
        assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    entries = decode_entry_bundle((directory / "tile/entries/001").read_bytes(), width=256)
    stored = await ledger.platform.log.get_entries(range(256, 512))
    assert entries == [stored[i].data for i in range(256, 512)]
    leaf_hashes = (directory / "tile/0/001").read_bytes()
    assert leaf_hashes[:32] == merkle.leaf_hash(entries[0])
    # Partial tiles stay with the database, and are never written as files.
    partial = await client.get("/log/tile/0/002.p/43")
    assert partial.status_code == 200 and len(partial.content) == 43 * 32
    assert partial.headers["cache-control"] == "public, max-age=5"
    assert not any(".p" in name for name in published_files(directory))


async def test_files_are_public_and_never_rewritten(ledger: Ledger, tmp_path: Path) -> None:
    directory = tmp_path / "public-tiles"
    attach_static_tiles(ledger.platform.log, directory)
    old = os.umask(0o077)  # a private umask must not make public tiles unreadable
    try:
        await grow(ledger, 255)
    finally:
        os.umask(old)
    for path in [directory / "tile", directory / "tile/0", directory / "tile/entries"]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o755
    for name in published_files(directory):
        assert stat.S_IMODE((directory / name).stat().st_mode) == 0o644
    tile = directory / "tile/0/000"
    inode = tile.stat().st_ino
    published = StaticTiles(directory, ledger.platform.log.reader)
    assert await published.publish([TileRef(0, 0), TileRef(-1, 0)]) == 0
    assert await published.publish_missing() == 0
    assert tile.stat().st_ino == inode
    assert not [p for p in directory.rglob(".tmp-*")]
    with pytest.raises(ValueError, match="partial"):
        await published.publish([TileRef(0, 1, 3)])


async def test_a_rolled_back_batch_writes_nothing(ledger: Ledger, tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "public-tiles"
    attach_static_tiles(ledger.platform.log, directory)
    write_tiles = Integrator._write_tiles

    async def write_then_fail(self: Integrator, *args: object) -> None:
        await write_tiles(self, *args)  # type: ignore[arg-type]
        raise RuntimeError("the disk filled up before COMMIT")

    monkeypatch.setattr(Integrator, "_write_tiles", write_then_fail)
    with pytest.raises(RuntimeError, match="before COMMIT"):
        await grow(ledger, 255)
    await ledger.platform.log.feed.settled()
    assert await ledger.platform.log.size() == 1
    assert published_files(directory) == []
    monkeypatch.setattr(Integrator, "_write_tiles", write_tiles)
    await grow(ledger, 255)
    assert published_files(directory) == ["tile/0/000", "tile/entries/000"]


async def test_a_failed_write_is_retried_with_the_next_batch(
        ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    directory = tmp_path / "public-tiles"
    published = attach_static_tiles(ledger.platform.log, directory)
    assert published is not None
    write_once = StaticTiles._write_once

    def disk_full(self: StaticTiles, ref: TileRef, data: bytes) -> bool:
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(StaticTiles, "_write_once", disk_full)
    await grow(ledger, 300)  # tile 0 completes, its write fails (logged by the feed)
    assert published_files(directory) == []
    monkeypatch.setattr(StaticTiles, "_write_once", write_once)
    await grow(ledger, 1)  # completes no tile, but retries the one that failed
    assert published_files(directory) == ["tile/0/000", "tile/entries/000"]


async def test_rejected_entries_do_not_fill_a_tile(ledger: Ledger, tmp_path: Path) -> None:
    directory = tmp_path / "public-tiles"
    attach_static_tiles(ledger.platform.log, directory)
    entries = [self_registration(ledger) for _ in range(254)]
    await ledger.platform.log.append_now([*entries, entries[0]])  # the replay is rejected
    await ledger.platform.log.feed.settled()
    assert await ledger.platform.log.size() == 255
    assert published_files(directory) == []


async def test_backfill_writes_what_is_missing(ledger: Ledger, client: httpx.AsyncClient,
                                               tmp_path: Path) -> None:
    await grow(ledger, 600)  # before any directory was configured
    directory = tmp_path / "public-tiles"
    published = StaticTiles(directory, ledger.platform.log.reader)
    assert await published.publish_missing() == 4
    (directory / "tile/entries/001").unlink()
    assert await published.publish_missing() == 1
    assert published_files(directory) == ["tile/0/000", "tile/0/001",
                                          "tile/entries/000", "tile/entries/001"]
    # Without the directory attached the app serves the same bytes from the database.
    for name in published_files(directory):
        assert (await client.get(f"/log/{name}")).content == (directory / name).read_bytes()


async def test_the_app_answers_full_tiles_from_the_files(
        ledger: Ledger, client: httpx.AsyncClient, tmp_path: Path) -> None:
    directory = tmp_path / "public-tiles"
    attach_static_tiles(ledger.platform.log, directory)
    await grow(ledger, 255)
    # Proof that the file is what is served: a marked copy of it comes back as is.
    tile = directory / "tile/0/000"
    marked = b"\xff" * 32 + tile.read_bytes()[32:]
    tile.chmod(0o644)
    tile.unlink()
    tile.write_bytes(marked)
    assert (await client.get("/log/tile/0/000")).content == marked
    tile.unlink()  # a missing file falls back to the database
    response = await client.get("/log/tile/0/000")
    assert response.status_code == 200 and response.content[:32] != b"\xff" * 32
    assert (await client.get("/log/tile/0/001")).status_code == 404


def test_the_setting_is_off_unless_given() -> None:
    assert Settings.from_env({}).static_tiles_dir == ""
    assert attach_static_tiles(object(), "") is None  # type: ignore[arg-type]
    assert Settings.from_env({"HEARTCHAIN_STATIC_TILES_DIR": "/srv/tiles"}
                             ).static_tiles_dir == "/srv/tiles"


@pytest.mark.slow  # starts `heartchain serve` and runs the CLI, as subprocesses
async def test_cli_publish_and_the_served_app(ledger: Ledger, tmp_path: Path) -> None:
    """`heartchain tiles publish` backfills; `heartchain serve` backfills at startup, then
    publishes after each commit it makes, and serves the files."""
    await grow(ledger, 300)
    env = cli_env(ledger.settings.data_dir, ledger.settings.db_url)
    refused = run_cli(env, "tiles", "publish")
    assert refused.returncode == 2 and "HEARTCHAIN_STATIC_TILES_DIR" in refused.stderr
    by_cli = tmp_path / "by-cli"
    done = run_cli(env, "tiles", "publish", "--dir", str(by_cli))
    assert done.returncode == 0, done.stderr
    assert "wrote 2 missing full tiles and entry bundles for 301 entries" in done.stdout
    assert published_files(by_cli) == ["tile/0/000", "tile/entries/000"]

    served_dir = tmp_path / "by-server"
    server = Server(cli_env(ledger.settings.data_dir, ledger.settings.db_url,
                            HEARTCHAIN_STATIC_TILES_DIR=str(served_dir)))
    await server.start()
    try:
        await until(lambda: published_files(served_dir) == published_files(by_cli))
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            for _ in range(212):  # through the server's log, to 513 entries: tile 1 fills
                response = await http.post("/graphql", json={"query": SUBMIT, "variables": {
                    "e": self_registration(ledger).leaf_data.decode()}})
                assert response.json()["data"]["submitEntry"]["__typename"] == "EntryAccepted"
            await until(lambda: len(published_files(served_dir)) == 4)
            assert published_files(served_dir) == ["tile/0/000", "tile/0/001",
                                                   "tile/entries/000", "tile/entries/001"]
            for name in published_files(served_dir):
                assert (await http.get(f"/log/{name}")).content == \
                    (served_dir / name).read_bytes() == \
                    await ledger.platform.log.read_tile(parse_tile_path(name))
    finally:
        server.stop()


SUBMIT = ("mutation($e: String!) { submitEntry(entry: $e) { __typename } }")


async def until(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        await asyncio.sleep(0.05)
