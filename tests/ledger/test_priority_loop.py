"""The serving loop runs the log head's holder ahead of the requests (heartchain/priority_loop.py).

Each test runs its own loop (asyncio.Runner), not the suite's: the loop class is what is tested.
"""

from __future__ import annotations

import asyncio
import contextvars
import socket
from pathlib import Path

import pytest
import uvicorn
from tortoise import Tortoise
from tortoise.backends.base.executor import EXECUTOR_CACHE

from heartchain.accounts.services import initialise
from heartchain.clock import Clock
from heartchain.db import init_db
from heartchain.platform import build_platform
from heartchain.priority_loop import PriorityEventLoop, holding_the_log_head
from heartchain.settings import Settings, sqlite_url
from tests.conftest import BACKENDS, create_postgres_database, drop_postgres_database, postgres_url


def _run(main, loop_factory=PriorityEventLoop):
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        return runner.run(main())


async def _others_rounds_during_holder(awaits: int) -> int:
    """How many rounds 20 busy tasks made while a holder awaited `awaits` times."""
    rounds = 0
    stop = False

    async def busy() -> None:
        nonlocal rounds
        while not stop:
            rounds += 1
            await asyncio.sleep(0)

    tasks = [asyncio.create_task(busy()) for _ in range(20)]
    await asyncio.sleep(0)
    with holding_the_log_head():
        before = rounds
        for _ in range(awaits):
            await asyncio.sleep(0)
        during = rounds - before
    stop = True
    await asyncio.gather(*tasks)
    return during


def test_the_holder_runs_its_steps_before_queued_requests() -> None:
    assert _run(lambda: _others_rounds_during_holder(50)) == 0
    # The plain loop, for contrast: the busy tasks ran between every step of the holder.
    assert _run(lambda: _others_rounds_during_holder(50), asyncio.SelectorEventLoop) >= 50 * 20


def test_urgent_callbacks_keep_their_order_and_the_rest_keep_theirs() -> None:
    async def main() -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        loop.call_soon(order.append, "queued 1")
        loop.call_soon(order.append, "queued 2")
        with holding_the_log_head():
            holder = contextvars.copy_context()  # as a task's wakeup carries its context
            loop.call_soon(order.append, "urgent 1", context=holder)
            loop.call_soon(order.append, "urgent 2", context=holder)
        loop.call_soon(order.append, "queued 3")
        await asyncio.sleep(0.01)
        return order

    assert _run(main) == ["urgent 1", "urgent 2", "queued 1", "queued 2", "queued 3"]


def test_a_watched_socket_is_read_before_queued_callbacks() -> None:
    async def main(watch: bool) -> list[str]:
        loop = asyncio.get_running_loop()
        order: list[str] = []
        ours, theirs = socket.socketpair()
        ours.setblocking(False)
        done = loop.create_future()

        def readable() -> None:
            order.append("read " + ours.recv(16).decode())
            loop.remove_reader(ours)
            done.set_result(None)

        loop.add_reader(ours, readable)
        try:
            with holding_the_log_head() as holding:
                if watch:
                    holding.watch(ours.fileno())
                for n in range(3):
                    loop.call_soon(order.append, f"queued {n}")
                theirs.send(b"reply")
                await done
            assert not getattr(loop, "urgent_fds", set())  # released with the block
            return order
        finally:
            ours.close()
            theirs.close()

    assert _run(lambda: main(True)) == ["read reply", "queued 0", "queued 1", "queued 2"]
    assert _run(lambda: main(False)) == ["queued 0", "queued 1", "queued 2", "read reply"]


@pytest.mark.parametrize("backend", BACKENDS)
def test_integration_holds_the_head_as_the_urgent_task(backend: str, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    put_first: list[str] = []
    watched: list[int | None] = []
    real_put_first = PriorityEventLoop._put_first

    def spy_put_first(self: PriorityEventLoop, handle: asyncio.Handle) -> None:
        put_first.append(repr(handle))
        real_put_first(self, handle)

    from heartchain.priority_loop import _Holding
    real_watch = _Holding.watch

    def spy_watch(self: _Holding, socket_fd: int | None) -> None:
        watched.append(socket_fd)
        real_watch(self, socket_fd)

    monkeypatch.setattr(PriorityEventLoop, "_put_first", spy_put_first)
    monkeypatch.setattr(_Holding, "watch", spy_watch)

    async def main() -> None:
        database = await create_postgres_database() if backend == "postgres" else None
        url = (postgres_url(database) + "?minsize=1&maxsize=5" if database
               else sqlite_url(tmp_path / "heartchain.sqlite3"))
        EXECUTOR_CACHE.clear()
        settings = Settings(data_dir=tmp_path / "data", db_url=url, batch_period_ms=2)
        platform = build_platform(settings, clock=Clock(), create_keys=True)
        try:
            await init_db(url)
            await initialise(platform)  # genesis: entries through the integration
        finally:
            await Tortoise.close_connections()
            if database:
                await drop_postgres_database(database)

    _run(main)
    assert watched, "the integration did not mark itself as the head's holder"
    assert put_first, "no wakeup of the integration went first"
    if backend == "postgres":  # asyncpg's socket is watched; aiosqlite has none (a thread)
        assert all(isinstance(fd, int) for fd in watched)
    else:
        assert all(fd is None for fd in watched)


def test_serve_runs_on_the_priority_loop() -> None:
    config = uvicorn.Config("heartchain.app:create_app",
                            loop="heartchain.priority_loop:PriorityEventLoop")
    assert config.get_loop_factory() is PriorityEventLoop
    from heartchain import cli
    assert "heartchain.priority_loop:PriorityEventLoop" in Path(cli.__file__).read_text()
