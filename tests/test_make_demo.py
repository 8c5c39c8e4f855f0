"""`make demo PORT=…` end to end on another port: the home page there, and two witnesses on
ports of their own that cosign its checkpoints (issue 16). Bounded in time; it stops everything
it started (the whole process group) and uses a temporary data directory."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import time
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
pytestmark = pytest.mark.slow


def _free(port: int) -> bool:
    """Whether a server can listen there (as uvicorn binds: TIME_WAIT does not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _ports() -> int:
    """8040 as in the README when it and its witness ports are free, else another such port."""
    for port in (8040, *range(20_040, 30_000, 397)):
        if all(_free(p) for p in (port, port + 101, port + 102)):
            return port
    pytest.skip("no free port triple")


def _wait(url: str, deadline: float, process: subprocess.Popen[bytes], log: Path) -> str:
    while True:
        if process.poll() is not None:
            raise AssertionError(f"make demo exited {process.returncode}:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
        try:
            response = httpx.get(url, timeout=5)
            if response.status_code == 200:
                return response.text
        except httpx.TransportError:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(f"{url} did not answer in time:\n"
                                 f"{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.5)


@pytest.mark.timeout(600)
def test_make_demo_on_another_port_with_its_witnesses(tmp_path: Path) -> None:
    if shutil.which("make") is None or not (ROOT / ".venv" / "bin" / "heartchain").exists():
        pytest.skip("needs make and the project's .venv (make install)")
    port = _ports()
    env = {k: v for k, v in os.environ.items()
           if not k.startswith("HEARTCHAIN_") and not k.startswith("MAKE")}
    env["HEARTCHAIN_DATA_DIR"] = str(tmp_path / "data")
    log = tmp_path / "demo.log"
    with log.open("wb") as out:
        # -o: the .venv is already installed; never reinstall from inside a test.
        process = subprocess.Popen(["make", "-o", ".venv/.installed-stamp", "demo",
                                    f"PORT={port}"], cwd=ROOT, env=env, stdout=out,
                                   stderr=subprocess.STDOUT, start_new_session=True)
    try:
        deadline = time.monotonic() + 420
        home = _wait(f"http://127.0.0.1:{port}/?lang=en", deadline, process, log)
        assert "heartchain" in home
        for witness in (port + 101, port + 102):
            _wait(f"http://127.0.0.1:{witness}/healthz", deadline, process, log)
        printed = log.read_text(errors="replace")
        assert f"http://127.0.0.1:{port}/members/hc1" in printed
        assert f"--port {port + 101}" in printed and f"--port {port + 102}" in printed
        # The served log submits checkpoints to both witnesses; its policy is "all".
        while True:
            status = httpx.get(f"http://127.0.0.1:{port}/log/witnesses", timeout=5).json()
            note = httpx.get(f"http://127.0.0.1:{port}/log/checkpoint", timeout=5).text
            cosigners = [line for line in note.splitlines() if "witness.localhost" in line]
            if len(cosigners) == 2:
                break
            assert time.monotonic() < deadline, (status, note)
            time.sleep(0.5)
        lot = re.search(rf"127\.0\.0\.1:{port}/lots/(L[\w-]+)/label\n", printed)
        assert lot, printed
        label = httpx.get(f"http://127.0.0.1:{port}/lots/{lot[1]}/label", timeout=10).text
        assert f"http://127.0.0.1:{port}/lots/{lot[1]}?c=" in label  # links to this port
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    for p in (port, port + 101, port + 102):
        deadline = time.monotonic() + 15
        while not _free(p) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert _free(p), f"port {p} still in use after the demo stopped"
        with pytest.raises(OSError):
            socket.create_connection(("127.0.0.1", p), timeout=2).close()
