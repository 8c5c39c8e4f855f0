"""uvicorn's HTTP protocol with a response's writes coalesced into one send per loop turn.

uvicorn writes the status line and headers as soon as the app sends `http.response.start`,
then the body: two `send()` calls, two TCP segments, two wake-ups of the client, for every
response. On loopback each send also runs the receiving side's TCP stack on our CPU: the
header write alone was 7–8 % of a donation's server samples (py-spy). Buffered until the
loop's next turn, a response the app sends in one go (every JSON answer) goes out in one
`send()`; the bytes and their order are unchanged, and a streamed body still flows (each turn
flushes what was written in it).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol


class _CoalescingTransport:
    """The connection's transport, with `write` deferred to the end of the loop turn."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self.transport = transport
        self._loop = loop
        self._pending: list[bytes] = []

    def write(self, data: bytes | bytearray | memoryview) -> None:
        if not data:
            return
        if not self._pending:
            self._loop.call_soon(self.flush)
        self._pending.append(bytes(data))

    def writelines(self, chunks: Any) -> None:
        for chunk in chunks:
            self.write(chunk)

    def flush(self) -> None:
        if not self._pending:
            return
        data = b"".join(self._pending)
        self._pending.clear()
        if not self.transport.is_closing():
            self.transport.write(data)

    def get_write_buffer_size(self) -> int:
        return self.transport.get_write_buffer_size() + sum(map(len, self._pending))

    def write_eof(self) -> None:
        self.flush()
        self.transport.write_eof()

    def close(self) -> None:
        self.flush()
        self.transport.close()

    def abort(self) -> None:
        self._pending.clear()
        self.transport.abort()

    def __getattr__(self, name: str) -> Any:
        # is_closing, get_extra_info, pause_reading, resume_reading, set_protocol, …
        return getattr(self.transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(
            _CoalescingTransport(transport, self.loop))  # type: ignore[arg-type]

    def handle_websocket_upgrade(self) -> None:
        # The WebSocket protocol takes over the connection: it gets the transport itself.
        coalescing = self.transport
        if isinstance(coalescing, _CoalescingTransport):
            coalescing.flush()
            self.transport = coalescing.transport
        super().handle_websocket_upgrade()
