"""Every tracing mutation of the operations scenario, each sent twice with one Idempotency-Key:
the retry answers what the first attempt answered (the same offer, the same split lots) and
writes nothing."""

from __future__ import annotations

from tests.conftest import Ledger
from tests.retrying import retrying_client
from tests.tracing import test_operations as scenario
from tests.tracing.conftest import Cast, needs_donations


@needs_donations
async def test_every_tracing_mutation_retried_writes_nothing_twice(ledger: Ledger,
                                                                   cast: Cast) -> None:
    async with retrying_client(ledger) as (client, transport):
        await scenario.test_tracing_operations_run(ledger, client, cast)
    assert {"CreateLot", "OfferLot", "AcceptLot", "SplitLot", "MergeLots", "RecordLoss",
            "DeliverLot"} <= set(transport.retried)
