"""TRANSITIONAL: the old name-keyed kind registry, kept only while domains move to declared
bodies (heartchain.ledger.body / kinds). Deleted once every domain is converted."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from heartchain.ledger.kinds import ApplyContext

B = TypeVar("B")


@dataclass(frozen=True)
class EntryKind(Generic[B]):
    name: str
    parse: Callable[[Mapping[str, Any]], B]
    signers: Callable[[B], Sequence[str]]
    check: Callable[[ApplyContext, B], Awaitable[None]]
    project: Callable[[ApplyContext, B], Awaitable[None]]
    summary: str = ""


@dataclass(frozen=True)
class Observer:
    kind: str
    project: Callable[[ApplyContext, Any], Awaitable[None]]
    check: Callable[[ApplyContext, Any], Awaitable[None]] | None = None


KINDS: dict[str, EntryKind[Any]] = {}
OBSERVERS: dict[str, list[Observer]] = {}


def register(kind: EntryKind[B]) -> EntryKind[B]:
    KINDS[kind.name] = kind
    return kind


def observe(observer: Observer) -> Observer:
    watchers = OBSERVERS.setdefault(observer.kind, [])
    watchers[:] = [w for w in watchers if w.project.__qualname__ != observer.project.__qualname__]
    watchers.append(observer)
    return observer
