"""Idempotency-Key on the ledger's own mutations: a retried registration answers the account the
first attempt registered, a resubmitted self-signed entry answers the stored entry."""

from __future__ import annotations

import pytest

from heartchain.accounts.entries import RegisterBody
from heartchain.keys import SigningKey, address_of, new_signing_key
from heartchain.platform import idempotent
from tests import test_operations as scenario
from tests.conftest import Ledger
from tests.retrying import retrying_client


async def test_every_ledger_mutation_retried_writes_nothing_twice(ledger: Ledger) -> None:
    async with retrying_client(ledger) as (client, transport):
        await scenario.test_ledger_operations_run(ledger, client)
    assert {"SubmitEntry", "RegisterAccount"} <= set(transport.retried)


async def test_two_writes_for_one_purpose_in_a_request_are_a_bug_not_a_silent_merge(
        ledger: Ledger) -> None:
    platform = ledger.platform
    keys = [new_signing_key(), new_signing_key()]

    def registration(key: SigningKey) -> RegisterBody:
        return RegisterBody(address=address_of(key), role="member", registrar=address_of(key))

    with idempotent("req-9"):
        await platform.write(registration(keys[0]), keys[0])
        with pytest.raises(RuntimeError, match="distinct purpose"):
            await platform.write(registration(keys[0]), keys[0])
        # Another signer (or purpose) is another write.
        await platform.write(registration(keys[1]), keys[1])
    assert await platform.log.size() == 3
