"""The goods side of a disclosure report (tracing.disclosure), per quarter: goods received
(in-kind gifts), distributed (`lot.deliver`), lost (`lot.loss`, and the loss of a split or merge)
and in stock at the quarter's close.

A campaign's origins are its in-kind gifts and the lots bought with its disbursements (see
tracing.models: every unit in a lot belongs to one origin). In stock at a quarter's close is

- the units of those origins held in lots, by the lot's goods and unit (a merge may rename the
  goods: the units move to the new name), and
- in-kind gifts not yet put into a lot, less what was reversed of them, by the gift's kind
  (`food` grams, `tree` trees),

each row listing the origin entries its units came from. Received, distributed and lost list the
entries that moved the goods. All of it comes from the projections' origin flows, timed by the
lot step of the same entry.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field

from tracing.models import Disbursement, Lot, LotEvent, OriginFlow, TracedDonation
from tracing.queries import _in_chunks

GIFT_UNITS = {"food": "grams", "tree": "trees"}

Key = tuple[str, str]  # (item, unit)


@dataclass
class Goods:
    item: str
    unit: str
    quantity: int = 0
    count: int = 0
    entries: list[int] = field(default_factory=list)


@dataclass
class QuarterGoods:
    received: list[Goods] = field(default_factory=list)
    distributed: list[Goods] = field(default_factory=list)
    lost: list[Goods] = field(default_factory=list)
    in_stock: list[Goods] = field(default_factory=list)


def _gift_key(gift: TracedDonation) -> Key:
    return gift.kind, GIFT_UNITS.get(gift.kind, gift.kind)


class _Moves:
    """What each quarter moved: figures by entry, and stock changes by origin."""

    def __init__(self) -> None:
        self.figures: dict[tuple[str, str, Key], Goods] = {}  # (quarter, section, key)
        self.stock: dict[str, list[tuple[Key, int, int]]] = defaultdict(list)

    def figure(self, quarter: str, section: str, key: Key, quantity: int, index: int) -> None:
        row = self.figures.setdefault((quarter, section, key), Goods(*key))
        row.quantity += quantity
        if index not in row.entries:
            row.count += 1
            row.entries.append(index)

    def change(self, quarter: str, key: Key, origin: int, quantity: int) -> None:
        self.stock[quarter].append((key, origin, quantity))

    def of(self, quarter: str, section: str) -> list[Goods]:
        return [v for (q, s, _), v in sorted(self.figures.items()) if (q, s) == (quarter, section)]


async def goods_by_quarter(donations: list[TracedDonation], disbursements: list[Disbursement],
                           quarters: list[str], quarter_of: Callable[[str], str]
                           ) -> dict[str, QuarterGoods]:
    gifts = {d.idx: d for d in donations if d.kind != "cash"}
    bought = [lot for lot in await _in_chunks(Lot, "disbursement_idx",
                                              [p.idx for p in disbursements])
              if lot.origin == "purchase"]
    flows = await _in_chunks(OriginFlow, "origin_idx", [*gifts, *(b.created_idx for b in bought)])
    lots = {lot.id: lot for lot in await _in_chunks(
        Lot, "id", sorted({name for f in flows for name in (f.from_lot, f.to_lot) if name}))}
    times = {e.idx: e.at for e in await _in_chunks(LotEvent, "idx", sorted({f.idx for f in flows}))}
    moves = _Moves()
    for gift in gifts.values():
        key = _gift_key(gift)
        moves.figure(quarter_of(gift.at), "received", key, gift.quantity, gift.idx)
        moves.change(quarter_of(gift.at), key, gift.idx, gift.quantity)
        if gift.reversed and gift.reversed_at:
            moves.change(quarter_of(gift.reversed_at), key, gift.idx, -gift.reversed)
    for flow in sorted(flows, key=lambda f: (f.idx, f.id)):
        if flow.idx not in times:
            continue
        quarter = quarter_of(times[flow.idx])
        source, target = lots.get(flow.from_lot or ""), lots.get(flow.to_lot or "")
        if flow.action == "create" and flow.origin_idx in gifts:
            moves.change(quarter, _gift_key(gifts[flow.origin_idx]), flow.origin_idx,
                         -flow.quantity)
        if source is not None:
            moves.change(quarter, (source.goods, source.unit), flow.origin_idx, -flow.quantity)
            if flow.action in ("deliver", "loss"):
                section = "distributed" if flow.action == "deliver" else "lost"
                moves.figure(quarter, section, (source.goods, source.unit), flow.quantity,
                             flow.idx)
        if target is not None:
            moves.change(quarter, (target.goods, target.unit), flow.origin_idx, flow.quantity)
    return _by_quarter(moves, quarters)


def _by_quarter(moves: _Moves, quarters: list[str]) -> dict[str, QuarterGoods]:
    held: dict[Key, dict[int, int]] = defaultdict(lambda: defaultdict(int))
    found = {}
    # Changes dated before the first quarter shown open it; none can be dated after `now`.
    earlier = [q for q in moves.stock if quarters and q < quarters[0]]
    for quarter in quarters:
        for name in [*earlier, quarter]:
            for key, origin, quantity in moves.stock.get(name, ()):
                held[key][origin] += quantity
        earlier = []
        stock = []
        for key in sorted(held):
            origins = sorted(o for o, units in held[key].items() if units > 0)
            total = sum(held[key][o] for o in origins)
            if total:
                stock.append(Goods(*key, quantity=total, count=len(origins), entries=origins))
        found[quarter] = QuarterGoods(moves.of(quarter, "received"),
                                      moves.of(quarter, "distributed"),
                                      moves.of(quarter, "lost"), stock)
    return found
