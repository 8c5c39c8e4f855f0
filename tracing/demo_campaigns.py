"""The demo's campaigns, declared (campaign.create) before any gift names them: each with its
purpose, goal and what it may spend on, so its disbursements match its purpose (tracing.demo)."""

from __future__ import annotations

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
