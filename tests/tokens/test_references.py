"""donation.record's optional `reference` and `paid_at` (bulk import): a charity records a
provider transaction once; a payment cannot be in the future; old entries are unchanged."""

from __future__ import annotations

from datetime import timedelta

import pytest

from heartchain.errors import ValidationError
from heartchain.ledger.body import wire
from heartchain.ledger.entries import format_time
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.tokens import factories as f
from tokens.entries import RecordBody
from tokens.errors import DuplicateReference
from tokens.models import HeartDonationReference

REFERENCE = "ab" * 32


def gift(charity: str, donor: str, **fields: object) -> RecordBody:
    return RecordBody(charity=charity, donor=donor, kind="cash",  # type: ignore[arg-type]
                      quantity=100, campaign="winter-2026", **fields)  # type: ignore[arg-type]


async def test_a_reference_is_recorded_once_per_charity(ledger: Ledger) -> None:
    charity, other = await f.charity(ledger), await f.charity(ledger, "Other")
    donor = await f.member(ledger)
    platform = ledger.platform
    first = await platform.write(gift(charity, donor, reference=REFERENCE,
                                      paid_at="2026-11-01T02:00:00.000Z"))
    with pytest.raises(DuplicateReference, match=f"as entry {first.index}"):
        await platform.write(gift(charity, donor, reference=REFERENCE))
    await platform.write(gift(other, donor, reference=REFERENCE))  # another charity's own
    await platform.write(gift(charity, donor))  # gifts without a reference are unaffected
    await platform.write(gift(charity, donor))
    rows = await HeartDonationReference.all().order_by("idx").values_list(
        "charity", "reference", "paid_at")
    assert rows == [(charity, REFERENCE, "2026-11-01T02:00:00.000Z"), (other, REFERENCE, None)]
    await verify_log(platform.log, scratch_dir=ledger.settings.data_dir.parent)


async def test_paid_at_cannot_be_in_the_future(ledger: Ledger) -> None:
    charity, donor = await f.charity(ledger), await f.member(ledger)
    later = format_time(ledger.platform.clock.now() + timedelta(hours=1))
    with pytest.raises(ValidationError, match="in the future"):
        await ledger.platform.write(gift(charity, donor, paid_at=later))


def test_old_entries_are_unchanged() -> None:
    body = gift("hc1" + "q" * 59, "hc1" + "p" * 59)
    assert set(wire(body)) == {"charity", "donor", "kind", "quantity", "campaign"}
