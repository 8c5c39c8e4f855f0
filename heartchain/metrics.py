"""Prometheus metrics of the log and the limiter (served at /metrics), summed over workers.

One worker: the metrics live in its memory. Several (`heartchain serve --workers N`): serve
points PROMETHEUS_MULTIPROC_DIR at a fresh private directory under the data directory before
the workers start, so each worker's prometheus_client keeps its values in files there, and
/metrics, whichever worker answers, reads them all (MultiProcessCollector): counters and
histograms summed over every worker that ran since serve started (exited ones too, so a count
never goes back), each gauge as its multiprocess_mode says. uvicorn has no worker-exit hook
(it restarts a worker that dies): each worker forgets the live gauges of workers no longer
running when it starts, and its own when it shuts down (worker_lifetime).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import time
from collections import Counter as Tally
from collections.abc import AsyncIterator, Iterable, MutableMapping
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client import multiprocess as multi
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response

from heartchain.files import private_dir

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
MULTIPROC_SUBDIR = "metrics"  # under the data directory

APPENDED = Counter("heartchain_entries_appended_total", "Entries integrated into the log",
                   ["kind"])
REJECTED = Counter("heartchain_entries_rejected_total", "Entries refused, by error type",
                   ["kind", "reason"])
BATCH_SIZE = Histogram("heartchain_batch_entries", "Entries per integrated batch",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
INTEGRATION_SECONDS = Histogram("heartchain_integration_seconds",
                                "Time to integrate one batch (one transaction)",
                                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
# Every worker signs checkpoints of the one log: the newest is the largest and latest.
LOG_SIZE = Gauge("heartchain_log_size", "Size of the latest checkpoint signed",
                 multiprocess_mode="max")
LAST_CHECKPOINT = Gauge("heartchain_last_checkpoint_timestamp_seconds",
                        "When a checkpoint was last signed (checkpoint age = now - this)",
                        multiprocess_mode="max")
WITNESS_COSIGNED_SIZE = Gauge("heartchain_witness_cosigned_size",
                              "Largest checkpoint size each witness has cosigned", ["witness"],
                              multiprocess_mode="max")
WITNESS_LAG_SECONDS = Gauge("heartchain_witness_cosign_lag_seconds",
                            "From signing a checkpoint to holding a witness's cosignature of it",
                            ["witness"], multiprocess_mode="mostrecent")
RATE_LIMITED = Counter("heartchain_rate_limited_total",
                       "GraphQL operations the limiter refused: over the caller's rate, or "
                       "over the per-request cost cap", ["reason"])
RATE_LIMIT_STORE_ERRORS = Counter("heartchain_rate_limit_store_errors_total",
                                  "Rate-limit store (Redis) calls that failed; each one was "
                                  "charged to the worker's own buckets instead")
RATE_LIMIT_FALLBACK = Gauge("heartchain_rate_limit_fallback",
                            "1 while a worker limits on its own because Redis does not answer",
                            multiprocess_mode="livemax")
WITNESS_REFUSALS = Counter("heartchain_witness_refusals_total",
                           "Checkpoints a witness refused or could not be reached for",
                           ["witness", "status"])


def count_appended(kinds: Iterable[str]) -> None:
    """APPENDED for each appended entry's kind: one increment per kind (a multiprocess counter's
    increment is a file write under a lock, and an import appends thousands of one kind)."""
    for kind, count in Tally(kinds).items():
        APPENDED.labels(kind).inc(count)


def record_checkpoint(size: int) -> None:
    LOG_SIZE.set(size)
    LAST_CHECKPOINT.set(time.time())


def prepare_multiprocess(data_dir: Path, workers: int,
                         environ: MutableMapping[str, str]) -> Path | None:
    """For serve, before uvicorn starts its workers (they inherit `environ`): with several, a
    fresh 0700 directory for their metrics, emptied of a previous run's; with one, none (its
    metrics stay in memory). The directory in use, or None."""
    if workers <= 1:
        environ.pop(MULTIPROC_ENV, None)
        return None
    path = (data_dir / MULTIPROC_SUBDIR).resolve()
    if path.exists():
        shutil.rmtree(path)
    private_dir(path)
    environ[MULTIPROC_ENV] = str(path)
    return path


@contextlib.asynccontextmanager
async def worker_lifetime() -> AsyncIterator[None]:
    """Around a worker's life (the app's lifespan), in multiprocess mode: drop the live gauges
    of workers that are gone, then this worker's own when it stops."""
    path = os.environ.get(MULTIPROC_ENV)
    if path:
        for pid in dead_workers(Path(path)):
            multi.mark_process_dead(pid, path)  # type: ignore[no-untyped-call]
    try:
        yield
    finally:
        if path:
            multi.mark_process_dead(os.getpid(), path)  # type: ignore[no-untyped-call]


def dead_workers(path: Path) -> set[int]:
    """The pids with value files in `path` that no longer run."""
    pids = {int(match.group(1)) for file in path.glob("*.db")
            if (match := re.search(r"_(\d+)\.db$", file.name))}
    return {pid for pid in pids if not _running(pid)}


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process now: not ours, but alive
    return True


def _exposition() -> bytes:
    path = os.environ.get(MULTIPROC_ENV)
    if not path:
        return generate_latest()
    registry = CollectorRegistry()
    multi.MultiProcessCollector(registry, path)  # type: ignore[no-untyped-call]
    return generate_latest(registry)


async def metrics(request: Request) -> Response:
    # With several workers this reads every worker's files: disk work, off the event loop.
    return Response(await run_in_threadpool(_exposition), media_type=CONTENT_TYPE_LATEST)
