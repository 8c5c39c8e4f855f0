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
    decode_address,
    encode_address,
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
    address = bech32m.encode("hc", 1, public_key)
    assert encode_address(public_key) == address
    assert bytes(verify_key_of(address)) == public_key


def test_upper_case_and_wrong_padding_are_refused() -> None:
    address = address_of(new_signing_key())
    with pytest.raises(ValidationError):
        verify_key_of(address.upper())
    with pytest.raises(ValidationError):
        verify_key_of(address[:-1] + "!")


# BIP-350's segwit test vectors of the one shape an address has (version 1, 32-byte program).
BIP350_VALID = [
    ("bc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0",
     "79be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"),
    ("tb", "tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c",
     "000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"),
]


@pytest.mark.parametrize(("hrp", "address", "program"), BIP350_VALID)
def test_bip350_valid_vectors(hrp: str, address: str, program: str) -> None:
    assert decode_address(address, hrp) == bytes.fromhex(program)
    assert encode_address(bytes.fromhex(program), hrp) == address


@pytest.mark.parametrize(("hrp", "address"), [
    ("tb", "tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut"),  # wrong HRP
    ("bc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd"),  # bech32 checksum
    ("tb", "tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf"),  # bech32 checksum
    ("bc", "BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL"),  # bech32 checksum
    ("tb", "tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47"),  # v0 as bech32m
    ("bc", "bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4"),  # "o" in checksum
    ("bc", "BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R"),  # bad version
    ("bc", "bc1pw5dgrnzv"),  # 1-byte program
    ("bc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav"),
    ("tb", "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq"),  # mixed case
    ("bc", "bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf"),  # >4 pad bits
    ("tb", "tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j"),  # non-zero pad
    ("bc", "bc1gmk9yu"),  # empty data
])
def test_bip350_invalid_vectors_are_refused(hrp: str, address: str) -> None:
    with pytest.raises(ValidationError):
        decode_address(address, hrp)
