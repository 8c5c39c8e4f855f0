"""Slow and idle clients cannot hold connections: a body trickled a byte at a time gets 408
once HEARTCHAIN_BODY_TIMEOUT_S has passed, and an idle keep-alive connection is closed after
HEARTCHAIN_KEEP_ALIVE_S (heartchain/timeouts.py), against a real server."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from heartchain.settings import sqlite_url
from tests.servers import Server, cli_env, run_cli


async def test_a_trickled_body_gets_408_and_an_idle_connection_is_closed(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "data" / "hc.sqlite3"),
                  HEARTCHAIN_BODY_TIMEOUT_S="1", HEARTCHAIN_KEEP_ALIVE_S="1")
    assert run_cli(env, "init").returncode == 0
    server = Server(env)
    await server.start()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                     b"Content-Type: application/json\r\nContent-Length: 400\r\n\r\n{")
        await writer.drain()
        started = time.monotonic()

        async def trickle() -> None:
            for _ in range(100):  # 20 s worth, a byte every 0.2 s, unless the server hangs up
                await asyncio.sleep(0.2)
                try:
                    writer.write(b" ")
                    await writer.drain()
                except ConnectionError:
                    return

        trickling = asyncio.create_task(trickle())
        status = await asyncio.wait_for(reader.readline(), 10)
        elapsed = time.monotonic() - started
        assert status.startswith(b"HTTP/1.1 408"), status
        assert 0.8 < elapsed < 4, elapsed
        trickling.cancel()
        writer.close()

        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        await writer.drain()
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"HTTP/1.1 200")
        started = time.monotonic()
        # Read the answer, then nothing more: the server closes the idle connection.
        while await asyncio.wait_for(reader.read(4096), 10):
            pass
        assert time.monotonic() - started < 4
        writer.close()
    finally:
        server.stop()
