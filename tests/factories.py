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
