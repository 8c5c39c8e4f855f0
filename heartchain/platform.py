"""The assembled service: settings, keys, clock and log, and the one write path.

Every state change goes through `Platform.write`: build the entry, sign it with each signer's key
(custodial keys are unsealed from the vault), append it to the log, which checks the kind's rules
and applies its projector in the integrating transaction.
"""

from __future__ import annotations

import base64
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from heartchain.accounts.models import CustodialKey
from heartchain.clock import Clock
from heartchain.errors import Conflict, NotFound
from heartchain.files import private_dir
from heartchain.idempotency import claim, idempotent, idempotent_nonce, set_idempotency_key
from heartchain.keys import (
    Signer,
    SigningKey,
    Vault,
    address_of,
    load_or_create_master_key,
    read_secret_file,
    signer_address,
    write_secret_file,
)
from heartchain.ledger.body import Body, decode, wire
from heartchain.ledger.entries import Entry, ReplayError, new_entry
from heartchain.ledger.kinds import OffLogRow
from heartchain.ledger.log import Appended, Log, StoredEntry
from heartchain.ledger.notes import NoteSigner
from heartchain.settings import Settings

__all__ = ["Platform", "build_platform", "idempotent", "load_log_signer", "set_idempotency_key"]

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
            key = self.vault.open_signing_key(bytes(row.sealed), address=address)
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

    def signed(self, body: Body, *keys: SigningKey) -> Entry:
        """`body` as an entry signed now by `keys` (for bulk writers that append many at once;
        the log checks the signers are the body's)."""
        return self.build(body.KIND, wire(body)).signed_by(*keys)

    async def write(self, body: Body, *keys: SigningKey, purpose: str = "",
                    off_log: tuple[OffLogRow, ...] = ()) -> Appended:
        """Sign `body` as its kind's signers and append it; raise the typed error that rejected it.

        Each signer signs with the key passed for its address (self-custody) or else with the
        custodial key the platform holds for it. Inside `idempotent(key)`, the nonce comes from
        the key, the kind, the first signer and `purpose` (heartchain.idempotency), so a client
        that retries a request whose answer it never got gets the entry already written, not a
        second one. A request writing one kind twice with one signer passes a distinct `purpose`
        for each write. `off_log`: rows written in the entry's transaction if it is integrated
        (not on a retry answered with the earlier entry, which was written with its own).
        """
        raw = wire(body)
        checked = decode(type(body), raw)  # built in code, a body is checked only when decoded
        given = {address_of(key): key for key in keys}
        signing = [given.get(address) or await self.custodial_key(address)
                   for address in body.signers()]
        nonce = idempotent_nonce(body.KIND, address_of(signing[0]), purpose)
        entry = self.build(body.KIND, raw, nonce).signed_by(*signing)
        try:
            appended = await self.log.append_signed(entry, checked, off_log=off_log)
        except ReplayError:
            if nonce is None:
                raise
            appended = await self._already_written(entry)
        claim(nonce)  # only once written: a rejected attempt may be tried again with its nonce
        return appended

    async def written_before(self, kind: type[Body], signer: Signer, *,
                             purpose: str = "") -> StoredEntry | None:
        """The entry this request's earlier attempt wrote for (`kind`, `signer`, `purpose`), if
        any: for writes whose body a retry cannot rebuild (a fresh custodial key, a state that
        the first attempt changed), so the retry answers what the first attempt wrote."""
        address = signer_address(signer)
        nonce = idempotent_nonce(kind.KIND, address, purpose)
        if nonce is None:
            return None
        earlier = await self.log.find_signed(address, _nonce_text(nonce))
        if earlier is not None and earlier.kind != kind.KIND:
            raise Conflict("Idempotency-Key was already used for a different request")
        return earlier

    async def _already_written(self, entry: Entry) -> Appended:
        earlier = await self.log.find_signed(entry.signers[0], entry.nonce)
        if earlier is None:
            raise Conflict("Idempotency-Key: the earlier request's entry was not found")
        if (earlier.entry.kind, earlier.entry.body) != (entry.kind, entry.body):
            raise Conflict("Idempotency-Key was already used for a different request")
        return await self.log.appended(earlier.index)


def _nonce_text(nonce: bytes) -> str:
    return base64.b64encode(nonce).decode()  # as the entry carries it


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
    private_dir(data_dir, ours=(LOG_KEY_FILE,))
    signer = load_log_signer(settings, create=create_keys)
    vault = Vault(load_or_create_master_key(data_dir, settings.master_key))
    the_clock = clock or Clock()
    log = Log(origin=settings.log_origin, signer=signer, clock=the_clock,
              batch_period=settings.batch_period_ms / 1000, batch_size=settings.batch_size,
              write_timeout=settings.write_timeout_ms / 1000)
    return Platform(settings, log, vault, the_clock)
