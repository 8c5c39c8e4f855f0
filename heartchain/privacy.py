"""Sealed personal data, off the log, one key per subject (DESIGN §6).

Personal values (a donor's phone, a patient's name) never go on the log. They are stored here,
encrypted under a random key that belongs to one subject; that key is itself sealed under the
master key. Erasing a subject deletes its key (crypto-shredding): every value sealed for it becomes
unreadable, backups included, while the log, which only ever held addresses and commitments, still
verifies. These tables are off-log: they are not projections and `verify` ignores them.

    await seal_personal(platform, "donor:hc1p...", "phone", "+8613800000000")
    await read_personal(platform, "donor:hc1p...", "phone")    # '+8613800000000'
    await erase_subject(platform, "donor:hc1p...")             # gone for good
    commitment(salt, "Zhang San")                              # what goes on the log instead

To put a commitment on the log, keep its salt sealed with the subject:
`salt = await subject_salt(platform, subject_id)`; after erasure the salt is gone too, so the
commitment can no longer be opened by anyone.

`keyed_hash(platform, purpose, value)` gives a stable lookup index for a value without storing it
(HMAC-SHA256 under a key derived from the master key); a different `purpose` gives unlinkable
indexes.

Register the models by listing this module in Tortoise's model modules (domains re-export
`SealedSubject` and `SealedValue` from their `models.py`; Tortoise finds them there).
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from nacl.bindings import (
    crypto_aead_xchacha20poly1305_ietf_decrypt,
    crypto_aead_xchacha20poly1305_ietf_encrypt,
)
from nacl.exceptions import CryptoError
from tortoise import connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.exceptions import IntegrityError
from tortoise.models import Model

from heartchain.errors import VerificationError
from heartchain.keys import Vault, load_or_create_master_key
from heartchain.ledger.kinds import OffLogRow
from heartchain.ledger.store import execute, execute_many, fetch

if TYPE_CHECKING:
    from heartchain.platform import Platform
    from heartchain.settings import Settings

__all__ = [
    "SealedSubject",
    "SealedValue",
    "commitment",
    "derive_key",
    "derive_key_from_settings",
    "erase_subject",
    "keyed_hash",
    "opened_salt_and_key",
    "read_personal",
    "seal_new_subjects",
    "seal_personal",
    "sealed_row",
    "sealed_salt_columns",
    "subject_salt",
    "subject_salt_and_key",
]

_KEY_BYTES = 32
_NONCE_BYTES = 24
_SALT_FIELD = "_salt"


class SealedSubject(Model):
    """A subject's data key, sealed under the master key. Deleting the row erases the subject."""

    subject_id = fields.CharField(max_length=128, primary_key=True)
    sealed_key = fields.BinaryField()
    created_at = fields.CharField(max_length=32)

    class Meta:
        table = "sealed_subject"


class SealedValue(Model):
    """One personal value, XChaCha20-Poly1305 under its subject's key, bound to (subject, field)."""

    id = fields.BigIntField(primary_key=True)
    subject_id = fields.CharField(max_length=128, db_index=True)
    field = fields.CharField(max_length=64)
    sealed = fields.BinaryField()

    class Meta:
        table = "sealed_value"
        unique_together = (("subject_id", "field"),)


def commitment(salt: bytes, value: str) -> str:
    """What stands for a personal value on the log: hex SHA-256(salt || value)."""
    return hashlib.sha256(salt + value.encode()).hexdigest()


@functools.lru_cache(maxsize=16)
def _master_key(data_dir: str, env_value: str | None) -> bytes:
    return load_or_create_master_key(Path(data_dir), env_value)


def derive_key(platform: Platform, purpose: str) -> bytes:
    """A 32-byte key for one purpose, derived from the master key (`Vault.derive_key`)."""
    return platform.vault.derive_key(purpose)


def derive_key_from_settings(settings: Settings, purpose: str) -> bytes:
    """`derive_key` for tools that have the configuration but no running platform."""
    return Vault(_master_key(str(settings.data_dir), settings.master_key)).derive_key(purpose)


def keyed_hash(platform: Platform, purpose: str, value: str) -> str:
    """A stable, unguessable index of `value` (hex HMAC); different purposes are unlinkable."""
    # hmac.digest: the one-shot C path (bulk import hashes two values per row).
    return hmac.digest(derive_key(platform, f"index/{purpose}"), value.encode(), "sha256").hex()


async def _subject_key(platform: Platform, subject_id: str, *, create: bool) -> bytes | None:
    row = await SealedSubject.get_or_none(subject_id=subject_id)
    if row is not None:
        return platform.vault.open(bytes(row.sealed_key))
    if not create:
        return None
    key = os.urandom(_KEY_BYTES)
    try:
        await SealedSubject.create(subject_id=subject_id, sealed_key=platform.vault.seal(key),
                                   created_at=datetime.now(UTC).isoformat())
    except IntegrityError:  # another writer created it first: use theirs
        row = await SealedSubject.get(subject_id=subject_id)
        return platform.vault.open(bytes(row.sealed_key))
    return key


def _aad(subject_id: str, field: str) -> bytes:
    return f"heartchain/sealed/v1\n{subject_id}\n{field}".encode()


async def seal_personal(platform: Platform, subject_id: str, field: str, value: str, *,
                        replace: bool = True, key: bytes | None = None) -> bool:
    """Store (or, with `replace`, replace) one personal value of a subject, sealed under the
    subject's key; whether it was stored (False: not `replace` and the field exists). `key`:
    the subject's key, when the caller has just opened it (`subject_salt_and_key`)."""
    if key is None:
        key = await _subject_key(platform, subject_id, create=True)
    if key is None:
        raise RuntimeError("a subject key was just created")
    query, values = sealed_row(subject_id, field, value, key=key, replace=replace)
    return await execute(connections.get("default"), query, list(values)) > 0


def sealed_row(subject_id: str, field: str, value: str, *, key: bytes,
               replace: bool = True) -> OffLogRow:
    """The statement `seal_personal` runs, for a caller that writes it with a ledger entry
    (`Platform.write(off_log=…)`): `key` is the subject's, opened by the caller."""
    nonce = os.urandom(_NONCE_BYTES)
    sealed = nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(
        value.encode(), _aad(subject_id, field), nonce, key)
    # One statement: an update then an insert raced (two identical checks at once derive the
    # same field; the second insert was a unique violation, a 500 under load).
    on_conflict = "DO UPDATE SET sealed = excluded.sealed" if replace else "DO NOTHING"
    return ("INSERT INTO sealed_value (subject_id, field, sealed) VALUES (?, ?, ?) "
            f"ON CONFLICT (subject_id, field) {on_conflict}", (subject_id, field, sealed))


async def seal_new_subjects(platform: Platform, values: Sequence[tuple[str, str, str]], *,
                            using_db: BaseDBAsyncClient | None = None) -> None:
    """`seal_personal` for many subjects that have no key yet (donors just created by a bulk
    import): (subject, field, value) each, two bulk inserts. A subject that has a key already
    is an IntegrityError: nothing is written."""
    keys: dict[str, bytes] = {}
    subjects: list[list[object]] = []
    sealed_values: list[list[object]] = []
    created_at = datetime.now(UTC).isoformat()
    for subject_id, field, value in values:
        key = keys.get(subject_id)
        if key is None:
            key = keys[subject_id] = os.urandom(_KEY_BYTES)
            subjects.append([subject_id, platform.vault.seal(key), created_at])
        nonce = os.urandom(_NONCE_BYTES)
        sealed_values.append([subject_id, field, nonce + crypto_aead_xchacha20poly1305_ietf_encrypt(
            value.encode(), _aad(subject_id, field), nonce, key)])
    # Raw executemany: model instances cost more than the sealing for a file of new donors.
    conn = using_db or connections.get("default")
    await execute_many(conn, "INSERT INTO sealed_subject (subject_id, sealed_key, created_at) "
                       "VALUES (?, ?, ?)", subjects)
    await execute_many(conn, "INSERT INTO sealed_value (subject_id, field, sealed) "
                       "VALUES (?, ?, ?)", sealed_values)


async def _key_and_value(platform: Platform, subject_id: str, field: str
                         ) -> tuple[bytes | None, bytes | None]:
    # One raw round trip for the subject's key and one sealed value (every partner check reads
    # the member's salt: two ORM queries were a tenth of its CPU).
    rows = await fetch(connections.get("default"),
                       "SELECT s.sealed_key, v.sealed FROM sealed_subject s LEFT JOIN "
                       "sealed_value v ON v.subject_id = s.subject_id AND v.field = ? "
                       "WHERE s.subject_id = ?", [field, subject_id])
    if not rows:
        return None, None
    return _opened_key(platform, rows[0]["sealed_key"], rows[0]["sealed"])


def _opened_key(platform: Platform, sealed_key: Any, sealed: Any
                ) -> tuple[bytes | None, bytes | None]:
    """The subject's key opened, and the sealed value as bytes; either None when absent."""
    return (None if sealed_key is None else platform.vault.open(bytes(sealed_key)),
            None if sealed is None else bytes(sealed))


def _open(key: bytes, subject_id: str, field: str, data: bytes) -> str:
    try:
        plain = crypto_aead_xchacha20poly1305_ietf_decrypt(
            data[_NONCE_BYTES:], _aad(subject_id, field), data[:_NONCE_BYTES], key)
    except CryptoError as exc:
        raise VerificationError(f"sealed value {subject_id}/{field} does not open: it was "
                                "altered or moved") from exc
    return bytes(plain).decode()


async def read_personal(platform: Platform, subject_id: str, field: str) -> str | None:
    """The value, or None when it was never sealed or the subject was erased."""
    key, data = await _key_and_value(platform, subject_id, field)
    if key is None or data is None:
        return None
    return _open(key, subject_id, field, data)


async def subject_salt_and_key(platform: Platform, subject_id: str) -> tuple[bytes, bytes]:
    """`subject_salt` and the subject's key, for a caller that seals a value for the subject
    next (`seal_personal(..., key=)`): one query when both exist, as they do after first use."""
    key, data = await _key_and_value(platform, subject_id, _SALT_FIELD)
    return await _salt_and_key(platform, subject_id, key, data)


def sealed_salt_columns(subject_id: str) -> tuple[str, list[Any]]:
    """Two columns, `sealed_key` and `sealed_salt`, and their values, for a caller that reads
    the subject's salt in a statement of its own (`opened_salt_and_key` opens them)."""
    return ("(SELECT sealed_key FROM sealed_subject WHERE subject_id = ?) AS sealed_key, "
            "(SELECT sealed FROM sealed_value WHERE subject_id = ? AND field = ?) AS sealed_salt",
            [subject_id, subject_id, _SALT_FIELD])


async def opened_salt_and_key(platform: Platform, subject_id: str, row: Mapping[str, Any]
                              ) -> tuple[bytes, bytes]:
    """`subject_salt_and_key` from a row holding `sealed_salt_columns`."""
    key, data = _opened_key(platform, row["sealed_key"], row["sealed_salt"])
    return await _salt_and_key(platform, subject_id, key, data)


async def _salt_and_key(platform: Platform, subject_id: str, key: bytes | None,
                        data: bytes | None) -> tuple[bytes, bytes]:
    if key is not None and data is not None:
        return bytes.fromhex(_open(key, subject_id, _SALT_FIELD, data)), key
    salt = await subject_salt(platform, subject_id)
    key = await _subject_key(platform, subject_id, create=False)
    if key is None:
        raise RuntimeError(f"{subject_id}: the subject key of the salt just read is gone")
    return salt, key


async def subject_salt(platform: Platform, subject_id: str) -> bytes:
    """The subject's commitment salt (32 random bytes, sealed); created on first use."""
    existing = await read_personal(platform, subject_id, _SALT_FIELD)
    if existing is not None:
        return bytes.fromhex(existing)
    salt = os.urandom(32)
    if not await seal_personal(platform, subject_id, _SALT_FIELD, salt.hex(), replace=False):
        # Another first use stored its salt meanwhile: that one is the subject's, for both.
        stored = await read_personal(platform, subject_id, _SALT_FIELD)
        if stored is None:
            raise RuntimeError(f"{subject_id}: the salt stored meanwhile is gone")
        return bytes.fromhex(stored)
    return salt


async def erase_subject(platform: Platform, subject_id: str) -> None:
    """Crypto-shred a subject: its key goes first, so a copy of its sealed rows is useless too."""
    await SealedSubject.filter(subject_id=subject_id).delete()
    await SealedValue.filter(subject_id=subject_id).delete()
