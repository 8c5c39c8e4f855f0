"""A check's sealed opening is written in its entry's own transaction: with the entry, or not
at all (`Platform.write(off_log=…)`)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from heartchain.keys import Address, address_of
from heartchain.platform import idempotent
from heartchain.privacy import SealedValue, read_personal, sealed_row, subject_salt_and_key
from tests.conftest import Ledger
from tests.tokens import factories as f
from tokens import services
from tokens.consent_entries import CheckBody
from tokens.errors import NoActiveConsent


async def consented(ledger: Ledger) -> tuple[str, str, int]:
    p = ledger.platform
    charity, partner, member = (await f.charity(ledger), await f.partner(ledger),
                                await f.member(ledger))
    await services.record_donation(p, charity=charity, donor=member, kind="cash",
                                   quantity=100, campaign="c")
    grant = await services.grant_consent(p, member=member, partner=partner,
                                         expires=p.clock.now() + timedelta(days=30))
    p.clock.advance(timedelta(hours=1))
    return partner, member, grant.index


async def openings_of(member: str) -> list[str]:
    return [row.field for row in await SealedValue.filter(subject_id=member)
            if row.field.startswith("check/")]


async def test_a_check_refused_at_integration_leaves_no_opening(
        ledger: Ledger, monkeypatch: pytest.MonkeyPatch) -> None:
    """The member revokes the consent after the check read it and before its entry is
    integrated: the rule refuses the check, and no opening of it is left behind (it was sealed
    before the write, a row no entry would ever show)."""
    p = ledger.platform
    partner, member, grant = await consented(ledger)
    read = services.active_consent_and_score

    async def read_then_revoke(*args: Any) -> Any:
        reads = await read(*args)
        await services.revoke_consent(p, member=member, consent=grant)
        return reads

    monkeypatch.setattr(services, "active_consent_and_score", read_then_revoke)
    size = await p.log.size()
    with pytest.raises(NoActiveConsent):
        await services.check_hearts(p, partner=partner, member=member, threshold=1)
    assert await p.log.size() == size + 1  # the revocation alone
    assert await openings_of(member) == []


async def test_a_retry_keeps_the_opening_written_with_the_first_entry(ledger: Ledger) -> None:
    p = ledger.platform
    partner, member, grant = await consented(ledger)
    handle = await services.consent_handle(p, member, partner)
    _, key = await subject_salt_and_key(p, member)

    async def write(value: str) -> int:
        body = CheckBody(partner=Address(partner), handle=Address(address_of(handle)),
                         commitment="ab" * 32, consent=grant)
        sealed = sealed_row(member, "check/retried", value, key=key)
        with idempotent("check-7"):
            return (await p.write(body, off_log=(sealed,))).index

    first = await write("first attempt")
    assert await write("second attempt") == first
    assert await read_personal(p, member, "check/retried") == "first attempt"
    assert await openings_of(member) == ["check/retried"]
