"""Ed25519 signing keys, bech32m `hc` addresses, and the sealed custodial key vault.

An address is the bech32m (BIP-350) encoding, human-readable part ``hc``, of the raw 32-byte
Ed25519 public key, so any signature can be checked from the address alone::

    >>> key = SigningKey.generate()
    >>> verify_key_of(address_of(key.verify_key)) == key.verify_key
    True

Custodial keys (for accounts that hold no key of their own) are sealed (XChaCha20-Poly1305, the
account's address as associated data) under a key derived from the master key, which comes from
the environment or a 0600 file in the data directory; keys sealed before that (SecretBox) still
open, and every opened key must be the row's own (its address is its public key).
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import os
import stat
from pathlib import Path
from typing import NewType

import nacl.exceptions
import nacl.secret
import nacl.utils
from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.signing import SigningKey, VerifyKey

from heartchain.errors import ValidationError, VerificationError

__all__ = [
    "ADDRESS_HRP",
    "Address",
    "SigningKey",
    "Vault",
    "VerifyKey",
    "address_of",
    "decode_address",
    "encode_address",
    "is_address",
    "load_or_create_master_key",
    "new_signing_key",
    "read_secret_file",
    "verify_key_of",
    "write_secret_file",
]

Address = NewType("Address", str)

ADDRESS_HRP = "hc"
# bech32m's segwit framing wants a version; 1 gives the familiar "hc1p..." and is fixed for all.
_ADDRESS_VERSION = 1


def address_of(key: VerifyKey | SigningKey) -> Address:
    verify_key = key.verify_key if isinstance(key, SigningKey) else key
    return encode_address(bytes(verify_key))


# Who signs a write: an address (the platform holds its custodial key) or the signer's own key.
Signer = str | SigningKey


def signer_address(signer: Signer) -> Address:
    # Unchecked here: the write path decodes the body, which checks every address.
    return address_of(signer) if isinstance(signer, SigningKey) else Address(signer)


def signing_keys(*signers: Signer) -> list[SigningKey]:
    """The keys passed in (self-custody); an address alone signs with its custodial key."""
    return [s for s in signers if isinstance(s, SigningKey)]


_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHAR_VALUES = {c: i for i, c in enumerate(_CHARSET)}
_BECH32M_CONST = 0x2BC830A3
_GENERATORS = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)


# What the five generator taps add for each value of the checksum's top 5 bits: one lookup
# instead of five tests per character (the codec's inner loop).
_TAPS = tuple(
    functools.reduce(lambda acc, i: acc ^ (_GENERATORS[i] if top >> i & 1 else 0), range(5), 0)
    for top in range(32))


def _polymod(values: list[int]) -> int:
    checksum = 1
    for value in values:
        checksum = (checksum & 0x1FFFFFF) << 5 ^ value ^ _TAPS[checksum >> 25]
    return checksum


@functools.cache
def _hrp_expanded(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _to_5bit(data: bytes) -> list[int]:
    bits = len(data) * 8
    padding = -bits % 5  # BIP-173 pads the last group with zero bits on the right
    number = int.from_bytes(data, "big") << padding
    groups = (bits + padding) // 5
    return [(number >> (5 * (groups - 1 - i))) & 31 for i in range(groups)]


# The codec is BIP-350 bech32m (faster here than the `bech32m` package: bench/addresses.py),
# checked against that package and BIP-350's own v1 vectors in the tests; `hrp` is a parameter
# only so that those vectors ("bc", "tb") apply. The same few thousand addresses sign most
# entries, so both directions are memoized.
@functools.lru_cache(maxsize=65_536)
def encode_address(public_key: bytes, hrp: str = ADDRESS_HRP) -> Address:
    """The address of a raw 32-byte Ed25519 public key.

    >>> encode_address(bytes(32))
    'hc1pqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqtzfnzt'
    """
    data = [_ADDRESS_VERSION, *_to_5bit(public_key)]
    polymod = _polymod(_hrp_expanded(hrp) + data + [0] * 6) ^ _BECH32M_CONST
    checksum = [(polymod >> 5 * (5 - i)) & 31 for i in range(6)]
    return Address(hrp + "1" + "".join(_CHARSET[d] for d in data + checksum))


def decode_address(address: str, hrp: str = ADDRESS_HRP) -> bytes:
    """The raw public key inside an address; a typo or a foreign prefix raises ValidationError.

    Only lower case is accepted (BIP-350 also allows all upper case): one spelling per key.

    >>> decode_address(encode_address(bytes(32))) == bytes(32)
    True
    """
    if not isinstance(address, str) or not address.startswith(hrp + "1"):
        raise ValidationError(f"address: not an {hrp} address: {address!r}", field="address")
    if len(address) != len(hrp) + 60:  # "1", version, 52 groups of key, 6 of checksum
        raise ValidationError(f"address: must be {len(hrp) + 60} characters: {address!r}",
                              field="address")
    try:
        values = [_CHAR_VALUES[c] for c in address[len(hrp) + 1:]]
    except KeyError:
        raise ValidationError(f"address: invalid character in {address!r}",
                              field="address") from None
    if _polymod(_hrp_expanded(hrp) + values) != _BECH32M_CONST:
        raise ValidationError(f"address: invalid checksum or encoding: {address!r}",
                              field="address")
    if values[0] != _ADDRESS_VERSION:
        raise ValidationError(f"address: unknown version in {address!r}", field="address")
    number = 0
    for value in values[1:-6]:
        number = number << 5 | value
    if number & 0xF:  # the 4 padding bits must be zero
        raise ValidationError(f"address: non-zero padding in {address!r}", field="address")
    return (number >> 4).to_bytes(32, "big")


@functools.lru_cache(maxsize=65_536)
def verify_key_of(address: str) -> VerifyKey:
    """The public key inside an `hc` address; a typo or a foreign prefix raises ValidationError.

    >>> verify_key_of(encode_address(bytes(32))[:-1] + "q")  # a typo in the last character
    Traceback (most recent call last):
    heartchain.errors.ValidationError: address: invalid checksum or encoding: 'hc1pq...zq'
    """
    return VerifyKey(decode_address(address))


def is_address(value: str) -> bool:
    try:
        verify_key_of(value)
    except ValidationError:
        return False
    return True


def new_signing_key() -> SigningKey:
    return SigningKey.generate()


def write_secret_file(path: Path, data: bytes) -> None:
    """Create `path` readable by its owner only, refusing to overwrite an existing secret."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


def read_secret_file(path: Path) -> bytes:
    mode = path.stat().st_mode
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise PermissionError(f"{path} must be readable by its owner only (chmod 600)")
    return path.read_bytes()


def load_or_create_master_key(data_dir: Path, env_value: str | None) -> bytes:
    """The vault's master key: `HEARTCHAIN_MASTER_KEY` (base64) if set, else `master.key`."""
    if env_value:
        key = base64.b64decode(env_value, validate=True)
    else:
        path = data_dir / "master.key"
        if not path.exists():
            fresh = nacl.utils.random(nacl.secret.SecretBox.KEY_SIZE)
            write_secret_file(path, base64.b64encode(fresh))
        key = base64.b64decode(read_secret_file(path).strip(), validate=True)
    if len(key) != nacl.secret.SecretBox.KEY_SIZE:
        raise ValueError("master key must be 32 bytes (base64)")
    return key


class Vault:
    """Seals secrets (custodial signing keys, per-subject data keys) under the master key."""

    def __init__(self, master_key: bytes) -> None:
        self._box = nacl.secret.SecretBox(master_key)
        self._master_key = master_key
        self._key_sealing = hashlib.blake2b(b"heartchain/custodial-key/v2", key=master_key,
                                            digest_size=32).digest()
        self._derived: dict[str, bytes] = {}  # a bulk import derives the same few per row

    def derive_key(self, purpose: str) -> bytes:
        """A 32-byte key for one purpose (a MAC over off-log rows), derived from the master key
        (HMAC-SHA256 as a PRF), so rows written without the master key are recognised."""
        key = self._derived.get(purpose)
        if key is None:
            label = f"heartchain/derive/v1\n{purpose}".encode()
            key = self._derived[purpose] = hmac.new(self._master_key, label,
                                                    hashlib.sha256).digest()
        return key

    def seal(self, plaintext: bytes) -> bytes:
        return bytes(self._box.encrypt(plaintext))

    def open(self, sealed: bytes) -> bytes:
        try:
            return bytes(self._box.decrypt(sealed))
        except nacl.exceptions.CryptoError as exc:
            raise VerificationError(
                "vault: sealed value does not open under this master key") from exc

    def seal_signing_key(self, key: SigningKey) -> bytes:
        """XChaCha20-Poly1305 under a master-derived key, the key's address as associated data:
        a sealed key copied onto another account's row does not open there."""
        nonce = nacl.utils.random(_KEY_NONCE_BYTES)
        return _SEALED_KEY_V2 + nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(
            bytes(key), _key_aad(address_of(key)), nonce, self._key_sealing)

    def open_signing_key(self, sealed: bytes, *, address: str) -> SigningKey:
        """The custodial key of `address`; VerificationError if `sealed` is not that key."""
        if sealed.startswith(_SEALED_KEY_V2) and len(sealed) == _SEALED_KEY_V2_BYTES:
            body = sealed[len(_SEALED_KEY_V2):]
            try:
                plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
                    body[_KEY_NONCE_BYTES:], _key_aad(address), body[:_KEY_NONCE_BYTES],
                    self._key_sealing)
            except nacl.exceptions.CryptoError as exc:
                raise VerificationError(f"vault: the sealed key of {address} does not open "
                                        "under this master key for this address") from exc
        else:  # sealed before keys were bound to their address (SecretBox)
            plain = self.open(sealed)
        key = SigningKey(bytes(plain))
        if address_of(key) != address:  # the address is the public key: exact, for old seals too
            raise VerificationError(f"vault: the sealed key on {address}'s row belongs to "
                                    f"{address_of(key)}")
        return key


_SEALED_KEY_V2 = b"hck2"
_KEY_NONCE_BYTES = 24
_SEALED_KEY_V2_BYTES = len(_SEALED_KEY_V2) + _KEY_NONCE_BYTES + 32 + 16


def _key_aad(address: str) -> bytes:
    return f"heartchain/custodial-key/v2\n{address}".encode()
