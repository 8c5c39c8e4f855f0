"""Our outgoing clients drop idle connections before a server closes them under a request."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from heartchain.timeouts import CLIENT_KEEP_ALIVE_S, client_limits
from tests.conftest import Ledger


async def closing_server() -> tuple[asyncio.Server, str]:
    """Answers the first request on each connection; a later one finds the connection closing,
    as when a server's idle timer fires just as the request arrives."""

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = False
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                await reader.readexactly(length)
                if answered:
                    break
                writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                await writer.drain()
                answered = True
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    return server, f"http://127.0.0.1:{port}/"


async def two_posts_apart(client: httpx.AsyncClient, url: str) -> None:
    assert (await client.post(url, content=b"first")).text == "ok"
    await asyncio.sleep(CLIENT_KEEP_ALIVE_S + 0.3)
    assert (await client.post(url, content=b"second")).text == "ok"


async def test_an_idle_connection_is_not_reused_after_our_expiry() -> None:
    server, url = await closing_server()
    try:
        # httpx's own default keeps the connection for 5 s, uvicorn's idle timeout: the second
        # request goes out on the connection the server is closing and gets no answer.
        async with httpx.AsyncClient() as default:
            with pytest.raises(httpx.TransportError):
                await two_posts_apart(default, url)
        async with httpx.AsyncClient(limits=client_limits()) as ours:
            await two_posts_apart(ours, url)
    finally:
        server.close()
        await server.wait_closed()


async def test_witness_and_webhook_clients_use_the_short_expiry(ledger: Ledger) -> None:
    from heartchain.ledger.witness_client import WitnessClient
    from heartchain.ledger.witness_policy import WitnessPolicy
    from heartchain.webhooks.delivery import DeliveryWorker
    from heartchain.witness.records import RecordSeal

    witness = WitnessClient(ledger.platform.log, WitnessPolicy.parse(""),
                            seal=RecordSeal(ledger.platform.vault))
    webhooks = DeliveryWorker(ledger.platform)
    for client in (witness._client(), webhooks._client("example.org")):
        assert client._transport._pool._keepalive_expiry == CLIENT_KEEP_ALIVE_S  # type: ignore
    await witness.aclose()
    await webhooks._client("example.org").aclose()
