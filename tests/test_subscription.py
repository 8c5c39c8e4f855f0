from __future__ import annotations

import asyncio
import json
from pathlib import Path

import websockets

from heartchain.settings import sqlite_url
from tests.servers import Server, cli_env, run_cli
from tests.test_processes import registrations, submit_all


async def test_entries_subscription_streams_new_entries(tmp_path: Path) -> None:
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "data" / "hc.sqlite3"))
    assert run_cli(env, "init").returncode == 0
    server = Server(env)
    await server.start()
    try:
        async with websockets.connect(f"ws://127.0.0.1:{server.port}/graphql",
                                      subprotocols=["graphql-transport-ws"]) as ws:
            await ws.send(json.dumps({"type": "connection_init"}))
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            await ws.send(json.dumps({"id": "1", "type": "subscribe", "payload": {
                "query": "subscription { entries(fromIndex: 0) { index kind } }"}}))
            first = json.loads(await asyncio.wait_for(ws.recv(), 10))
            assert first["payload"]["data"]["entries"] == {"index": 0,
                                                           "kind": "account.register"}
            await submit_all(server.url, registrations(5))
            seen = []
            while len(seen) < 5:
                message = json.loads(await asyncio.wait_for(ws.recv(), 10))
                if message["type"] == "next":
                    seen.append(message["payload"]["data"]["entries"]["index"])
            assert seen == [1, 2, 3, 4, 5]
    finally:
        server.stop()
