"""Test data for heart points: accounts in roles and entry bodies, only what a test needs."""

from __future__ import annotations

from typing import Any

from heartchain.accounts.services import issue_token, register_account
from heartchain.keys import Address
from tests.conftest import Ledger
from tests.factories import campaign


async def account(ledger: Ledger, role: str, label: str | None = None) -> Address:
    registered = await register_account(ledger.platform, role=role, registrar=ledger.operator,
                                        label=label)
    return registered.address


async def charity(ledger: Ledger, label: str = "Sunrise Food Bank",
                  campaigns: tuple[str, ...] = ("winter-2026", "c")) -> Address:
    """A charity that has declared `campaigns` (donations must name a declared campaign)."""
    address = await account(ledger, "charity", label)
    for slug in campaigns:
        await campaign(ledger, address, slug)
    return address


async def partner(ledger: Ledger, label: str = "Cycle Share") -> Address:
    return await account(ledger, "partner", label)


async def member(ledger: Ledger) -> Address:
    return await account(ledger, "member")


async def token(ledger: Ledger, address: str) -> str:
    return await issue_token(ledger.platform, address, "test")


def donation(charity: str, donor: str, **overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"charity": charity, "donor": donor, "kind": "cash",
                            "quantity": 100, "campaign": "winter-2026"}
    body.update(overrides)
    return {k: v for k, v in body.items() if v is not None}


def rates(operator: str, version: int, **terms: tuple[int, int]) -> dict[str, Any]:
    table = {"cash": (1, 1), "food": (1, 1), "tree": (1, 1), **terms}
    return {"operator": operator, "version": version,
            "rates": {k: {"hearts": h, "per": p} for k, (h, p) in table.items()}}
