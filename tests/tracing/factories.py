"""Test data for tracing: accounts, donations and lots, setting only what a test cares about."""

from __future__ import annotations

import hashlib
import secrets
from typing import Any

from heartchain.accounts.services import register_account
from heartchain.keys import Address
from heartchain.ledger.kinds import kind_names
from heartchain.ledger.log import Appended
from tests.conftest import Ledger
from tests.factories import ensure_campaign
from tokens.entries import RecordBody, ReverseBody
from tracing import services
from tracing.models import Lot


def digest(text: str | None = None) -> str:
    """A 64-hex hash standing for a photo, receipt or document."""
    return hashlib.sha256((text or secrets.token_hex(8)).encode()).hexdigest()


def has_donations() -> bool:
    return "donation.record" in kind_names()


async def account(ledger: Ledger, role: str = "member", label: str | None = None) -> Address:
    if role != "member" and label is None:
        label = f"{role} {secrets.token_hex(3)}"
    registered = await register_account(ledger.platform, role=role, registrar=ledger.operator,
                                        label=label)
    return registered.address


async def append_raw(ledger: Ledger, kind: str, body: dict[str, Any], *signers: str
                     ) -> Appended:
    """Sign and append a body as given, even a malformed one (which a Body would refuse to
    build), to see the log refuse it."""
    platform = ledger.platform
    keys = [await platform.custodial_key(signer) for signer in signers]
    return await platform.log.append(platform.build(kind, body).signed_by(*keys))


async def donate(ledger: Ledger, charity: str, donor: str, kind: str, quantity: int,
                 campaign: str = "winter-2026") -> int:
    """A donation into `campaign`, declared first if `charity` has not declared it yet."""
    await ensure_campaign(ledger, charity, campaign)
    appended = await ledger.platform.write(RecordBody(
        charity=Address(charity), donor=Address(donor), kind=kind,  # type: ignore[arg-type]
        quantity=quantity, campaign=campaign))
    return appended.index


async def reverse(ledger: Ledger, charity: str, donation: int) -> int:
    appended = await ledger.platform.write(ReverseBody(
        charity=Address(charity), donation=donation, reason="refund"))
    return appended.index


async def purchased_lot(ledger: Ledger, charity: str, quantity: int = 1000,
                        unit: str = "grams", custodian: str | None = None,
                        goods: str = "rice 大米") -> Lot:
    return await services.create_lot(ledger.platform, charity=charity, goods=goods,
                                     quantity=quantity, unit=unit,
                                     custodian=custodian or charity, receipt=digest())


async def size(ledger: Ledger) -> int:
    return await ledger.platform.log.size()
