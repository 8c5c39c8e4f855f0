"""The donor page's journeys, batched: the same journeys as one at a time, in a number of queries
that does not grow with the number of gifts."""

from __future__ import annotations

import random
from dataclasses import asdict
from typing import Any

import httpx

from heartchain.demo import DemoState
from tests.conftest import Ledger
from tests.sql_count import counted_queries
from tests.tracing import factories as f
from tests.tracing.conftest import needs_donations
from tracing import demo, queries, services
from tracing.journeys import donation_journeys
from tracing.models import (
    Allocation,
    Disbursement,
    Lot,
    LotEvent,
    OriginFlow,
    TracedDonation,
)


async def _seeded(ledger: Ledger) -> DemoState:
    state = DemoState(ledger.platform, ledger.operator, random.Random(11))
    for label in (demo.FOOD_BANK, demo.TREES):
        state.organisations[label] = await f.account(ledger, "charity", label)
    state.members = [await f.account(ledger) for _ in range(5)]
    food, trees = state.organisations[demo.FOOD_BANK], state.organisations[demo.TREES]
    for i in range(3):
        await f.donate(ledger, food, state.members[i], "food", 25_000 + i)
    await f.donate(ledger, trees, state.members[0], "tree", 30, "spring-planting")
    for i in range(4):
        await f.donate(ledger, food, state.members[i], "cash", 10_000 * (i + 1), "school-meals")
    await demo.seed_tracing(state)
    return state


def _plain(journey: services.Journey) -> dict[str, Any]:
    """A journey as values (Tortoise rows compare by primary key only)."""
    def row(model: Any) -> dict[str, Any]:
        return {k: v for k, v in model.__dict__.items() if not k.startswith("_")}
    return {
        "donation": row(journey.donation),
        "lots": [{**asdict(n), "lot": row(n.lot), "steps": [row(e) for e in n.steps]}
                 for n in journey.lots],
        "totals": (journey.dispatched, journey.delivered, journey.lost, journey.held),
        "allocations": [(row(a), row(d)) for a, d in journey.allocations],
        "purchased": [row(lot) for lot in journey.purchased],
    }


async def _one_journey(index: int) -> services.Journey:
    """The journey as the page built it before batching, one donation's queries at a time."""
    donation = await TracedDonation.get(idx=index)
    flows = await OriginFlow.filter(origin_idx=index).order_by("idx", "id")
    lot_ids = sorted({x.to_lot for x in flows if x.to_lot} | {x.from_lot for x in flows
                                                              if x.from_lot})
    nodes = {i: services.JourneyLot(await Lot.get(id=i)) for i in lot_ids}
    totals = {"create": 0, "deliver": 0, "loss": 0}
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
                queries._add_link_list(source.children, flow.to_lot, flow.quantity, flow.idx)
                queries._add_link_list(nodes[flow.to_lot].parents, flow.from_lot,
                                        flow.quantity, flow.idx)
    for node in nodes.values():
        node.steps = await LotEvent.filter(lot_id=node.lot.id).order_by("idx")
    rows = await Allocation.filter(donation_idx=index).order_by("disbursement_idx")
    paid = {a.disbursement_idx: await Disbursement.get(idx=a.disbursement_idx) for a in rows}
    purchased = (await Lot.filter(disbursement_idx__in=list(paid)).order_by("created_idx")
                 if paid else [])
    ordered = sorted(nodes.values(), key=lambda n: (n.lot.created_idx, len(n.lot.id), n.lot.id))
    return services.Journey(donation, ordered, totals["create"], totals["deliver"],
                            totals["loss"], sum(n.held for n in ordered),
                            [(a, paid[a.disbursement_idx]) for a in rows], list(purchased))


@needs_donations
async def test_batched_journeys_equal_one_at_a_time(ledger: Ledger) -> None:
    await _seeded(ledger)
    indexes = [d.idx for d in await TracedDonation.all().order_by("idx")]
    batched = await donation_journeys([*indexes, 10**9])  # an unknown index is left out
    assert sorted(batched) == indexes
    for index in indexes:
        expected = _plain(await _one_journey(index))
        assert _plain(batched[index]) == expected
        assert _plain(await services.donation_journey(index)) == expected
    assert any(j.lots for j in batched.values()) and any(j.allocations for j in batched.values())


@needs_donations
async def test_donor_page_queries_do_not_grow_with_gifts(ledger: Ledger,
                                                         client: httpx.AsyncClient) -> None:
    state = await _seeded(ledger)
    food = state.organisations[demo.FOOD_BANK]
    few, many = state.members[3], state.members[4]
    await f.donate(ledger, food, few, "food", 100)
    for i in range(12):
        await f.donate(ledger, food, many, "food" if i % 2 else "cash", 100 + i)
    counts = []
    for donor in (few, many):
        with counted_queries() as queries:
            response = await client.get(f"/members/{donor}")
        assert response.status_code == 200
        counts.append(len(queries))
    assert counts[0] == counts[1], counts
    assert counts[1] <= 30, counts
