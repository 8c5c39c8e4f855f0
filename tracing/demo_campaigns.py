"""The demo's campaigns, declared (campaign.create) before any gift names them: each with its
purpose, goal and what it may spend on, so its disbursements match its purpose (tracing.demo)."""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import timedelta

from heartchain.demo import DemoState
from heartchain.ledger.entries import format_time
from tracing.campaign_services import create_campaign

FOOD_BANK = "Sunrise Food Bank 朝阳食物银行"
TREES = "Green Ridge Tree Planting 青山植树"
MEDICAL = "Hope Medical Aid Fund 希望医疗救助基金"


@dataclass(frozen=True)
class DemoCampaign:
    charity: str  # the organisation's label
    slug: str
    title_zh: str
    title_en: str
    purpose: str
    category: str
    goal: int
    unit: str
    beneficiary: str
    goods: tuple[str, ...]
    payees: tuple[str, ...]


CAMPAIGNS = (
    DemoCampaign(FOOD_BANK, "winter-meals-2026", "2026 冬季校园午餐", "Winter school meals 2026",
                 "hot lunches of rice and vegetables for rural pupils 为乡村学生提供热午餐",
                 "food", 60_000_000, "fen",
                 "pupils of four rural schools and an elder home 四所乡村学校学生和一所敬老院",
                 ("food", "transport"), ("supplier", "transport")),
    DemoCampaign(TREES, "spring-saplings-2026", "2026 春季植树", "Spring saplings 2026",
                 "pine saplings planted on eroded hillsides 在水土流失的山坡种植松树苗",
                 "trees", 20_000, "trees",
                 "villages below the north slope 北坡下的村庄",
                 ("seedlings", "tools"), ("nursery", "supplier")),
    DemoCampaign(MEDICAL, "surgery-fund-2026", "2026 儿童心脏手术基金",
                 "Children's heart surgery fund 2026",
                 "heart surgery and after-care for children of low-income families "
                 "为低收入家庭儿童提供心脏手术及术后护理",
                 "medical", 50_000_000, "fen",
                 "children with congenital heart disease, referred by county hospitals "
                 "县医院转诊的先天性心脏病儿童",
                 ("medicine", "services"), ("hospital", "pharmacy")),
)


async def declare_demo_campaigns(state: DemoState) -> None:
    """Open a week before the first gift, for a year."""
    now = state.platform.clock.now()
    starts, ends = format_time(now - timedelta(days=7)), format_time(now + timedelta(days=365))
    for c in CAMPAIGNS:
        if c.charity not in state.organisations:
            continue
        charity = state.organisations[c.charity]
        await create_campaign(
            state.platform, charity=charity, slug=c.slug, title_zh=c.title_zh,
            title_en=c.title_en, purpose=c.purpose, category=c.category, goal=c.goal,
            unit=c.unit, starts=starts, ends=ends, beneficiary=c.beneficiary, goods=c.goods,
            payees=c.payees)


VALIDATOR = "County Health Bureau 县卫生健康局"
ESCROW = DemoCampaign(
    MEDICAL, "cataract-outcomes-2026", "2026 白内障复明（按成效拨付）",
    "Cataract sight restored 2026 (pay for success)",
    "cataract operations paid only once the county health bureau confirms sight restored "
    "白内障手术，县卫健局确认复明后才拨付",
    "medical", 3_000_000, "fen", "elderly villagers with cataracts 患白内障的老年村民",
    ("services",), ("hospital", "clinic"))


async def seed_pay_for_success(state: DemoState) -> list[str]:
    """A pay-for-success campaign: a few gifts held until the validator attests the outcome for
    part of them, then spent on what it released (tracing.escrow)."""
    from heartchain.accounts.services import register_account
    from tokens.entries import RecordBody
    from tracing import services
    from tracing.campaign_services import attest_outcome

    platform = state.platform
    if ESCROW.charity not in state.organisations or not state.members:
        return []
    charity = state.organisations[ESCROW.charity]
    if VALIDATOR not in state.organisations:
        state.organisations[VALIDATOR] = (await register_account(
            platform, role="partner", registrar=state.operator, label=VALIDATOR)).address
    validator = state.organisations[VALIDATOR]
    now = platform.clock.now()
    c = ESCROW
    await create_campaign(
        platform, charity=charity, slug=c.slug, title_zh=c.title_zh, title_en=c.title_en,
        purpose=c.purpose, category=c.category, goal=c.goal, unit=c.unit,
        starts=format_time(now - timedelta(days=1)), ends=format_time(now + timedelta(days=365)),
        beneficiary=c.beneficiary, goods=c.goods, payees=c.payees, validator=validator,
        outcome_deadline=format_time(now + timedelta(days=120)))
    for i, donor in enumerate(state.members[:6]):
        await platform.write(RecordBody(charity=charity, donor=donor, kind="cash",
                                        quantity=50_000 + 10_000 * i, campaign=c.slug))
    rng = random.Random(2026)  # its own: the shared one's sequence stays as other seeders expect
    attested = await attest_outcome(platform, validator=validator, charity=charity, slug=c.slug,
                                    evidence=f"{rng.getrandbits(256):064x}", amount=200_000)
    await services.disburse(platform, charity=charity, campaign=c.slug, amount=200_000,
                            payee="Riverside People's Hospital 滨江人民医院",
                            purpose="cataract operations, sight confirmed 白内障手术（已确认复明）",
                            receipt=f"{rng.getrandbits(256):064x}", goods="services",
                            payee_kind="hospital")
    base = platform.settings.public_url
    return [f"  Pay for success: {base}/campaigns/{c.slug} (the validator released ¥2,000.00 in "
            f"entry {attested.index}; the rest is held until it attests more, or refunded "
            "after the deadline)"]
