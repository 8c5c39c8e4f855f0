"""The registry of entry kinds, keyed by body class (heartchain.ledger.body).

A domain adds a kind in its `entries.py` with a body class and two functions:

    class Thanks(Body):
        KIND = "example.thanks"
        SIGNERS = ("charity",)
        charity: Address
        quantity: Quantity

    @rules(Thanks)
    async def _check(ctx: ApplyContext, body: Thanks) -> None: ...   # read only; raise to reject

    @projects(Thanks)
    async def _project(ctx: ApplyContext, body: Thanks) -> None: ...  # write the rows

- the rules read the current projections and raise a HeartchainError to reject the entry, which
  then leaves no trace;
- the projector runs only after every rule passed and should not fail; if it does, the log redoes
  the batch one entry per transaction so only that entry is lost.

Another domain keeps its own tables from a kind it does not own with `@observes(Body)` (the
projection) and `@observes(Body, rules=True)` (extra rules); observers run after the owner's, in
the order the domains load (heartchain.db.DOMAINS). Every write goes through `ctx.conn`, so the
same code replays into a scratch store in `verify`.

Set-based kinds (the hot ones: `donation.record`, `account.register`). A kind whose every step is
registered with `batched=True` is integrated set-based: a `@prefetches(Body)` hook loads, once
per batch, the state the batch's entries read (`async def load(ctx, bodies)`, filling `ctx.memo`
for the same lookups the rules make one by one), and its projectors write with
`await ctx.write(sql, values)`, which the batch buffers and sends with one `executemany` per
statement (heartchain.ledger.writes). A batched step promises: its rules read only `ctx.memo`
(kept current by its projectors) or state no buffered write can change; its projectors write only
through `ctx.write`, statements that do not depend on one another's order. A kind with any step
registered without `batched=True` (another domain's new observer, say) is integrated one entry at
a time as before, after the buffer is flushed, so the per-entry interface needs nothing new.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final, TypeVar

from tortoise.backends.base.client import BaseDBAsyncClient
from tortoise.models import Model

from heartchain.errors import HeartchainError, ValidationError
from heartchain.ledger.body import Body, body_class, body_classes, decode
from heartchain.ledger.entries import Entry, verify_signatures
from heartchain.ledger.store import execute
from heartchain.ledger.writes import WriteBuffer

B = TypeVar("B", bound=Body)
Step = Callable[["ApplyContext", Any], Awaitable[None]]
Prefetch = Callable[["ApplyContext", list[Any]], Awaitable[None]]


@dataclass
class ApplyContext:
    conn: BaseDBAsyncClient
    index: int
    entry: Entry
    now: datetime  # the log's clock at integration (recorded, so replays see the same time)
    # Per-transaction memo for lookups a batch repeats (an account's role); dropped on rollback.
    memo: dict[Any, Any] = field(default_factory=dict)
    # The batch's write buffer, used while a set-based kind's entry is applied (`write`).
    writes: WriteBuffer | None = None
    batched: bool = False
    # What the owning projector hands back to the writer (Appended.written.answer), so that a
    # resolver need not read back the row it just wrote (tokens: the donation's columns).
    answer: Any = None

    async def write(self, query: str, values: list[Any]) -> None:
        """Run `query` (`?` placeholders): buffered for the batch's executemany when this entry's
        kind is set-based, at once otherwise."""
        if self.batched and self.writes is not None:
            self.writes.add(query, values)
        else:
            await execute(self.conn, query, values)

    async def add_up(self, query: str, values: list[Any], *, summed: Sequence[int],
                     latest: Sequence[int] = ()) -> None:
        """`write` of an additive upsert keyed by its first value: buffered rows with one key
        are folded into one (WriteBuffer.add_up)."""
        if self.batched and self.writes is not None:
            self.writes.add_up(query, values, summed=summed, latest=latest)
        else:
            await execute(self.conn, query, values)


@dataclass
class _Steps:
    rule: Step | None = None
    projector: Step | None = None
    observer_rules: list[Step] = field(default_factory=list)
    observer_projectors: list[Step] = field(default_factory=list)
    prefetch: list[Prefetch] = field(default_factory=list)
    batched: set[tuple[str, str]] = field(default_factory=set)  # steps marked batched=True
    known: bool | None = None  # set_based(), asked once per entry: kept until a step registers

    def set_based(self) -> bool:
        if self.known is None:
            steps = [s for s in (self.rule, self.projector) if s is not None]
            steps += self.observer_rules + self.observer_projectors
            self.known = self.projector is not None and all(
                _name(s) in self.batched for s in steps)
        return self.known


# A row kept off the log, written with an entry: a statement with `?` placeholders, its values
# (ENTRY_INDEX among them stands for the index the entry is given).
OffLogRow = tuple[str, tuple[Any, ...]]


class _EntryIndex:
    def __repr__(self) -> str:
        return "ENTRY_INDEX"


ENTRY_INDEX: Final = _EntryIndex()


@dataclass(frozen=True)
class PreparedEntry:
    """An entry whose shape and signatures have been checked; state rules come at integration."""

    entry: Entry
    body: Body
    # One of a set that is integrated together or not at all (Log.append_all): a rule refusing
    # it raises SetRefused, which rolls the whole transaction back.
    all_or_none: bool = False
    # Written in the entry's own transaction when, and only when, it is integrated (a check's
    # sealed opening: never one without the other).
    off_log: tuple[OffLogRow, ...] = ()


class SetRefused(Exception):
    """A rule refused an entry of an all-or-none set (Log.append_all); nothing of the set was
    written. Deliberately not a HeartchainError: the integrator carries on past those, and must
    not here."""

    def __init__(self, entry: Entry, error: HeartchainError) -> None:
        self.entry = entry
        self.error = error
        super().__init__(f"{entry.kind}: {error}")


_STEPS: dict[type[Body], _Steps] = {}
_PROJECTIONS: list[type[Model]] = []

Decorator = Callable[[Callable[[ApplyContext, B], Awaitable[None]]],
                     Callable[[ApplyContext, B], Awaitable[None]]]


def _steps(cls: type[Body]) -> _Steps:
    if not getattr(cls, "KIND", ""):
        raise TypeError(f"{cls.__name__} declares no kind")
    return _STEPS.setdefault(cls, _Steps())


def _name(step: Callable[..., Any]) -> tuple[str, str]:
    return step.__module__, step.__qualname__


def _same(a: Callable[..., Any] | None, b: Callable[..., Any]) -> bool:
    # A module imported twice (some tests reload one) registers the same function again.
    return a is not None and _name(a) == _name(b)


def _mark(steps: _Steps, step: Step, batched: bool) -> None:
    steps.known = None
    if batched:
        steps.batched.add(_name(step))
    else:
        steps.batched.discard(_name(step))


def rules(cls: type[B], *, batched: bool = False) -> Decorator[B]:
    """The owning domain's rules for `cls`: read only; raise a HeartchainError to reject.
    `batched`: they read only `ctx.memo` or state no buffered write changes (module doc)."""
    def register(step: Callable[[ApplyContext, B], Awaitable[None]]
                 ) -> Callable[[ApplyContext, B], Awaitable[None]]:
        steps = _steps(cls)
        if steps.rule is not None and not _same(steps.rule, step):
            raise RuntimeError(f"{cls.KIND} has rules already: {steps.rule.__qualname__}")
        steps.rule = step
        _mark(steps, step, batched)
        return step
    return register


def projects(cls: type[B], *, batched: bool = False) -> Decorator[B]:
    """The owning domain's projector for `cls`; a kind without one is not applied.
    `batched`: it writes only through `ctx.write` (module doc)."""
    def register(step: Callable[[ApplyContext, B], Awaitable[None]]
                 ) -> Callable[[ApplyContext, B], Awaitable[None]]:
        steps = _steps(cls)
        if steps.projector is not None and not _same(steps.projector, step):
            raise RuntimeError(f"{cls.KIND} has a projector already: "
                               f"{steps.projector.__qualname__}")
        steps.projector = step
        _mark(steps, step, batched)
        return step
    return register


def observes(cls: type[B], *, rules: bool = False, batched: bool = False) -> Decorator[B]:
    """Another domain's projection (or, with `rules=True`, its extra rules) for `cls`;
    `batched` as for `rules` and `projects`."""
    def register(step: Callable[[ApplyContext, B], Awaitable[None]]
                 ) -> Callable[[ApplyContext, B], Awaitable[None]]:
        steps = _steps(cls)
        listed = steps.observer_rules if rules else steps.observer_projectors
        listed[:] = [s for s in listed if not _same(s, step)] + [step]
        _mark(steps, step, batched)
        return step
    return register


def prefetches(cls: type[B]) -> Callable[[Callable[[ApplyContext, list[B]], Awaitable[None]]],
                                         Callable[[ApplyContext, list[B]], Awaitable[None]]]:
    """A hook that loads, once per batch, what the batch's `cls` entries will read into
    `ctx.memo` (never replacing a key already there). Several domains may register one."""
    def register(load: Callable[[ApplyContext, list[B]], Awaitable[None]]
                 ) -> Callable[[ApplyContext, list[B]], Awaitable[None]]:
        steps = _steps(cls)
        steps.prefetch[:] = [p for p in steps.prefetch if not _same(p, load)] + [load]
        return load
    return register


def is_set_based(cls: type[Body]) -> bool:
    steps = _STEPS.get(cls)
    return steps is not None and steps.set_based()


async def prefetch_all(ctx: ApplyContext, batch: list[PreparedEntry]) -> None:
    """Run the prefetch hooks of the batch's set-based kinds, each once with all its bodies."""
    bodies: dict[type[Body], list[Body]] = {}
    for item in batch:
        bodies.setdefault(type(item.body), []).append(item.body)
    for cls, of_kind in bodies.items():
        steps = _STEPS[cls]
        if steps.set_based():
            for load in steps.prefetch:
                await load(ctx, of_kind)


async def check_all(ctx: ApplyContext, prepared: PreparedEntry) -> None:
    steps = _STEPS[type(prepared.body)]
    try:
        if steps.rule is not None:
            await steps.rule(ctx, prepared.body)
        for step in steps.observer_rules:
            await step(ctx, prepared.body)
    except HeartchainError as exc:
        if prepared.all_or_none:
            raise SetRefused(prepared.entry, exc) from exc
        raise


async def project_all(ctx: ApplyContext, prepared: PreparedEntry) -> None:
    steps = _STEPS[type(prepared.body)]
    if steps.projector is None:  # prepare() and prepared_signed() refuse such kinds
        raise RuntimeError(f"{prepared.entry.kind} has no projector")
    await steps.projector(ctx, prepared.body)
    for step in steps.observer_projectors:
        await step(ctx, prepared.body)


def register_projection(*models: type[Model]) -> None:
    """Tables that are pure functions of the log; `verify` rebuilds and compares each one."""
    for model in models:
        if model not in _PROJECTIONS:
            _PROJECTIONS.append(model)


def projections() -> tuple[type[Model], ...]:
    return tuple(_PROJECTIONS)


def kind_names() -> list[str]:
    """Every kind the loaded domains can apply."""
    return sorted(name for name, cls in body_classes().items() if _applied(cls))


def _applied(cls: type[Body]) -> bool:
    steps = _STEPS.get(cls)
    return steps is not None and steps.projector is not None


def _require_applied(cls: type[Body]) -> None:
    if not _applied(cls):
        raise ValidationError(f"kind: no loaded domain applies {cls.KIND!r}", field="kind")


def applied_class(kind: str) -> type[Body]:
    """The body class of `kind`, if a loaded domain applies it; a ValidationError otherwise."""
    cls = body_class(kind)
    _require_applied(cls)
    return cls


def prepare(entry: Entry) -> PreparedEntry:
    """Stateless checks: the kind exists, the body is well-formed, exactly its signers signed."""
    body = decode(applied_class(entry.kind), entry.body)
    verify_signatures(entry, body.signers())
    return PreparedEntry(entry, body)


def prepared_signed(entry: Entry, body: Body, *, all_or_none: bool = False,
                    off_log: tuple[OffLogRow, ...] = ()) -> PreparedEntry:
    """`entry` as built from `body`, already decoded, and signed by its signers' keys
    (Platform.write): only the check that needs no re-reading, that a domain applies the kind."""
    _require_applied(type(body))
    return PreparedEntry(entry, body, all_or_none, off_log)
