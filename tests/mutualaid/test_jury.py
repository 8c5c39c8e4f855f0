"""The member jury: a draw anyone can recompute from a checkpoint, commit-reveal votes, and a
decision that must follow the verdict; rejections with a sealed reason."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartchain.errors import Conflict
from heartchain.keys import address_of
from heartchain.ledger.verify import verify_log
from heartchain.mutualaid import draw, jury_services, services
from heartchain.mutualaid.errors import NotCovered, RuleBroken, WrongStage
from heartchain.mutualaid.jury import JuryDraw, vote_commitment
from heartchain.privacy import commitment, subject_salt
from tests.conftest import Ledger
from tests.mutualaid.factories import advance
from tests.mutualaid.jury_factories import objected_case, vote_all
from tests.mutualaid.test_rules import refused

ADDRESSES = st.lists(st.text("0123456789abcdefghjkmnpqrstuvwxyz", min_size=6, max_size=12)
                     .map(lambda s: "hc1" + s), min_size=0, max_size=40, unique=True)


@settings(max_examples=60, deadline=None)
@given(root=st.binary(min_size=32, max_size=32), pool=ADDRESSES,
       size=st.integers(min_value=0, max_value=12), case=st.sampled_from(["case-1", "c-x"]),
       order=st.randoms(use_true_random=False))
def test_draw_is_a_function_of_root_case_and_pool(root: bytes, pool: list[str], size: int,
                                                  case: str, order: object) -> None:
    drawn = draw.draw(root, case, pool, size)
    shuffled = list(pool)
    order.shuffle(shuffled)  # type: ignore[attr-defined]
    assert draw.draw(root, case, shuffled, size) == drawn  # the pool's order does not matter
    assert len(drawn) == min(size, len(pool)) and set(drawn) <= set(pool)
    assert draw.pool_digest(shuffled) == draw.pool_digest(pool)
    # a larger jury extends a smaller one: the ranking is one order
    assert draw.draw(root, case, pool, size + 1)[:len(drawn)] == drawn


def test_draw_depends_on_the_root_and_the_cli_recomputes_it() -> None:
    pool = [f"hc1member{i:03d}" for i in range(50)]
    a, b = draw.draw(b"\x01" * 32, "case-1", pool, 5), draw.draw(b"\x02" * 32, "case-1", pool, 5)
    assert a != b
    run = subprocess.run([sys.executable, "-m", "heartchain.mutualaid.draw", "--root",
                          "01" * 32, "--case", "case-1", "--size", "5"],
                         input="\n".join(reversed(pool)) + "\n", capture_output=True,
                         text=True, check=True)
    lines = run.stdout.splitlines()
    assert lines[0] == f"pool 50 digest {draw.pool_digest(pool)}" and lines[1:] == a
    with pytest.raises(ValueError):
        draw.draw(b"short", "case-1", pool, 1)


async def test_draw_recomputed_from_the_checkpoint_excludes_the_ineligible(
        ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    appended = await jury_services.draw_jury(platform, operator=ledger.operator,
                                             case=scene.case)
    body = (await platform.log.get_entry(appended.index)).entry.body
    # Recompute from public data only: the checkpoint the entry names, the pool the page lists.
    signed = await platform.log.checkpoint_at(body["checkpoint_size"])
    assert signed.root_hash.hex() == body["checkpoint_root"]
    view = await jury_services.jury_of(platform, scene.case)
    assert view is not None
    pool = view.jury.pool.splitlines()
    assert pool == sorted(address_of(k) for k in scene.eligible)
    for outsider in (scene.claimant, scene.objector, scene.linked, scene.unqualified,
                     scene.leaver):
        assert address_of(outsider) not in pool
    assert body["eligible"] == 6 and body["eligible_digest"] == draw.pool_digest(pool)
    assert body["jurors"] == draw.draw(signed.root_hash, scene.case, pool, 3)
    assert [s.juror for s in view.seats] == body["jurors"]
    await refused(ledger, Conflict, jury_services.draw_jury(
        platform, operator=ledger.operator, case=scene.case), "has its jury already")


async def test_a_draw_other_than_the_checkpoints_is_refused(ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    good = await jury_services.draw_body(platform, operator=ledger.operator, case=scene.case)
    others = [address_of(k) for k in scene.eligible if address_of(k) not in good.jurors]
    swapped = msgspec.structs.replace(good, jurors=(*good.jurors[:2], others[0]))
    await refused(ledger, RuleBroken, platform.write(swapped), "not the draw")
    with_claimant = msgspec.structs.replace(good, jurors=(address_of(scene.claimant),
                                                          *good.jurors[1:]))
    await refused(ledger, RuleBroken, platform.write(with_claimant), "not the draw")
    wrong_root = msgspec.structs.replace(good, checkpoint_root="00" * 32)
    await refused(ledger, RuleBroken, platform.write(wrong_root), "no checkpoint of size")
    # a checkpoint signed while objections were open: its root was known, refused
    case = await services.find_case(scene.case)
    assert case is not None and case.notice_idx is not None
    early = await platform.log.checkpoint_at(case.notice_idx + 1)
    before = msgspec.structs.replace(good, checkpoint_size=early.size,
                                     checkpoint_root=early.root_hash.hex())
    await refused(ledger, RuleBroken, platform.write(before), "before the objection window")
    smaller_pool = msgspec.structs.replace(good, eligible=5)
    await refused(ledger, RuleBroken, platform.write(smaller_pool), "eligible pool")
    await platform.write(good)


async def test_no_draw_while_objections_are_open(ledger: Ledger) -> None:
    from tests.mutualaid.factories import investigator, make_plan, members, noticed_case

    platform = ledger.platform
    plan = await make_plan(ledger)
    inv = await investigator(ledger)
    keys = await members(ledger, plan, [5_000] * 3)
    advance(ledger, 91)
    await jury_services.set_jury_rules(platform, operator=ledger.operator, plan=plan, size=1,
                                       quorum=1)
    case = await noticed_case(ledger, plan, keys[0], inv)
    await services.object_case(platform, case=case, member=keys[1], reason="amount")
    latest = await platform.log.latest_checkpoint()
    body = JuryDraw(case=case, operator=ledger.operator, checkpoint_size=latest.size,
                    checkpoint_root=latest.root_hash.hex(), eligible=0,
                    eligible_digest=draw.pool_digest([]), jurors=(address_of(keys[2]),))
    await refused(ledger, WrongStage, platform.write(body), "objections are open")
    await refused(ledger, WrongStage, jury_services.draw_jury(
        platform, operator=ledger.operator, case=case), "no witnessed checkpoint")


async def test_commit_reveal_refuses_a_mismatch_and_late_votes(ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    await jury_services.draw_jury(platform, operator=ledger.operator, case=scene.case)
    view = await jury_services.jury_of(platform, scene.case)
    assert view is not None
    first, second, third = (scene.key_of(s.juror) for s in view.seats)
    outsider = next(k for k in scene.eligible if address_of(k) not in
                    {s.juror for s in view.seats})
    await refused(ledger, RuleBroken, jury_services.commit_vote(
        platform, case=scene.case, juror=outsider, vote="reject"), "was not drawn")
    salt, _ = await jury_services.commit_vote(platform, case=scene.case, juror=first,
                                              vote="reject")
    await refused(ledger, Conflict, jury_services.commit_vote(
        platform, case=scene.case, juror=first, vote="approve"), "committed a vote")
    salt2, _ = await jury_services.commit_vote(platform, case=scene.case, juror=second,
                                               vote="approve")
    await refused(ledger, WrongStage, jury_services.reveal_vote(
        platform, case=scene.case, juror=first, vote="reject", salt=salt), "stay secret")
    advance(ledger, 3)
    await refused(ledger, WrongStage, jury_services.commit_vote(
        platform, case=scene.case, juror=third, vote="reject"), "committed until")
    await refused(ledger, RuleBroken, jury_services.reveal_vote(
        platform, case=scene.case, juror=first, vote="approve", salt=salt), "do not match")
    await refused(ledger, RuleBroken, jury_services.reveal_vote(
        platform, case=scene.case, juror=first, vote="reject", salt=salt2), "do not match")
    await refused(ledger, RuleBroken, jury_services.reveal_vote(
        platform, case=scene.case, juror=third, vote="reject", salt=salt), "no vote")
    await jury_services.reveal_vote(platform, case=scene.case, juror=first, vote="reject",
                                    salt=salt)
    await refused(ledger, Conflict, jury_services.reveal_vote(
        platform, case=scene.case, juror=first, vote="reject", salt=salt), "already")
    advance(ledger, 2)
    await refused(ledger, WrongStage, jury_services.reveal_vote(
        platform, case=scene.case, juror=second, vote="approve", salt=salt2), "revealed until")
    view = await jury_services.jury_of(platform, scene.case)
    assert view is not None and view.tally.closed
    assert (view.tally.commits, view.tally.reject, view.tally.approve) == (2, 1, 0)
    assert view.tally.verdict is None  # one vote revealed, quorum two: no verdict
    assert vote_commitment(scene.case, address_of(first), "reject", salt) == \
        view.seats[0].commitment


async def test_the_decision_must_follow_the_verdict(ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    await refused(ledger, WrongStage, services.decide_case(
        platform, case=scene.case, operator=ledger.operator, decision="approve",
        amount_fen=20_000), "draw its member jury")
    await jury_services.draw_jury(platform, operator=ledger.operator, case=scene.case)
    await refused(ledger, WrongStage, services.decide_case(
        platform, case=scene.case, operator=ledger.operator, decision="reject",
        reason="jury-rejected"), "the jury votes until")
    await vote_all(ledger, scene, ["reject", "reject", "approve"])
    advance(ledger, 2)
    view = await jury_services.jury_of(platform, scene.case)
    assert view is not None and view.tally.verdict == "reject"
    # no review was recorded: the jury settles it, and the operator cannot overrule it
    await refused(ledger, RuleBroken, services.decide_case(
        platform, case=scene.case, operator=ledger.operator, decision="approve",
        amount_fen=20_000), "verdict is reject")
    text = "诊断早于加入：2019 年门诊记录"
    appended = await services.decide_case(platform, case=scene.case, operator=ledger.operator,
                                          decision="reject", reason="jury-rejected",
                                          reason_text=text)
    body = (await platform.log.get_entry(appended.index)).entry.body
    salt = await subject_salt(platform, services.case_subject(scene.case))
    assert body["reason"] == "jury-rejected"
    assert body["reason_commitment"] == commitment(salt, text)
    assert text not in str(body)
    assert await services.decision_reason_text(platform, scene.case) == text
    # the whole story replays: the draw's checkpoint and pool, the votes, the decision
    report = await verify_log(platform.log)
    assert report.projection_rows["ma_jury_seat"] == 3


async def test_an_approving_verdict_needs_no_review(ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    await jury_services.draw_jury(platform, operator=ledger.operator, case=scene.case)
    await vote_all(ledger, scene, ["approve", "reject", "approve"])
    advance(ledger, 2)
    await refused(ledger, RuleBroken, services.decide_case(
        platform, case=scene.case, operator=ledger.operator, decision="reject",
        reason="objection-upheld"), "verdict is approve")
    await services.decide_case(platform, case=scene.case, operator=ledger.operator,
                               decision="approve", amount_fen=20_000)
    case = await services.find_case(scene.case)
    assert case is not None and case.status == "approved"


async def test_jurors_volunteer_while_covered_and_links_are_declared_once(
        ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    await jury_services.volunteer(platform, plan=scene.plan, member=scene.leaver, active=False)
    await refused(ledger, NotCovered, jury_services.volunteer(
        platform, plan=scene.plan, member=scene.leaver), "left plan")
    await refused(ledger, Conflict, jury_services.volunteer(
        platform, plan=scene.plan, member=scene.eligible[1]), "already volunteered")
    await refused(ledger, Conflict, jury_services.declare_link(
        platform, member=scene.linked, other=address_of(scene.claimant), relation="work"),
        "already linked")
    # withdrawing takes a volunteer out of the pool
    await jury_services.volunteer(platform, plan=scene.plan, member=scene.eligible[1],
                                  active=False)
    good = await jury_services.draw_body(platform, operator=ledger.operator, case=scene.case)
    assert good.eligible == 5 and address_of(scene.eligible[1]) not in good.jurors


async def test_an_objectors_links_are_excluded_too(ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    friend = scene.eligible[2]
    await jury_services.declare_link(platform, member=friend, other=address_of(scene.objector),
                                     relation="work")
    good = await jury_services.draw_body(platform, operator=ledger.operator, case=scene.case)
    assert good.eligible == 5 and address_of(friend) not in good.jurors


async def test_without_a_quorum_a_review_decides(ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger)
    await jury_services.draw_jury(platform, operator=ledger.operator, case=scene.case)
    await vote_all(ledger, scene, ["approve"])  # one vote revealed; the quorum is two
    advance(ledger, 2)
    await refused(ledger, WrongStage, services.decide_case(
        platform, case=scene.case, operator=ledger.operator, decision="approve",
        amount_fen=20_000), "record a review")
    await services.review_case(platform, case=scene.case, reviewer=ledger.operator,
                               findings="records checked", outcome="dismissed")
    await services.decide_case(platform, case=scene.case, operator=ledger.operator,
                               decision="approve", amount_fen=20_000)


async def test_a_tie_approves_and_a_supermajority_plan_needs_more(ledger: Ledger) -> None:
    platform = ledger.platform
    scene = await objected_case(ledger, size=4, quorum=4)
    await jury_services.set_jury_rules(platform, operator=ledger.operator, plan=scene.plan,
                                       size=4, quorum=4, majority_bp=6_000)
    await jury_services.draw_jury(platform, operator=ledger.operator, case=scene.case)
    await vote_all(ledger, scene, ["reject", "reject", "reject", "approve"])
    advance(ledger, 2)
    view = await jury_services.jury_of(platform, scene.case)
    assert view is not None and view.tally.verdict == "reject"  # 75 % > 60 %
    tie = dataclasses.replace(view.tally, reject=2, approve=2)
    assert tie.verdict == "approve"  # the objection must carry the jury
    short = dataclasses.replace(view.tally, reject=2, approve=1)
    assert short.verdict is None  # three revealed, quorum four
