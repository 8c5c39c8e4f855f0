from __future__ import annotations

import stat
from pathlib import Path

import bech32m
import pytest
from hypothesis import given
from hypothesis import strategies as st

from heartchain.errors import ValidationError, VerificationError
from heartchain.keys import (
    Vault,
    address_of,
    load_or_create_master_key,
    new_signing_key,
    verify_key_of,
)


def test_address_round_trip_and_format() -> None:
    key = new_signing_key()
    address = address_of(key)
    assert address.startswith("hc1p") and len(address) == 62
    assert verify_key_of(address) == key.verify_key
    # The address is plain bech32m (BIP-350) over the raw public key.
    assert bytes(bech32m.decode("hc", address).witprog) == bytes(key.verify_key)


def test_one_character_typo_is_caught() -> None:
    address = address_of(new_signing_key())
    position = 20
    swapped = "q" if address[position] != "q" else "p"
    with pytest.raises(ValidationError, match="invalid checksum"):
        verify_key_of(address[:position] + swapped + address[position + 1:])


@pytest.mark.parametrize("bad", ["", "bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4", "HC1PXYZ", 42])
def test_foreign_or_malformed_addresses_are_refused(bad: object) -> None:
    with pytest.raises(ValidationError):
        verify_key_of(bad)  # type: ignore[arg-type]


def test_vault_seals_and_refuses_another_master_key(tmp_path: Path) -> None:
    master = load_or_create_master_key(tmp_path, None)
    assert stat.S_IMODE((tmp_path / "master.key").stat().st_mode) == 0o600
    assert load_or_create_master_key(tmp_path, None) == master
    key = new_signing_key()
    sealed = Vault(master).seal_signing_key(key)
    assert bytes(key) not in sealed
    assert Vault(master).open_signing_key(sealed, address=address_of(key)) == key
    other = load_or_create_master_key(tmp_path / "other", None)
    with pytest.raises(VerificationError, match="does not open"):
        Vault(other).open_signing_key(sealed, address=address_of(key))


def test_master_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    load_or_create_master_key(tmp_path, None)
    (tmp_path / "master.key").chmod(0o644)
    with pytest.raises(PermissionError, match="chmod 600"):
        load_or_create_master_key(tmp_path, None)


@given(st.binary(min_size=32, max_size=32))
def test_codec_matches_reference_bech32m(public_key: bytes) -> None:
    from heartchain.keys import _encode_address

    address = bech32m.encode("hc", 1, public_key)
    assert _encode_address(public_key) == address
    assert bytes(verify_key_of(address)) == public_key


def test_upper_case_and_wrong_padding_are_refused() -> None:
    address = address_of(new_signing_key())
    with pytest.raises(ValidationError):
        verify_key_of(address.upper())
    with pytest.raises(ValidationError):
        verify_key_of(address[:-1] + "!")
