"""Test data for the ledger core: signed entries, setting only what a test cares about."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from heartchain.keys import SigningKey, address_of, new_signing_key
from heartchain.ledger.entries import Entry, new_entry
from tests.conftest import Ledger


def now(ledger: Ledger, shift: timedelta = timedelta(0)) -> datetime:
    return ledger.platform.clock.now() + shift


def entry(ledger: Ledger, kind: str, body: Mapping[str, Any], *signers: SigningKey,
          shift: timedelta = timedelta(0), nonce: bytes | None = None) -> Entry:
    return new_entry(kind, body, at=now(ledger, shift), nonce=nonce).signed_by(*signers)


def self_registration(ledger: Ledger, key: SigningKey | None = None, **kwargs: Any) -> Entry:
    """A member registering its own key: the one entry anyone may sign."""
    key = key or new_signing_key()
    address = address_of(key)
    return entry(ledger, "account.register",
                 {"address": address, "role": "member", "registrar": address}, key, **kwargs)


async def registration_by_operator(ledger: Ledger, role: str = "member",
                                   label: str | None = None) -> tuple[Entry, SigningKey]:
    key = new_signing_key()
    body: dict[str, Any] = {"address": address_of(key), "role": role,
                            "registrar": ledger.operator}
    if label is not None:
        body["label"] = label
    return entry(ledger, "account.register", body, await ledger.operator_key()), key


# -- campaigns: every donation and disbursement names a declared one --------------------------

CAMPAIGN_STARTS = "2020-01-01T00:00:00.000Z"


async def campaign(ledger: Ledger, charity: str | SigningKey, slug: str = "winter-2026",
                   **overrides: Any) -> Any:
    """Declare campaign `slug` for `charity` (campaign.create, charity-signed) and return its
    row (tracing.campaign_models.DeclaredCampaign). Open from 2020, with no end, spending on
    anything, unless `overrides` (any create field: category, goal, unit, ends, goods, payees,
    validator, outcome_deadline, ...) say otherwise."""
    from tracing.campaign_services import create_campaign

    fields: dict[str, Any] = {
        "title_zh": f"{slug} 活动", "title_en": f"{slug} campaign",
        "purpose": "winter food parcels", "category": "food", "goal": 1_000_000, "unit": "fen",
        "starts": CAMPAIGN_STARTS, "beneficiary": "families in need in the district"}
    fields.update(overrides)
    return await create_campaign(ledger.platform, charity=charity, slug=slug, **fields)


async def ensure_campaign(ledger: Ledger, charity: str, slug: str = "winter-2026",
                          **overrides: Any) -> Any:
    """`campaign(...)` unless `charity` already declared `slug` (then its row, unchanged)."""
    from tracing.campaign_models import DeclaredCampaign
    from tracing.campaigns import campaign_key

    found = await DeclaredCampaign.get_or_none(key=campaign_key(slug, charity))
    return found if found is not None else await campaign(ledger, charity, slug, **overrides)
