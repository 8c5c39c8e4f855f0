"""heartchain/buckets.py: with HEARTCHAIN_REDIS_URL the limiter's buckets are shared by every
app (worker) using that Redis; without it each keeps its own; Redis down: each falls back to
its own, says so and counts it. Tests needing Redis read HEARTCHAIN_TEST_REDIS."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import AsyncIterator

import httpx
import pytest

from heartchain import metrics
from heartchain.buckets import RETRY_SECONDS, Limit, LocalBuckets, RedisBuckets, SharedBuckets
from heartchain.ratelimit import RateLimit
from tests.conftest import Ledger
from tests.hostile.test_ratelimit import ME, FakeClock, limited, post
from tests.redis_keys import keys_under, private_prefix, redis_url
from tests.servers import free_port


@pytest.fixture
async def shared() -> AsyncIterator[dict[str, str]]:
    url = redis_url()
    async with private_prefix(url) as prefix:
        yield {"redis_url": url, "redis_prefix": prefix}


async def test_two_apps_on_one_redis_share_each_callers_bucket(
        ledger: Ledger, shared: dict[str, str]) -> None:
    clock = FakeClock()
    # Two apps (as two uvicorn workers are), one caller alternating between them: together
    # they allow the one burst of 5, as a single app would.
    async with limited(ledger, rate=1, burst=5, clock=clock, store=shared) as first, \
            limited(ledger, rate=1, burst=5, clock=clock, store=shared) as second:
        statuses = [(await post(app, ME)).status_code for _ in range(5) for app in (first, second)]
        assert statuses == [200] * 5 + [429] * 5
        # A token's bucket is shared too, and so is its address's charge.
        token = [(await post(app, ME, ledger.operator_token)).status_code
                 for _ in range(4) for app in (first, second)]
        assert token == [200] * 5 + [429] * 3
        clock.now += 2  # both see the refill: 2 units
        assert [(await post(app, ME)).status_code for app in (second, first, second)] \
            == [200, 200, 429]
    prefix = shared["redis_prefix"]
    keys = await keys_under(shared["redis_url"], prefix)
    assert f"{prefix}rate:key:address:10.0.0.1" in keys
    assert f"{prefix}rate:host:host:10.0.0.1" in keys
    assert any(key.startswith(f"{prefix}rate:key:token:") for key in keys)


async def test_without_redis_each_app_has_its_own_buckets(ledger: Ledger) -> None:
    clock = FakeClock()
    # Per process, as documented: two workers allow a caller twice the burst.
    async with limited(ledger, rate=1, burst=5, clock=clock) as first, \
            limited(ledger, rate=1, burst=5, clock=clock) as second:
        statuses = [(await post(app, ME)).status_code for _ in range(6) for app in (first, second)]
        assert statuses == [200] * 10 + [429] * 2


async def test_the_redis_script_keeps_the_local_buckets_semantics(
        shared: dict[str, str]) -> None:
    clock = FakeClock()
    local = LocalBuckets(clock)
    redis = RedisBuckets.from_url(shared["redis_url"], shared["redis_prefix"], clock)
    key, host = Limit("key", 2, 6), Limit("host", 20, 60)
    chances = random.Random(17)
    try:
        for step in range(300):
            charges = [(key, f"token:{chances.randrange(3)}"), (host, "host:h")] \
                if chances.random() < 0.5 else [(key, f"address:{chances.randrange(2)}")]
            cost = chances.choice([1, 1, 3, 7, 100])
            operation = chances.choice(["wait", "take", "take", "spend"])
            expected = await getattr(local, operation)(charges, cost)
            got = await getattr(redis, operation)(charges, cost)
            assert got == pytest.approx(expected, abs=1e-9), (step, operation, charges, cost)
            clock.now += chances.choice([0, 0, 0.1, 0.5, 3])
    finally:
        await redis.aclose()


async def test_redis_down_falls_back_to_the_workers_own_buckets(
        ledger: Ledger, caplog: pytest.LogCaptureFixture) -> None:
    clock = FakeClock()
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"
    errors = metrics.RATE_LIMIT_STORE_ERRORS._value.get()
    with caplog.at_level(logging.WARNING, logger="heartchain.ratelimit"):
        async with limited(ledger, rate=1, burst=2, clock=clock,
                           store={"redis_url": nothing_there}) as http:
            # Still limited (by this process's buckets), never refused for Redis's sake.
            assert [(await post(http, ME)).status_code for _ in range(3)] == [200, 200, 429]
            assert metrics.RATE_LIMIT_FALLBACK._value.get() == 1
    assert metrics.RATE_LIMIT_STORE_ERRORS._value.get() > errors
    warnings = [r for r in caplog.records if "rate limit store unreachable" in r.message]
    assert len(warnings) == 1  # once per outage, not once per request


class Flaky:
    """A shared store that fails while `down` (after `stall` is set, when `stall` is given),
    else answers like a local one."""

    def __init__(self, clock: FakeClock) -> None:
        self.down, self.calls, self.buckets = True, 0, LocalBuckets(clock)
        self.stall: asyncio.Event | None = None

    async def take(self, charges: list[tuple[Limit, str]], cost: float) -> float:
        self.calls += 1
        if self.stall is not None:
            await self.stall.wait()
        if self.down:
            raise ConnectionError("refused")
        return await self.buckets.take(charges, cost)

    async def aclose(self) -> None:
        pass


async def test_the_fallback_retries_redis_and_shares_again_once_it_answers() -> None:
    clock = FakeClock()
    flaky = Flaky(clock)
    store = SharedBuckets(flaky, LocalBuckets(clock), clock=clock)  # type: ignore[arg-type]
    charges = [(Limit("key", 1, 2), "address:a")]
    assert await store.take(charges, 1) == 0  # Redis failed: charged locally
    assert await store.take(charges, 1) == 0
    assert await store.take(charges, 1) > 0  # the local bucket of 2 is spent
    assert flaky.calls == 1  # not asked again before RETRY_SECONDS
    assert metrics.RATE_LIMIT_FALLBACK._value.get() == 1
    # A Redis that hangs: one request waits on it, the others meanwhile are served locally.
    clock.now += 2 * RETRY_SECONDS  # the local bucket refills: 2 units
    flaky.stall = asyncio.Event()
    probe = asyncio.ensure_future(store.take(charges, 1))
    await asyncio.sleep(0)
    assert flaky.calls == 2
    assert await store.take(charges, 1) == 0  # local, not stuck behind it
    assert flaky.calls == 2
    flaky.stall.set()
    assert await probe == 0  # that probe failed too: charged locally
    assert flaky.calls == 2 and metrics.RATE_LIMIT_FALLBACK._value.get() == 1
    flaky.stall, flaky.down = None, False
    clock.now += RETRY_SECONDS
    assert await store.take(charges, 2) == 0  # Redis again, where this bucket is full
    assert flaky.calls == 3
    assert metrics.RATE_LIMIT_FALLBACK._value.get() == 0


async def test_the_app_takes_redis_from_the_settings(
        ledger: Ledger, shared: dict[str, str]) -> None:
    from heartchain.app import create_app

    settings = ledger.settings.with_(redis_url=shared["redis_url"],
                                     redis_prefix=shared["redis_prefix"])
    app = create_app(settings)
    app.state.platform = ledger.platform
    transport = httpx.ASGITransport(app=app, client=("10.9.9.9", 1))
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        assert (await post(http, ME)).status_code == 200
    assert f"{shared['redis_prefix']}rate:key:address:10.9.9.9" in await keys_under(
        shared["redis_url"], shared["redis_prefix"])
    assert shared["redis_url"] not in repr(settings)  # a URL may carry a password
    layer = app.middleware_stack
    while not isinstance(layer, RateLimit):
        layer = layer.app  # type: ignore[union-attr]
    await layer.aclose()  # the lifespan's shutdown would
