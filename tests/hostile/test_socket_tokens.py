"""Tokens never reach the logs: a WebSocket takes its token in `connection_init`, never in the
URL, and no log line (text or JSON) carries a query string. Subscribe messages on the socket
are priced and charged like POSTs (heartchain/ratelimit.py)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import websockets

from heartchain.settings import sqlite_url
from tests.servers import Server, cli_env, run_cli

ME = "{ me { address } }"


def init(tmp_path: Path, **extra: str) -> tuple[dict[str, str], str, str]:
    """A fresh data dir; (environment, operator token, operator address)."""
    env = cli_env(tmp_path / "data", sqlite_url(tmp_path / "data" / "hc.sqlite3"), **extra)
    done = run_cli(env, "init")
    assert done.returncode == 0, done.stderr
    fields = dict(line.split(":", 1) for line in done.stdout.splitlines() if ":" in line)
    return env, fields["operator token"].split()[0], fields["operator address"].strip()


async def operation(ws: Any, ident: str, query: str) -> dict[str, Any]:
    """Run one operation over graphql-transport-ws; its first `next` or `error` message."""
    await ws.send(json.dumps({"id": ident, "type": "subscribe", "payload": {"query": query}}))
    while True:
        message: dict[str, Any] = json.loads(await asyncio.wait_for(ws.recv(), 10))
        if message.get("id") == ident and message["type"] in ("next", "error"):
            return message


async def connect(url: str, payload: dict[str, str] | None = None) -> Any:
    ws = await websockets.connect(url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": payload or {}}))
    return ws


@pytest.mark.parametrize("log_format", ["text", "json"])
async def test_a_socket_signs_in_by_connection_init_and_no_log_line_has_a_token(
        tmp_path: Path, log_format: str) -> None:
    env, token, operator = init(tmp_path, HEARTCHAIN_LOG_FORMAT=log_format)
    server = Server(env, log=tmp_path / "serve.log", log_level="info")
    await server.start()
    ws_url = f"ws://127.0.0.1:{server.port}/graphql"
    try:
        for payload in ({"authorization": f"Bearer {token}"}, {"token": token}):
            ws = await connect(ws_url, payload)
            assert json.loads(await ws.recv())["type"] == "connection_ack"
            answer = await operation(ws, "1", ME)
            assert answer["payload"]["data"]["me"] == {"address": operator}
            await ws.close()
        # A token in the URL is no longer taken (and, below, never logged).
        ws = await connect(f"{ws_url}?token={token}&name=secret-in-url")
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        assert (await operation(ws, "1", ME))["payload"]["data"]["me"] is None
        await ws.close()
        # A token that does not authenticate closes the socket rather than signing in nobody.
        ws = await connect(ws_url, {"token": "hct_made-up"})
        with pytest.raises(websockets.ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403
        async with httpx.AsyncClient(base_url=server.url) as http:
            response = await http.get("/graphql", params={"query": ME, "token": token},
                                      headers={"accept": "application/json",
                                               "authorization": f"Bearer {token}"})
            assert response.json()["data"]["me"] == {"address": operator}
    finally:
        server.stop()
    assert server.log is not None
    lines = server.log.read_text().splitlines()
    assert any("/graphql" in line and "WebSocket" in line for line in lines)  # uvicorn's
    assert any("GET /graphql 200" in line for line in lines)  # the access log
    if log_format == "json":
        assert all(json.loads(line) for line in lines if line.startswith("{"))
    for line in lines:
        assert token not in line and token[4:] not in line
        assert "?" not in line and "secret-in-url" not in line and "query=" not in line, line


async def test_operations_over_the_socket_are_charged(tmp_path: Path) -> None:
    env, token, _ = init(tmp_path)
    env.update(HEARTCHAIN_RATE_LIMIT="0.01", HEARTCHAIN_RATE_BURST="5")
    server = Server(env)
    await server.start()
    ws_url = f"ws://127.0.0.1:{server.port}/graphql"
    proofs = "{ " + " ".join(f"e{i}: entries(first: 100) {{ edges {{ node {{ inclusionProof "
                             f"{{ hashes }} }} }} }}" for i in range(30)) + " }"
    try:
        ws = await connect(ws_url)
        assert json.loads(await ws.recv())["type"] == "connection_ack"
        # Over the cap (the burst, 5): refused before it runs, charged 1.
        refused = await operation(ws, "big", proofs)
        assert refused["type"] == "error"
        assert refused["payload"][0]["extensions"]["code"] == "QUERY_TOO_EXPENSIVE"
        answers = [await operation(ws, str(n), ME) for n in range(6)]
        assert [a["type"] for a in answers] == ["next"] * 4 + ["error"] * 2
        assert answers[-1]["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
        # The HTTP requests from this address share the bucket.
        async with httpx.AsyncClient(base_url=server.url) as http:
            assert (await http.post("/graphql", json={"query": ME})).status_code == 429
        # A real token has its own bucket, on the socket as over HTTP.
        signed_in = await connect(ws_url, {"token": token})
        assert json.loads(await signed_in.recv())["type"] == "connection_ack"
        assert (await operation(signed_in, "1", ME))["type"] == "next"
        await ws.close()
        await signed_in.close()
    finally:
        server.stop()
