"""The assembled service: settings, keys, clock and log, and the one write path.

Every state change goes through `Platform.write`: build the entry, sign it with each signer's key
(custodial keys are unsealed from the vault), append it to the log, which checks the kind's rules
and applies its projector in the integrating transaction.
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import OrderedDict
from collections.abc import Iterator, Mapping, Sequence
from contextvars import ContextVar, Token
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartchain.accounts.models import CustodialKey
from heartchain.clock import Clock
from heartchain.errors import Conflict, NotFound
from heartchain.keys import (
    SigningKey,
    Vault,
    address_of,
    load_or_create_master_key,
    read_secret_file,
    write_secret_file,
)
from heartchain.ledger.entries import Entry, ReplayError, new_entry
from heartchain.ledger.log import Appended, Log
from heartchain.ledger.notes import NoteSigner
from heartchain.settings import Settings

# The idempotency key of the request being served, and how many entries it has written so far.
_IDEMPOTENCY: ContextVar[tuple[str, list[int]] | None] = ContextVar("idempotency", default=None)

LOG_KEY_FILE = "log.key"
_KEY_CACHE = 4096


@dataclass
class Platform:
    settings: Settings
    log: Log
    vault: Vault
    clock: Clock

    @property
    def verifier_key(self) -> str:
        return self.log.signer.verifier_key

    _keys: OrderedDict[str, SigningKey] = field(default_factory=OrderedDict, repr=False)

    async def custodial_key(self, address: str) -> SigningKey:
        # Unsealed keys are kept (bounded): a charity signs every donation it records, and this
        # process already holds the master key that opens them.
        key = self._keys.get(address)
        if key is None:
            row = await CustodialKey.get_or_none(address=address)
            if row is None:
                raise NotFound(f"the platform holds no key for {address}")
            key = self.vault.open_signing_key(bytes(row.sealed))
            self._keys[address] = key
            if len(self._keys) > _KEY_CACHE:
                self._keys.popitem(last=False)
        else:
            self._keys.move_to_end(address)
        return key

    async def new_custodial_key(self) -> SigningKey:
        key = SigningKey.generate()
        await CustodialKey.create(address=address_of(key),
                                  sealed=self.vault.seal_signing_key(key))
        return key

    def build(self, kind: str, body: Mapping[str, Any], nonce: bytes | None = None) -> Entry:
        return new_entry(kind, body, at=self.clock.now(), nonce=nonce)

    async def write(self, kind: str, body: Mapping[str, Any],
                    signers: Sequence[str | SigningKey]) -> Appended:
        """Build, sign and append one entry; raise the typed error that rejected it.

        Inside `idempotent(key)`, the nonce comes from the key, so a client that retries a
        request whose answer it never got gets the entry already written, not a second one.
        """
        keys = [s if isinstance(s, SigningKey) else await self.custodial_key(s) for s in signers]
        nonce = _idempotent_nonce(kind, address_of(keys[0]))
        entry = self.build(kind, body, nonce).signed_by(*keys)
        try:
            return await self.log.append(entry)
        except ReplayError:
            if nonce is None:
                raise
            return await self._already_written(entry)

    async def _already_written(self, entry: Entry) -> Appended:
        earlier = await self.log.find_signed(entry.signers[0], entry.nonce)
        if earlier is None:
            raise Conflict("Idempotency-Key: the earlier request's entry was not found")
        if (earlier.entry.kind, earlier.entry.body) != (entry.kind, entry.body):
            raise Conflict("Idempotency-Key was already used for a different request")
        return await self.log.appended(earlier.index)


def set_idempotency_key(key: str | None) -> Token[tuple[str, list[int]] | None]:
    """From here on in this task, writes derive their nonces from `key` (a request's
    `Idempotency-Key` header); each request runs in its own task, so it ends with the request."""
    return _IDEMPOTENCY.set((key, [0]) if key else None)


def current_idempotency_key() -> str | None:
    """The Idempotency-Key of the request being served, if it sent one."""
    current = _IDEMPOTENCY.get()
    return None if current is None else current[0]


@contextlib.contextmanager
def idempotent(key: str | None) -> Iterator[None]:
    """Writes inside the block derive their nonces from `key`."""
    token = set_idempotency_key(key)
    try:
        yield
    finally:
        _IDEMPOTENCY.reset(token)


def _idempotent_nonce(kind: str, signer: str) -> bytes | None:
    """The n-th write of a request gets the same nonce every time the request is retried."""
    current = _IDEMPOTENCY.get()
    if current is None:
        return None
    key, counter = current
    counter[0] += 1
    material = f"heartchain/idempotency/v1\n{signer}\n{key}\n{kind}\n{counter[0]}".encode()
    return hashlib.sha256(material).digest()[:16]


def load_log_signer(settings: Settings, *, create: bool = False) -> NoteSigner:
    path = settings.data_dir / LOG_KEY_FILE
    if not path.exists():
        if not create:
            raise FileNotFoundError(f"{path} is missing: run `heartchain init` first")
        signer = NoteSigner.generate(settings.log_origin)
        write_secret_file(path, signer.signer_key.encode() + b"\n")
        return signer
    signer = NoteSigner.from_signer_key(read_secret_file(path).decode().strip())
    if signer.name != settings.log_origin:
        raise ValueError(f"{path} signs for origin {signer.name!r}, but HEARTCHAIN_LOG_ORIGIN is "
                         f"{settings.log_origin!r}")
    return signer


def build_platform(settings: Settings, *, clock: Clock | None = None,
                   create_keys: bool = False) -> Platform:
    data_dir = Path(settings.data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    signer = load_log_signer(settings, create=create_keys)
    vault = Vault(load_or_create_master_key(data_dir, settings.master_key))
    the_clock = clock or Clock()
    log = Log(origin=settings.log_origin, signer=signer, clock=the_clock,
              batch_period=settings.batch_period_ms / 1000, batch_size=settings.batch_size)
    return Platform(settings, log, vault, the_clock)
