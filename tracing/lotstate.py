"""What the lot kinds share: the lot id form, units, the held-lot rule and the projection writer.

Lot ids come from the creating entry: ``L<index>`` (create, merge) and ``L<index>-<n>`` (the n-th
output of a split).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Literal

import msgspec

from heartchain.accounts.entries import role_of
from heartchain.accounts.errors import UnknownAccount
from heartchain.ledger.body import literal_values
from heartchain.ledger.kinds import ApplyContext
from heartchain.ledger.store import fetch, in_chunks
from tracing import fifo
from tracing.errors import LotClosed, LotNotFound, NotCustodian
from tracing.labels import label_code
from tracing.models import Lot, LotEvent, LotShare, OriginFlow

Unit = Literal["grams", "items", "trees"]
UNITS: tuple[str, ...] = literal_values(Unit)
LOT_ID = re.compile(r"L[0-9]{1,16}(-[0-9]{1,4})?")
LotId = Annotated[str, msgspec.Meta(max_length=24, pattern=rf"\A{LOT_ID.pattern}\Z")]
HELD = "held"


def _check_held(lot_id: str, status: str, holder: str, custodian: str) -> None:
    """The rule of every step on an existing lot: it is held, and `custodian` holds it."""
    if status != HELD:
        raise LotClosed(f"lot {lot_id} was {status}; nothing more can happen to it")
    if holder != custodian:
        raise NotCustodian(f"{custodian} is not the custodian of lot {lot_id}")


async def held_lot(ctx: ApplyContext, lot_id: str, custodian: str) -> Lot:
    lot = await Lot.get_or_none(id=lot_id).using_db(ctx.conn)
    if lot is None:
        raise LotNotFound(f"lot {lot_id} does not exist")
    _check_held(lot_id, lot.status, lot.custodian, custodian)
    return lot


# The set-based handover (tracing.custody) keeps the lots its batch touches in `ctx.memo`, as
# column dicts, current with what its projector buffered; any per-entry kind clears the memo.
LOT_COLUMNS = tuple(sorted(Lot._meta.db_fields))


def _lot_key(lot_id: str) -> tuple[str, str]:
    return ("tracing.lot", lot_id)


async def load_lots(ctx: ApplyContext, lot_ids: Iterable[str]) -> None:
    """Memoize the rows of `lot_ids` in one query a chunk (a batch's prefetch); lots already
    memoized are left as they are (they may be newer), a missing lot is not memoized."""
    wanted = sorted({i for i in lot_ids if _lot_key(i) not in ctx.memo})
    for chunk in in_chunks(wanted):
        rows = await fetch(ctx.conn, f"SELECT {', '.join(LOT_COLUMNS)} FROM tracing_lot "
                           f"WHERE id IN ({', '.join('?' * len(chunk))})", chunk)
        for row in rows:
            ctx.memo[_lot_key(str(row["id"]))] = row


async def memo_lot(ctx: ApplyContext, lot_id: str) -> dict[str, Any] | None:
    """The lot's current columns: from the memo, else read (and memoized)."""
    key = _lot_key(lot_id)
    if key not in ctx.memo:
        await load_lots(ctx, [lot_id])
    row: dict[str, Any] | None = ctx.memo.get(key)
    return row


async def held_lot_row(ctx: ApplyContext, lot_id: str, custodian: str) -> dict[str, Any]:
    """`held_lot` for a set-based kind: the same rule and errors, on the memoized row."""
    row = await memo_lot(ctx, lot_id)
    if row is None:
        raise LotNotFound(f"lot {lot_id} does not exist")
    _check_held(lot_id, row["status"], row["custodian"], custodian)
    return row


def lot_of(row: dict[str, Any]) -> Lot:
    """A Lot model of a memoized row, detached from it (the memo moves on with the batch)."""
    return Lot._init_from_db(**row)


async def registered(ctx: ApplyContext, address: str, what: str) -> None:
    if await role_of(ctx, address) is None:
        raise UnknownAccount(f"{what}: {address} is not a registered account")


class Writer:
    """Collects one entry's projection rows and writes each table in one bulk insert."""

    def __init__(self, ctx: ApplyContext) -> None:
        self.ctx = ctx
        self.lots: list[Lot] = []
        self.shares: list[LotShare] = []
        self.events: list[LotEvent] = []
        self.flows: list[OriginFlow] = []

    def flow(self, origin: int, action: str, quantity: int, *, source: str | None = None,
             target: str | None = None) -> None:
        n = len(self.flows)
        self.flows.append(OriginFlow(id=f"{self.ctx.index}|{n}", idx=self.ctx.index,
                                     origin_idx=origin, action=action, from_lot=source,
                                     to_lot=target, quantity=quantity))

    def event(self, lot: Lot, action: str, moved: int, **extra: Any) -> None:
        self.events.append(LotEvent(id=f"{self.ctx.index}|{lot.id}", idx=self.ctx.index,
                                    lot_id=lot.id, action=action, quantity=lot.quantity,
                                    moved=moved, custodian=lot.custodian, at=self.ctx.entry.at,
                                    **extra))

    def new_lot(self, lot_id: str, *, origin: str, goods: str, unit: str, quantity: int,
                charity: str, custodian: str, place: str | None,
                shares: Sequence[tuple[int, int]], **extra: Any) -> Lot:
        lot = Lot(id=lot_id, code=label_code(self.ctx.entry.leaf_hash, lot_id),
                  created_idx=self.ctx.index, origin=origin, goods=goods, unit=unit,
                  initial_quantity=quantity, quantity=quantity, charity=charity,
                  custodian=custodian, status=HELD, place=place, updated_idx=self.ctx.index,
                  **extra)
        self.lots.append(lot)
        merged: dict[int, int] = {}
        for origin_idx, units in shares:
            merged[origin_idx] = merged.get(origin_idx, 0) + units
        self.shares.extend(LotShare(id=f"{lot_id}|{o}", lot_id=lot_id, origin_idx=o, quantity=q)
                           for o, q in sorted(merged.items()))
        return lot

    async def save(self) -> None:
        conn = self.ctx.conn
        for model, rows in ((Lot, self.lots), (LotShare, self.shares), (LotEvent, self.events),
                            (OriginFlow, self.flows)):
            if rows:
                await model.bulk_create(rows, using_db=conn)  # type: ignore[attr-defined]


async def pool(ctx: ApplyContext, lot_id: str) -> list[list[int]]:
    """The lot's units per origin donation, oldest first: [[origin index, units], …]."""
    rows = await fetch(ctx.conn, "SELECT origin_idx, quantity FROM tracing_lot_share "
                       "WHERE lot_id = ? AND quantity > 0 ORDER BY origin_idx", [lot_id])
    return [[int(r["origin_idx"]), int(r["quantity"])] for r in rows]


async def save_pool(ctx: ApplyContext, lot_id: str, before: list[list[int]],
                    after: list[list[int]]) -> None:
    for (origin, old), (_, new) in zip(before, after, strict=True):
        if old != new:
            await LotShare.filter(id=f"{lot_id}|{origin}").using_db(ctx.conn).update(quantity=new)


async def take_out(ctx: ApplyContext, writer: Writer, lot: Lot, quantity: int,
                   action: str) -> None:
    """Remove `quantity` units from a held lot (loss or delivery), oldest origin first."""
    shares = await pool(ctx, lot.id)
    before = [row.copy() for row in shares]
    for origin, units in fifo.take(shares, quantity):
        writer.flow(origin, action, units, source=lot.id)
    await save_pool(ctx, lot.id, before, shares)


async def update_lot(ctx: ApplyContext, lot: Lot, **changes: Any) -> None:
    for name, value in changes.items():
        setattr(lot, name, value)
    lot.updated_idx = ctx.index
    await Lot.filter(id=lot.id).using_db(ctx.conn).update(updated_idx=ctx.index, **changes)
