"""Properties: FIFO sums, and conservation over random handovers, splits, merges, losses and
deliveries through the real log.

Hypothesis drives synchronous functions, so each property runs in a worker thread and hands every
example's coroutine back to the test's event loop (where Tortoise and the log live)."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Callable, Coroutine
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from heartchain.errors import HeartchainError
from heartchain.ledger.store import fetch
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import Cast, needs_donations
from tracing import errors, fifo, services
from tracing.models import Allocation, Campaign, Lot, TracedDonation

PROPERTY = settings(max_examples=20, deadline=None, database=None,
                    suppress_health_check=list(HealthCheck))


def on_loop(loop: asyncio.AbstractEventLoop) -> Callable[[Coroutine[Any, Any, Any]], Any]:
    return lambda coro: asyncio.run_coroutine_threadsafe(coro, loop).result()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.integers(0, 50), min_size=1, max_size=8), st.data())
def test_fifo_takes_exactly_oldest_first(units: list[int], data: st.DataObject) -> None:
    pool = [[origin, u] for origin, u in enumerate(units)]
    total = sum(units)
    cuts = sorted(data.draw(st.lists(st.integers(0, total), max_size=5)))
    amounts = [b - a for a, b in itertools.pairwise([0, *cuts])]
    taken_all: dict[int, int] = {}
    last_origin = -1
    for amount in amounts:
        taken = fifo.take(pool, amount)
        assert sum(q for _, q in taken) == amount
        for origin, q in taken:
            assert q > 0 and origin >= last_origin  # never goes back to an older origin
            last_origin = origin
            taken_all[origin] = taken_all.get(origin, 0) + q
    for origin, u in enumerate(units):
        assert taken_all.get(origin, 0) + pool[origin][1] == u


OPS = st.lists(st.tuples(st.sampled_from(["handover", "split", "merge", "loss", "deliver"]),
                         st.integers(0, 10**6), st.integers(0, 10**6), st.integers(2, 4)),
               max_size=10)


async def _scenario(ledger: Ledger, people: list[str], ops: list[tuple[str, int, int, int]],
                    donation: int | None) -> None:
    platform = ledger.platform
    charity = people[0]
    await f.purchased_lot(ledger, charity, 5_000)
    if donation is not None:
        await services.create_lot(platform, charity=charity, goods="rice", quantity=700,
                                  unit="grams", custodian=charity, donation=donation)
    for op, a, b, parts in ops:
        held = await Lot.filter(status="held").order_by("id")
        if not held:
            return
        lot = held[a % len(held)]
        try:
            if op == "handover":
                taker = [p for p in people if p != lot.custodian][b % (len(people) - 1)]
                await services.hand_over(platform, lot=lot.id, giver=lot.custodian, taker=taker,
                                         place="somewhere", evidence=f.digest())
            elif op == "split":
                loss = b % (lot.quantity // 4 + 1)
                rest = lot.quantity - loss
                if rest < parts:
                    continue
                outputs = [rest // parts] * (parts - 1)
                outputs.append(rest - sum(outputs))
                await services.split_lot(platform, by=lot.custodian, lot=lot.id, outputs=outputs,
                                         loss=loss, reason="sorted" if loss else None)
            elif op == "merge":
                other = held[b % len(held)]
                if other.id == lot.id:
                    continue
                if other.custodian != lot.custodian:
                    await services.hand_over(platform, lot=other.id, giver=other.custodian,
                                             taker=lot.custodian, place="hub",
                                             evidence=f.digest())
                loss = b % (min(lot.quantity, other.quantity) // 5 + 1)
                await services.merge_lots(platform, by=lot.custodian, lots=[lot.id, other.id],
                                          loss=loss, reason="dust" if loss else None)
            elif op == "loss":
                await services.record_loss(platform, by=lot.custodian, lot=lot.id,
                                           quantity=1 + b % lot.quantity, reason="spoiled")
            else:
                await services.deliver_lot(platform, by=lot.custodian, lot=lot.id,
                                           quantity=1 + b % lot.quantity, place="school",
                                           commitment=f.digest())
        except HeartchainError as exc:
            raise AssertionError(f"{op} on {lot.id} was refused: {exc}") from exc


async def _check_conservation() -> None:
    conn = Lot._meta.db
    created = await fetch(conn, "SELECT origin_idx, SUM(quantity) AS q FROM tracing_origin_flow "
                          "WHERE action = 'create' GROUP BY origin_idx")
    gone = await fetch(conn, "SELECT origin_idx, SUM(quantity) AS q FROM tracing_origin_flow "
                       "WHERE action IN ('loss', 'deliver') GROUP BY origin_idx")
    held = await fetch(conn, "SELECT origin_idx, SUM(quantity) AS q FROM tracing_lot_share "
                       "GROUP BY origin_idx")
    out = {int(r["origin_idx"]): int(r["q"]) for r in gone}
    kept = {int(r["origin_idx"]): int(r["q"]) for r in held}
    for row in created:
        origin = int(row["origin_idx"])
        assert int(row["q"]) == out.get(origin, 0) + kept.get(origin, 0), origin
    shares = {r["lot_id"]: int(r["q"]) for r in await fetch(
        conn, "SELECT lot_id, SUM(quantity) AS q FROM tracing_lot_share GROUP BY lot_id")}
    for lot in await Lot.all():
        assert shares.get(lot.id, 0) == lot.quantity, lot.id
        if lot.status == "held":
            assert lot.quantity > 0 and lot.custodian  # one custodian per live lot
        else:
            assert lot.quantity == 0
    dispatched = {r["origin_idx"]: int(r["q"]) for r in created}
    for donation in await TracedDonation.all():
        assert dispatched.get(donation.idx, 0) == donation.used


async def test_random_sequences_conserve_quantity(ledger: Ledger, cast: Cast) -> None:
    people = [cast.charity, cast.driver, cast.school]
    donation = None
    if f.has_donations():
        donation = await f.donate(ledger, cast.charity, cast.donor, "food", 10**6)
    run = on_loop(asyncio.get_running_loop())

    @PROPERTY
    @given(OPS)
    def prop(ops: list[tuple[str, int, int, int]]) -> None:
        run(_scenario(ledger, people, ops, donation))
        run(_check_conservation())

    await asyncio.to_thread(prop)
    kinds = {r["kind"]: int(r["n"]) for r in await fetch(
        Lot._meta.db, "SELECT kind, COUNT(*) AS n FROM log_entry GROUP BY kind")}
    for kind in ("lot.handover", "lot.split", "lot.merge", "lot.loss", "lot.deliver"):
        assert kinds.get(kind, 0) > 0, kinds  # every operation was exercised
    await verify_log(ledger.platform.log)


@needs_donations
async def test_fifo_allocation_sums(ledger: Ledger, cast: Cast) -> None:
    platform = ledger.platform
    run = on_loop(asyncio.get_running_loop())
    counter = itertools.count()

    async def scenario(gifts: list[int], spends: list[int]) -> None:
        slug = f"p{next(counter)}"
        for amount in gifts:
            await f.donate(ledger, cast.charity, cast.donor, "cash", amount, slug)
        for amount in spends:
            campaign = await services.find_campaign(slug)
            try:
                paid = await services.disburse(platform, charity=cast.charity, campaign=slug,
                                               amount=amount, payee="x", purpose="y",
                                               receipt=f.digest())
            except errors.InsufficientFunds:
                assert amount > campaign.balance
                continue
            allocations = await Allocation.filter(disbursement_idx=paid.idx)
            assert sum(a.amount for a in allocations) == amount
        campaign = await services.find_campaign(slug)
        assert campaign.balance == campaign.donated - campaign.reversed - campaign.disbursed
        assert campaign.balance >= 0
        for donation in await TracedDonation.filter(campaign_key=campaign.key):
            spent = sum(a.amount for a in await Allocation.filter(donation_idx=donation.idx))
            assert spent == donation.used <= donation.quantity

    @PROPERTY
    @given(st.lists(st.integers(1, 5_000), min_size=1, max_size=5),
           st.lists(st.integers(1, 8_000), max_size=6))
    def prop(gifts: list[int], spends: list[int]) -> None:
        run(scenario(gifts, spends))

    await asyncio.to_thread(prop)
    total = await Campaign.all()
    assert all(c.balance == c.donated - c.reversed - c.disbursed for c in total)
    await verify_log(platform.log)
