"""Prometheus metrics of the log (served at /metrics), per process."""

from __future__ import annotations

import time

from prometheus_client import CONTENT_TYPE_LATEST, Counter, Gauge, Histogram, generate_latest
from starlette.requests import Request
from starlette.responses import Response

APPENDED = Counter("heartchain_entries_appended_total", "Entries integrated into the log",
                   ["kind"])
REJECTED = Counter("heartchain_entries_rejected_total", "Entries refused, by error type",
                   ["kind", "reason"])
BATCH_SIZE = Histogram("heartchain_batch_entries", "Entries per integrated batch",
                       buckets=(1, 2, 4, 8, 16, 32, 64, 128, 256, 512))
INTEGRATION_SECONDS = Histogram("heartchain_integration_seconds",
                                "Time to integrate one batch (one transaction)",
                                buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5))
LOG_SIZE = Gauge("heartchain_log_size", "Size of the latest checkpoint this process signed")
LAST_CHECKPOINT = Gauge("heartchain_last_checkpoint_timestamp_seconds",
                        "When this process last signed a checkpoint (checkpoint age = now - this)")
WITNESS_COSIGNED_SIZE = Gauge("heartchain_witness_cosigned_size",
                              "Largest checkpoint size each witness has cosigned", ["witness"])
WITNESS_LAG_SECONDS = Gauge("heartchain_witness_cosign_lag_seconds",
                            "From signing a checkpoint to holding a witness's cosignature of it",
                            ["witness"])
WITNESS_REFUSALS = Counter("heartchain_witness_refusals_total",
                           "Checkpoints a witness refused or could not be reached for",
                           ["witness", "status"])


def record_checkpoint(size: int) -> None:
    LOG_SIZE.set(size)
    LAST_CHECKPOINT.set(time.time())


async def metrics(request: Request) -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
