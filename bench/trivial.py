"""The reference the per-write CPU target was set against, measured in the same run: STACK.md's
trivial strawberry query (`{ __typename }`, strawberry's ASGI view with its parser and
validation caches, one uvicorn worker), 0.286 ms of server CPU a request (3,500 req/s) on the
machine where the 1 ms target was written.

This machine's speed swings 1.5-3x between windows, and a fixed SHA-256 workload (cpuprobe.py)
does not slow down as Python request handling does. The trivial query is Python request
handling on the same stack, so a write's CPU × 0.286 / the trivial query's CPU in the same run
is its CPU on the machine the target assumed.

    python bench/trivial.py [--clients 32] [--seconds 5]   # the reference alone
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))  # bench/ itself is the script's directory

from figures import figure, report  # noqa: E402
from load_driver import Connection, HTTPError  # noqa: E402
from load_procs import free_port  # noqa: E402
from load_report import TARGET_MACHINE_MS, cpu_seconds  # noqa: E402

_APP = """
import strawberry
from strawberry.asgi import GraphQL
from strawberry.extensions import ParserCache, ValidationCache


@strawberry.type
class Query:
    hello: str = "world"


app = GraphQL(strawberry.Schema(query=Query, extensions=[ParserCache(), ValidationCache()]),
              graphql_ide=None)
"""


async def _ready(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            await Connection(port, timeout=2).gql("{ __typename }")
            return
        except (OSError, HTTPError, asyncio.IncompleteReadError, TimeoutError):
            await asyncio.sleep(0.1)
    raise RuntimeError("the trivial strawberry app did not start")


async def trivial_query_ms(clients: int = 32, seconds: float = 5.0) -> tuple[float, float]:
    """(server CPU ms per `{ __typename }`, requests/s) of the bare strawberry app under
    `clients` closed-loop keep-alive clients for `seconds`."""
    port = free_port()
    with tempfile.TemporaryDirectory() as where:
        (Path(where) / "trivial_app.py").write_text(_APP)
        server = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "trivial_app:app", "--port", str(port),
             "--log-level", "warning", "--no-access-log"], cwd=where,
            env={**os.environ, "PYTHONPATH": where})
        try:
            return await _measure(server, port, clients, seconds)
        finally:
            server.terminate()
            server.wait(10)


async def _measure(server: subprocess.Popen[bytes], port: int, clients: int, seconds: float
                   ) -> tuple[float, float]:
    await _ready(port, time.monotonic() + 30)
    before = cpu_seconds(server.pid)
    deadline = time.perf_counter() + seconds
    done = [0]

    async def client() -> None:
        conn = Connection(port)
        try:
            while time.perf_counter() < deadline:
                if (await conn.gql("{ __typename }")).get("__typename") != "Query":
                    raise HTTPError("trivial query: wrong answer")
                done[0] += 1
        finally:
            await conn.close()

    started = time.perf_counter()
    await asyncio.gather(*[client() for _ in range(clients)])
    elapsed = time.perf_counter() - started
    used = cpu_seconds(server.pid) - before
    return used / done[0] * 1000, done[0] / elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    ms, rate = asyncio.run(trivial_query_ms(args.clients, args.seconds))
    report("trivial", f"trivial strawberry query, 1 uvicorn worker, {args.clients} clients", [
        figure("trivial_query_cpu", ms, "ms", TARGET_MACHINE_MS,
               "STACK.md's machine, where the targets were set", False),
        figure("trivial_query_rate", rate, "req/s", 3500.0, "STACK.md's machine")],
        as_json=args.json)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
