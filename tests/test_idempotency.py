"""Idempotency-Key on the ledger's own mutations: a retried registration answers the account the
first attempt registered, a resubmitted self-signed entry answers the stored entry."""

from __future__ import annotations

from tests import test_operations as scenario
from tests.conftest import Ledger
from tests.retrying import retrying_client


async def test_every_ledger_mutation_retried_writes_nothing_twice(ledger: Ledger) -> None:
    async with retrying_client(ledger) as (client, transport):
        await scenario.test_ledger_operations_run(ledger, client)
    assert {"SubmitEntry", "RegisterAccount"} <= set(transport.retried)
