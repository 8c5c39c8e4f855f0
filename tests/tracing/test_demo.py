from __future__ import annotations

import random

from heartchain.demo import DemoState
from heartchain.ledger.verify import verify_log
from tests.conftest import Ledger
from tests.tracing import factories as f
from tests.tracing.conftest import needs_donations
from tracing import demo, services
from tracing.models import Campaign, Disbursement, Lot, LotEvent


@needs_donations
async def test_demo_seeds_lots_and_disbursements(ledger: Ledger) -> None:
    state = DemoState(ledger.platform, ledger.operator, random.Random(7))
    for label in (demo.FOOD_BANK, demo.TREES):
        state.organisations[label] = await f.account(ledger, "charity", label)
    state.members = [await f.account(ledger) for _ in range(6)]
    food, trees = state.organisations[demo.FOOD_BANK], state.organisations[demo.TREES]
    rice = [await f.donate(ledger, food, state.members[i], "food", 25_000 + i) for i in range(3)]
    await f.donate(ledger, trees, state.members[0], "tree", 30, "spring-planting")
    for i in range(4):
        await f.donate(ledger, food, state.members[i], "cash", 10_000 * (i + 1), "school-meals")

    await demo.seed_tracing(state)

    assert await LotEvent.filter(action="deliver").count() >= 3 * 3 + 2
    assert await Lot.filter(status="held").exists()  # some rice is still on its way
    # A campaign spends on its own purpose: this one like the food bank's (rice, the van).
    assert await Disbursement.all().count() == len(demo.MEALS)
    assert await Lot.filter(origin="purchase").count() == 1
    campaign = await Campaign.get(slug="school-meals")
    assert campaign.balance == campaign.donated - campaign.disbursed
    journey = await services.donation_journey(rice[0])
    assert journey.dispatched == 25_000 and journey.delivered > 0 and journey.lost > 0
    assert any("donationJourney" in note for note in state.notes)
    await verify_log(ledger.platform.log)
