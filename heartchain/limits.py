"""Request body size limit: a signed entry is at most 64 KiB, so no request needs much more;
only a charity's payment-provider export for bulk import (UPLOAD_PATHS) may be larger."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

MAX_BODY_BYTES = 256 * 1024
MAX_UPLOAD_BYTES = 32 * 1024 * 1024  # ~300,000 rows of a provider's CSV export
UPLOAD_PATHS = frozenset({"/console/import/check", "/console/import/run"})


class BodyTooLarge(Exception):
    pass


class BodySizeLimit:
    def __init__(self, app: ASGIApp, max_bytes: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if scope.get("path") in UPLOAD_PATHS and self.max_bytes < MAX_UPLOAD_BYTES:
            await BodySizeLimit(self.app, MAX_UPLOAD_BYTES)(scope, receive, send)
            return
        declared = dict(scope.get("headers", [])).get(b"content-length")
        if (declared is not None and declared.isascii() and declared.isdigit()
                and int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise BodyTooLarge
            return message

        await refusing(self.app, scope, limited_receive, send, BodyTooLarge, self._refuse)

    async def _refuse(self, send: Send) -> None:
        await plain_answer(send, 413, f"request body larger than {self.max_bytes} bytes")


async def refusing(app: ASGIApp, scope: Scope, receive: Receive, send: Send,
                   refused: type[Exception], refuse: Callable[[Send], Awaitable[None]]) -> None:
    """Run `app`; when reading the body raises `refused` before the app began its answer,
    answer with `refuse` instead (after it began, the connection just ends)."""
    started = False

    async def tracking_send(message: Message) -> None:
        nonlocal started
        if message["type"] == "http.response.start":
            started = True
        await send(message)

    try:
        await app(scope, receive, tracking_send)
    except refused:
        if not started:
            await refuse(send)


async def plain_answer(send: Send, status: int, text: str, *, close: bool = False) -> None:
    body = f"{text}\n".encode()
    headers = [(b"content-type", b"text/plain; charset=utf-8"),
               (b"content-length", str(len(body)).encode())]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
