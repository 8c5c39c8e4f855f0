"""Cases, from opening to decision.

``case.open`` (the member, a proxy they authorised, or the operator) -> ``case.attest``
(investigator) -> ``case.notice`` (operator; public window of N days) -> ``case.object``
(covered members, while the window is open) -> ``case.review`` (needed after any objection)
-> ``case.decide`` (operator; only once the window has elapsed; approve <= the age-dependent
cap, or reject).

Public fields are codes, integers, dates, addresses and hashes: conditions and objection reasons
from `codes.py`, hospitals by registered code; the masked name is one letter and stars. What a
person types (the patient's name, a description, an objection's note, findings) is sealed off
the log and the entry carries its salted commitment.
"""

from __future__ import annotations

import json
import re
from datetime import date
from typing import Annotated, Literal

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger.body import Address, Body, Fen, Hex32, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.mutualaid import hospitals, jury, proxies
from heartchain.mutualaid.codes import Condition, DecisionReason, ObjectionReason
from heartchain.mutualaid.errors import RuleBroken, UnknownCase, WrongStage
from heartchain.mutualaid.membership import (
    age_band,
    age_now,
    get_membership,
    later,
    log_time,
    require_covered,
)
from heartchain.mutualaid.models import Case, Objection, Review
from heartchain.mutualaid.plans import get_plan, rules_of

# One letter, then stars: 张*, 欧***. Never a whole name, nor room for a word.
MASKED_NAME = re.compile(r"[^\W\d_]\*{1,3}")
MAX_NOTICE_DAYS = 90

MaskedName = Annotated[str, msgspec.Meta(max_length=4, pattern=rf"\A{MASKED_NAME.pattern}\Z")]
AgeBand = Annotated[str, msgspec.Meta(max_length=7, pattern=r"\A[0-9]{1,3}-[0-9]{1,3}\Z")]
Day = Annotated[str, msgspec.Meta(max_length=10, pattern=r"\A[0-9]{4}-[0-9]{2}-[0-9]{2}\Z")]
Verdict = Literal["approve", "reject"]


class CaseOpen(Body):
    """Open a mutual-aid case for a covered member."""

    KIND = "case.open"
    SIGNERS = ("opener",)

    case: Slug
    plan: Slug
    member: Address
    opener: Address
    condition: Condition
    asked_fen: Fen
    hospital: Slug
    masked_name: MaskedName
    age_band: AgeBand
    diagnosed_on: Day
    details_commitment: Hex32

    def __post_init__(self) -> None:
        try:
            date.fromisoformat(self.diagnosed_on)
        except ValueError:
            raise ValidationError("case.open: diagnosed_on is not a date",
                                  field="diagnosed_on") from None


async def get_case(conn: BaseDBAsyncClient, case_id: str) -> Case:
    case = await Case.get_or_none(id=case_id).using_db(conn)
    if case is None:
        raise UnknownCase(f"no case {case_id!r}")
    return case


@rules(CaseOpen)
async def _check_case_open(ctx: ApplyContext, b: CaseOpen) -> None:
    await proxies.require_may_open(ctx, b.plan, b.member, b.opener)
    if await Case.filter(id=b.case).using_db(ctx.conn).exists():
        raise Conflict(f"case {b.case} already exists")
    plan = await get_plan(ctx.conn, b.plan)
    m = await get_membership(ctx.conn, b.plan, b.member)
    now = log_time(ctx)
    require_covered(m, now)
    if b.condition not in json.loads(plan.conditions):
        raise RuleBroken(f"case.open: {b.condition} is not a condition plan {b.plan} covers",
                         field="condition")
    await hospitals.require_listed(ctx.conn, b.hospital)
    if not m.covered_from[:10] <= b.diagnosed_on <= now[:10]:
        raise RuleBroken(f"case.open: diagnosis on {b.diagnosed_on} is outside coverage "
                         f"({m.covered_from[:10]} to today)", field="diagnosed_on")
    age = age_now(m, now)
    if b.age_band != age_band(age):
        raise RuleBroken(f"case.open: age_band must be {age_band(age)}", field="age_band")
    cap = rules_of(plan).cap_for(age)
    if b.asked_fen > cap:
        raise RuleBroken(f"case.open: {b.asked_fen} fen is above the cap of {cap} fen",
                         field="asked_fen")


@projects(CaseOpen)
async def _project_case_open(ctx: ApplyContext, b: CaseOpen) -> None:
    plan = await get_plan(ctx.conn, b.plan)
    m = await get_membership(ctx.conn, b.plan, b.member)
    now = log_time(ctx)
    await Case.create(using_db=ctx.conn, id=b.case, plan=b.plan, member=b.member,
                      opener=b.opener, condition=b.condition, asked_fen=b.asked_fen,
                      hospital=b.hospital, masked_name=b.masked_name, age_band=b.age_band,
                      diagnosed_on=b.diagnosed_on, details_commitment=b.details_commitment,
                      rules_version=plan.version,
                      cap_fen=rules_of(plan).cap_for(age_now(m, now)), status="opened",
                      opened_idx=ctx.index, opened_at=now)


class CaseAttest(Body):
    """An investigator's findings (sealed; the entry carries their commitment)."""

    KIND = "case.attest"
    SIGNERS = ("investigator",)

    case: Slug
    investigator: Address
    findings_hash: Hex32
    recommendation: Verdict
    amount_fen: Fen | None = None

    def __post_init__(self) -> None:
        if (self.recommendation == "approve") != (self.amount_fen is not None):
            raise ValidationError("case.attest: amount_fen goes with an approve recommendation",
                                  field="amount_fen")


def _require_stage(case: Case, *stages: str) -> None:
    if case.status not in stages:
        raise WrongStage(f"case {case.id} is {case.status}; this needs it {' or '.join(stages)}")


@rules(CaseAttest)
async def _check_attest(ctx: ApplyContext, b: CaseAttest) -> None:
    await require_role(ctx, b.investigator, "investigator")
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "opened")
    if b.amount_fen is not None and b.amount_fen > min(case.asked_fen, case.cap_fen):
        raise RuleBroken("case.attest: amount_fen exceeds the amount asked or the cap",
                         field="amount_fen")


@projects(CaseAttest)
async def _project_attest(ctx: ApplyContext, b: CaseAttest) -> None:
    await Case.filter(id=b.case).using_db(ctx.conn).update(
        status="attested", attest_idx=ctx.index, investigator=b.investigator,
        findings_hash=b.findings_hash, recommendation=b.recommendation,
        recommended_fen=b.amount_fen)


class CaseNotice(Body):
    """Open the public notice window."""

    KIND = "case.notice"
    SIGNERS = ("operator",)

    case: Slug
    operator: Address
    days: Annotated[int, msgspec.Meta(ge=1, le=MAX_NOTICE_DAYS)]


@rules(CaseNotice)
async def _check_notice(ctx: ApplyContext, b: CaseNotice) -> None:
    await require_role(ctx, b.operator, "operator")
    _require_stage(await get_case(ctx.conn, b.case), "attested")


@projects(CaseNotice)
async def _project_notice(ctx: ApplyContext, b: CaseNotice) -> None:
    now = log_time(ctx)
    await Case.filter(id=b.case).using_db(ctx.conn).update(
        status="noticed", notice_idx=ctx.index, notice_days=b.days, notice_from=now,
        notice_until=later(now, b.days))


class CaseObject(Body):
    """A covered member objects, with a reason code (a typed note is sealed)."""

    KIND = "case.object"
    SIGNERS = ("member",)

    case: Slug
    member: Address
    reason: ObjectionReason
    note_commitment: Hex32 | None = None


@rules(CaseObject)
async def _check_object(ctx: ApplyContext, b: CaseObject) -> None:
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "noticed")
    now = log_time(ctx)
    if case.notice_until is not None and now >= case.notice_until:
        raise WrongStage(f"case {b.case}: the notice window closed at {case.notice_until}")
    require_covered(await get_membership(ctx.conn, case.plan, b.member), now)
    if await Objection.filter(case=b.case, member=b.member).using_db(ctx.conn).exists():
        raise Conflict(f"{b.member} already objected to case {b.case}")


@projects(CaseObject)
async def _project_object(ctx: ApplyContext, b: CaseObject) -> None:
    await Objection.create(using_db=ctx.conn, idx=ctx.index, case=b.case, member=b.member,
                           reason=b.reason, note_commitment=b.note_commitment)
    case = await get_case(ctx.conn, b.case)
    case.objections += 1
    case.last_objection_idx = ctx.index
    await case.save(using_db=ctx.conn)


class CaseReview(Body):
    """Review of the objections (by the operator or an investigator)."""

    KIND = "case.review"
    SIGNERS = ("reviewer",)

    case: Slug
    reviewer: Address
    findings_hash: Hex32
    outcome: Literal["dismissed", "upheld"]


@rules(CaseReview)
async def _check_review(ctx: ApplyContext, b: CaseReview) -> None:
    await require_role(ctx, b.reviewer, "operator", "investigator")
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "noticed")
    if case.objections == 0:
        raise WrongStage(f"case {b.case} has no objection to review")


@projects(CaseReview)
async def _project_review(ctx: ApplyContext, b: CaseReview) -> None:
    await Review.create(using_db=ctx.conn, idx=ctx.index, case=b.case, reviewer=b.reviewer,
                        findings_hash=b.findings_hash, outcome=b.outcome)
    await Case.filter(id=b.case).using_db(ctx.conn).update(review_idx=ctx.index,
                                                           review_outcome=b.outcome)


class CaseDecide(Body):
    """Approve a case (with the amount) or reject it (with a reason code, and optionally the
    commitment to a sealed explanation the claimant is given)."""

    KIND = "case.decide"
    SIGNERS = ("operator",)

    case: Slug
    operator: Address
    decision: Verdict
    amount_fen: Fen | None = None
    reason: DecisionReason | None = None
    reason_commitment: Hex32 | None = None  # of the sealed free text; with reject only

    def __post_init__(self) -> None:
        if (self.decision == "approve") != (self.amount_fen is not None):
            raise ValidationError("case.decide: amount_fen goes with approve, and only with it",
                                  field="amount_fen")
        if (self.decision == "reject") != (self.reason is not None):
            raise ValidationError("case.decide: a reason code goes with reject, and only with "
                                  "it", field="reason")
        if self.reason_commitment is not None and self.decision != "reject":
            raise ValidationError("case.decide: a sealed reason goes with reject only",
                                  field="reason_commitment")


@rules(CaseDecide)
async def _check_decide(ctx: ApplyContext, b: CaseDecide) -> None:
    await require_role(ctx, b.operator, "operator")
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "noticed")
    now = log_time(ctx)
    if case.notice_until is None or now < case.notice_until:
        raise WrongStage(f"case {b.case}: the public notice runs until {case.notice_until}")
    # An objected case in a plan with a jury: the verdict decides, not the operator.
    by_jury = await jury.settles(ctx.conn, case, b.decision, now)
    if b.amount_fen is None:
        return
    if b.amount_fen > case.cap_fen:
        raise RuleBroken(f"case.decide: {b.amount_fen} fen is above the cap of "
                         f"{case.cap_fen} fen", field="amount_fen")
    if b.amount_fen > case.asked_fen:
        raise RuleBroken("case.decide: more than the amount asked", field="amount_fen")
    if by_jury:
        return
    if case.objections and (case.review_idx is None
                            or case.review_idx < (case.last_objection_idx or 0)):
        raise WrongStage(f"case {b.case} was objected to: record a review before approving")
    if case.review_outcome == "upheld":
        raise RuleBroken(f"case {b.case}: the review upheld an objection", field="decision")


@projects(CaseDecide)
async def _project_decide(ctx: ApplyContext, b: CaseDecide) -> None:
    await Case.filter(id=b.case).using_db(ctx.conn).update(
        status="approved" if b.decision == "approve" else "rejected", decide_idx=ctx.index,
        decision=b.decision, approved_fen=b.amount_fen, decision_reason=b.reason)
