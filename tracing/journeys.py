"""Where gifts went, for many donations at once: a fixed number of queries however many gifts
(the donor page shows up to 100; one journey each cost ~2.4 queries per gift before)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

from tracing.models import Allocation, Disbursement, Lot, LotEvent, OriginFlow, TracedDonation
from tracing.queries import Journey, JourneyLot, _add_link_list, _in_chunks


async def donation_journeys(indexes: Sequence[int]) -> dict[int, Journey]:
    """The journey of each recorded donation among `indexes` (the others are left out)."""
    donations = {d.idx: d for d in await _in_chunks(TracedDonation, "idx", list(indexes))}
    wanted = list(donations)
    flows_of: dict[int, list[OriginFlow]] = defaultdict(list)
    for flow in sorted(await _in_chunks(OriginFlow, "origin_idx", wanted),
                       key=lambda f: (f.idx, f.id)):
        flows_of[flow.origin_idx].append(flow)
    lot_ids = sorted({f.to_lot for fs in flows_of.values() for f in fs if f.to_lot}
                     | {f.from_lot for fs in flows_of.values() for f in fs if f.from_lot})
    lots = {lot.id: lot for lot in await _in_chunks(Lot, "id", lot_ids)}
    events_of: dict[str, list[LotEvent]] = defaultdict(list)
    for event in sorted(await _in_chunks(LotEvent, "lot_id", lot_ids), key=lambda e: e.idx):
        events_of[event.lot_id].append(event)
    cash = [i for i, d in donations.items() if d.kind == "cash"]
    allocations_of: dict[int, list[Allocation]] = defaultdict(list)
    for allocation in sorted(await _in_chunks(Allocation, "donation_idx", cash),
                             key=lambda a: (a.disbursement_idx, a.id)):
        allocations_of[allocation.donation_idx].append(allocation)
    paid = {d.idx: d for d in await _in_chunks(
        Disbursement, "idx", [a.disbursement_idx for rows in allocations_of.values()
                              for a in rows])}
    bought_with: dict[int, list[Lot]] = defaultdict(list)
    for lot in sorted(await _in_chunks(Lot, "disbursement_idx", list(paid)),
                      key=lambda lot: lot.created_idx):
        if lot.disbursement_idx is not None:
            bought_with[lot.disbursement_idx].append(lot)
    return {index: _journey(donation, flows_of[index], lots, events_of,
                            allocations_of[index], paid, bought_with)
            for index, donation in donations.items()}


def _journey(donation: TracedDonation, flows: list[OriginFlow], lots: dict[str, Lot],
             events_of: dict[str, list[LotEvent]], allocations: list[Allocation],
             paid: dict[int, Disbursement], bought_with: dict[int, list[Lot]]) -> Journey:
    """One donation's units through its lots: oldest origin first, as the flows record."""
    nodes: dict[str, JourneyLot] = {}
    totals = {"create": 0, "deliver": 0, "loss": 0}
    for lot_id in sorted({f.to_lot for f in flows if f.to_lot}
                         | {f.from_lot for f in flows if f.from_lot}):
        nodes[lot_id] = JourneyLot(lots[lot_id], steps=list(events_of.get(lot_id, ())))
    for flow in flows:
        if flow.action in totals:
            totals[flow.action] += flow.quantity
        if flow.to_lot:
            nodes[flow.to_lot].received += flow.quantity
            nodes[flow.to_lot].held += flow.quantity
        if flow.from_lot:
            source = nodes[flow.from_lot]
            source.held -= flow.quantity
            if flow.action == "deliver":
                source.delivered += flow.quantity
            elif flow.action == "loss":
                source.lost += flow.quantity
            elif flow.to_lot:
                _add_link_list(source.children, flow.to_lot, flow.quantity, flow.idx)
                _add_link_list(nodes[flow.to_lot].parents, flow.from_lot, flow.quantity,
                               flow.idx)
    spent = [(a, paid[a.disbursement_idx]) for a in allocations]
    purchased = sorted({lot.id: lot for a in allocations
                        for lot in bought_with.get(a.disbursement_idx, ())}.values(),
                       key=lambda lot: lot.created_idx)
    ordered = sorted(nodes.values(), key=lambda n: (n.lot.created_idx, len(n.lot.id), n.lot.id))
    return Journey(donation, ordered, totals["create"], totals["deliver"], totals["loss"],
                   sum(n.held for n in ordered), spent, purchased)
