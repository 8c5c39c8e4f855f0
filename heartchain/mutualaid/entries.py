"""Mutual-aid entry kinds: plans, membership, cases from opening to decision, apportionment.

Rules are checked here, by code, against the projections and the log's clock (`ctx.now`, at
millisecond precision, as `verify` replays it):

- ``plan.create`` (operator): version 1 creates a plan; version n + 1 replaces its rules from this
  log position on. Joins and cases record the version they were judged under.
- ``plan.join`` (the member signs): age in range, minimum prepay, not already a member. The join's
  log position and the first witnessed checkpoint that includes it prove when coverage started;
  coverage begins ``waiting_days`` later on the log clock.
- ``plan.topup`` / ``plan.leave`` (the member). A lapsed member who tops up waits again.
- Covered = active, past the waiting period, balance > 0.
- ``hospital.register`` (operator; `hospitals.py`): the vetted hospitals cases name by code.
- ``plan.proxy`` (the member; `proxies.py`): authorise or revoke family to open cases for them.
- ``case.open`` (the member, a proxy they authorised, or the operator) -> ``case.attest``
  (investigator) -> ``case.notice`` (operator; public window of N days) -> ``case.object``
  (covered members, while the window is open) -> ``case.review`` (needed after any objection)
  -> ``case.decide`` (operator; only once the window has elapsed; approve <= the age-dependent
  cap, or reject).
- ``period.apportion`` (operator): see `apportion.py` for the arithmetic. The body carries only the
  totals and the share-tree root; the rules recompute the covered set from the projections and
  reject the entry unless every figure and the root match. The projector stores the share tree's
  leaves as pages of 256 (`SharePage`) and its upper tiles, and debits the balances set-based.

Public fields are codes, integers, dates, addresses and hashes: conditions and objection reasons
from `codes.py`, hospitals by registered code; the masked name is one letter and stars. What a
person types (the patient's name, a description, an objection's note, findings) is sealed off
the log and the entry carries its salted commitment.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing, asynccontextmanager
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from itertools import pairwise
from operator import itemgetter
from typing import Any

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.keys import Address
from heartchain.ledger import tiles
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.fields import BodyReader
from heartchain.ledger.kinds import ApplyContext
from heartchain.ledger.legacy_kinds import EntryKind, register
from heartchain.ledger.store import execute, execute_many, is_postgres, sql
from heartchain.lookups import can_match
from heartchain.mutualaid import apportion, hospitals, proxies
from heartchain.mutualaid.codes import (
    CONDITIONS,
    DECISION_REASONS,
    OBJECTION_REASONS,
    PUBLIC_NAME,
)
from heartchain.mutualaid.errors import (
    AlreadyJoined,
    NotAMember,
    NotCovered,
    PeriodExists,
    PeriodMismatch,
    RuleBroken,
    UnknownCase,
    UnknownPlan,
    WrongStage,
)
from heartchain.mutualaid.models import (
    MEMBERSHIP_JOIN_ORDER,
    Case,
    Membership,
    Objection,
    Payment,
    Period,
    Plan,
    PlanVersion,
    Review,
)

_SLUG = re.compile(r"[a-z0-9][a-z0-9_.:-]{0,63}")
# One letter, then stars: 张*, 欧***. Never a whole name, nor room for a word.
MASKED_NAME = re.compile(r"[^\W\d_]\*{1,3}")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_AGE_BAND = re.compile(r"[0-9]{1,3}-[0-9]{1,3}")
MAX_CONDITIONS = 50
MAX_PERIOD_CASES = 500
MAX_NOTICE_DAYS = 90
YEAR_DAYS = 365


def log_time(ctx: ApplyContext) -> str:
    """The log clock as stored (ms precision): live checks and replays see the same value."""
    return format_time(ctx.now)


def _later(moment: str, days: int) -> str:
    return format_time(parse_time(moment) + timedelta(days=days))


def membership_id(plan: str, member: str) -> str:
    return f"{plan}:{member}"


def age_band(age: int) -> str:
    low = age // 10 * 10
    return f"{low}-{low + 9}"


def age_now(membership: Membership, now: str) -> int:
    """Completed years now: the age declared at joining plus whole years since (log clock)."""
    elapsed = parse_time(now) - parse_time(membership.joined_at)
    return membership.age_years + elapsed.days // YEAR_DAYS


# -- plans ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Rules:
    min_age_days: int
    max_age_years: int
    waiting_days: int
    cap_fen: int
    senior_age: int
    senior_cap_fen: int
    fee_bp: int
    member_case_cap_fen: int
    min_prepay_fen: int
    conditions: tuple[str, ...]

    @classmethod
    def parse(cls, raw: Any) -> Rules:
        reader = BodyReader(raw, "plan.create: rules")
        conditions = reader.raw("conditions")
        if (not isinstance(conditions, list) or not 1 <= len(conditions) <= MAX_CONDITIONS
                or not all(isinstance(c, str) and c in CONDITIONS for c in conditions)
                or len(set(conditions)) != len(conditions)):
            raise ValidationError(f"plan.create: rules.conditions must be 1..{MAX_CONDITIONS} "
                                  "distinct condition codes (mutualaid/codes.py)",
                                  field="conditions")
        rules = cls(
            min_age_days=reader.integer("min_age_days", minimum=0, maximum=150 * YEAR_DAYS),
            max_age_years=reader.integer("max_age_years", minimum=0, maximum=150),
            waiting_days=reader.integer("waiting_days", minimum=0, maximum=3650),
            cap_fen=reader.integer("cap_fen"),
            senior_age=reader.integer("senior_age", minimum=0, maximum=151),
            senior_cap_fen=reader.integer("senior_cap_fen"),
            fee_bp=reader.integer("fee_bp", minimum=0, maximum=apportion.FEE_SCALE),
            member_case_cap_fen=reader.integer("member_case_cap_fen"),
            min_prepay_fen=reader.integer("min_prepay_fen"),
            conditions=tuple(conditions),
        )
        reader.finish()
        if rules.senior_cap_fen > rules.cap_fen:
            raise ValidationError("plan.create: rules.senior_cap_fen exceeds cap_fen",
                                  field="senior_cap_fen")
        if rules.min_age_days > (rules.max_age_years + 1) * YEAR_DAYS:
            raise ValidationError("plan.create: the age range is empty", field="min_age_days")
        return rules

    def cap_for(self, age: int) -> int:
        return self.senior_cap_fen if age >= self.senior_age else self.cap_fen

    def to_json(self) -> str:
        data = asdict(self)
        data["conditions"] = list(self.conditions)
        return json.dumps(data, sort_keys=True, separators=(",", ":"))


def rules_of(plan: Plan) -> Rules:
    return Rules(plan.min_age_days, plan.max_age_years, plan.waiting_days, plan.cap_fen,
                 plan.senior_age, plan.senior_cap_fen, plan.fee_bp, plan.member_case_cap_fen,
                 plan.min_prepay_fen, tuple(json.loads(plan.conditions)))


@dataclass(frozen=True)
class PlanCreate:
    plan: str
    version: int
    name: str
    operator: Address
    rules: Rules

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> PlanCreate:
        reader = BodyReader(body, "plan.create")
        parsed = cls(reader.slug("plan"), reader.integer("version", maximum=10_000),
                     reader.text("name", max_length=100, pattern=PUBLIC_NAME),
                     reader.address("operator"),
                     Rules.parse(reader.raw("rules")))
        reader.finish()
        return parsed


async def get_plan(conn: BaseDBAsyncClient, plan_id: str) -> Plan:
    plan = await Plan.get_or_none(id=plan_id).using_db(conn) \
        if can_match(Plan, id=plan_id) else None
    if plan is None:
        raise UnknownPlan(f"no plan {plan_id!r}")
    return plan


async def _check_plan_create(ctx: ApplyContext, b: PlanCreate) -> None:
    await require_role(ctx, b.operator, "operator")
    plan = await Plan.get_or_none(id=b.plan).using_db(ctx.conn)
    current = plan.version if plan else 0
    if b.version != current + 1:
        raise Conflict(f"plan {b.plan}: next version is {current + 1}, not {b.version}")


async def _project_plan_create(ctx: ApplyContext, b: PlanCreate) -> None:
    r = b.rules
    values = {"name": b.name, "version": b.version, "operator": b.operator,
              "version_idx": ctx.index, "min_age_days": r.min_age_days,
              "max_age_years": r.max_age_years, "waiting_days": r.waiting_days,
              "cap_fen": r.cap_fen, "senior_age": r.senior_age,
              "senior_cap_fen": r.senior_cap_fen, "fee_bp": r.fee_bp,
              "member_case_cap_fen": r.member_case_cap_fen, "min_prepay_fen": r.min_prepay_fen,
              "conditions": json.dumps(list(r.conditions))}
    if b.version == 1:
        await Plan.create(using_db=ctx.conn, id=b.plan, created_idx=ctx.index, **values)
    else:
        await Plan.filter(id=b.plan).using_db(ctx.conn).update(**values)
    await PlanVersion.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, version=b.version,
                             rules=r.to_json())


# -- membership -----------------------------------------------------------------------------

@dataclass(frozen=True)
class PlanJoin:
    plan: str
    member: Address
    age_years: int
    infant_age_days: int | None
    birth_commitment: str
    prepay_fen: int

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> PlanJoin:
        reader = BodyReader(body, "plan.join")
        parsed = cls(reader.slug("plan"), reader.address("member"),
                     reader.integer("age_years", minimum=0, maximum=150),
                     reader.optional_integer("infant_age_days", minimum=0, maximum=YEAR_DAYS),
                     reader.hash_hex("birth_commitment"), reader.integer("prepay_fen"))
        reader.finish()
        if (parsed.age_years == 0) != (parsed.infant_age_days is not None):
            raise ValidationError("plan.join: infant_age_days is given exactly when age_years "
                                  "is 0", field="infant_age_days")
        return parsed

    @property
    def age_days(self) -> int:
        """Age in days as far as the rules need it: exact for infants, a lower bound otherwise."""
        return self.infant_age_days if self.infant_age_days is not None \
            else self.age_years * YEAR_DAYS


async def get_membership(conn: BaseDBAsyncClient, plan: str, member: str) -> Membership:
    key = membership_id(plan, member)
    row = await Membership.get_or_none(id=key).using_db(conn) \
        if can_match(Membership, id=key) else None
    if row is None:
        raise NotAMember(f"{member} has not joined plan {plan}")
    return row


def require_covered(m: Membership, now: str) -> None:
    if m.status == "left":
        raise NotCovered(f"{m.member} left plan {m.plan}")
    if m.status == "lapsed" or m.balance_fen <= 0:
        raise NotCovered(f"{m.member} has lapsed in plan {m.plan} (balance 0)")
    if m.covered_from > now:
        raise NotCovered(f"{m.member} is in the waiting period of plan {m.plan} until "
                         f"{m.covered_from}")


async def _check_join(ctx: ApplyContext, b: PlanJoin) -> None:
    await require_role(ctx, b.member, "member")
    plan = await get_plan(ctx.conn, b.plan)
    existing = await Membership.get_or_none(id=membership_id(b.plan, b.member)).using_db(ctx.conn)
    if existing is not None and existing.status != "left":
        raise AlreadyJoined(f"{b.member} is already a member of plan {b.plan}")
    if b.age_days < plan.min_age_days or b.age_years > plan.max_age_years:
        raise RuleBroken(f"plan.join: age outside plan {b.plan}'s range ({plan.min_age_days} "
                         f"days to {plan.max_age_years} years)", field="age_years")
    if b.prepay_fen < plan.min_prepay_fen:
        raise RuleBroken(f"plan.join: prepay {b.prepay_fen} fen is below the minimum "
                         f"{plan.min_prepay_fen}", field="prepay_fen")


async def _project_join(ctx: ApplyContext, b: PlanJoin) -> None:
    plan = await get_plan(ctx.conn, b.plan)
    now = log_time(ctx)
    values = {"plan": b.plan, "member": b.member, "status": "active", "joined_idx": ctx.index,
              "joined_at": now, "covered_from": _later(now, plan.waiting_days),
              "join_version": plan.version, "age_years": b.age_years,
              "birth_commitment": b.birth_commitment, "balance_fen": b.prepay_fen,
              "prepaid_fen": b.prepay_fen, "shared_fen": 0, "lapsed_idx": None, "left_idx": None,
              "refund_fen": 0}
    key = membership_id(b.plan, b.member)
    if await Membership.filter(id=key).using_db(ctx.conn).exists():  # rejoining after leaving
        await Membership.filter(id=key).using_db(ctx.conn).update(**values)
    else:
        await Membership.create(using_db=ctx.conn, id=key, **values)
    await Payment.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, member=b.member,
                         amount_fen=b.prepay_fen, kind="join")


@dataclass(frozen=True)
class PlanTopup:
    plan: str
    member: Address
    amount_fen: int

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> PlanTopup:
        reader = BodyReader(body, "plan.topup")
        parsed = cls(reader.slug("plan"), reader.address("member"), reader.integer("amount_fen"))
        reader.finish()
        return parsed


async def _check_topup(ctx: ApplyContext, b: PlanTopup) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    if m.status == "left":
        raise NotCovered(f"{b.member} left plan {b.plan}: join again instead")


async def _project_topup(ctx: ApplyContext, b: PlanTopup) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    m.balance_fen += b.amount_fen
    m.prepaid_fen += b.amount_fen
    if m.status == "lapsed":
        # Coverage that ran out starts again only after a new waiting period.
        plan = await get_plan(ctx.conn, b.plan)
        m.status = "active"
        m.covered_from = max(m.covered_from, _later(log_time(ctx), plan.waiting_days))
    await m.save(using_db=ctx.conn)
    await Payment.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, member=b.member,
                         amount_fen=b.amount_fen, kind="topup")


@dataclass(frozen=True)
class PlanLeave:
    plan: str
    member: Address

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> PlanLeave:
        reader = BodyReader(body, "plan.leave")
        parsed = cls(reader.slug("plan"), reader.address("member"))
        reader.finish()
        return parsed


async def _check_leave(ctx: ApplyContext, b: PlanLeave) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    if m.status == "left":
        raise Conflict(f"{b.member} already left plan {b.plan}")


async def _project_leave(ctx: ApplyContext, b: PlanLeave) -> None:
    m = await get_membership(ctx.conn, b.plan, b.member)
    m.status, m.left_idx, m.refund_fen, m.balance_fen = "left", ctx.index, m.balance_fen, 0
    await m.save(using_db=ctx.conn)


# -- cases ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class CaseOpen:
    case: str
    plan: str
    member: Address
    opener: Address
    condition: str
    asked_fen: int
    hospital: str
    masked_name: str
    age_band: str
    diagnosed_on: str
    details_commitment: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CaseOpen:
        reader = BodyReader(body, "case.open")
        parsed = cls(reader.slug("case"), reader.slug("plan"), reader.address("member"),
                     reader.address("opener"), reader.choice("condition", CONDITIONS),
                     reader.integer("asked_fen"), reader.slug("hospital"),
                     reader.text("masked_name", max_length=4, pattern=MASKED_NAME),
                     reader.text("age_band", max_length=7, pattern=_AGE_BAND),
                     reader.text("diagnosed_on", max_length=10, pattern=_DATE),
                     reader.hash_hex("details_commitment"))
        reader.finish()
        try:
            date.fromisoformat(parsed.diagnosed_on)
        except ValueError:
            raise ValidationError("case.open: diagnosed_on is not a date",
                                  field="diagnosed_on") from None
        return parsed


async def get_case(conn: BaseDBAsyncClient, case_id: str) -> Case:
    case = await Case.get_or_none(id=case_id).using_db(conn)
    if case is None:
        raise UnknownCase(f"no case {case_id!r}")
    return case


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


@dataclass(frozen=True)
class CaseAttest:
    case: str
    investigator: Address
    findings_hash: str
    recommendation: str
    amount_fen: int | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CaseAttest:
        reader = BodyReader(body, "case.attest")
        parsed = cls(reader.slug("case"), reader.address("investigator"),
                     reader.hash_hex("findings_hash"),
                     reader.choice("recommendation", ("approve", "reject")),
                     reader.optional_integer("amount_fen", minimum=1))
        reader.finish()
        if (parsed.recommendation == "approve") != (parsed.amount_fen is not None):
            raise ValidationError("case.attest: amount_fen goes with an approve recommendation",
                                  field="amount_fen")
        return parsed


def _require_stage(case: Case, *stages: str) -> None:
    if case.status not in stages:
        raise WrongStage(f"case {case.id} is {case.status}; this needs it {' or '.join(stages)}")


async def _check_attest(ctx: ApplyContext, b: CaseAttest) -> None:
    await require_role(ctx, b.investigator, "investigator")
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "opened")
    if b.amount_fen is not None and b.amount_fen > min(case.asked_fen, case.cap_fen):
        raise RuleBroken("case.attest: amount_fen exceeds the amount asked or the cap",
                         field="amount_fen")


async def _project_attest(ctx: ApplyContext, b: CaseAttest) -> None:
    await Case.filter(id=b.case).using_db(ctx.conn).update(
        status="attested", attest_idx=ctx.index, investigator=b.investigator,
        findings_hash=b.findings_hash, recommendation=b.recommendation,
        recommended_fen=b.amount_fen)


@dataclass(frozen=True)
class CaseNotice:
    case: str
    operator: Address
    days: int

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CaseNotice:
        reader = BodyReader(body, "case.notice")
        parsed = cls(reader.slug("case"), reader.address("operator"),
                     reader.integer("days", minimum=1, maximum=MAX_NOTICE_DAYS))
        reader.finish()
        return parsed


async def _check_notice(ctx: ApplyContext, b: CaseNotice) -> None:
    await require_role(ctx, b.operator, "operator")
    _require_stage(await get_case(ctx.conn, b.case), "attested")


async def _project_notice(ctx: ApplyContext, b: CaseNotice) -> None:
    now = log_time(ctx)
    await Case.filter(id=b.case).using_db(ctx.conn).update(
        status="noticed", notice_idx=ctx.index, notice_days=b.days, notice_from=now,
        notice_until=_later(now, b.days))


@dataclass(frozen=True)
class CaseObject:
    case: str
    member: Address
    reason: str
    note_commitment: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CaseObject:
        reader = BodyReader(body, "case.object")
        parsed = cls(reader.slug("case"), reader.address("member"),
                     reader.choice("reason", OBJECTION_REASONS),
                     reader.optional_hash_hex("note_commitment"))
        reader.finish()
        return parsed


async def _check_object(ctx: ApplyContext, b: CaseObject) -> None:
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "noticed")
    now = log_time(ctx)
    if case.notice_until is not None and now >= case.notice_until:
        raise WrongStage(f"case {b.case}: the notice window closed at {case.notice_until}")
    require_covered(await get_membership(ctx.conn, case.plan, b.member), now)
    if await Objection.filter(case=b.case, member=b.member).using_db(ctx.conn).exists():
        raise Conflict(f"{b.member} already objected to case {b.case}")


async def _project_object(ctx: ApplyContext, b: CaseObject) -> None:
    await Objection.create(using_db=ctx.conn, idx=ctx.index, case=b.case, member=b.member,
                           reason=b.reason, note_commitment=b.note_commitment)
    case = await get_case(ctx.conn, b.case)
    case.objections += 1
    case.last_objection_idx = ctx.index
    await case.save(using_db=ctx.conn)


@dataclass(frozen=True)
class CaseReview:
    case: str
    reviewer: Address
    findings_hash: str
    outcome: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CaseReview:
        reader = BodyReader(body, "case.review")
        parsed = cls(reader.slug("case"), reader.address("reviewer"),
                     reader.hash_hex("findings_hash"),
                     reader.choice("outcome", ("dismissed", "upheld")))
        reader.finish()
        return parsed


async def _check_review(ctx: ApplyContext, b: CaseReview) -> None:
    await require_role(ctx, b.reviewer, "operator", "investigator")
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "noticed")
    if case.objections == 0:
        raise WrongStage(f"case {b.case} has no objection to review")


async def _project_review(ctx: ApplyContext, b: CaseReview) -> None:
    await Review.create(using_db=ctx.conn, idx=ctx.index, case=b.case, reviewer=b.reviewer,
                        findings_hash=b.findings_hash, outcome=b.outcome)
    await Case.filter(id=b.case).using_db(ctx.conn).update(review_idx=ctx.index,
                                                           review_outcome=b.outcome)


@dataclass(frozen=True)
class CaseDecide:
    case: str
    operator: Address
    decision: str
    amount_fen: int | None
    reason: str | None

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> CaseDecide:
        reader = BodyReader(body, "case.decide")
        given = reader.raw("reason", optional=True) is not None
        parsed = cls(reader.slug("case"), reader.address("operator"),
                     reader.choice("decision", ("approve", "reject")),
                     reader.optional_integer("amount_fen", minimum=1),
                     reader.choice("reason", DECISION_REASONS) if given else None)
        reader.finish()
        if (parsed.decision == "approve") != (parsed.amount_fen is not None):
            raise ValidationError("case.decide: amount_fen goes with approve, and only with it",
                                  field="amount_fen")
        if (parsed.decision == "reject") != (parsed.reason is not None):
            raise ValidationError("case.decide: a reason code goes with reject, and only with "
                                  "it", field="reason")
        return parsed


async def _check_decide(ctx: ApplyContext, b: CaseDecide) -> None:
    await require_role(ctx, b.operator, "operator")
    case = await get_case(ctx.conn, b.case)
    _require_stage(case, "noticed")
    if case.notice_until is None or log_time(ctx) < case.notice_until:
        raise WrongStage(f"case {b.case}: the public notice runs until {case.notice_until}")
    if b.amount_fen is None:
        return
    if b.amount_fen > case.cap_fen:
        raise RuleBroken(f"case.decide: {b.amount_fen} fen is above the cap of "
                         f"{case.cap_fen} fen", field="amount_fen")
    if b.amount_fen > case.asked_fen:
        raise RuleBroken("case.decide: more than the amount asked", field="amount_fen")
    if case.objections and (case.review_idx is None
                            or case.review_idx < (case.last_objection_idx or 0)):
        raise WrongStage(f"case {b.case} was objected to: record a review before approving")
    if case.review_outcome == "upheld":
        raise RuleBroken(f"case {b.case}: the review upheld an objection", field="decision")


async def _project_decide(ctx: ApplyContext, b: CaseDecide) -> None:
    await Case.filter(id=b.case).using_db(ctx.conn).update(
        status="approved" if b.decision == "approve" else "rejected", decide_idx=ctx.index,
        decision=b.decision, approved_fen=b.amount_fen, decision_reason=b.reason)


# -- apportionment --------------------------------------------------------------------------

@dataclass(frozen=True)
class PeriodApportion:
    plan: str
    operator: Address
    period: int
    cases: tuple[str, ...]
    payouts_fen: int
    fee_fen: int
    carry_in_fen: int
    members: int
    share_fen: int
    collected_fen: int
    carry_fen: int
    lapsed: int
    share_root: str

    @classmethod
    def parse(cls, body: Mapping[str, Any]) -> PeriodApportion:
        reader = BodyReader(body, "period.apportion")
        plan, operator = reader.slug("plan"), reader.address("operator")
        period = reader.integer("period")
        cases = reader.raw("cases")
        if (not isinstance(cases, list) or not 1 <= len(cases) <= MAX_PERIOD_CASES
                or not all(isinstance(c, str) and _SLUG.fullmatch(c) for c in cases)
                or any(a >= b for a, b in pairwise(cases))):
            raise ValidationError(f"period.apportion: cases must be 1..{MAX_PERIOD_CASES} "
                                  "case ids in strictly ascending order", field="cases")
        figures = {name: reader.integer(name, minimum=0) for name in (
            "payouts_fen", "fee_fen", "carry_in_fen", "members", "share_fen", "collected_fen",
            "carry_fen", "lapsed")}
        parsed = cls(plan, operator, period, tuple(cases), share_root=reader.hash_hex(
            "share_root"), **figures)
        reader.finish()
        return parsed

    def figures(self) -> dict[str, int | str]:
        return {"payouts_fen": self.payouts_fen, "fee_fen": self.fee_fen,
                "carry_in_fen": self.carry_in_fen, "members": self.members,
                "share_fen": self.share_fen, "collected_fen": self.collected_fen,
                "carry_fen": self.carry_fen, "lapsed": self.lapsed,
                "share_root": self.share_root}


@dataclass(frozen=True)
class Computed:
    """What the projections say a period must be: the body's figures, the share tree's tiles
    and (for the projector) its pages of leaves."""

    totals: apportion.Totals
    tree: apportion.TreeSummary
    pages: list[bytes]
    page_keys: list[int]  # joined_idx of each page's first member

    def figures(self) -> dict[str, int | str]:
        t = self.totals
        return {"payouts_fen": t.payouts, "fee_fen": t.fee, "carry_in_fen": t.carry_in,
                "members": t.members, "share_fen": t.share, "collected_fen": t.collected,
                "carry_fen": t.carry, "lapsed": t.lapsed, "share_root": self.tree.root.hex()}


# The covered-member predicate (plan, log time), and the share-tree order: join order, which
# the (plan, joined_idx) index yields without a sort. Rows are read a chunk at a time from one
# cursor, so memory stays bounded.
_ACTIVE = "plan = ? AND status = 'active' AND covered_from <= ?"
_COVERED = f"{_ACTIVE} AND balance_fen > 0"
_CHUNK = 65_536  # a multiple of the 256-leaf page


_first, _second = itemgetter(0), itemgetter(1)


def _covered_sql(conn: BaseDBAsyncClient, share: int) -> str:
    """Each covered member in share-tree order: address (bytes), and their balance when it is
    not above the share (they pay it all and lapse), else NULL."""
    if is_postgres(conn):
        address, table = "convert_to(member, 'UTF8')", "ma_membership"
    else:
        address, table = "CAST(member AS BLOB)", f"ma_membership INDEXED BY {MEMBERSHIP_JOIN_ORDER}"
    low = f"CASE WHEN balance_fen <= {int(share)} THEN balance_fen END"
    return (f"SELECT {address}, {low} FROM {table} WHERE {_COVERED} "
            f"ORDER BY joined_idx")


class _Reader:
    """Raw reads on one connection (the transaction's, or a pooled one in a read-only snapshot),
    so a period's aggregates and its streamed leaves see the same covered set."""

    def __init__(self, conn: BaseDBAsyncClient, raw: Any) -> None:
        self.postgres = is_postgres(conn)
        self.conn, self.raw = conn, raw

    async def row(self, query: str, values: list[Any]) -> list[Any]:
        return list((await self.rows(query, values))[0])

    async def rows(self, query: str, values: list[Any]) -> list[Any]:
        if self.postgres:
            return list(await self.raw.fetch(sql(self.conn, query), *values))
        async with self.raw.execute(query, values) as cursor:
            return list(await cursor.fetchall())

    async def chunks(self, query: str, values: list[Any]) -> AsyncIterator[list[Any]]:
        """The rows of `query` (as tuples), a chunk at a time from one cursor."""
        if self.postgres:
            cursor = await self.raw.cursor(sql(self.conn, query), *values)
            while rows := await cursor.fetch(_CHUNK):
                yield rows
            return
        cursor = await self.raw.execute(query, values)
        cursor.row_factory = None  # plain tuples: cheaper than the client's sqlite3.Row
        # Fetch the next chunk in SQLite's thread while the caller hashes this one.
        pending = asyncio.ensure_future(cursor.fetchmany(_CHUNK))
        try:
            while rows := await pending:
                pending = asyncio.ensure_future(cursor.fetchmany(_CHUNK))
                yield rows
        finally:
            await asyncio.wait([pending])
            await cursor.close()


async def _joined_of(read: _Reader, plan: str, members: Sequence[bytes]) -> list[int]:
    """The joined_idx of each of `members` (by primary key, a few hundred at a time)."""
    found: dict[str, int] = {}
    for start in range(0, len(members), 500):
        ids = [membership_id(plan, m.decode()) for m in members[start:start + 500]]
        marks = ", ".join("?" * len(ids))
        for row in await read.rows(f"SELECT id, joined_idx FROM ma_membership "
                                   f"WHERE id IN ({marks})", ids):
            found[row[0]] = int(row[1])
    return [found[membership_id(plan, m.decode())] for m in members]


@asynccontextmanager
async def _reader(conn: BaseDBAsyncClient) -> AsyncIterator[_Reader]:
    async with conn.acquire_connection() as raw:
        if is_postgres(conn) and not raw.is_in_transaction():
            async with raw.transaction(isolation="repeatable_read", readonly=True):
                yield _Reader(conn, raw)
        else:
            yield _Reader(conn, raw)


async def covered_count(conn: BaseDBAsyncClient, plan: str, now: str) -> int:
    """How many members of `plan` are covered at log time `now`."""
    _, rows = await conn.execute_query(
        sql(conn, f"SELECT count(*) FROM ma_membership WHERE {_COVERED}"), [plan, now])
    return int(rows[0][0])


async def period_cases(conn: BaseDBAsyncClient, plan: str, case_ids: Sequence[str]
                       ) -> list[Case]:
    wanted = [c for c in case_ids if can_match(Case, id=c)]
    found = {c.id: c for c in await Case.filter(id__in=wanted).using_db(conn)}
    cases = []
    for case_id in case_ids:
        case = found.get(case_id)
        if case is None or case.plan != plan:
            raise UnknownCase(f"no case {case_id!r} in plan {plan}")
        if case.period_idx is not None:
            raise Conflict(f"case {case_id} was already apportioned")
        if case.status != "approved":
            raise WrongStage(f"case {case_id} is {case.status}, not approved")
        cases.append(case)
    return cases


async def compute_period(conn: BaseDBAsyncClient, plan: Plan, period: int,
                         cases: Sequence[Case], now: str, *, keep_pages: bool = False
                         ) -> Computed:
    """Everything a period.apportion body must say, from the projections at log time `now`.

    A count gives the share; then one pass over the covered set in join order, a chunk at a
    time, gives each leaf and the few balances not above the share."""
    payouts = sum(c.approved_fen or 0 for c in cases)
    rule = {"payouts": payouts, "fee_bp": plan.fee_bp, "carry_in": plan.carry_fen,
            "member_cap": plan.member_case_cap_fen, "cases": len(cases)}
    builder = apportion.TreeBuilder()
    pages: list[bytes] = []
    firsts: list[bytes] = []  # each page's first member
    low: list[int] = []  # balances of members who cannot pay more than the share

    def take(rows: Sequence[Sequence[Any]]) -> None:
        addresses, short = list(map(_first, rows)), list(map(_second, rows))
        builder.add_hashes(apportion.leaf_hashes_of(addresses, period, share, short))
        if keep_pages:
            pages.extend(apportion.pages_of(addresses, period, share, short))
            firsts.extend(addresses[::tiles.TILE_WIDTH])
        low.extend(filter(None, short))

    async with _reader(conn) as read:
        # Counted from the (plan, status, covered_from) index alone: every projector keeps an
        # active membership's balance above zero (a join prepays >= 1 fen; a member whose
        # balance reaches 0 lapses; leaving sets it to 0 with status 'left'). The pass below
        # applies the full predicate and must find the same number.
        (members,) = await read.row(f"SELECT count(*) FROM ma_membership WHERE {_ACTIVE}",
                                    [plan.id, now])
        share = apportion.share_for(members=int(members), **rule)
        carry: list[Any] = []  # batches start on page boundaries
        async with aclosing(read.chunks(_covered_sql(conn, share), [plan.id, now])) as chunks:
            async for rows in chunks:
                if carry:
                    rows = [*carry, *rows]
                cut = len(rows) - len(rows) % tiles.TILE_WIDTH
                carry = rows[cut:]
                if cut:
                    take(rows[:cut] if carry else rows)
        if carry:
            take(carry)
        # Pages are found by join position: look up each page's first member's.
        page_keys = await _joined_of(read, plan.id, firsts)
    tree = builder.finish()
    if tree.size != members:
        raise PeriodMismatch(f"period.apportion: {members} active members past their waiting "
                             f"period, but {tree.size} with a balance", field="members")
    totals = apportion.totals(members=int(members), short=sum(1 for b in low if b < share),
                              short_sum=sum(b for b in low if b < share), lapsed=len(low),
                              **rule)
    return Computed(totals, tree, pages, page_keys)


async def _check_apportion(ctx: ApplyContext, b: PeriodApportion) -> None:
    await require_role(ctx, b.operator, "operator")
    plan = await get_plan(ctx.conn, b.plan)
    if b.period <= plan.periods:
        raise PeriodExists(f"plan {b.plan}: period {b.period} was already apportioned")
    if b.period != plan.periods + 1:
        raise PeriodMismatch(f"period.apportion: the next period of plan {b.plan} is "
                             f"{plan.periods + 1}", field="period")
    cases = await period_cases(ctx.conn, b.plan, b.cases)
    computed = await compute_period(ctx.conn, plan, b.period, cases, log_time(ctx),
                                    keep_pages=True)
    expected, found = computed.figures(), b.figures()
    for name, value in expected.items():
        if found[name] != value:
            raise PeriodMismatch(f"period.apportion: {name} is {value} by the projections, "
                                 f"not {found[name]}", field=name)
    ctx.memo[("mutualaid.period", ctx.index)] = computed


async def _project_apportion(ctx: ApplyContext, b: PeriodApportion) -> None:
    computed: Computed | None = ctx.memo.pop(("mutualaid.period", ctx.index), None)
    now = log_time(ctx)
    if computed is None:  # not expected: check always runs first in the same batch
        plan = await get_plan(ctx.conn, b.plan)
        computed = await compute_period(ctx.conn, plan, b.period,
                                        await period_cases(ctx.conn, b.plan, b.cases), now,
                                        keep_pages=True)
    conn, share, index = ctx.conn, b.share_fen, ctx.index
    # The leaves go in as pages of 256 (one row each, not one per member); the tiles above
    # level 0 beside them. Then the debits, set-based, over the same covered set (nothing
    # changes it in between: same transaction).
    await execute_many(conn, "INSERT INTO ma_share_page (id, period_idx, page, first_joined, "
                             "leaves) VALUES (?, ?, ?, ?, ?)",
                       [[f"{index}/{n}", index, n, first, page] for n, (first, page)
                        in enumerate(zip(computed.page_keys, computed.pages, strict=True))])
    await execute_many(conn, "INSERT INTO ma_share_tile (id, period_idx, data) VALUES (?, ?, ?)",
                       [[f"{index}/{level}/{n}", index, data]
                        for level, n, data in computed.tree.tiles])
    del computed
    # Those who cannot pay the full share pay their balance and lapse; then everyone still
    # covered pays the share. Two statements, so the common one leaves indexed columns alone
    # (and the first is skipped when the check counted nobody lapsing).
    if b.lapsed:
        await execute(conn, f"UPDATE ma_membership SET shared_fen = shared_fen + balance_fen, "
                            f"balance_fen = 0, status = 'lapsed', lapsed_idx = ? "
                            f"WHERE {_COVERED} AND balance_fen <= ?", [index, b.plan, now, share])
    if share:
        await execute(conn, f"UPDATE ma_membership SET shared_fen = shared_fen + ?, "
                            f"balance_fen = balance_fen - ? WHERE {_COVERED}",
                      [share, share, b.plan, now])
    marks = ", ".join("?" * len(b.cases))
    await execute(conn, f"UPDATE ma_case SET status = 'paid', period_idx = ? WHERE id IN ({marks})",
                  [index, *b.cases])
    await Period.create(using_db=conn, idx=index, plan=b.plan, number=b.period, at=now,
                        cases=json.dumps(list(b.cases)), payouts_fen=b.payouts_fen,
                        fee_fen=b.fee_fen, carry_in_fen=b.carry_in_fen, members=b.members,
                        share_fen=share, collected_fen=b.collected_fen, carry_fen=b.carry_fen,
                        lapsed=b.lapsed, share_root=b.share_root)
    await Plan.filter(id=b.plan).using_db(conn).update(carry_fen=b.carry_fen, periods=b.period)


def _one(field: str) -> Any:
    return lambda b: [getattr(b, field)]


PLAN_CREATE = register(EntryKind("plan.create", PlanCreate.parse, _one("operator"),
                                 _check_plan_create, _project_plan_create,
                                 "create a mutual-aid plan, or a new version of its rules"))
PLAN_JOIN = register(EntryKind("plan.join", PlanJoin.parse, _one("member"), _check_join,
                               _project_join, "a member joins a plan with a prepayment"))
PLAN_TOPUP = register(EntryKind("plan.topup", PlanTopup.parse, _one("member"), _check_topup,
                                _project_topup, "a member tops up their balance"))
PLAN_LEAVE = register(EntryKind("plan.leave", PlanLeave.parse, _one("member"), _check_leave,
                                _project_leave, "a member leaves a plan"))
CASE_OPEN = register(EntryKind("case.open", CaseOpen.parse, _one("opener"), _check_case_open,
                               _project_case_open, "open a mutual-aid case for a covered member"))
CASE_ATTEST = register(EntryKind("case.attest", CaseAttest.parse, _one("investigator"),
                                 _check_attest, _project_attest, "an investigator's findings"))
CASE_NOTICE = register(EntryKind("case.notice", CaseNotice.parse, _one("operator"),
                                 _check_notice, _project_notice, "open the public notice window"))
CASE_OBJECT = register(EntryKind("case.object", CaseObject.parse, _one("member"),
                                 _check_object, _project_object, "a covered member objects"))
CASE_REVIEW = register(EntryKind("case.review", CaseReview.parse, _one("reviewer"),
                                 _check_review, _project_review, "review of the objections"))
CASE_DECIDE = register(EntryKind("case.decide", CaseDecide.parse, _one("operator"),
                                 _check_decide, _project_decide, "approve or reject a case"))
PERIOD_APPORTION = register(EntryKind("period.apportion", PeriodApportion.parse,
                                      _one("operator"), _check_apportion, _project_apportion,
                                      "share a period's approved cases among covered members"))

__all__ = ["MASKED_NAME", "Rules", "age_band", "compute_period", "covered_count",
           "log_time", "membership_id"]
