"""Where the rate limiter's token buckets live: this process's memory, or Redis for every worker.

Without HEARTCHAIN_REDIS_URL each process keeps its own buckets (LocalBuckets), so N uvicorn
workers allow N times the configured rate. With it, every worker (and every machine pointed at
the same Redis) charges one bucket per caller (RedisBuckets): one Lua script refills, checks
and spends all of a request's buckets atomically, so two workers can never both spend the last
tokens. Bucket state is two numbers per key, expiring once the bucket would be full again.

Redis unreachable (down, timing out): the limiter falls back to this process's buckets
(SharedBuckets), logs a warning once per outage, counts each failure in
heartchain_rate_limit_store_errors_total and shows heartchain_rate_limit_fallback 1, and tries
Redis again after RETRY_SECONDS. Not fail-closed: the limiter protects capacity, it is not an
access control (every write is a signed, authorised entry), and refusing all of /graphql
because a cache is down would turn a Redis outage into an API outage. Not fail-open either: the
per-worker buckets still hold a flood to N times the rate, and the per-request cost cap never
depends on Redis.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from heartchain import metrics

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("heartchain.ratelimit")

MAX_KEYS = 50_000  # local buckets kept; the least recently used (long since refilled) go first
RETRY_SECONDS = 1.0  # after a Redis failure, how long to use the local buckets before retrying
REDIS_TIMEOUT_SECONDS = 0.5  # a hung Redis costs a request at most this before the fallback
REDIS_CONNECTIONS = 32  # per worker


@dataclass(frozen=True)
class Limit:
    """A family of buckets: `name` keeps families apart in a shared store."""

    name: str
    rate: float
    burst: float


Charges = Sequence[tuple[Limit, str]]  # the buckets one operation is charged to


class BucketStore(Protocol):
    async def wait(self, charges: Charges, cost: float) -> float:
        """Seconds until every bucket can spend `cost` (0: now); spends nothing."""

    async def take(self, charges: Charges, cost: float) -> float:
        """Spend `cost` from every bucket and return 0 if all can afford it; else return the
        wait and spend nothing. Costs above a bucket's burst count as the burst."""

    async def spend(self, charges: Charges, cost: float) -> None:
        """Spend `cost` whatever the buckets hold (work already done)."""

    async def aclose(self) -> None: ...


@dataclass
class Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Token buckets by key, each refilling at `rate` up to `burst`; bounded in memory."""

    def __init__(self, rate: float, burst: float, *,
                 clock: Callable[[], float] = time.monotonic, max_keys: int = MAX_KEYS) -> None:
        if rate <= 0 or burst < 1:
            raise ValueError("rate must be > 0 and burst >= 1")
        self.rate, self.burst, self.clock, self.max_keys = rate, burst, clock, max_keys
        self._buckets: OrderedDict[str, Bucket] = OrderedDict()

    def _refilled(self, key: str, now: float) -> Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = Bucket(self.burst, now)
            self._buckets[key] = bucket
            while len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
        else:
            bucket.tokens = min(self.burst, bucket.tokens + (now - bucket.updated) * self.rate)
            bucket.updated = now
            self._buckets.move_to_end(key)
        return bucket

    def wait(self, key: str, cost: float) -> float:
        """Seconds until `key` can spend `cost` (0: now). Costs above the burst count as it."""
        bucket = self._refilled(key, self.clock())
        short = min(cost, self.burst) - bucket.tokens
        return max(0.0, short / self.rate)

    def spend(self, key: str, cost: float) -> None:
        bucket = self._refilled(key, self.clock())
        bucket.tokens -= min(cost, self.burst)


class LocalBuckets:
    """This process's buckets, a TokenBuckets per Limit. Each call runs without awaiting, so
    take() is atomic within the process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self._families: dict[Limit, TokenBuckets] = {}

    def buckets(self, limit: Limit) -> TokenBuckets:
        family = self._families.get(limit)
        if family is None:
            family = self._families[limit] = TokenBuckets(limit.rate, limit.burst,
                                                          clock=self.clock)
        return family

    async def wait(self, charges: Charges, cost: float) -> float:
        return max((self.buckets(limit).wait(key, cost) for limit, key in charges), default=0.0)

    async def take(self, charges: Charges, cost: float) -> float:
        wait = await self.wait(charges, cost)
        if wait == 0:
            await self.spend(charges, cost)
        return wait

    async def spend(self, charges: Charges, cost: float) -> None:
        for limit, key in charges:
            self.buckets(limit).spend(key, cost)

    async def aclose(self) -> None:
        pass


# KEYS: the buckets. ARGV: now (seconds), cost, mode (0 wait, 1 take, 2 spend), then rate and
# burst for each key. Each bucket is a hash {t: tokens, u: updated}; a missing one is full.
# Returns the wait in seconds, as a string (a Lua number would come back truncated).
BUCKETS_SCRIPT = """
local now, cost, mode = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local state, wait = {}, 0
for i, key in ipairs(KEYS) do
  local rate, burst = tonumber(ARGV[2 + 2 * i]), tonumber(ARGV[3 + 2 * i])
  local held = redis.call('HMGET', key, 't', 'u')
  local tokens, updated = tonumber(held[1]), tonumber(held[2])
  if tokens == nil or updated == nil then
    tokens, updated = burst, now
  elseif now > updated then
    -- another worker's clock may be a little behind: never refill backwards
    tokens, updated = math.min(burst, tokens + (now - updated) * rate), now
  end
  local short = math.min(cost, burst) - tokens
  if short > 0 then wait = math.max(wait, short / rate) end
  state[i] = {tokens, updated, rate, burst}
end
if mode == 2 or (mode == 1 and wait == 0) then
  for i, key in ipairs(KEYS) do
    local tokens, updated, rate, burst = unpack(state[i])
    tokens = tokens - math.min(cost, burst)
    redis.call('HSET', key, 't', tokens, 'u', updated)
    -- full again after (burst - tokens) / rate seconds: a missing bucket means just that
    redis.call('PEXPIRE', key, math.ceil((burst - tokens) / rate * 1000) + 1000)
  end
end
return string.format('%.17g', wait)
"""
WAIT, TAKE, SPEND = 0, 1, 2


class RedisBuckets:
    """Buckets in Redis, shared by every process using the same URL and prefix. The clock is
    the wall clock (monotonic clocks differ between processes)."""

    def __init__(self, client: Redis, prefix: str,
                 clock: Callable[[], float] = time.time) -> None:
        self.client, self.prefix, self.clock = client, prefix, clock
        self._script = client.register_script(BUCKETS_SCRIPT)

    @classmethod
    def from_url(cls, url: str, prefix: str, clock: Callable[[], float] = time.time
                 ) -> RedisBuckets:
        from redis.asyncio import BlockingConnectionPool, Redis
        from redis.asyncio.retry import Retry
        from redis.backoff import NoBackoff

        # No retries and short timeouts: a failing Redis should cost one quick attempt, then
        # the local buckets take over (SharedBuckets). A spike of concurrent requests waits
        # for one of a few connections (each is held for one round trip) rather than opening
        # one per request.
        pool = BlockingConnectionPool.from_url(
            url, max_connections=REDIS_CONNECTIONS, timeout=REDIS_TIMEOUT_SECONDS,
            socket_timeout=REDIS_TIMEOUT_SECONDS, socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
            retry=Retry(NoBackoff(), 0))
        return cls(Redis.from_pool(pool), prefix, clock)

    async def _run(self, charges: Charges, cost: float, mode: int) -> float:
        if not charges:
            return 0.0
        keys = [f"{self.prefix}rate:{limit.name}:{key}" for limit, key in charges]
        args: list[float | int] = [self.clock(), cost, mode]
        for limit, _ in charges:
            args += [limit.rate, limit.burst]
        return float(await self._script(keys=keys, args=args))

    async def wait(self, charges: Charges, cost: float) -> float:
        return await self._run(charges, cost, WAIT)

    async def take(self, charges: Charges, cost: float) -> float:
        return await self._run(charges, cost, TAKE)

    async def spend(self, charges: Charges, cost: float) -> None:
        await self._run(charges, cost, SPEND)

    async def aclose(self) -> None:
        await self.client.aclose()


class SharedBuckets:
    """The shared store while it answers; this process's buckets while it does not. While it
    fails, one request at a time (every RETRY_SECONDS) tries it again, so a hung Redis delays
    that one request, not every request of the moment."""

    def __init__(self, shared: BucketStore, local: BucketStore, *,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.shared, self.local, self.clock = shared, local, clock
        self._retry_at: float | None = None  # set while the shared store is failing
        self._probing = False

    def _use_shared(self) -> bool:
        if self._retry_at is None:
            return True
        if self._probing or self.clock() < self._retry_at:
            return False
        self._probing = True
        return True

    async def _call(self, method: str, charges: Charges, cost: float) -> float | None:
        from redis.exceptions import RedisError

        if self._use_shared():
            try:
                result: float | None = await getattr(self.shared, method)(charges, cost)
            except (RedisError, OSError) as exc:
                metrics.RATE_LIMIT_STORE_ERRORS.inc()
                if self._retry_at is None:
                    logger.warning("rate limit store unreachable (%s: %s): this worker limits "
                                   "on its own until it answers", type(exc).__name__, exc)
                    metrics.RATE_LIMIT_FALLBACK.set(1)
                self._retry_at = self.clock() + RETRY_SECONDS
            else:
                if self._retry_at is not None:
                    logger.warning("rate limit store reachable again: limits are shared")
                    metrics.RATE_LIMIT_FALLBACK.set(0)
                    self._retry_at = None
                return result
            finally:
                self._probing = False
        local: float | None = await getattr(self.local, method)(charges, cost)
        return local

    async def wait(self, charges: Charges, cost: float) -> float:
        return await self._call("wait", charges, cost) or 0.0

    async def take(self, charges: Charges, cost: float) -> float:
        return await self._call("take", charges, cost) or 0.0

    async def spend(self, charges: Charges, cost: float) -> None:
        await self._call("spend", charges, cost)

    async def aclose(self) -> None:
        await self.shared.aclose()
        await self.local.aclose()
