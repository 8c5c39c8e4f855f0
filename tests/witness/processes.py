"""Real processes on loopback: witnesses (`python -m heartchain.witness.cli serve`) and a log
(uvicorn on tests/witness/logapp.py). Every process is stopped by the fixture that started it."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def run(args: list[str], env: Mapping[str, str] | None = None) -> str:
    done = subprocess.run([sys.executable, *args], env=dict(env or os.environ), cwd=ROOT,
                          capture_output=True, text=True, timeout=60, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"{args} failed: {done.stderr[-2000:]}")
    return done.stdout


@dataclass
class Process:
    args: list[str]
    health: str  # path that answers 200 once the process serves
    env: dict[str, str] = field(default_factory=lambda: dict(os.environ))
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 20) -> None:
        self.process = subprocess.Popen(
            [sys.executable, *self.args, "--port", str(self.port), "--log-level", "warning"],
            env=self.env, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"{self.args} exited: {error[-2000:]}")
                try:
                    if (await client.get(self.url + self.health)).status_code == 200:
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.05)
        self.stop()
        raise RuntimeError(f"{self.args} did not start in {timeout} s")

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(10)
        if self.process.stderr:
            self.process.stderr.close()


def witness_process(data_dir: Path, name: str, log_key: str) -> Process:
    run(["-m", "heartchain.witness.cli", "init", "--dir", str(data_dir), "--name", name,
         "--log", log_key])
    return Process(["-m", "heartchain.witness.cli", "serve", "--dir", str(data_dir)],
                   "/healthz")


def app_attaches_witnesses() -> bool:
    """Whether heartchain/app.py's lifespan has the `attach` hook line yet."""
    return "witness_client import attach" in (ROOT / "heartchain" / "app.py").read_text("utf-8")


def log_process(env: dict[str, str]) -> Process:
    """`heartchain serve` once app.py attaches witnesses; until then the same app through
    tests/witness/logapp.py, which adds the hook."""
    if app_attaches_witnesses():
        return Process(["-m", "heartchain.cli", "serve"], "/healthz", env=env)
    return Process(["-m", "uvicorn", "tests.witness.logapp:create_app", "--factory"],
                   "/healthz", env=env)


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 15,
                     what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
