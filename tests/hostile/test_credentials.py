"""A database administrator (or anyone who can write SQL) without the master key.

Each test writes the rows straight through the Tortoise connection, as such an attacker would,
and shows the row now authenticates, signs or re-points nothing."""

from __future__ import annotations

import hashlib

import httpx
import pytest
from tortoise import connections

from heartchain.accounts.services import authenticate, forget_tokens, initialise, issue_token
from heartchain.errors import VerificationError
from heartchain.keys import SigningKey, Vault, address_of
from heartchain.ledger.store import execute, fetch
from tests.conftest import Ledger, gql
from tests.tokens.factories import charity, member, token
from tokens import services

REGISTER = """mutation { registerAccount(role: "charity", label: "Evil Fund") {
  __typename ... on AccountRegistered { account { address } } ... on PermissionDenied { message }
} }"""


def _db() -> object:
    return connections.get("default")


async def test_a_token_row_inserted_in_the_database_makes_nobody_the_operator(
        ledger: Ledger, client: httpx.AsyncClient) -> None:
    forged = "hct_" + "A" * 43  # a token the attacker chose, in the current format too
    legacy = "hct_chosen-by-the-attacker"
    for made_up, stored in ((legacy, hashlib.sha256(legacy.encode()).hexdigest()),
                            (forged, hashlib.sha256(forged.encode()).hexdigest()[:43])):
        await execute(_db(), "INSERT INTO api_token (token_hash, address, label, created_at, "
                      "revoked) VALUES (?, ?, 'x', '2026-01-01T00:00:00.000Z', ?)",
                      [stored, ledger.operator, False])
        assert await authenticate(ledger.platform, made_up) is None
        answer = (await gql(client, REGISTER, token=made_up))["data"]["registerAccount"]
        assert answer["__typename"] == "PermissionDenied"
    assert (await gql(client, REGISTER, token=ledger.operator_token))["data"][
        "registerAccount"]["__typename"] == "AccountRegistered"


async def test_a_token_row_repointed_to_the_operator_authenticates_nobody(
        ledger: Ledger) -> None:
    giver = await charity(ledger)
    charity_token = await token(ledger, giver)
    assert (await authenticate(ledger.platform, charity_token)).address == giver  # type: ignore[union-attr]
    await execute(_db(), "UPDATE api_token SET address = ? WHERE address = ?",
                  [ledger.operator, giver])
    forget_tokens()  # as once TOKEN_CACHE_SECONDS have passed (or in another worker)
    assert await authenticate(ledger.platform, charity_token) is None


async def test_token_rows_hold_no_plain_hash(ledger: Ledger) -> None:
    rows = await fetch(_db(), "SELECT token_hash FROM api_token")
    assert all(ledger.operator_token not in str(r["token_hash"]) for r in rows)
    assert hashlib.sha256(ledger.operator_token.encode()).hexdigest() not in {
        r["token_hash"] for r in rows}  # a plain hash would let a DBA check guesses offline


async def test_init_revokes_tokens_issued_before_keyed_tokens(ledger: Ledger) -> None:
    """An existing store hashed tokens with plain SHA-256: those rows cannot be checked against
    the master key, so `init` revokes them and issues the operator a new token."""
    old = "hct_issued-by-an-older-version"
    await execute(_db(), "INSERT INTO api_token (token_hash, address, label, created_at, "
                  "revoked) VALUES (?, ?, 'old', '2026-01-01T00:00:00.000Z', ?)",
                  [hashlib.sha256(old.encode()).hexdigest(), ledger.operator, False])
    genesis = await initialise(ledger.platform)
    assert genesis.legacy_tokens == 1 and genesis.token is not None
    assert (await authenticate(ledger.platform, genesis.token)).address == ledger.operator  # type: ignore[union-attr]
    assert await authenticate(ledger.platform, ledger.operator_token) is not None
    assert await authenticate(ledger.platform, old) is None
    again = await initialise(ledger.platform)
    assert again.token is None and again.legacy_tokens == 0


async def test_a_sealed_key_moved_onto_another_row_does_not_open(ledger: Ledger) -> None:
    platform = ledger.platform
    victim, other = await charity(ledger, "Victim"), await charity(ledger, "Other")
    rows = {r["address"]: bytes(r["sealed"]) for r in await fetch(
        _db(), "SELECT address, sealed FROM custodial_key WHERE address IN (?, ?)",
        [victim, other])}
    # Copy `other`'s sealed key onto the victim's row: the victim would sign as `other`.
    await execute(_db(), "UPDATE custodial_key SET sealed = ? WHERE address = ?",
                  [rows[other], victim])
    platform._keys.clear()  # as after a restart: nothing cached
    with pytest.raises(VerificationError, match="does not open"):
        await platform.custodial_key(victim)
    donor = await member(ledger)
    size = await platform.log.size()
    with pytest.raises(VerificationError):
        await services.record_donation(platform, charity=victim, donor=donor, kind="cash",
                                       quantity=1, campaign="c")
    assert await platform.log.size() == size


async def test_a_key_sealed_the_old_way_opens_only_for_its_own_address(ledger: Ledger) -> None:
    """Keys sealed before the address binding (plain SecretBox) still open, and a swapped one is
    refused because the address is the public key."""
    vault: Vault = ledger.platform.vault
    own, stranger = SigningKey.generate(), SigningKey.generate()
    old_seal = vault.seal(bytes(own))
    assert vault.open_signing_key(old_seal, address=address_of(own)) == own
    with pytest.raises(VerificationError, match="belongs to"):
        vault.open_signing_key(old_seal, address=address_of(stranger))
    with pytest.raises(VerificationError, match="does not open"):
        vault.open_signing_key(vault.seal_signing_key(own), address=address_of(stranger))


async def test_a_phone_repointed_to_another_donor_is_detected(ledger: Ledger) -> None:
    platform = ledger.platform
    giver = await charity(ledger)
    phone_donor = await services.donor_for_contact(platform, "+8613600000001", charity=giver)
    attacker = await member(ledger)
    await execute(_db(), "UPDATE heart_charity_donor SET address = ? WHERE address = ?",
                  [attacker, phone_donor.address])
    size = await platform.log.size()
    with pytest.raises(VerificationError, match="altered"):
        await services.record_donation_for_contact(platform, charity=giver,
                                                   contact="+8613600000001", kind="cash",
                                                   quantity=100, campaign="c")
    with pytest.raises(VerificationError):
        await services.addresses_for_contact(platform, "+8613600000001")
    assert await platform.log.size() == size
    # A row inserted for a phone the attacker chose is refused the same way.
    index = (await fetch(_db(), "SELECT contact_index FROM heart_charity_donor"))[0]
    await execute(_db(), "DELETE FROM heart_charity_donor")
    await execute(_db(), "INSERT INTO heart_charity_donor (contact_index, address, binding, "
                  "created_at) VALUES (?, ?, ?, 'x')",
                  [index["contact_index"], attacker, "0" * 64])
    with pytest.raises(VerificationError, match="altered"):
        await services.donor_for_contact(platform, "+8613600000001", charity=giver)


async def test_issued_tokens_are_bound_to_their_account(ledger: Ledger) -> None:
    giver = await charity(ledger)
    first = await issue_token(ledger.platform, giver, "till 1")
    account = await authenticate(ledger.platform, first)
    assert account is not None and account.address == giver
    assert await authenticate(ledger.platform, first[:-1] + ("A" if first[-1] != "A" else "B")
                              ) is None
    assert await authenticate(ledger.platform, "hct_!!") is None


async def test_a_revoked_token_stops_within_the_cache_time(ledger: Ledger,
                                                           monkeypatch: pytest.MonkeyPatch
                                                           ) -> None:
    """A token that authenticated is remembered for TOKEN_CACHE_SECONDS: a revocation written
    by another process is seen once that time has passed, or at once after forget_tokens()."""
    from heartchain.accounts import services as account_services

    giver = await charity(ledger)
    charity_token = await token(ledger, giver)
    assert await authenticate(ledger.platform, charity_token) is not None
    await execute(_db(), "UPDATE api_token SET revoked = ? WHERE address = ?", [True, giver])
    assert await authenticate(ledger.platform, charity_token) is not None  # remembered
    monkeypatch.setattr(account_services, "_now", lambda: 10.0**9)
    assert await authenticate(ledger.platform, charity_token) is None  # the time has passed
    monkeypatch.undo()
    await execute(_db(), "UPDATE api_token SET revoked = ? WHERE address = ?", [False, giver])
    assert await authenticate(ledger.platform, charity_token) is not None
    await execute(_db(), "UPDATE api_token SET revoked = ? WHERE address = ?", [True, giver])
    forget_tokens()
    assert await authenticate(ledger.platform, charity_token) is None
