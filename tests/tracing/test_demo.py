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


# What spending fits each category, stated here independently of the demo's own tables: a
# food campaign buys food and its transport, a tree campaign saplings and tools, a medical one
# medicine and care. Only food campaigns buy rice (the purchase lots).
FITS = {"food": {"food", "transport"}, "trees": {"seedlings", "tools"},
        "medical": {"medicine", "services", "medical_supplies"}}


@needs_donations
async def test_each_demo_campaign_spends_on_its_purpose(ledger: Ledger) -> None:
    from tokens.entries import RecordBody
    from tracing.campaign_models import DeclaredCampaign, DisbursementKind
    from tracing.demo_campaigns import CAMPAIGNS, declare_demo_campaigns

    state = DemoState(ledger.platform, ledger.operator, random.Random(7))
    for label in {c.charity for c in CAMPAIGNS}:
        state.organisations[label] = await f.account(ledger, "charity", label)
    state.members = [await f.account(ledger) for _ in range(6)]
    await declare_demo_campaigns(state)  # the demo's real declarations
    for c in CAMPAIGNS:  # cash into every one of them, so each spends
        charity = state.organisations[c.charity]
        for i, donor in enumerate(state.members[:3]):
            await ledger.platform.write(RecordBody(charity=charity, donor=donor, kind="cash",
                                                   quantity=100_000 * (i + 1), campaign=c.slug))
    await demo.seed_tracing(state)

    declared = {d.key: d for d in await DeclaredCampaign.all()}
    spent = await Disbursement.all()
    assert {declared[p.campaign_key].slug for p in spent} >= {c.slug for c in CAMPAIGNS}
    kinds = {k.idx: k for k in await DisbursementKind.all()}
    for payment in spent:
        campaign = declared[payment.campaign_key]
        kind = kinds[payment.idx]  # every demo disbursement says what it bought
        assert kind.goods in FITS[campaign.category], (campaign.slug, payment.purpose)
        assert kind.goods in campaign.goods.split(",")
        assert kind.payee_kind in campaign.payees.split(",")
    for lot in await Lot.filter(origin="purchase"):
        bought_by = declared[next(p for p in spent if p.idx == lot.disbursement_idx).campaign_key]
        assert bought_by.category == "food" and "rice" in lot.goods
    trees = next(c for c in CAMPAIGNS if c.category == "trees")
    tree_spend = [p for p in spent if declared[p.campaign_key].slug == trees.slug]
    assert tree_spend and not any("rice" in p.purpose or "大米" in p.purpose for p in tree_spend)
    await verify_log(ledger.platform.log)
