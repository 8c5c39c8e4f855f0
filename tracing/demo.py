"""Demo seeding for tracing: food and tree lots through several hops, splits, losses and
deliveries, and cash campaigns with disbursements (FIFO-allocated) and goods bought with them.

Runs after the tokens seeder, so donations exist; it uses the recorded food, tree and cash
donations of the demo charities. Independent lot chains run concurrently so the log batches them.
"""

from __future__ import annotations

import asyncio
import hashlib
import random

from heartchain.accounts.services import register_account
from heartchain.demo import DemoState, seeder
from heartchain.platform import Platform
from tracing import services
from tracing.campaign_models import DeclaredCampaign
from tracing.demo_campaigns import seed_pay_for_success
from tracing.models import Campaign, TracedDonation

FOOD_BANK = "Sunrise Food Bank 朝阳食物银行"
TREES = "Green Ridge Tree Planting 青山植树"
WAREHOUSES = ["Sunrise central warehouse 朝阳中心仓库", "Eastside depot 东区中转站"]
SCHOOLS = ["Hope Primary School canteen 希望小学食堂", "Riverside elder home 滨江敬老院",
           "Xishan village committee 西山村委会", "Community kitchen 社区厨房"]
HILLSIDES = ["Green Ridge nursery 青山苗圃", "North slope plot 7 北坡7号地块",
             "Dry river bank 干河岸"]
DEPOT = "Eastside depot drivers 东区中转站车队"
PLANTERS = "North slope planting team 北坡植树队"
MAX_CHAINS = 8
# What each demo campaign spends on: its own purpose, within the goods and payee kinds it
# declared (tracing.demo_campaigns): payee, purpose, goods kind, payee kind, percent of what it
# raised, and whether that spend buys rice, which becomes a lot. No tree campaign buys rice.
Spend = tuple[str, str, str, str, int, bool]
MEALS: list[Spend] = [
    ("Grain & Oil Co. 粮油公司", "rice for school lunches 学校午餐大米", "food", "supplier", 35,
     True),
    ("City Transport 城市运输", "delivery van hire 配送车辆租赁", "transport", "transport", 10,
     False)]
SPENDS: dict[str, list[Spend]] = {  # by the campaign's declared category
    "food": MEALS,
    "trees": [
        ("Green Ridge nursery 青山苗圃", "pine saplings 松树苗", "seedlings", "nursery", 40, False),
        ("Hillside tools 山地工具行", "planting tools 植树工具", "tools", "supplier", 10, False)],
    "medical": [
        ("Riverside People's Hospital 滨江人民医院",
         "heart surgery for a child patient 儿童心脏手术", "services", "hospital", 45, False),
        ("Hope Pharmacy 希望药房", "post-operative medicine 术后药品", "medicine", "pharmacy", 15,
         False)],
}


def _hash(rng: random.Random) -> str:
    return hashlib.sha256(rng.randbytes(16)).hexdigest()


async def _food_chain(platform: Platform, state: DemoState, donation: TracedDonation,
                      rng: random.Random) -> str:
    """Donation → lot at the warehouse → driver → split into sacks → schools → deliveries."""
    charity = donation.charity
    driver = state.organisations[DEPOT]
    staff = [state.organisations[school] for school in SCHOOLS]
    lot = await services.create_lot(platform, charity=charity, goods="rice 大米",
                                    quantity=donation.quantity - donation.used - donation.reversed,
                                    unit="grams", custodian=charity, donation=donation.idx,
                                    place=WAREHOUSES[0])
    await services.hand_over(platform, lot=lot.id, giver=charity, taker=driver,
                             place=WAREHOUSES[0], evidence=_hash(rng))
    parts = 3 if lot.quantity >= 30 else 1
    loss = lot.quantity // 50 if parts > 1 else 0
    share = (lot.quantity - loss) // parts
    outputs = [share] * (parts - 1) + [lot.quantity - loss - share * (parts - 1)]
    sacks = await services.split_lot(platform, by=driver, lot=lot.id, outputs=outputs, loss=loss,
                                     reason="torn sack 麻袋破损" if loss else None,
                                     place=WAREHOUSES[1])
    for n, sack in enumerate(sacks):
        which = (n + donation.idx) % len(SCHOOLS)
        school, taker = SCHOOLS[which], staff[which]
        await services.hand_over(platform, lot=sack.id, giver=driver, taker=taker, place=school,
                                 evidence=_hash(rng))
        first = sack.quantity * 2 // 3 or sack.quantity
        await services.deliver_lot(platform, by=taker, lot=sack.id, quantity=first, place=school,
                                   commitment=_hash(rng))
        if first < sack.quantity and n == 0:
            await services.record_loss(platform, by=taker, lot=sack.id,
                                       quantity=sack.quantity - first, reason="spoiled",
                                       note="damp storage 受潮", place=school)
    return lot.id


async def _tree_chain(platform: Platform, state: DemoState, donation: TracedDonation,
                      rng: random.Random) -> str:
    charity = donation.charity
    team = state.organisations[PLANTERS]
    lot = await services.create_lot(platform, charity=charity, goods="pine saplings 松树苗",
                                    quantity=donation.quantity - donation.used - donation.reversed,
                                    unit="trees", custodian=charity, donation=donation.idx,
                                    place=HILLSIDES[0])
    await services.hand_over(platform, lot=lot.id, giver=charity, taker=team, place=HILLSIDES[0],
                             evidence=_hash(rng))
    planted = lot.quantity if lot.quantity < 2 else lot.quantity - lot.quantity // 2
    await services.deliver_lot(platform, by=team, lot=lot.id, quantity=planted,
                               place=HILLSIDES[1], commitment=_hash(rng))
    if planted < lot.quantity:
        await services.deliver_lot(platform, by=team, lot=lot.id, quantity=lot.quantity - planted,
                                   place=HILLSIDES[2], commitment=_hash(rng))
    return lot.id


async def _campaign(platform: Platform, state: DemoState, campaign: Campaign,
                    rng: random.Random) -> int:
    paid = 0
    declared = await DeclaredCampaign.get_or_none(key=campaign.key)
    spends = SPENDS.get(declared.category, []) if declared is not None else []
    for payee, purpose, goods, payee_kind, percent, buys_rice in spends:
        amount = campaign.donated * percent // 100
        if amount < 1:
            continue
        disbursement = await services.disburse(platform, charity=campaign.charity,
                                               campaign=campaign.slug, amount=amount, payee=payee,
                                               purpose=purpose, receipt=_hash(rng), goods=goods,
                                               payee_kind=payee_kind)
        paid += 1
        if buys_rice:
            await services.create_lot(platform, charity=campaign.charity,
                                      goods="rice bought with cash gifts 现金捐款购买的大米",
                                      quantity=max(1, amount * 10 // 6),  # ~6 yuan/kg
                                      unit="grams", custodian=campaign.charity,
                                      receipt=_hash(rng), disbursement=disbursement.idx,
                                      place=WAREHOUSES[0])
    return paid


@seeder
async def seed_tracing(state: DemoState) -> None:
    platform = state.platform
    rng = random.Random(state.rng.random())
    # Custodians are named organisations, so a lot's steps read "Hope Primary School canteen",
    # not a bare address whose page is empty.
    for label in (DEPOT, PLANTERS, *SCHOOLS):
        if label not in state.organisations:
            # Partners: institutions with a public name (members carry no label on the log).
            registered = await register_account(platform, role="partner",
                                                registrar=state.operator, label=label)
            state.organisations[label] = registered.address
    charities = [state.organisations[label] for label in (FOOD_BANK, TREES)
                 if label in state.organisations]
    goods = await TracedDonation.filter(charity__in=charities, kind__in=["food", "tree"],
                                        reversed=0, used=0).order_by("idx")
    food = [d for d in goods if d.kind == "food" and d.quantity >= 3][:MAX_CHAINS]
    trees = [d for d in goods if d.kind == "tree"][:MAX_CHAINS // 2]
    chains = [_food_chain(platform, state, d, random.Random(rng.random())) for d in food]
    chains += [_tree_chain(platform, state, d, random.Random(rng.random())) for d in trees]
    lots = await asyncio.gather(*chains)
    campaigns = await Campaign.filter(balance__gt=0).order_by("-donated").limit(3)
    paid = await asyncio.gather(*(_campaign(platform, state, c, random.Random(rng.random()))
                                  for c in campaigns))
    escrow_notes = await seed_pay_for_success(state)
    base = platform.settings.public_url
    if lots:
        first = await services.get_lot(lots[0])
        state.notes.append(f"Tracing: {len(food)} food and {len(trees)} tree donations traced "
                           f"through handovers, splits and deliveries.")
        state.notes.append(f"  Scan a rice label: {services.lot_trace_url(platform, first)} "
                           f"(QR: {base}/lots/{first.id}/label.svg, EPCIS: "
                           f"{base}/lots/{first.id}/epcis)")
        state.notes.append(f"  Where did my gift go: donationJourney(index: "
                           f"{first.donation_idx}) in /graphql")
    for campaign, count in zip(campaigns, paid, strict=True):
        state.notes.append(f"  Campaign {campaign.slug}: {count} disbursements; ledger "
                           f"{base}/campaigns/{campaign.slug}/ledger.csv?charity="
                           f"{campaign.charity}")
    state.notes.extend(escrow_notes)
