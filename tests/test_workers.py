"""`heartchain serve --workers N`: /metrics adds up every worker's values (Prometheus multiprocess
mode, heartchain/metrics.py), and with Redis the rate limit is one limit, not one per worker."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import socket
import stat
from pathlib import Path

import httpx
import pytest
from prometheus_client.multiprocess import MultiProcessCollector

from heartchain import metrics
from tests.hostile.test_socket_tokens import init
from tests.redis_keys import private_prefix, redis_url
from tests.servers import TCP_ESTABLISHED, Server, tcp_sockets

ME = "{ me { address } }"
REGISTER = 'mutation { registerAccount(role: "member") { __typename } }'


def per_worker(directory: Path, name: str, **labels: str) -> dict[int, float]:
    """Each worker's own value of a counter, read from its file in the metrics directory."""
    values: dict[int, float] = {}
    for file in directory.glob("counter_*.db"):
        pid = int(file.stem.split("_")[1])
        for metric in MultiProcessCollector.merge([str(file)]):  # type: ignore[no-untyped-call]
            for sample in metric.samples:
                if sample.name == name and all(sample.labels.get(k) == v
                                               for k, v in labels.items()):
                    values[pid] = values.get(pid, 0) + sample.value
    return values


def exposed(text: str, name: str, **labels: str) -> float:
    """A sample's value in /metrics text."""
    label_text = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    pattern = "^" + re.escape(f"{name}{{{label_text}}}" if labels else name) + r" (\S+)$"
    match = re.search(pattern, text, re.MULTILINE)
    assert match, f"{name} {labels} not in /metrics"
    return float(match.group(1))


async def one_request(url: str, query: str, token: str | None = None) -> int:
    """A request on a connection of its own, so the kernel may hand it to either worker."""
    headers = {"authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(base_url=url, timeout=30) as http:
        response = await http.post("/graphql", json={"query": query}, headers=headers)
        return response.status_code


@pytest.mark.slow
async def test_metrics_add_up_every_workers_requests(tmp_path: Path) -> None:
    env, token, _ = init(tmp_path)
    directory = tmp_path / "data" / metrics.MULTIPROC_SUBDIR
    directory.mkdir()
    (directory / "counter_999999999.db").write_bytes(b"a previous run's")
    server = Server(env, workers=2)
    await server.start()
    try:
        assert not (directory / "counter_999999999.db").exists()  # emptied at start
        assert stat.S_IMODE(directory.stat().st_mode) == 0o700
        sent = 0
        # Concurrent requests on fresh connections until both workers have integrated some.
        while len([v for v in per_worker(directory, "heartchain_entries_appended_total")
                   .values() if v > 0]) < 2:
            assert sent < 400, "every request went to one worker"
            statuses = await asyncio.gather(*(one_request(server.url, REGISTER, token)
                                              for _ in range(8)))
            assert statuses == [200] * 8
            sent += 8
        workers = per_worker(directory, "heartchain_entries_appended_total",
                             kind="account.register")
        assert len(workers) == 2 and sum(workers.values()) == sent
        # Whichever worker answers /metrics, it counts all of them, not its own share.
        for _ in range(6):
            async with httpx.AsyncClient(base_url=server.url) as http:
                text = (await http.get("/metrics")).text
            assert exposed(text, "heartchain_entries_appended_total",
                           kind="account.register") == sent
            assert exposed(text, "heartchain_batch_entries_sum") == sent
            assert 'pid="' not in text  # gauges aggregated, not one series per worker
            assert exposed(text, "heartchain_log_size") > sent  # plus the genesis entries
    finally:
        server.stop()
    # Both workers shut down cleanly: their live gauges are gone, their counts are kept.
    assert not list(directory.glob("gauge_live*"))
    assert len(list(directory.glob("counter_*.db"))) == 2


@pytest.mark.slow
async def test_two_workers_on_one_redis_allow_one_burst(tmp_path: Path) -> None:
    url = redis_url()
    async with private_prefix(url) as prefix:
        env, _, _ = init(tmp_path)
        env.update(HEARTCHAIN_RATE_LIMIT="0.01", HEARTCHAIN_RATE_BURST="5",
                   HEARTCHAIN_REDIS_URL=url, HEARTCHAIN_REDIS_PREFIX=prefix)
        server = Server(env, workers=2)
        await server.start()
        directory = tmp_path / "data" / metrics.MULTIPROC_SUBDIR
        try:
            statuses: list[int] = []
            refusing = per_worker(directory, "heartchain_rate_limited_total", reason="rate")
            while len([v for v in refusing.values() if v > 0]) < 2:
                assert len(statuses) < 400, "every request went to one worker"
                statuses += await asyncio.gather(*(one_request(server.url, ME)
                                                   for _ in range(8)))
                refusing = per_worker(directory, "heartchain_rate_limited_total",
                                      reason="rate")
            # One caller, two workers: the one burst of 5 in all. Both workers refused, so at
            # least one refused while it had let fewer than 5 through itself: the bucket it
            # found empty was the shared one.
            assert statuses.count(200) == 5
            assert statuses.count(429) == len(statuses) - 5
            async with httpx.AsyncClient(base_url=server.url) as http:
                text = (await http.get("/metrics")).text
            assert exposed(text, "heartchain_rate_limited_total", reason="rate") \
                == len(statuses) - 5
            assert exposed(text, "heartchain_rate_limit_store_errors_total") == 0
        finally:
            server.stop()


async def test_a_worker_forgets_the_live_gauges_of_workers_that_are_gone(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    gone = 2**22 + 12345  # above the default pid_max: never a running process
    for name in (f"gauge_livemax_{gone}.db", f"counter_{gone}.db", f"gauge_max_{gone}.db",
                 f"gauge_livemax_{os.getppid()}.db"):
        (tmp_path / name).write_bytes(b"")
    monkeypatch.setenv(metrics.MULTIPROC_ENV, str(tmp_path))
    assert metrics.dead_workers(tmp_path) == {gone}
    async with metrics.worker_lifetime():
        # Counts and non-live gauges of a gone worker stay (counts never go back).
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
            [f"counter_{gone}.db", f"gauge_max_{gone}.db", f"gauge_livemax_{os.getppid()}.db"])


def test_serve_prepares_a_metrics_directory_only_for_several_workers(tmp_path: Path) -> None:
    environ = {metrics.MULTIPROC_ENV: "/somewhere/else"}
    assert metrics.prepare_multiprocess(tmp_path, 1, environ) is None
    assert environ == {}  # one worker: its metrics in memory
    (tmp_path / "metrics").mkdir()
    (tmp_path / "metrics" / "counter_1.db").write_bytes(b"old")
    path = metrics.prepare_multiprocess(tmp_path, 3, environ)
    assert path == (tmp_path / "metrics").resolve() and environ[metrics.MULTIPROC_ENV] == str(path)
    assert list(path.iterdir()) == [] and stat.S_IMODE(path.stat().st_mode) == 0o700


def connections_per_worker(server: Server) -> dict[int, int]:
    """How many established connections to the server's port each worker process holds."""
    inodes = set(tcp_sockets(server.port, TCP_ESTABLISHED))
    held: dict[int, int] = {}
    assert server.process is not None
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    for pid in map(int, children):  # the workers (and multiprocessing's resource tracker)
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            with contextlib.suppress(OSError):
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in inodes:
                    held[pid] = held.get(pid, 0) + 1
    return held


@pytest.mark.slow
async def test_a_burst_of_connections_is_spread_over_the_workers(tmp_path: Path) -> None:
    # One shared listening socket gave the first worker awake every connection of a burst,
    # and keep-alive kept them there: the second worker sat idle under a benchmark's load.
    env, _, _ = init(tmp_path)
    server = Server(env, workers=2)
    await server.start()
    try:
        clients = [socket.create_connection(("127.0.0.1", server.port)) for _ in range(32)]
        for client in clients:
            client.sendall(b"GET /healthz HTTP/1.1\r\nHost: test\r\n\r\n")
        for client in clients:
            assert client.recv(64).startswith(b"HTTP/1.1 200")
        held = connections_per_worker(server)
        # The kernel hashes each connection to a worker: 32 land about half and half.
        assert sorted(held.values())[0] >= 6 and sum(held.values()) == 32, held
        for client in clients:
            client.close()
    finally:
        server.stop()
