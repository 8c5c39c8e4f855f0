"""Every mutual-aid mutation of the operations scenario (but opening a case), each sent twice
with one Idempotency-Key: the retry answers what the first attempt answered and writes nothing."""

from __future__ import annotations

from tests.conftest import Ledger
from tests.mutualaid import test_types as scenario
from tests.retrying import retrying_client


async def test_every_mutual_aid_mutation_retried_writes_nothing_twice(ledger: Ledger) -> None:
    async with retrying_client(ledger) as (client, transport):
        await scenario.test_every_operation(ledger, client)
    assert {"CreatePlan", "JoinPlan", "TopUp", "ApportionPeriod"} <= set(transport.retried)
