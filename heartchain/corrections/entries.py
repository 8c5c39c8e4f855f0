"""`entry.correct`, a correction: an earlier entry's values, amended by its own signers.

    {"kind": "entry.correct", "body": {"by": ["hc1…"], "entry": 812,
     "target": "donation.record", "reason": "wrong_amount", "note": "typed 5000 for 500",
     "values": {"quantity": 500}}}

- `by` are the corrected entry's signers, all of them, in its signing order (a handover's giver
  and taker both sign its correction), and they sign the correction;
- `target` is the corrected entry's kind, `entry` its index; `values` the correct values of some
  of the fields the kind declares correctable, by their wire names, each checked against the
  field's declared type; a value equal to what the entry already says is refused;
- `reason` one of CORRECTION_REASONS (`other` needs a `note`).

A domain declares a kind correctable with `@correctable(Body, fields)` on a reader of the
entry's current values (from its projections: a correction sees earlier corrections), and keeps
its projections right with `@correction_check(Body)` / `@correction_apply(Body)`; several domains
may follow one kind (a donation's hearts in tokens, its campaign cash in tracing). What is
correctable (and why only that):

| kind              | fields                        | not correctable (why)               |
|-------------------|-------------------------------|-------------------------------------|
| `donation.record` | `quantity`, `campaign`        | donor, kind: another gift; reverse  |
|                   |                               | it and record the right one         |
| `fund.disburse`   | `payee`, `purpose`, `receipt` | amount: allocated to donations FIFO |
| `lot.handover`    | `place`, `evidence`           | lot, giver, taker: custody itself   |

A correction cannot be corrected: a second correction of the same entry amends the values the
first one left (the `before` it records is the first one's `after`), and pages show the original
struck through beside the latest value.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Literal, get_type_hints

import msgspec

from heartchain.corrections.errors import (
    CorrectionTargetNotFound,
    NotCorrectable,
    NothingToCorrect,
    NotTheSigner,
)
from heartchain.corrections.models import Correction
from heartchain.errors import ValidationError
from heartchain.ledger.body import Address, Body, Index, Text, literal_values
from heartchain.ledger.kinds import ApplyContext, projects, rules

CorrectionReason = Literal["typo", "wrong_amount", "wrong_campaign", "wrong_party",
                           "wrong_document", "wrong_place", "other"]
CORRECTION_REASONS: tuple[str, ...] = literal_values(CorrectionReason)
KindName = Annotated[str, msgspec.Meta(pattern=r"\A[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*)*\Z",
                                       max_length=64)]
Value = str | int
FieldName = Annotated[str, msgspec.Meta(pattern=r"\A[a-z][a-z0-9_]{0,31}\Z")]


class CorrectionBody(Body):
    """The correct values of some fields of an earlier entry, signed by that entry's signers."""

    KIND = "entry.correct"
    SIGNERS = ("by",)

    by: Annotated[tuple[Address, ...], msgspec.Meta(min_length=1, max_length=4)]
    entry: Index
    target: KindName
    reason: CorrectionReason
    values: Annotated[dict[FieldName, Value], msgspec.Meta(min_length=1, max_length=8)]
    note: Text | None = None

    def __post_init__(self) -> None:
        if len(set(self.by)) != len(self.by):
            raise ValidationError("correction: by: a signer is listed twice", field="by")
        if self.reason == "other" and self.note is None:
            raise ValidationError("correction: note: reason 'other' needs a note", field="note")

    def signers(self) -> list[str]:
        return list(self.by)


@dataclass(frozen=True)
class Current:
    """An entry as it stands now: its signers and its correctable fields' values."""

    signers: tuple[str, ...]
    values: dict[str, Any]
    row: Any = None  # the owning domain's projection row, for its own checks


@dataclass(frozen=True)
class Change:
    """What one correction changes: only the fields whose value it changes."""

    index: int  # the correction entry
    target: int
    kind: str
    before: dict[str, Any]
    after: dict[str, Any]
    current: Current


Reader = Callable[[ApplyContext, int], Awaitable[Current | None]]
ChangeStep = Callable[[ApplyContext, Change], Awaitable[None]]


@dataclass
class _Handler:
    body: type[Body]
    fields: tuple[str, ...]
    current: Reader
    checks: list[ChangeStep] = field(default_factory=list)
    applies: list[ChangeStep] = field(default_factory=list)


_HANDLERS: dict[str, _Handler] = {}


def _name(step: Callable[..., Any]) -> tuple[str, str]:
    return (step.__module__, step.__qualname__)


def _add(steps: list[ChangeStep], step: ChangeStep) -> None:
    # A module imported twice (some tests reload one) registers the same function again.
    steps[:] = [s for s in steps if _name(s) != _name(step)] + [step]


def correctable(cls: type[Body], fields: tuple[str, ...]) -> Callable[[Reader], Reader]:
    """Declare `fields` (wire names) of `cls` correctable; the decorated function reads an
    entry's current values from the owning domain's projections (None: no such entry)."""
    wire_names = {f.encode_name for f in msgspec.structs.fields(cls)}
    unknown = set(fields) - wire_names
    if unknown:
        raise RuntimeError(f"{cls.KIND} has no fields {sorted(unknown)}")

    def register(reader: Reader) -> Reader:
        found = _HANDLERS.get(cls.KIND)
        if found is not None and _name(found.current) != _name(reader):
            raise RuntimeError(f"{cls.KIND} is correctable already ({found.current.__qualname__})")
        handler = _Handler(cls, fields, reader)
        if found is not None:
            handler.checks, handler.applies = found.checks, found.applies
        _HANDLERS[cls.KIND] = handler
        return reader
    return register


def _handler(cls: type[Body]) -> _Handler:
    found = _HANDLERS.get(cls.KIND)
    if found is None:
        raise RuntimeError(f"{cls.KIND} is not declared correctable")
    return found


def correction_check(cls: type[Body]) -> Callable[[ChangeStep], ChangeStep]:
    """A rule a correction of `cls` must pass (read only; raise to refuse)."""
    def register(step: ChangeStep) -> ChangeStep:
        _add(_handler(cls).checks, step)
        return step
    return register


def correction_apply(cls: type[Body]) -> Callable[[ChangeStep], ChangeStep]:
    """How a domain's projections follow a correction of `cls` (in the order registered)."""
    def register(step: ChangeStep) -> ChangeStep:
        _add(_handler(cls).applies, step)
        return step
    return register


def correctable_fields() -> dict[str, tuple[str, ...]]:
    return {kind: handler.fields for kind, handler in sorted(_HANDLERS.items())}


def _check_type(cls: type[Body], name: str, value: Any) -> None:
    hints = get_type_hints(cls, include_extras=True)
    attribute = next(f.name for f in msgspec.structs.fields(cls) if f.encode_name == name)
    try:
        msgspec.convert(value, hints[attribute])
    except msgspec.ValidationError as exc:
        raise ValidationError(f"correction: values.{name}: {exc}", field="values") from None


async def _change(ctx: ApplyContext, body: CorrectionBody) -> tuple[_Handler, Change]:
    handler = _HANDLERS.get(body.target)
    if handler is None:
        if body.target == CorrectionBody.KIND:
            raise NotCorrectable("correction: a correction cannot be corrected; correct the "
                                 "original entry again (the newer correction applies on top)")
        raise NotCorrectable(f"correction: {body.target} entries cannot be corrected "
                             f"(correctable: {', '.join(sorted(_HANDLERS))})")
    unknown = sorted(set(body.values) - set(handler.fields))
    if unknown:
        raise NotCorrectable(f"correction: {body.target}: {', '.join(unknown)} cannot be "
                             f"corrected (correctable: {', '.join(handler.fields)})")
    current = await handler.current(ctx, body.entry)
    if current is None:
        raise CorrectionTargetNotFound(f"correction: entry {body.entry} is not a "
                                       f"{body.target} entry")
    if tuple(body.by) != current.signers:
        raise NotTheSigner(f"correction: entry {body.entry} can be corrected only by its "
                           f"signers, {', '.join(current.signers)}, all of them in that order")
    for name, value in body.values.items():
        _check_type(handler.body, name, value)
    same = sorted(name for name, value in body.values.items() if current.values[name] == value)
    if same:
        raise NothingToCorrect(f"correction: entry {body.entry} already has "
                               + ", ".join(f"{n} = {current.values[n]!r}" for n in same))
    before = {name: current.values[name] for name in body.values}
    return handler, Change(ctx.index, body.entry, body.target, before, dict(body.values),
                           current)


@rules(CorrectionBody)
async def _check(ctx: ApplyContext, body: CorrectionBody) -> None:
    handler, change = await _change(ctx, body)
    for step in handler.checks:
        await step(ctx, change)


@projects(CorrectionBody)
async def _project(ctx: ApplyContext, body: CorrectionBody) -> None:
    handler, change = await _change(ctx, body)
    changes = {name: [change.before[name], change.after[name]] for name in sorted(change.after)}
    await Correction.create(using_db=ctx.conn, idx=ctx.index, target_idx=body.entry,
                            target_kind=body.target, signers=",".join(body.by),
                            reason=body.reason, note=body.note, at=ctx.entry.at,
                            changes=json.dumps(changes, ensure_ascii=False, sort_keys=True))
    for step in handler.applies:
        await step(ctx, change)
