"""What the log pages show, read straight from the log: checkpoints, entries, proofs.

Plain data for templates; no request handling here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from heartchain.accounts.models import Account
from heartchain.errors import NotFound
from heartchain.ledger.log import Log, SignedCheckpoint, StoredEntry

PAGE = 25


@dataclass(frozen=True)
class CheckpointView:
    size: int
    root_hex: str
    root_b64: str
    note: str
    signed_at: str
    previous_size: int | None

    @classmethod
    def of(cls, signed: SignedCheckpoint, previous_size: int | None) -> CheckpointView:
        return cls(size=signed.size, root_hex=signed.root_hash.hex(),
                   root_b64=base64.b64encode(signed.root_hash).decode(), note=signed.note,
                   signed_at=signed.signed_at, previous_size=previous_size)


@dataclass(frozen=True)
class Signer:
    address: str
    label: str | None
    role: str | None


@dataclass(frozen=True)
class EntryView:
    index: int
    kind: str
    at: str
    integrated_at: str
    leaf_hex: str
    data: str
    body: dict[str, Any]
    signers: tuple[Signer, ...]

    @property
    def pretty_body(self) -> str:
        return json.dumps(self.body, ensure_ascii=False, indent=2, sort_keys=True)


async def accounts_by_address(addresses: Iterable[str]) -> dict[str, Account]:
    wanted = sorted(set(addresses))
    if not wanted:
        return {}
    return {a.address: a for a in await Account.filter(address__in=wanted)}


async def entry_views(log: Log, indexes: Sequence[int]) -> list[EntryView]:
    """The entries at `indexes` (in that order), with their signers' labels."""
    stored = await log.get_entries(indexes)
    documents = {i: json.loads(s.data) for i, s in stored.items()}
    accounts = await accounts_by_address(
        sig["by"] for doc in documents.values() for sig in doc.get("sigs", []))
    views = []
    for index in indexes:
        if index in stored:
            views.append(_view(stored[index], documents[index], accounts))
    return views


def _view(stored: StoredEntry, document: dict[str, Any],
          accounts: dict[str, Account]) -> EntryView:
    signers = []
    for sig in document.get("sigs", []):
        account = accounts.get(sig["by"])
        signers.append(Signer(sig["by"], account.label if account else None,
                              account.role if account else None))
    return EntryView(index=stored.index, kind=stored.kind, at=stored.at,
                     integrated_at=stored.integrated_at, leaf_hex=stored.leaf_hash.hex(),
                     data=stored.data.decode(), body=document.get("body", {}),
                     signers=tuple(signers))


async def entry_view(log: Log, index: int) -> EntryView:
    found = await entry_views(log, [index])
    if not found:
        raise NotFound(f"entry {index} does not exist")
    return found[0]


async def latest_checkpoint(log: Log) -> CheckpointView:
    signed = await log.latest_checkpoint()
    previous = await log.checkpoint_before(signed.size)
    return CheckpointView.of(signed, previous.size if previous else None)


async def checkpoint_at(log: Log, size: int) -> CheckpointView | None:
    try:
        signed = await log.checkpoint_at(size)
    except NotFound:
        return None
    previous = await log.checkpoint_before(size)
    return CheckpointView.of(signed, previous.size if previous else None)


async def first_checkpoint(log: Log, index: int) -> CheckpointView | None:
    try:
        signed = await log.checkpoint_covering(index)
    except NotFound:
        return None
    previous = await log.checkpoint_before(signed.size)
    return CheckpointView.of(signed, previous.size if previous else None)


@dataclass(frozen=True)
class Page:
    items: list[Any]
    newer: int | None  # `before` value for the newer page, or None
    older: int | None  # `before` value for the older page, or None


async def checkpoints_page(log: Log, before: int | None, limit: int = PAGE) -> Page:
    """Checkpoints, newest first, each with the size of the one signed before it."""
    sizes = await log.reader.checkpoint_sizes(upper=before, limit=limit + 1)
    shown = sizes[:limit]
    views = []
    for position, size in enumerate(shown):
        signed = await log.checkpoint_at(size)
        if position + 1 < len(sizes):
            previous: int | None = sizes[position + 1]
        else:
            before_it = await log.checkpoint_before(size)
            previous = before_it.size if before_it else None
        views.append(CheckpointView.of(signed, previous))
    newer = None
    if before is not None:
        up = await log.reader.checkpoint_sizes(lower=before, limit=limit + 1, oldest_first=True)
        if up:
            newer = up[limit] if len(up) > limit else -1  # -1: the first page
    older = shown[-1] if len(sizes) > limit else None
    return Page(views, newer, older)


async def entries_page(log: Log, *, kind: str | None, before: int | None,
                       limit: int = PAGE) -> Page:
    """Entries newest first, optionally of one kind; `before` is an exclusive upper index."""
    indexes = await log.reader.entry_indexes(kind=kind or None, upper=before, limit=limit + 1)
    shown = indexes[:limit]
    older = shown[-1] if len(indexes) > limit else None
    newer = None
    if before is not None:
        up = await log.reader.entry_indexes(kind=kind or None, lower=before, limit=limit + 1,
                                            oldest_first=True)
        if up:
            newer = up[limit] if len(up) > limit else -1
    return Page(await entry_views(log, shown), newer, older)


async def kinds_in_log(log: Log) -> list[str]:
    return await log.reader.kinds()


@dataclass(frozen=True)
class Consistency:
    from_size: int
    to_size: int
    hashes_b64: list[str]
    from_checkpoint: CheckpointView | None
    to_checkpoint: CheckpointView | None


async def consistency(log: Log, from_size: int, to_size: int) -> Consistency:
    hashes = await log.consistency_proof(from_size, to_size)
    return Consistency(from_size, to_size, [base64.b64encode(h).decode() for h in hashes],
                       await checkpoint_at(log, from_size), await checkpoint_at(log, to_size))
