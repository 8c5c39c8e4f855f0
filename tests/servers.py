"""Real `heartchain` processes for multi-process and crash tests."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


TCP_ESTABLISHED, TCP_LISTEN = "01", "0A"  # the kernel's state codes in /proc/net/tcp


def tcp_sockets(port: int, state: str) -> list[str]:
    """The inodes of this machine's TCP sockets on local `port` in `state` (IPv4 and IPv6)."""
    inodes = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with contextlib.suppress(OSError), open(table) as lines:
            for line in list(lines)[1:]:
                fields = line.split()
                if fields[3] == state and int(fields[1].rsplit(":", 1)[1], 16) == port:
                    inodes.append(fields[9])
    return inodes


def listening_sockets(port: int) -> int:
    """How many TCP sockets listen on `port` on this machine."""
    return len(tcp_sockets(port, TCP_LISTEN))


def cli_env(data_dir: Path, db_url: str, **extra: str) -> dict[str, str]:
    """The environment of a test server: these tests drive load from one address, so the rate
    limiter (tested on its own in tests/hostile) is off unless a test sets it."""
    env = dict(os.environ)
    env.update({"HEARTCHAIN_DATA_DIR": str(data_dir), "HEARTCHAIN_DB_URL": db_url,
                "HEARTCHAIN_BATCH_PERIOD_MS": "5", "HEARTCHAIN_RATE_LIMIT": "0", **extra})
    return env


def run_cli(env: Mapping[str, str], *args: str, timeout: float = 300
            ) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "heartchain.cli", *args], env=dict(env),
                          capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Server:
    env: dict[str, str]
    # Where the server's stderr goes (appended); a temporary file when not given. Never a pipe:
    # one nobody reads fills up under a fault and freezes the server.
    log: Path | None = None
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    log_level: str = "warning"
    workers: int = 1

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, timeout: float = 30) -> None:
        if self.log is None:
            self.log = Path(tempfile.mkstemp(prefix="heartchain-serve-", suffix=".log")[1])
        with self.log.open("ab") as stderr:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "heartchain.cli", "serve", "--port", str(self.port),
                 "--log-level", self.log_level, "--workers", str(self.workers)],
                env=self.env, stdout=subprocess.DEVNULL, stderr=stderr)
        deadline = time.monotonic() + timeout
        async with httpx.AsyncClient() as client:
            while time.monotonic() < deadline:
                if self.process.poll() is not None:
                    error = self.log.read_text(errors="replace")
                    raise RuntimeError(f"server exited: {error[-2000:]}")
                try:
                    # Each worker listens on a socket of its own (heartchain/serving.py).
                    if ((await client.get(f"{self.url}/healthz")).status_code == 200
                            and listening_sockets(self.port) >= self.workers):
                        return
                except httpx.TransportError:
                    pass
                await asyncio.sleep(0.1)
        self.stop()  # not left running behind the failed test
        raise RuntimeError("server did not start in time")

    def kill(self) -> None:
        """kill -9: no shutdown hooks, no flushing."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()
