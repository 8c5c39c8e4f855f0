"""The disk under a SQLite data directory fills up in the middle of a mixed custodial load.

The data directory lives on a small tmpfs, and on a loop-mounted ext4 image (each is skipped,
with the reason, where it cannot be mounted). A filler file takes the last free byte while
appends run: writes are refused with an error (SQLITE_FULL surfaces as GraphQL's masked
"Unexpected error." or an HTTP 500), the process stays up and keeps serving reads; once the
filler is deleted appends resume, nothing acknowledged is lost, no refused gift was written
after all, and `heartchain verify` passes.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from heartchain.settings import sqlite_url
from tests.faults.workload import (
    DONATE,
    Load,
    cast_of,
    check_nothing_lost,
    post,
    summary,
    wait_until,
)
from tests.servers import Server, cli_env, run_cli

pytestmark = pytest.mark.slow

SIZE_MB = 16
FULL_SECONDS = 1.5  # how long the disk stays full once the first write was refused


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)


@contextlib.contextmanager
def small_filesystem(where: Path, kind: str) -> Iterator[None]:
    """Mount a SIZE_MB tmpfs, or a loop-mounted ext4 image, at `where`; unmount it after."""
    where.mkdir(parents=True)
    if kind == "tmpfs":
        mounted = _run("mount", "-t", "tmpfs", "-o", f"size={SIZE_MB}m", "tmpfs", str(where))
    else:
        image = where.with_suffix(".img")
        with image.open("wb") as handle:
            handle.truncate(SIZE_MB * 1024 * 1024)
        mounted = _run("mkfs.ext4", "-q", "-F", str(image))
        if mounted.returncode == 0:
            mounted = _run("mount", "-o", "loop", str(image), str(where))
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a small {kind} here: {mounted.stderr.strip()}")
    try:
        yield
    finally:
        for _ in range(50):  # the server may still be closing its files
            if _run("umount", str(where)).returncode == 0:
                break
            time.sleep(0.1)
        else:
            _run("umount", "-l", str(where))


def fill(directory: Path) -> Path:
    """Write a file until the filesystem has no byte left."""
    filler = directory / "filler"
    chunk = b"\0" * 65536
    with filler.open("wb", buffering=0) as handle:
        while True:
            try:
                handle.write(chunk)
            except OSError as exc:
                if exc.errno != errno.ENOSPC:
                    raise
                if len(chunk) == 1:
                    break
                chunk = chunk[:len(chunk) // 2]
    return filler


@pytest.mark.parametrize("filesystem", ["tmpfs", "ext4"])
async def test_disk_full_mid_load(tmp_path: Path, filesystem: str) -> None:
    """ext4 on a loop device is the realistic one (blocks, a journal); tmpfs is the quick one."""
    if not shutil.which("mount") or os.geteuid() != 0:
        pytest.skip("mounting a small filesystem needs root and mount(8)")
    mountpoint = tmp_path / "small"
    with small_filesystem(mountpoint, filesystem):
        data = mountpoint / "data"
        env = cli_env(data, sqlite_url(data / "hc.sqlite3"))
        server = Server(env, log=tmp_path / "server.log")  # the log must not fill the disk
        try:
            init = run_cli(env, "init")
            assert init.returncode == 0, init.stderr
            await server.start()
            cast = await cast_of(server.url, init.stdout)
            async with Load(server.url, cast) as load:
                tally = load.tally
                await wait_until(lambda: len(tally.acks) >= 100, 20, "acks before the disk fills")
                filled = time.monotonic()
                filler = fill(mountpoint)
                await wait_until(lambda: tally.refusals_between(filled) > 0, 30,
                                 "a write refused on the full disk")
                first_refusal = min(t for t in tally.refusal_times if t >= filled)
                await wait_until(lambda: time.monotonic() - first_refusal > FULL_SECONDS, 10,
                                 "the disk to stay full a while")
                probe = await post(server.url, DONATE, {"donor": cast.donors[0].address,
                                                        "quantity": 1}, cast.charity.token)
                async with httpx.AsyncClient() as client:
                    health = await client.get(f"{server.url}/healthz")
                assert server.process is not None and server.process.poll() is None
                acks_while_full = len(tally.acks_between(first_refusal + 0.5))
                filler.unlink()
                freed = time.monotonic()
                await wait_until(lambda: len(tally.acks_between(freed)) >= 60, 20,
                                 "acks after space was freed")
            print(f"on {filesystem}:", summary(tally),
                  f"probe {probe.status_code} {probe.text[:160]}; healthz {health.text}")
            assert health.status_code == 200, "reads go on while the disk is full"
            assert probe.status_code == 500 or (probe.json()["errors"]
                                                and probe.json()["data"] is None), probe.text
            assert acks_while_full == 0, "acknowledged while the disk was full?"
            # SQLITE_FULL inside a mutation: GraphQL's masked error, the connection kept
            assert set(tally.refused) == {"GraphQL: Unexpected error."}, tally.refused
            assert not tally.typed, tally.typed
            after = {a.operation for a in tally.acks_between(freed)}
            assert after >= {"recordDonation", "acceptLot", "registerAccount"}, after
            await check_nothing_lost(server.url, env, tally)
        finally:
            server.stop()
