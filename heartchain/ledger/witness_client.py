"""The log's side of C2SP tlog-witness: submit each new checkpoint, keep the cosignatures.

Which witnesses, how many must cosign and how long a request may take come from `Settings`
(`witness_policy.py`). `attach(platform)` registers a checkpoint listener. Each witness has one
background worker that submits the newest checkpoint it has not yet sent (checkpoints that pile
up while a request is in flight, or within the interval after the last submission, are
coalesced: only the latest goes, so the call rate stays bounded however fast batches commit),
with the consistency proof from the size that witness last cosigned. A 409 `text/x.tlog.size`
answer is retried once from the witness's own size; any other refusal is recorded as a
`WitnessRefusal`, and an unreachable witness is retried with back-off. Cosignatures are verified
before they are stored.

The call rate is declared and bounded: a worker sends at most one checkpoint per
`HEARTCHAIN_WITNESS_INTERVAL` seconds to its witness (what arrives meanwhile is coalesced), and
in a server only the process holding the submitter lease (`submitter_lease.py`) submits, the
newest checkpoint in the store whichever process signed it, so N worker processes do not call a
witness N times as often.

What `/log/checkpoint` and `/log/witnesses` show is in `witness_status.py`.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING

import httpx

from heartchain import metrics
from heartchain.clock import Clock
from heartchain.errors import HeartchainError, VerificationError
from heartchain.ledger.entries import parse_time
from heartchain.ledger.log import Log, SignedCheckpoint
from heartchain.ledger.notes import NoteSignature
from heartchain.ledger.shared_proof import SharedProof
from heartchain.ledger.store import execute
from heartchain.ledger.submitter_lease import Lease, lease_for
from heartchain.ledger.witness_policy import WitnessEndpoint, WitnessPolicy
from heartchain.ledger.witnessed import (
    note_text,
)
from heartchain.timeouts import client_limits
from heartchain.witness.models import WitnessCosignature, WitnessRefusal
from heartchain.witness.protocol import SIZE_CONTENT_TYPE, format_request, parse_size
from heartchain.witness.records import RecordSeal

if TYPE_CHECKING:
    from heartchain.platform import Platform

logger = logging.getLogger(__name__)

_BODY_LIMIT = 2000  # characters of a refusal's body kept as evidence


class Outcome(Enum):
    COSIGNED = "cosigned"
    REFUSED = "refused"
    UNREACHABLE = "unreachable"
    SKIPPED = "skipped"  # the witness already holds a newer checkpoint


@dataclass
class _Worker:
    endpoint: WitnessEndpoint
    pending: SignedCheckpoint | None = None
    busy: bool = False
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    retry: asyncio.TimerHandle | None = None
    delay: float = 1.0
    unreachable: bool = False  # the last attempt failed in transport: record one row, not many
    last_sent: float | None = None  # loop time of the last request: paces the next one


_STORE_COSIGNATURE = (
    "INSERT INTO witness_cosignature (size, witness, line, timestamp, received_at, mac) "
    "VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (size, witness) DO UPDATE SET line = excluded.line, "
    "timestamp = excluded.timestamp, received_at = excluded.received_at, mac = excluded.mac")
_RECEIVED_AT = WitnessCosignature._meta.fields_map["received_at"]


class WitnessClient:
    """Submits this process's checkpoints to the policy's witnesses (one worker each)."""

    def __init__(self, log: Log, policy: WitnessPolicy, *, seal: RecordSeal,
                 clock: Clock | None = None, http: httpx.AsyncClient | None = None,
                 max_delay: float = 60.0, lease: Lease | None = None,
                 takeover_s: float = 5.0) -> None:
        self.log = log
        self.policy = policy
        self.seal = seal  # MACs the rows it stores, so verify can tell them from forged ones
        self.clock = clock or log.clock
        self._http = http
        self._own_http = http is None
        self._max_delay = max_delay
        self._workers = {w.name: _Worker(w) for w in policy.witnesses}
        self._sizes: dict[str, int] = {}  # the size each witness last cosigned, as we know it
        self._proofs = SharedProof(log)
        self._closed = False
        # Without a lease (one process, tests) this client submits what it is offered; with one
        # it submits only while holding it, and then polls the store for others' checkpoints.
        self._lease = lease
        self._holding = lease is None
        self._takeover_s = takeover_s
        self._offered = 0
        self._watch: asyncio.Task[None] | None = None

    @property
    def submitting(self) -> bool:
        """Whether this process is the one that submits (it holds the lease, or needs none)."""
        return self._holding

    def start(self) -> None:
        """With a lease: contend for it and, once held, follow the store's newest checkpoint."""
        if self._lease is not None and self._watch is None and self.policy.witnesses:
            self._watch = asyncio.get_running_loop().create_task(self._follow_store(self._lease))

    async def _follow_store(self, lease: Lease) -> None:
        while not self._closed:
            try:
                if not self._holding:
                    self._holding = await lease.acquire()
                    if self._holding:
                        logger.info("this process now submits checkpoints to the witnesses")
                if self._holding:
                    latest = await self.log.latest_checkpoint()
                    if latest.size > self._offered:
                        self.offer(latest)
            except Exception:  # the database or the lease store: keep trying
                logger.exception("following the store for the witness submitter failed")
            await asyncio.sleep(self.policy.interval if self._holding else self._takeover_s)

    # the listener and the workers

    async def on_checkpoint(self, signed: SignedCheckpoint) -> None:
        self.offer(signed)

    def offer(self, signed: SignedCheckpoint) -> None:
        """Queue `signed` for every witness, replacing any older checkpoint still waiting."""
        if self._closed or not self._holding:
            return
        self._offered = max(self._offered, signed.size)
        for worker in self._workers.values():
            if worker.pending is None or worker.pending.size < signed.size:
                worker.pending = signed
            if worker.retry is not None:
                worker.retry.cancel()
                worker.retry = None
            worker.wake.set()
            if worker.task is None or worker.task.done():
                worker.task = asyncio.get_running_loop().create_task(self._run(worker))

    async def submit_latest(self) -> None:
        """Offer the newest checkpoint (at startup: witnesses may have missed it)."""
        self.offer(await self.log.latest_checkpoint())

    async def _run(self, worker: _Worker) -> None:
        while not self._closed:
            await worker.wake.wait()
            worker.wake.clear()
            if worker.last_sent is not None:
                # The declared rate: what arrives while this sleeps is coalesced into one.
                pause = worker.last_sent + self.policy.interval - asyncio.get_running_loop().time()
                if pause > 0:
                    await asyncio.sleep(pause)
            signed, worker.pending, worker.retry = worker.pending, None, None
            if signed is None:
                continue
            worker.last_sent = asyncio.get_running_loop().time()
            worker.busy = True
            try:
                outcome = await self.submit(worker.endpoint, signed)
            except Exception:  # a bug or the database: log it, keep the worker alive
                logger.exception("submitting checkpoint %d to %s failed", signed.size,
                                 worker.endpoint.name)
                outcome = Outcome.UNREACHABLE
            finally:
                worker.busy = False
            if outcome is not Outcome.UNREACHABLE:
                worker.delay = 1.0
            elif worker.pending is None and not self._closed:
                # Nothing newer to send: try this one again later.
                worker.pending = signed
                worker.retry = asyncio.get_running_loop().call_later(worker.delay,
                                                                     worker.wake.set)
                worker.delay = min(worker.delay * 2, self._max_delay)

    async def wait_idle(self, timeout: float = 10.0) -> None:
        """Wait until no worker has a checkpoint in flight or waiting (tests, benchmarks);
        a checkpoint waiting only for a retry timer does not count."""
        deadline = asyncio.get_running_loop().time() + timeout
        while (any(w.busy or (w.pending is not None and w.retry is None)
                   for w in self._workers.values())
               # A checkpoint committed whose listener has not run yet: not offered, not idle.
               or (self._holding and not self._closed
                   and self._offered < await self.log.size())):
            if asyncio.get_running_loop().time() > deadline:
                raise TimeoutError("witness submissions still in flight")
            await asyncio.sleep(0.005)

    # one submission

    async def _known_size(self, endpoint: WitnessEndpoint) -> int:
        if endpoint.name not in self._sizes:
            row = await WitnessCosignature.filter(witness=endpoint.name).order_by("-size").first()
            self._sizes[endpoint.name] = row.size if row is not None else 0
        return self._sizes[endpoint.name]

    def _client(self) -> httpx.AsyncClient:
        if self._http is None:
            self._http = httpx.AsyncClient(timeout=self.policy.timeout, limits=client_limits())
        return self._http

    async def submit(self, endpoint: WitnessEndpoint, signed: SignedCheckpoint) -> Outcome:
        """Send `signed` with a proof from the witness's size; store what it answers."""
        worker = self._workers.get(endpoint.name)
        old = await self._known_size(endpoint)
        for _ in range(3):
            if old > signed.size:
                if old > await self.log.size():
                    await self._refused(endpoint, signed, old, 409,
                                        f"the witness cosigned size {old}, beyond this log's "
                                        f"size: was the log rolled back?")
                    return Outcome.REFUSED
                return Outcome.SKIPPED
            proof = await self._proofs.between(old, signed.size) if 0 < old < signed.size else []
            body = format_request(old, proof, signed.note)
            try:
                response = await self._client().post(
                    endpoint.submit_url, content=body.encode(),
                    headers={"content-type": "text/plain; charset=utf-8"},
                    timeout=self.policy.timeout)
            except httpx.HTTPError as exc:
                if worker is None or not worker.unreachable:
                    await self._refused(endpoint, signed, old, 0,
                                        f"unreachable: {type(exc).__name__}: {exc}")
                if worker is not None:
                    worker.unreachable = True
                return Outcome.UNREACHABLE
            if worker is not None:
                worker.unreachable = False
            media = response.headers.get("content-type", "").split(";")[0].strip().lower()
            if response.status_code == 409 and media == SIZE_CONTENT_TYPE:
                try:
                    theirs = parse_size(response.text)
                except HeartchainError:
                    break
                if theirs == old:
                    break  # no progress: not a stale size after all
                logger.info("witness %s is at size %d, not %d: retrying", endpoint.name,
                            theirs, old)
                old = self._sizes[endpoint.name] = theirs
                continue
            if response.status_code == 200:
                return await self._cosigned(endpoint, signed, old, response.text)
            break
        await self._refused(endpoint, signed, old, response.status_code, response.text)
        return Outcome.UNREACHABLE if response.status_code >= 500 else Outcome.REFUSED

    async def _cosigned(self, endpoint: WitnessEndpoint, signed: SignedCheckpoint, old: int,
                        body: str) -> Outcome:
        text = note_text(signed)
        verified: tuple[str, int] | None = None
        for line in body.splitlines(keepends=True):
            try:
                sig = NoteSignature.from_line(line)
            except VerificationError:
                continue
            # tlog-witness: ignore cosignatures from keys we do not know.
            if sig.name != endpoint.name or sig.key_id != endpoint.verifier.key_id:
                continue
            try:
                verified = (line, endpoint.verifier.verify(text, sig))
            except VerificationError:
                continue
            break
        if verified is None:
            await self._refused(endpoint, signed, old, 200,
                                f"no valid cosignature by {endpoint.name} in: {body}")
            return Outcome.REFUSED
        line, timestamp = verified
        received_at = self.clock.now()
        mac = self.seal.cosignature(size=signed.size, witness=endpoint.name, line=line,
                                    timestamp=timestamp, received_at=received_at)
        # One upsert: the ORM's update_or_create was a transaction of four round trips, for
        # every cosignature a few times a second.
        await execute(self.log.reader.connection(), _STORE_COSIGNATURE, [
            signed.size, endpoint.name, line, timestamp,
            _RECEIVED_AT.to_db_value(received_at, WitnessCosignature), mac])
        self._sizes[endpoint.name] = max(self._sizes.get(endpoint.name, 0), signed.size)
        metrics.WITNESS_COSIGNED_SIZE.labels(endpoint.name).set(self._sizes[endpoint.name])
        lag = self.clock.now() - parse_time(signed.signed_at)
        metrics.WITNESS_LAG_SECONDS.labels(endpoint.name).set(max(lag.total_seconds(), 0.0))
        return Outcome.COSIGNED

    async def _refused(self, endpoint: WitnessEndpoint, signed: SignedCheckpoint, old: int,
                       status: int, body: str) -> None:
        logger.warning("witness %s refused checkpoint %d (old %d): %d %s", endpoint.name,
                       signed.size, old, status, body.strip()[:200])
        metrics.WITNESS_REFUSALS.labels(endpoint.name, str(status)).inc()
        kept, at = body[:_BODY_LIMIT], self.clock.now()
        await WitnessRefusal.create(
            witness=endpoint.name, size=signed.size, old_size=old, status=status, body=kept,
            at=at, mac=self.seal.refusal(witness=endpoint.name, size=signed.size, old_size=old,
                                         status=status, body=kept, at=at))

    # lifecycle

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        tasks = []
        if self._watch is not None:
            self._watch.cancel()
            tasks.append(self._watch)
        for worker in self._workers.values():
            if worker.retry is not None:
                worker.retry.cancel()
            if worker.task is not None:
                worker.task.cancel()
                tasks.append(worker.task)
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._lease is not None:
            await self._lease.release()
        if self._own_http and self._http is not None:
            await self._http.aclose()
        if _attached.get(self.log) is self:
            del _attached[self.log]

    async def __aenter__(self) -> WitnessClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()


_attached: weakref.WeakKeyDictionary[Log, WitnessClient] = weakref.WeakKeyDictionary()


def attach(platform: Platform, policy: WitnessPolicy | None = None, *,
           http: httpx.AsyncClient | None = None, exclusive: bool = False) -> WitnessClient:
    """Submit every checkpoint `platform.log` signs to the witnesses (from the environment
    unless `policy` is given). Call it inside the app's lifespan, as an async context manager
    so the workers stop with the app:

        async with attach(app.state.platform):
            yield

    Attaching twice returns the first client. With no witnesses configured it does nothing.
    `exclusive` (the server): submit only while holding the store's submitter lease, so of
    several worker processes one calls the witnesses.
    """
    log = platform.log
    existing = _attached.get(log)
    if existing is not None:
        return existing
    settings = platform.settings
    lease = lease_for(settings.database_url, settings.data_dir) if exclusive else None
    client = WitnessClient(log, policy or WitnessPolicy.from_settings(settings),
                           seal=RecordSeal(platform.vault), clock=platform.clock, http=http,
                           lease=lease)
    _attached[log] = client
    if client.policy.witnesses:
        log.add_checkpoint_listener(client.on_checkpoint)
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            loop = None
        if loop is not None and lease is not None:
            client.start()  # it offers the store's newest checkpoint once it holds the lease
        elif loop is not None:
            startup = loop.create_task(client.submit_latest())
            startup.add_done_callback(_log_failure)
            _startup_tasks.add(startup)
    return client


_startup_tasks: set[asyncio.Task[None]] = set()


def _log_failure(task: asyncio.Task[None]) -> None:
    _startup_tasks.discard(task)
    if not task.cancelled() and task.exception() is not None:
        logger.error("submitting the latest checkpoint at startup failed",
                     exc_info=task.exception())


def attached(log: Log) -> WitnessClient | None:
    return _attached.get(log)


def policy_for(log: Log) -> WitnessPolicy:
    """The policy of the client attached to `log`, else the one `Settings.from_env()` gives
    (command-line tools and tests that attach no client)."""
    client = _attached.get(log)
    return client.policy if client is not None else WitnessPolicy.from_env()
