"""heartchain/http_protocol.py: a response's writes leave in one send, in order, nothing lost."""

from __future__ import annotations

import asyncio
import socket
import threading

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route

from heartchain.http_protocol import _CoalescingTransport


class Recording:
    def __init__(self) -> None:
        self.sent: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "a write after close"
        self.sent.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"extra:{name}"


async def test_writes_in_one_loop_turn_leave_together_in_order() -> None:
    real = Recording()
    transport = _CoalescingTransport(real, asyncio.get_running_loop())  # type: ignore[arg-type]
    transport.write(b"HTTP/1.1 200 OK\r\n\r\n")
    transport.write(b"")
    transport.writelines([b"{", b"}"])
    assert real.sent == [] and transport.get_write_buffer_size() == 21
    await asyncio.sleep(0)
    assert real.sent == [b"HTTP/1.1 200 OK\r\n\r\n{}"]
    transport.write(b"next")  # the next turn's writes are a send of their own
    await asyncio.sleep(0)
    assert real.sent[1:] == [b"next"]
    assert transport.get_extra_info("peername") == "extra:peername"


async def test_close_sends_what_is_pending_first_and_abort_drops_it() -> None:
    loop = asyncio.get_running_loop()
    real = Recording()
    transport = _CoalescingTransport(real, loop)  # type: ignore[arg-type]
    transport.write(b"last words")
    transport.close()
    assert real.sent == [b"last words"] and real.closed
    await asyncio.sleep(0)  # the scheduled flush finds nothing to send
    assert real.sent == [b"last words"]
    other = Recording()
    aborted = _CoalescingTransport(other, loop)  # type: ignore[arg-type]
    aborted.write(b"never")
    aborted.abort()
    await asyncio.sleep(0)
    assert other.sent == [] and other.aborted


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_served_app_answers_byte_for_byte_with_the_protocol() -> None:
    async def json_answer(request: Request) -> JSONResponse:
        return JSONResponse({"echo": (await request.body()).decode()},
                            headers={"x-check": "1"})

    async def streamed(request: Request) -> StreamingResponse:
        async def chunks():  # type: ignore[no-untyped-def]
            for i in range(50):
                yield f"{i},".encode() * 100
                await asyncio.sleep(0)
        return StreamingResponse(chunks())

    app = Starlette(routes=[Route("/json", json_answer, methods=["POST"]),
                            Route("/stream", streamed)])
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning",
        http="heartchain.http_protocol:CoalescingHttpToolsProtocol"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            threading.Event().wait(0.02)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            for i in range(3):  # keep-alive: several answers on one connection
                answer = client.post("/json", content=f"body {i}")
                assert answer.status_code == 200 and answer.headers["x-check"] == "1"
                assert answer.json() == {"echo": f"body {i}"}
            stream = client.get("/stream")
            assert stream.text == "".join(f"{i}," * 100 for i in range(50))
    finally:
        server.should_exit = True
        thread.join(10)
