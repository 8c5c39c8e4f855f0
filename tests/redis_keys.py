"""Redis for the shared rate-limit tests: HEARTCHAIN_TEST_REDIS (e.g. redis://127.0.0.1:6379/15);
the tests that need it skip when it is unset. Each test gets its own key prefix and deletes only
the keys under it, so tests (and anything else in that database) never meet."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest

ENV = "HEARTCHAIN_TEST_REDIS"


def redis_url() -> str:
    url = os.environ.get(ENV)
    if not url:
        pytest.skip(f"{ENV} is not set")
    return url


@asynccontextmanager
async def private_prefix(url: str) -> AsyncIterator[str]:
    from redis.asyncio import Redis

    prefix = f"heartchain-test:{uuid.uuid4().hex}:"
    try:
        yield prefix
    finally:
        client = Redis.from_url(url)
        try:
            keys = [key async for key in client.scan_iter(match=f"{prefix}*", count=1000)]
            if keys:
                await client.delete(*keys)
        finally:
            await client.aclose()


async def keys_under(url: str, prefix: str) -> list[str]:
    from redis.asyncio import Redis

    client = Redis.from_url(url, decode_responses=True)
    try:
        return sorted([key async for key in client.scan_iter(match=f"{prefix}*")])
    finally:
        await client.aclose()
