"""A webhook receiver for tests: records every delivery, fails on request, deduplicates by id."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import Response

from tests.servers import free_port


@dataclass
class Received:
    id: str
    headers: dict[str, str]
    body: bytes

    @property
    def document(self) -> dict[str, Any]:
        found: dict[str, Any] = json.loads(self.body)
        return found


@dataclass
class Receiver:
    """An ASGI app: answers `failures` 500s first, then 200 (after `delay` seconds each)."""

    failures: int = 0
    delay: float = 0.0
    received: list[Received] = field(default_factory=list)  # every request, duplicates too
    answered: list[int] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        body = await request.body()
        self.received.append(Received(request.headers.get("heartchain-webhook-id", ""),
                                      dict(request.headers), body))
        if self.delay:
            await asyncio.sleep(self.delay)
        status = 200
        if self.failures > 0:
            self.failures -= 1
            status = 500
        self.answered.append(status)
        await Response(status_code=status)(scope, receive, send)

    @property
    def ids(self) -> list[str]:
        return [r.id for r in self.received]

    def delivered_indexes(self) -> list[int]:
        """Each distinct delivery once (the receiver's dedup), in first-arrival order."""
        seen: dict[str, int] = {}
        for r in self.received:
            seen.setdefault(r.id, r.document["index"])
        return list(seen.values())


@contextlib.asynccontextmanager
async def serving(receiver: Receiver) -> AsyncIterator[str]:
    """Serve `receiver` on 127.0.0.1 (a real socket, for server processes); yield its URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(receiver, host="127.0.0.1", port=port,
                                           log_level="warning", lifespan="off"))
    task = asyncio.get_running_loop().create_task(server.serve())
    while not server.started:
        await asyncio.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}/hook"
    finally:
        server.should_exit = True
        await task
