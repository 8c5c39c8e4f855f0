"""The demo's member jury: the plan gets a jury of five, fifteen covered members volunteer and
qualify, and one objected case is settled by their verdict (drawn from a checkpoint signed
after its objection window closed, votes committed, then revealed)."""

from __future__ import annotations

from datetime import timedelta
from random import Random

from heartchain.demo import DemoState
from heartchain.keys import SigningKey, address_of
from heartchain.mutualaid import jury_services, services
from heartchain.mutualaid.models import Membership

VOLUNTEERS = 15


async def seed_jury(state: DemoState, plan: str, keys: list[SigningKey], investigator: str,
                    hospital: str, condition: str, rng: Random) -> str:
    """Returns the case the jury decided."""
    platform, operator = state.platform, state.operator
    now = services.log_now(platform)
    covered = [k for k in keys[-200:] if (m := await _membership(plan, k)) is not None
               and services.coverage(m, now) == "covered"]
    claimant, objector, *rest = covered
    volunteers = rest[:VOLUNTEERS]
    # Short windows: the demo's simulated history must end before the wall clock's today.
    await jury_services.set_jury_rules(platform, operator=operator, plan=plan, size=5,
                                       quorum=3, commit_days=1, reveal_days=1)
    case, _ = await services.open_case(
        platform, plan=plan, member=address_of(claimant), opener=claimant,
        condition=condition, asked_fen=1_200_000, hospital=hospital, patient_name="周敏",
        description="住院号与病理报告已交调查机构", diagnosed_on=platform.clock.now().date())
    await services.attest_case(platform, case=case, investigator=investigator,
                               findings=f"investigation report for {case}",
                               recommendation="approve", amount_fen=1_200_000)
    await services.notice_case(platform, case=case, operator=operator, days=1)
    await services.object_case(platform, case=case, member=objector, reason="pre-existing",
                               note="treated for it before joining, I believe")
    platform.clock.advance(timedelta(days=1, minutes=1))
    # Volunteering after the window closed also gives the checkpoint the draw is seeded from.
    for key in volunteers:
        await jury_services.volunteer(platform, plan=plan, member=key)
        await jury_services.qualify(platform, operator=operator, plan=plan,
                                    member=address_of(key), passed=True,
                                    record="juror briefing and quiz passed; no conflicts")
    await jury_services.draw_jury(platform, operator=operator, case=case)
    view = await jury_services.jury_of(platform, case)
    by_address: dict[str, SigningKey] = {address_of(k): k for k in volunteers}
    salts = []
    for seat in view.seats if view else []:
        vote = "reject" if rng.random() < 0.75 else "approve"
        salt, _ = await jury_services.commit_vote(platform, case=case,
                                                  juror=by_address[seat.juror], vote=vote)
        salts.append((seat.juror, vote, salt))
    platform.clock.advance(timedelta(days=1))
    for juror, vote, salt in salts:
        await jury_services.reveal_vote(platform, case=case, juror=by_address[juror],
                                        vote=vote, salt=salt)
    platform.clock.advance(timedelta(days=1))
    view = await jury_services.jury_of(platform, case)
    verdict = view.tally.verdict if view else None
    if verdict == "reject":
        await services.decide_case(platform, case=case, operator=operator, decision="reject",
                                   reason="jury-rejected",
                                   reason_text="病历显示加入前已确诊（2019 年门诊记录）")
    else:
        await services.decide_case(platform, case=case, operator=operator, decision="approve",
                                   amount_fen=1_200_000)
    state.notes.append(f"  a case the member jury decided ({verdict}): /cases/{case}")
    return case


async def _membership(plan: str, key: SigningKey) -> Membership | None:
    rows = await services.memberships_of(address_of(key))
    return next((r for r in rows if r.plan == plan), None)
