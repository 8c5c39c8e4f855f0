"""The delivery worker: an outbox read from the log, one endpoint cursor at a time.

For each active endpoint the worker reads the entries at or after its cursor that match its
filters (services.due_entries), POSTs the first, and moves the cursor past it only once the
endpoint answered 2xx, in the same transaction that records the attempt. A failure records the
attempt and schedules a retry (exponential backoff, capped); the cursor stays, so the sender
never skips an entry and delivers each endpoint's entries in log order. A crash between the
receiver's 2xx and that commit sends the same delivery again after the restart, with the same
`Heartchain-Webhook-Id`: receivers deduplicate on it (at-least-once, never lost).

Each attempt resolves the endpoint's host once, refuses it when any address is not public and
connects to the address it checked (heartchain.webhooks.pinning); redirects are not followed (a
3xx is a failed attempt). A refused attempt is recorded and retried like any failure.

Several workers (processes sharing one database) take a lease on an endpoint before serving
it, so one endpoint is served by one worker at a time; a lease a dead worker held runs out.

    async with delivering(platform):   # in the app's lifespan, beside the witness submitter
        yield
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import ssl
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from heartchain.ledger.entries import format_time
from heartchain.ledger.reader import StoredEntry
from heartchain.platform import Platform
from heartchain.timeouts import client_limits
from heartchain.webhooks import signing
from heartchain.webhooks.errors import EndpointRefused
from heartchain.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from heartchain.webhooks.pinning import Resolver, pin, system_resolver
from heartchain.webhooks.services import delivery_id, due_entries, payload, secret_of

logger = logging.getLogger(__name__)

POLL_S = 1.0  # how often appends by other processes are looked for
# Passes start at most this often while endpoints are active: a giving day integrates dozens
# of batches a second, and a pass per batch was a dozen queries each. With none active, at
# most once per `poll` (a new endpoint's first delivery waits that long, at worst).
PASS_GAP_S = 0.1
STOP_GRACE_S = 2.0  # on shutdown, how long the pass under way may take to finish
TIMEOUT_S = 10.0  # per delivery request
USER_AGENT = "heartchain-webhooks/1"


def backoff(failures: int, *, base: float, cap: float) -> float:
    """Seconds before the next attempt after `failures` consecutive failures: base, 2×base,
    4×base, … never more than `cap`.

    >>> [backoff(n, base=5, cap=60) for n in range(1, 7)]
    [5, 10, 20, 40, 60, 60]
    """
    return min(base * 2 ** min(failures - 1, 40), cap)


class DeliveryWorker:
    def __init__(self, platform: Platform, *, http: httpx.AsyncClient | None = None,
                 now: Callable[[], float] = time.time, poll: float = POLL_S,
                 resolver: Resolver = system_resolver,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.platform = platform
        self.resolver = resolver
        self.settings = platform.settings
        self.owner = secrets.token_hex(8)  # this worker's name on the leases it holds
        self.now = now
        self.poll = poll
        self._http = http
        self._clients: dict[str, httpx.AsyncClient] = {}  # per host name, when `http` is None
        self._verify = verify
        self._wake = asyncio.Event()
        self._any_active = True  # until a pass finds none
        self._stopping = asyncio.Event()

    def _client(self, server_name: str) -> httpx.AsyncClient:
        # One client per host name: a pooled connection is keyed by the address, and one that
        # verified a certificate for one name must not carry another name's deliveries.
        if self._http is not None:
            return self._http
        if server_name not in self._clients:
            self._clients[server_name] = httpx.AsyncClient(
                timeout=TIMEOUT_S, follow_redirects=False, verify=self._verify,
                limits=client_limits())
        return self._clients[server_name]

    async def close(self) -> None:
        await WebhookEndpoint.filter(lease_owner=self.owner).update(lease_owner=None,
                                                                     lease_until=None)
        for client in [*self._clients.values(), *([self._http] if self._http else [])]:
            await client.aclose()
        self._clients.clear()

    # -- one pass ------------------------------------------------------------------------

    async def run_once(self) -> int:
        """Serve every active endpoint once (concurrently); return the deliveries made."""
        endpoints = await WebhookEndpoint.filter(active=True)
        self._any_active = bool(endpoints)
        sent = await asyncio.gather(*(self._serve_logged(e) for e in endpoints))
        return sum(sent)

    async def _serve_logged(self, endpoint: WebhookEndpoint) -> int:
        # One endpoint's trouble (a row whose secret no longer opens) never stops the others.
        try:
            return await self._serve(endpoint)
        except Exception:
            logger.exception("webhook %s: serving it failed", endpoint.id)
            return 0

    async def _lease(self, endpoint: WebhookEndpoint) -> bool:
        now = self.now()
        taken = await WebhookEndpoint.filter(
            Q(id=endpoint.id) & (Q(lease_until__isnull=True) | Q(lease_until__lt=now)
                                 | Q(lease_owner=self.owner))
        ).update(lease_owner=self.owner, lease_until=now + self.settings.webhook_lease_s)
        return bool(taken)

    async def _serve(self, endpoint: WebhookEndpoint) -> int:
        if endpoint.retry_at is not None and endpoint.retry_at > self.now():
            return 0
        if not await self._lease(endpoint):
            return 0
        sent = 0
        while True:
            fresh = await WebhookEndpoint.get_or_none(id=endpoint.id, active=True,
                                                      lease_owner=self.owner)
            if fresh is None:  # disabled meanwhile, or the lease was lost
                return sent
            endpoint = fresh
            due, scanned_to = await due_entries(self.platform, endpoint)
            for stored, campaign in due:
                if not await self._attempt(endpoint, stored, campaign):
                    return sent
                sent += 1
                endpoint.next_index = stored.index + 1
            if scanned_to > endpoint.next_index:  # past entries that do not match
                await WebhookEndpoint.filter(id=endpoint.id, lease_owner=self.owner).update(
                    next_index=scanned_to)
            if not due:
                return sent
            if not await self._lease(endpoint):
                return sent

    async def _attempt(self, endpoint: WebhookEndpoint, stored: StoredEntry,
                       campaign: tuple[str, str] | None) -> bool:
        body = payload(self.platform, endpoint, stored, campaign)
        ident = delivery_id(endpoint, stored.index)
        timestamp = int(self.now())
        headers = {"content-type": "application/json", "user-agent": USER_AGENT,
                   signing.ID_HEADER: ident, signing.TIMESTAMP_HEADER: str(timestamp),
                   signing.HEADER: signing.signature_header(secret_of(self.platform, endpoint),
                                                            timestamp, body)}
        started = time.monotonic()
        status: int | None = None
        error: str | None = None
        try:
            # Resolved and checked now, for this request: the name may point elsewhere than
            # at registration (DNS rebinding). The connection goes to the checked address.
            target = await pin(endpoint.url, resolver=self.resolver,
                               allow_loopback_http=self.settings.webhook_allow_loopback_http)
            response = await self._client(target.server_name).post(
                target.url, content=body, headers={**headers, "host": target.host},
                extensions={"sni_hostname": target.server_name}, follow_redirects=False)
            status = response.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except EndpointRefused as exc:
            error = f"refused: {exc}"[:200]
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"[:200]
        ok = error is None
        now = self.now()
        at = format_time(datetime.fromtimestamp(now, UTC))
        async with in_transaction():
            delivery, _ = await WebhookDelivery.get_or_create(
                id=ident, defaults={"endpoint_id": endpoint.id, "idx": stored.index})
            await WebhookDelivery.filter(id=ident).update(
                attempts=delivery.attempts + 1, delivered_at=at if ok else None)
            await WebhookAttempt.create(delivery_id=ident, endpoint_id=endpoint.id,
                                        idx=stored.index, at=at, status_code=status,
                                        error=error,
                                        duration_ms=int((time.monotonic() - started) * 1000))
            mine = WebhookEndpoint.filter(id=endpoint.id, lease_owner=self.owner)
            if ok:
                await mine.update(next_index=stored.index + 1, failures=0, retry_at=None)
            else:
                failures = endpoint.failures + 1
                await mine.update(next_index=stored.index, failures=failures,
                                  retry_at=now + backoff(
                                      failures, base=self.settings.webhook_retry_base_s,
                                      cap=self.settings.webhook_retry_cap_s))
        if not ok:
            logger.info("webhook %s: delivery of entry %d failed (%s); attempt %d",
                        endpoint.id, stored.index, error, endpoint.failures + 1)
        return ok

    # -- running with the app ----------------------------------------------------------

    async def _watch(self) -> None:
        # Outlives a database outage: a watcher that died with it left deliveries to the slow
        # retry wake-up once the database was back, and failed the app's shutdown.
        failing = False
        while True:
            try:
                async for _ in self.platform.log.sizes(poll=self.poll):
                    failing = False
                    self._wake.set()
            except Exception as exc:
                if not failing:
                    logger.warning("webhook deliveries: watching the log failed (%s); "
                                   "retrying", type(exc).__name__)
                failing = True
                self._wake.set()  # a pass finds out whether the database is back
                await asyncio.sleep(self.poll)

    async def _next_retry_in(self) -> float:
        # Endpoints whose retry time has passed were served in this pass, or are another
        # worker's: only the ones still waiting set the next wake-up. None active (the pass
        # just looked): nothing to ask, on every batch the log integrates.
        if not self._any_active:
            return self.poll * 5
        soonest = await WebhookEndpoint.filter(active=True, retry_at__gt=self.now()).order_by(
            "retry_at").first()
        if soonest is None or soonest.retry_at is None:
            return self.poll * 5
        return max(0.05, soonest.retry_at - self.now())

    def stop(self) -> None:
        """Have `run` return once the pass under way is done. Cancelling a pass instead could
        land inside a transaction's start, leaving SQLite's connection lock held (tortoise
        releases it only on the way out of a transaction that began): `close` then hung."""
        self._stopping.set()
        self._wake.set()

    async def _unless_stopped(self, event: asyncio.Event, seconds: float) -> None:
        """Wait up to `seconds` for `event`, or until `stop`."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), seconds)

    async def run(self) -> None:
        loop = asyncio.get_running_loop()
        watcher = loop.create_task(self._watch())
        last_pass = -math.inf
        try:
            while not self._stopping.is_set():
                gap = (PASS_GAP_S if self._any_active else self.poll) - (loop.time() - last_pass)
                if gap > 0:
                    await self._unless_stopped(self._stopping, gap)
                    continue
                self._wake.clear()
                last_pass = loop.time()
                sent = 0
                try:
                    sent = await self.run_once()
                    wait = await self._next_retry_in()
                except Exception:  # the database away: try again shortly, never stop
                    logger.exception("webhook deliveries: a pass failed")
                    wait = self.poll
                if not sent:
                    await self._unless_stopped(self._wake, wait)
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher


@contextlib.asynccontextmanager
async def delivering(platform: Platform) -> AsyncIterator[DeliveryWorker]:
    """Run a delivery worker while the block runs; release its leases when it ends."""
    worker = DeliveryWorker(platform)
    task = asyncio.get_running_loop().create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await asyncio.wait({task}, timeout=STOP_GRACE_S)
        task.cancel()  # a pass still under way (a receiver slow to answer)
        with contextlib.suppress(asyncio.CancelledError):
            await task
        with contextlib.suppress(Exception):
            await worker.close()
