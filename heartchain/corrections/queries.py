"""Corrections, read side: what pages need to show an original struck through beside its
correction."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from heartchain.corrections.models import Correction
from heartchain.ledger.store import in_chunks


@dataclass(frozen=True)
class Corrected:
    """One field of an entry that corrections changed: its original value, the value now, and
    the corrections (oldest first) that took it there."""

    field: str
    original: Any
    current: Any
    by: tuple[int, ...]


@dataclass(frozen=True)
class EntryCorrections:
    target: int
    corrections: tuple[Correction, ...]
    fields: dict[str, Corrected]

    @property
    def latest(self) -> Correction:
        return self.corrections[-1]

    def original(self, name: str, default: Any = None) -> Any:
        found = self.fields.get(name)
        return found.original if found is not None else default


def changes_of(correction: Correction) -> dict[str, list[Any]]:
    changes: dict[str, list[Any]] = json.loads(correction.changes)
    return changes


def _fold(target: int, rows: list[Correction]) -> EntryCorrections:
    fields: dict[str, Corrected] = {}
    for row in rows:
        for name, (before, after) in changes_of(row).items():
            old = fields.get(name)
            fields[name] = Corrected(name, old.original if old else before, after,
                                     (*(old.by if old else ()), row.idx))
    return EntryCorrections(target, tuple(rows), fields)


async def corrections_of(targets: Iterable[int]) -> dict[int, EntryCorrections]:
    """Every corrected entry among `targets`, with its corrections folded per field."""
    wanted = sorted(set(targets))
    rows: list[Correction] = []
    for chunk in in_chunks(wanted):
        rows.extend(await Correction.filter(target_idx__in=chunk))
    grouped: dict[int, list[Correction]] = {}
    for row in sorted(rows, key=lambda r: r.idx):
        grouped.setdefault(row.target_idx, []).append(row)
    return {target: _fold(target, found) for target, found in grouped.items()}


async def entry_corrections(target: int) -> EntryCorrections | None:
    return (await corrections_of([target])).get(target)


async def correction_at(index: int) -> Correction | None:
    return await Correction.get_or_none(idx=index)
