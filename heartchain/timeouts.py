"""Slow clients cannot hold a worker: the whole request body must arrive within a bound.

A client that sends its headers and then trickles the body a byte at a time (or stops) would
otherwise keep a request, and whatever it holds, open for as long as it likes. BodyTimeout
answers 408 (and closes the connection) once HEARTCHAIN_BODY_TIMEOUT_S (default 10) has passed
since the app first asked for the body. Idle keep-alive connections are closed by uvicorn after
HEARTCHAIN_KEEP_ALIVE_S (default 5; `heartchain serve`).

Our own outgoing connections (witnesses, webhooks) are dropped sooner than any server's idle
timeout (`client_limits`): a request sent on a connection at the moment its server closes it
for idleness fails with no answer (a ReadError), and a witness would be logged unreachable.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Mapping

import httpx
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from heartchain.limits import plain_answer, refusing

DEFAULT_BODY_TIMEOUT = 10.0
DEFAULT_KEEP_ALIVE = 5
# Below uvicorn's 5 s and gunicorn's 2 s: reopening a connection idle this long costs a handshake.
CLIENT_KEEP_ALIVE_S = 1.0


class BodyTimedOut(Exception):
    pass


def body_timeout_from_env(environ: Mapping[str, str] | None = None) -> float:
    env = os.environ if environ is None else environ
    value = float(env.get("HEARTCHAIN_BODY_TIMEOUT_S", DEFAULT_BODY_TIMEOUT))
    if not value > 0:
        raise ValueError(f"HEARTCHAIN_BODY_TIMEOUT_S must be > 0, got {value}")
    return value


def keep_alive_from_env(environ: Mapping[str, str] | None = None) -> int:
    env = os.environ if environ is None else environ
    return int(env.get("HEARTCHAIN_KEEP_ALIVE_S", DEFAULT_KEEP_ALIVE))


def client_limits() -> httpx.Limits:
    """Connection limits for our long-lived outgoing clients: httpx's own idle expiry is 5 s,
    the same as uvicorn's, and the two race."""
    return httpx.Limits(keepalive_expiry=CLIENT_KEEP_ALIVE_S)


class BodyTimeout:
    def __init__(self, app: ASGIApp, seconds: float | None = None) -> None:
        self.app = app
        self.seconds = body_timeout_from_env() if seconds is None else seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        deadline: float | None = None
        complete = False

        async def bounded_receive() -> Message:
            nonlocal deadline, complete
            if complete:  # the body is in: what is left is waiting for a disconnect
                return await receive()
            if deadline is None:
                deadline = time.monotonic() + self.seconds
            try:
                # A timeout on this task, not wait_for's task per receive: the body is
                # usually in already, and then receive() returns without suspending.
                async with asyncio.timeout(max(0.0, deadline - time.monotonic())):
                    message = await receive()
            except TimeoutError:
                raise BodyTimedOut from None
            if message["type"] != "http.request" or not message.get("more_body", False):
                complete = True
            return message

        async def refuse(send: Send) -> None:
            await plain_answer(send, 408, "the request body did not arrive within "
                               f"{self.seconds:g} s", close=True)

        await refusing(self.app, scope, bounded_receive, send, BodyTimedOut, refuse)
