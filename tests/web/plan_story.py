"""A member's mutual-aid story for the plan and coverage pages (server and browser tests): a
custodial member with a token joins a plan that names its insurer, shares in a period, objects
to a case; a second plan is wound down and refunded."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

import msgspec

from heartchain.accounts.services import issue_token, register_account
from heartchain.mutualaid import services, winddown
from tests.conftest import Ledger
from tests.mutualaid.factories import (
    RULES,
    advance,
    approved_case,
    investigator,
    members,
    noticed_case,
    register_hospital,
)

INSURER = "众惠财产相互保险社 Zhonghui Mutual"


@dataclass
class PlanStory:
    plan: str
    closed_plan: str
    member: str
    token: str
    period: int
    objected: str


async def plan_story(ledger: Ledger) -> PlanStory:
    p = ledger.platform
    await services.create_plan(p, operator=ledger.operator, plan="basic",
                               name="大病互助 Critical illness", rules=RULES,
                               operates_under=INSURER)
    await services.create_plan(p, operator=ledger.operator, plan="basic",
                               name="大病互助 Critical illness",
                               rules=msgspec.structs.replace(RULES, fee_bp=600))
    await services.create_plan(p, operator=ledger.operator, plan="ending", name="Ending plan",
                               rules=RULES)
    await register_hospital(ledger)
    inv = await investigator(ledger)
    member = (await register_account(p, role="member", registrar=ledger.operator)).address
    token = await issue_token(p, member, "pages")
    await services.join_plan(p, plan="basic", member=member, birth_date=date(1990, 5, 1),
                             prepay_fen=5_000)
    await services.join_plan(p, plan="ending", member=member, birth_date=date(1990, 5, 1),
                             prepay_fen=3_000)
    others = await members(ledger, "basic", [4_000, 4_000, 4_000])
    ending = await members(ledger, "ending", [2_000, 2_500])
    advance(ledger, 91)
    case = await approved_case(ledger, "basic", others[0], inv, asked=6_000, case="case-paid")
    objected = await noticed_case(ledger, "basic", others[1], inv, asked=2_000,
                                  case="case-doubt", days=30)
    await services.object_case(p, case=objected, member=member, reason="pre-existing",
                               note="I know them")
    appended = await services.apportion_period(p, plan="basic", operator=ledger.operator,
                                               cases=[case])
    paid = await approved_case(ledger, "ending", ending[0], inv, asked=1_500, case="case-end")
    await winddown.close_plan(p, operator=ledger.operator, plan="ending",
                              last_notice=p.clock.now() + timedelta(days=1), claims_days=0)
    await services.apportion_period(p, plan="ending", operator=ledger.operator, cases=[paid])
    advance(ledger, 2)
    await winddown.refund_plan(p, operator=ledger.operator, plan="ending", batch_size=2)
    return PlanStory("basic", "ending", member, token, appended.index, objected)
