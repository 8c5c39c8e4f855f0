"""Test data for mutual aid: plans, covered members, cases taken through their steps."""

from __future__ import annotations

from datetime import date, timedelta

from heartchain.accounts.services import register_account
from heartchain.keys import SigningKey, address_of, new_signing_key
from heartchain.mutualaid import services
from heartchain.mutualaid.entries import PlanJoin, Rules
from tests.conftest import Ledger
from tests.factories import self_registration

RULES = Rules(min_age_days=28, max_age_years=59, waiting_days=90, cap_fen=30_000_000,
              senior_age=40, senior_cap_fen=10_000_000, fee_bp=800, member_case_cap_fen=300,
              min_prepay_fen=1_000, conditions=("cancer", "stroke", "heart-attack"))
COMMITMENT = "ab" * 32


def advance(ledger: Ledger, days: int) -> None:
    ledger.platform.clock.advance(timedelta(days=days))


def today(ledger: Ledger) -> date:
    return ledger.platform.clock.now().date()


HOSPITAL = "renji"


async def register_hospital(ledger: Ledger, code: str = HOSPITAL) -> str:
    await services.register_hospital(ledger.platform, operator=ledger.operator, code=code,
                                     name_zh="仁济医院", name_en="Renji Hospital")
    return code


async def make_plan(ledger: Ledger, plan: str = "basic", rules: Rules = RULES) -> str:
    """A plan, and the hospital cases name (registered again for a second plan: a rename)."""
    await services.create_plan(ledger.platform, operator=ledger.operator, plan=plan,
                               name="Basic critical illness 大病互助", rules=rules)
    await register_hospital(ledger)
    return plan


async def investigator(ledger: Ledger) -> str:
    registered = await register_account(ledger.platform, role="investigator",
                                        registrar=ledger.operator, label="Fair Claims")
    return registered.address


async def members(ledger: Ledger, plan: str, balances: list[int], age_years: int = 30
                  ) -> list[SigningKey]:
    """Self-registered members who joined `plan` with these prepayments (bulk appended)."""
    keys = [new_signing_key() for _ in balances]
    batch = [self_registration(ledger, k) for k in keys]
    batch += [ledger.platform.signed(PlanJoin(plan=plan, member=address_of(k),
                                              age_years=age_years, birth_commitment=COMMITMENT,
                                              prepay_fen=b), k)
              for k, b in zip(keys, balances, strict=True)]
    for outcome in await ledger.platform.log.append_now(batch):
        if isinstance(outcome, Exception):
            raise outcome
    return keys


async def open_case(ledger: Ledger, plan: str, key: SigningKey, asked: int = 100_000,
                    case: str | None = None, opener: str | SigningKey | None = None) -> str:
    """A case for `key`'s member, opened by themself unless `opener` (a proxy, the operator)."""
    case_id, _ = await services.open_case(
        ledger.platform, plan=plan, member=address_of(key), opener=opener or key,
        condition="cancer", asked_fen=asked, hospital=HOSPITAL, patient_name="张三",
        diagnosed_on=today(ledger), description="病理报告：肺腺癌 IIIA 期", case=case)
    return case_id


async def noticed_case(ledger: Ledger, plan: str, key: SigningKey, inv: str,
                       asked: int = 100_000, days: int = 7, case: str | None = None) -> str:
    case_id = await open_case(ledger, plan, key, asked, case)
    await services.attest_case(ledger.platform, case=case_id, investigator=inv,
                               findings="report: confirmed", recommendation="approve",
                               amount_fen=asked)
    await services.notice_case(ledger.platform, case=case_id, operator=ledger.operator, days=days)
    return case_id


async def approved_case(ledger: Ledger, plan: str, key: SigningKey, inv: str,
                        asked: int = 100_000, case: str | None = None) -> str:
    case_id = await noticed_case(ledger, plan, key, inv, asked, case=case)
    advance(ledger, 8)
    await services.decide_case(ledger.platform, case=case_id, operator=ledger.operator,
                               decision="approve", amount_fen=asked)
    return case_id
