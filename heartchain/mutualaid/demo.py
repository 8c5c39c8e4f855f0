"""Demo seeding for mutual aid: a plan with 10^4 members and two periods of cases.

Members generate their own keys in memory and self-register (custodial keys would cost a sealed
row each); registrations and joins go in through `write_many`. The log clock is then moved
forward through the waiting period, the case notice windows and the plan's notice and
deduction days (plan time), at most about 180 days; `heartchain demo`
starts its clock `demo.HISTORY` (240 days) in the past, so the log's time never runs ahead of the
wall clock.
Birth dates of the generated members are not sealed (they are random); only commitments are on
the log, as for real members.
"""

from __future__ import annotations

import hashlib
import time
from datetime import date, timedelta

from heartchain.accounts.entries import RegisterBody
from heartchain.accounts.services import self_register_member
from heartchain.demo import DemoState, seeder, write_many
from heartchain.keys import SigningKey, address_of
from heartchain.mutualaid import jury_demo, services
from heartchain.mutualaid.entries import AgeBand, PlanJoin, Rules
from heartchain.mutualaid.plans import NO_SENIOR, next_day_of

PLAN = "xianghu-basic"
MEMBERS = 10_000
INVESTIGATOR = "Fair Claims Investigations 公正理赔调查"
# The largest scheme's rules: Beijing time; notices on the 7th and 21st, deductions on the 14th
# and 28th; an 8% fee; at most ¥10 a member a case and ¥188 a year; 30 days to 39 years
# covered for ¥300,000, 40 to 59 for ¥100,000; a 90-day waiting period.
RULES = Rules(min_age_days=30, max_age_years=59, waiting_days=90, cap_fen=30_000_000,
              senior_age=NO_SENIOR, senior_cap_fen=10_000_000, fee_bp=800,
              member_case_cap_fen=1_000, min_prepay_fen=1_000,
              conditions=("cancer", "stroke", "heart-attack", "kidney-failure", "leukemia"),
              time_zone="Asia/Shanghai", notice_days=(7, 21), deduction_days=(14, 28),
              year_cap_fen=18_800,
              age_bands=(AgeBand(39, 30_000_000), AgeBand(59, 10_000_000)))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
# The operator's vetted hospitals: code, Chinese name, English name.
HOSPITALS = (("pumch", "北京协和医院", "Peking Union Medical College Hospital"),
             ("huashan", "复旦大学附属华山医院", "Huashan Hospital, Fudan University"),
             ("west-china", "四川大学华西医院", "West China Hospital, Sichuan University"),
             ("renji", "上海交通大学医学院附属仁济医院",
              "Renji Hospital, Shanghai Jiao Tong University"),
             ("zhongshan", "复旦大学附属中山医院", "Zhongshan Hospital, Fudan University"))


async def _demo_contact_member(state: DemoState) -> str | None:
    """The custodial donor of tokens/demo.py's DEMO_CONTACT, if the hearts demo made one."""
    try:
        from tokens.demo import DEMO_CONTACT
        from tokens.donors import addresses_for_contact
    except ImportError:
        return None
    found = await addresses_for_contact(state.platform, DEMO_CONTACT)
    return found[0] if found else None


@seeder
async def seed_mutualaid(state: DemoState, members: int = MEMBERS) -> None:
    started = time.perf_counter()
    platform, rng = state.platform, state.rng
    operator = state.operator
    investigator = state.organisations[INVESTIGATOR]
    await services.create_plan(platform, operator=operator, plan=PLAN,
                               name="Basic critical illness 大病互助计划", rules=RULES)
    for code, name_zh, name_en in HOSPITALS:
        await services.register_hospital(platform, operator=operator, code=code,
                                         name_zh=name_zh, name_en=name_en)
    keys = [SigningKey.generate() for _ in range(members)]
    await write_many(state, "mutual-aid members", [
        (RegisterBody(address=address_of(k), role="member", registrar=address_of(k)), k)
        for k in keys])
    joins = []
    for k in keys:
        # One member in twenty prepays only the minimum: they lapse in the second period.
        prepay = 1_000 if rng.random() < 0.05 else rng.choice((2_000, 3_000, 5_000, 10_000))
        joins.append((PlanJoin(
            plan=PLAN, member=address_of(k), age_years=rng.randint(1, 59),
            birth_commitment=hashlib.sha256(rng.randbytes(32)).hexdigest(),
            prepay_fen=prepay), k))
    await write_many(state, "mutual-aid joins", joins)
    # The donor known by phone (tokens/demo.py) joins too, so /me/plans shows their coverage,
    # shares with receipts and an objection after they sign in with the one-time code.
    signed_in = await _demo_contact_member(state)
    if signed_in is not None:
        await services.join_plan(platform, plan=PLAN, member=signed_in,
                                 birth_date=date(1988, 3, 14), prepay_fen=10_000)
    platform.clock.advance(timedelta(days=RULES.waiting_days + 1))

    # One patient's daughter opens their cases for them, as the proxy they authorised.
    family = SigningKey.generate()
    await self_register_member(platform, family)
    await services.set_proxy(platform, plan=PLAN, member=keys[1], proxy=address_of(family))

    async def until(days: tuple[int, ...]) -> None:
        now = platform.clock.now()
        platform.clock.advance(next_day_of(now, days, RULES.time_zone) - now)

    async def period(count: int, reject: int, objected: int, by_proxy: bool = False) -> None:
        patients = rng.sample(keys[2:], count)
        if by_proxy:
            patients[0] = keys[1]
        cases = []
        for n, key in enumerate(patients):
            asked = rng.randrange(500_000, 3_000_000, 10_000)
            case, _ = await services.open_case(
                platform, plan=PLAN, member=address_of(key),
                opener=family if key is keys[1] else key,
                condition=rng.choice(RULES.conditions), asked_fen=asked,
                hospital=rng.choice(HOSPITALS)[0],
                patient_name=rng.choice(SURNAMES) + rng.choice("伟芳娜敏静丽强磊军洋"),
                description="住院号与病理报告已交调查机构",
                diagnosed_on=platform.clock.now().date())
            verdict = "reject" if n == reject else "approve"
            await services.attest_case(
                platform, case=case, investigator=investigator,
                findings=f"investigation report for {case}: hospital records, pathology",
                recommendation=verdict, amount_fen=asked if verdict == "approve" else None)
            await services.notice_case(platform, case=case, operator=operator, days=7)
            cases.append((case, asked, verdict))
        case, _, _ = cases[objected]
        objector: str | SigningKey = rng.choice(keys)
        if by_proxy and signed_in is not None:
            objector = signed_in
        await services.object_case(platform, case=case, member=objector,
                                   reason="pre-existing",
                                   note="I believe this condition predates joining")
        platform.clock.advance(timedelta(days=8))
        await services.review_case(platform, case=case, reviewer=investigator,
                                   findings=f"review of the objection to {case}: first "
                                            "diagnosis after coverage began",
                                   outcome="dismissed")
        for case, asked, verdict in cases:
            await services.decide_case(platform, case=case, operator=operator,
                                       decision=verdict,
                                       amount_fen=asked if verdict == "approve" else None,
                                       reason=None if verdict == "approve" else "not-evidenced")
        # The notice day's member set, then the deduction a week later (plan time).
        await until(RULES.notice_days)
        await services.open_period_notice(platform, plan=PLAN, operator=operator)
        await until(RULES.deduction_days)
        await services.apportion_period(platform, plan=PLAN, operator=operator)

    await period(4, reject=3, objected=0, by_proxy=True)
    platform.clock.advance(timedelta(days=30))
    await period(4, reject=1, objected=2)
    await jury_demo.seed_jury(state, PLAN, keys, investigator, HOSPITALS[0][0],
                              RULES.conditions[0], rng)
    first = await services.find_period(PLAN, 1)
    second = await services.find_period(PLAN, 2)
    sample = address_of(keys[0])
    state.notes.append(
        f"mutual aid: plan {PLAN} with {members:,} members; two periods apportioned "
        f"(shares {first.share_fen if first else '?'} and {second.share_fen if second else '?'} "
        f"fen; {second.lapsed if second else '?'} lapsed) in {time.perf_counter() - started:.0f} s")
    state.notes.append(f"  GraphQL: {{ period(plan: \"{PLAN}\", number: 1) {{ totalFen members "
                       f"shareFen cases {{ maskedName status }} }} }}")
    state.notes.append(f"  a member's shares with proofs: {{ membership(address: \"{sample}\") "
                       f"{{ balanceFen shares {{ period shareFen hashes shareRoot }} }} }}")
    if signed_in is not None:
        state.notes.append(f"  the donor known by phone is a member too ({signed_in}): their "
                           "coverage, shares and receipts at /me/plans after signing in")
    state.notes.append(f"  the demo's simulated history ends on {platform.clock.now().date()} "
                       f"(today is {date.today()})")
