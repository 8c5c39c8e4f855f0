from __future__ import annotations

from dataclasses import dataclass

import pytest

from heartchain.keys import Address
from tests.conftest import Ledger
from tests.tracing import factories as f


@dataclass
class Cast:
    """The people of a typical tracing scenario."""

    charity: Address
    driver: Address
    school: Address
    donor: Address


@pytest.fixture
async def cast(ledger: Ledger) -> Cast:
    return Cast(charity=await f.account(ledger, "charity"),
                driver=await f.account(ledger, "partner"),
                school=await f.account(ledger, "partner"),
                donor=await f.account(ledger))


needs_donations = pytest.mark.skipif(
    not f.has_donations(), reason="donation.record is not registered (tokens/entries.py missing)")
