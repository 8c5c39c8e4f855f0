"""The registry of entry kinds: body validation, who must sign, rules, and the projector.

A domain adds a feature by registering an `EntryKind` in its `entries.py`:

- ``parse(body) -> B`` validates the body's shape and returns a typed value (pure; raises
  ValidationError).
- ``signers(b) -> addresses`` lists who must sign, in order (the same rule for custodial and
  self-custody entries).
- ``check(ctx, b)`` enforces the rules against the current projections, reading only; it raises a
  HeartchainError to reject the entry, which then leaves no trace.
- ``project(ctx, b)`` writes the projection rows. It runs only after `check` passed and should not
  fail; if it does, the log redoes the batch one entry per transaction so only that entry is lost.

Every write goes through `ctx.conn`, so the same code replays into a scratch store in `verify`.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from heartchain.errors import ValidationError
from heartchain.ledger.entries import Entry, verify_signatures

B = TypeVar("B")


@dataclass
class ApplyContext:
    conn: BaseDBAsyncClient
    index: int
    entry: Entry
    now: datetime  # the log's clock at integration (recorded, so replays see the same time)
    # Per-transaction memo for lookups a batch repeats (an account's role); dropped on rollback.
    memo: dict[Any, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class EntryKind(Generic[B]):
    name: str
    parse: Callable[[Mapping[str, Any]], B]
    signers: Callable[[B], Sequence[str]]
    check: Callable[[ApplyContext, B], Awaitable[None]]
    project: Callable[[ApplyContext, B], Awaitable[None]]
    summary: str = ""


@dataclass(frozen=True)
class PreparedEntry:
    """An entry whose shape and signatures have been checked; state rules come at integration."""

    entry: Entry
    kind: EntryKind[Any]
    body: Any


@dataclass(frozen=True)
class Observer:
    """Another domain's rules and projection for a kind it does not own (e.g. tracing keeps a
    campaign's cash ledger from `donation.record`). Runs after the kind's own check/project."""

    kind: str
    project: Callable[[ApplyContext, Any], Awaitable[None]]
    check: Callable[[ApplyContext, Any], Awaitable[None]] | None = None


_KINDS: dict[str, EntryKind[Any]] = {}
_OBSERVERS: dict[str, list[Observer]] = {}
_PROJECTIONS: list[type[Model]] = []


def register(kind: EntryKind[B]) -> EntryKind[B]:
    if kind.name in _KINDS and _KINDS[kind.name] is not kind:
        raise RuntimeError(f"entry kind {kind.name} registered twice")
    _KINDS[kind.name] = kind
    return kind


def observe(observer: Observer) -> Observer:
    watchers = _OBSERVERS.setdefault(observer.kind, [])
    if observer not in watchers:
        watchers.append(observer)
    return observer


async def check_all(ctx: ApplyContext, prepared: PreparedEntry) -> None:
    await prepared.kind.check(ctx, prepared.body)
    for observer in _OBSERVERS.get(prepared.kind.name, ()):
        if observer.check is not None:
            await observer.check(ctx, prepared.body)


async def project_all(ctx: ApplyContext, prepared: PreparedEntry) -> None:
    await prepared.kind.project(ctx, prepared.body)
    for observer in _OBSERVERS.get(prepared.kind.name, ()):
        await observer.project(ctx, prepared.body)


def register_projection(*models: type[Model]) -> None:
    """Tables that are pure functions of the log; `verify` rebuilds and compares each one."""
    for model in models:
        if model not in _PROJECTIONS:
            _PROJECTIONS.append(model)


def projections() -> tuple[type[Model], ...]:
    return tuple(_PROJECTIONS)


def kind_names() -> list[str]:
    return sorted(_KINDS)


def get_kind(name: str) -> EntryKind[Any]:
    try:
        return _KINDS[name]
    except KeyError:
        raise ValidationError(f"kind: unknown entry kind {name!r}", field="kind") from None


def prepare(entry: Entry) -> PreparedEntry:
    """Stateless checks: the kind exists, the body is well-formed, exactly its signers signed."""
    kind = get_kind(entry.kind)
    body = kind.parse(entry.body)
    verify_signatures(entry, kind.signers(body))
    return PreparedEntry(entry, kind, body)
