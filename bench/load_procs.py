"""bench/load.py's processes: the database, the seed's CLI, the witnesses, the servers, and
the CPU caps put on the servers' workers and the generator (bench/cpucap.py)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from cpucap import CpuCap, worker_pids
from load_driver import Connection, HTTPError

from tests.servers import listening_sockets

PYTHON = sys.executable
WITNESSES = [("riverside", "riverside-library.witness.localhost"),
             ("federation", "city-charity-federation.witness.localhost")]

# ---------------------------------------------------------------------------------------------
# Processes: the database, the seed, the witnesses, the servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def pg_url(base: str, database: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{database}"))


async def pg_admin(base: str, statement: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(pg_url(base, "postgres"))
    try:
        await conn.execute(statement)
    finally:
        await conn.close()


def cli(env: dict[str, str], *args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([PYTHON, "-m", "heartchain.cli", *args], env=env, capture_output=True,
                          text=True, timeout=timeout, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"heartchain {' '.join(args)} failed:\n{done.stderr[-3000:]}")
    return done


async def operator_token(env: dict[str, str]) -> str:
    """A fresh operator token, issued in-process (tokens are off the log)."""
    from tortoise import Tortoise

    from heartchain.accounts.services import issue_token, operator
    from heartchain.db import init_db
    from heartchain.platform import build_platform
    from heartchain.settings import Settings

    settings = Settings.from_env(env)
    platform = build_platform(settings)
    await init_db(settings.database_url, create_schema=False)
    try:
        return await issue_token(platform, (await operator(platform)).address, "load test")
    finally:
        await Tortoise.close_connections()


def start_witnesses(env: dict[str, str], data_dir: Path) -> tuple[list[subprocess.Popen[bytes]],
                                                                   str]:
    from heartchain.platform import load_log_signer
    from heartchain.settings import Settings
    from heartchain.witness.config import init_witness

    log_key = load_log_signer(Settings.from_env(env)).verifier_key
    processes, policy = [], []
    for label, name in WITNESSES:
        directory = data_dir / "witnesses" / label  # where `heartchain demo` made them
        config = init_witness(directory, name, [log_key])
        port = free_port()
        processes.append(subprocess.Popen(
            [PYTHON, "-m", "heartchain.witness.cli", "serve", "--dir", str(directory), "--port",
             str(port), "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL))
        policy.append(f"{label}=http://127.0.0.1:{port}|{config.signer().verifier_key}")
    return processes, ",".join(policy)


class Service:
    """`heartchain serve --workers N` on a free port."""

    def __init__(self, env: dict[str, str], workers: int) -> None:
        self.port = free_port()
        self.workers = workers
        # Its log goes to a file, never a pipe: one nobody reads fills up under load (warnings
        # on every request) and then blocks the server on its next log line.
        self.log = Path(tempfile.mkstemp(prefix="hc-load-serve-", suffix=".log")[1])
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [PYTHON, "-m", "heartchain.cli", "serve", "--port", str(self.port), "--workers",
                 str(workers), "--log-level", "warning"], env=env, stdout=subprocess.DEVNULL,
                stderr=stderr)

    def problems(self) -> list[str]:
        """The warning and error lines the server logged, and its tracebacks' last lines."""
        lines = self.log.read_text(errors="replace").splitlines()
        return [line for line in lines if "WARNING" in line or "ERROR" in line
                or re.match(r"[\w.]+(Error|Exception): ", line)]

    async def wait(self, timeout: float = 180) -> None:  # workers start slowly on a busy box
        deadline = time.monotonic() + timeout
        conn = Connection(self.port, timeout=5)
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                error = self.log.read_text(errors="replace")
                raise RuntimeError(f"server exited: {error[-2000:]}")
            try:
                await conn.get("/healthz")
                await conn.close()
                # Each worker listens on a socket of its own (heartchain/serving.py): clients
                # that connect before every worker listens would all land on the first up.
                if listening_sockets(self.port) >= self.workers:
                    return
                await asyncio.sleep(0.2)
            except (OSError, HTTPError, asyncio.IncompleteReadError):
                await conn.close()
                await asyncio.sleep(0.2)
        raise RuntimeError("server did not start in time")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


async def cap_workers(service: Service, workers: int, cores: float) -> list[CpuCap]:
    """Each worker of `service` in a cgroup of its own, capped at `cores`."""
    deadline = time.monotonic() + 60
    pids = [service.process.pid] if workers == 1 else []
    while workers > 1 and len(pids := worker_pids(service.process.pid)) < workers:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {len(pids)} of {workers} workers started")
        await asyncio.sleep(0.2)
    caps = []
    for i, pid in enumerate(pids):
        cap = CpuCap(f"w{workers}_{i}", cores)
        cap.add(pid)
        caps.append(cap)
    return caps


@contextlib.contextmanager
def generator_capped(cap: CpuCap | None) -> Iterator[None]:
    """This process in `cap` while measuring only: the servers and witnesses it starts must not
    inherit the generator's cgroup."""
    if cap is None:
        yield
        return
    cap.add(os.getpid())
    try:
        yield
    finally:
        (cap.root / "cgroup.procs").write_text(str(os.getpid()))
