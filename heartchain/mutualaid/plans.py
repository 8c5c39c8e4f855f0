"""`plan.create` (operator): a plan and its versioned rules.

Version 1 creates a plan; version n + 1 replaces its rules from this log position on. Joins and
cases record the version they were judged under (`PlanVersion` keeps each version's rules).

The options after `conditions` are optional (defaults: today's behaviour, and a body without
them encodes as before): the plan's time zone, its notice and deduction days of the month
(`period.notice` / `period.apportion` dates, checked in plan time), a per-year cap on what one
member pays, and age bands with their payout caps (generalising the senior cap).
"""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from itertools import pairwise
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger.body import Address, Body, Fen, Index, Slug
from heartchain.ledger.entries import format_time, parse_time
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.lookups import can_match
from heartchain.mutualaid import apportion
from heartchain.mutualaid.codes import CONDITIONS, PublicName
from heartchain.mutualaid.errors import UnknownPlan
from heartchain.mutualaid.models import Plan, PlanVersion

MAX_CONDITIONS = 50
MAX_BANDS = 20
YEAR_DAYS = 365
NO_SENIOR = 151  # a senior_age nobody reaches: the senior cap is off


def _between(low: int, high: int) -> msgspec.Meta:
    return msgspec.Meta(ge=low, le=high)


# Days 1..28 only: every month has them, so a plan's dates never fall out of a short month.
MonthDay = Annotated[int, _between(1, 28)]
MonthDays = Annotated[tuple[MonthDay, ...], msgspec.Meta(max_length=4)]
ZoneName = Annotated[str, msgspec.Meta(max_length=64, pattern=r"\A[A-Za-z][A-Za-z0-9_+/-]*\Z")]


class AgeBand(Body, kw_only=False):
    """Ages from the band before's `to_years` + 1 (the first: the plan's minimum age) through
    `to_years`, completed years, with the payout cap for a case of a patient that age."""

    to_years: Annotated[int, _between(0, 150)]
    cap_fen: Fen


def zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"plan.create: unknown time zone {name!r}",
                              field="time_zone") from None


def local_date(moment: str, time_zone: str) -> date:
    """The date in plan time of a log time."""
    return parse_time(moment).astimezone(zone(time_zone)).date()


def midnight(day: date, time_zone: str) -> str:
    """00:00 plan time on `day`, as a log time (UTC)."""
    return format_time(datetime(day.year, day.month, day.day, tzinfo=zone(time_zone)))


def next_day_of(moment: datetime, days: tuple[int, ...], time_zone: str, hour: int = 10
                ) -> datetime:
    """`hour`:00 plan time on the first day after `moment` whose day of the month is in `days`
    (for schedulers and the demo: the next notice or deduction day)."""
    day = moment.astimezone(zone(time_zone)).date() + timedelta(days=1)
    while days and day.day not in days:
        day += timedelta(days=1)
    return datetime(day.year, day.month, day.day, hour, tzinfo=zone(time_zone))


# Positional, unlike the kinds: the GraphQL input builds it field by field in this order.
class Rules(Body, kw_only=False):
    """A plan's rules (one version), nested in `plan.create` as `rules`."""

    min_age_days: Annotated[int, _between(0, 150 * YEAR_DAYS)]
    max_age_years: Annotated[int, _between(0, 150)]
    waiting_days: Annotated[int, _between(0, 3650)]
    cap_fen: Fen
    senior_age: Annotated[int, _between(0, 151)]
    senior_cap_fen: Fen
    fee_bp: Annotated[int, _between(0, apportion.FEE_SCALE)]
    member_case_cap_fen: Fen
    min_prepay_fen: Fen
    # Codes of codes.CONDITIONS, checked below rather than by type (codes.Condition): so the
    # refusal names `conditions`, where a nested field's decode error would name `rules`.
    conditions: tuple[str, ...]
    time_zone: ZoneName = "UTC"
    notice_days: MonthDays = ()
    deduction_days: MonthDays = ()
    year_cap_fen: Index = 0  # the most one member pays in a plan year (calendar year, plan time)
    age_bands: Annotated[tuple[AgeBand, ...], msgspec.Meta(max_length=MAX_BANDS)] = ()

    def __post_init__(self) -> None:
        if (not 1 <= len(self.conditions) <= MAX_CONDITIONS
                or not all(c in CONDITIONS for c in self.conditions)
                or len(set(self.conditions)) != len(self.conditions)):
            raise ValidationError(f"plan.create: rules.conditions must be 1..{MAX_CONDITIONS} "
                                  "distinct condition codes (mutualaid/codes.py)",
                                  field="conditions")
        if self.senior_cap_fen > self.cap_fen:
            raise ValidationError("plan.create: rules.senior_cap_fen exceeds cap_fen",
                                  field="senior_cap_fen")
        if self.min_age_days > (self.max_age_years + 1) * YEAR_DAYS:
            raise ValidationError("plan.create: the age range is empty", field="min_age_days")
        zone(self.time_zone)
        self._check_days()
        self._check_bands()

    def _check_days(self) -> None:
        notice, deduction = self.notice_days, self.deduction_days
        if any(a >= b for a, b in pairwise(notice)):
            raise ValidationError("plan.create: rules.notice_days must ascend",
                                  field="notice_days")
        # Interleaved: each notice day is followed by its deduction day, before the next notice.
        days = [d for pair in zip(notice, deduction, strict=False) for d in pair]
        if deduction and (len(deduction) != len(notice)
                          or any(a >= b for a, b in pairwise(days))):
            raise ValidationError("plan.create: rules.deduction_days must pair the notice_days, "
                                  "each after its notice day and before the next (e.g. notice "
                                  "7, 21 and deduction 14, 28)", field="deduction_days")

    def _check_bands(self) -> None:
        bands = self.age_bands
        if not bands:
            return
        if (any(a.to_years >= b.to_years for a, b in pairwise(bands))
                or bands[-1].to_years != self.max_age_years
                or bands[0].to_years < self.min_age_days // YEAR_DAYS):
            raise ValidationError("plan.create: rules.age_bands must ascend and end at "
                                  "max_age_years", field="age_bands")
        if any(band.cap_fen > self.cap_fen for band in bands):
            raise ValidationError("plan.create: an age band's cap exceeds cap_fen",
                                  field="age_bands")
        if self.senior_age <= self.max_age_years:
            raise ValidationError(f"plan.create: age_bands replace the senior cap: set "
                                  f"senior_age to {NO_SENIOR}", field="senior_age")

    def cap_for(self, age: int) -> int:
        """The payout cap for a patient of `age` completed years."""
        for band in self.age_bands:
            if age <= band.to_years:
                return band.cap_fen
        if self.age_bands:  # above every band: outside the plan's range, nothing payable
            return 0
        return self.senior_cap_fen if age >= self.senior_age else self.cap_fen

    def is_notice_day(self, day: date) -> bool:
        return not self.notice_days or day.day in self.notice_days

    def is_deduction_day(self, day: date) -> bool:
        return not self.deduction_days or day.day in self.deduction_days

    def to_json(self) -> str:
        """As `PlanVersion.rules` stores it: sorted keys, no spaces."""
        return json.dumps(msgspec.to_builtins(self), sort_keys=True, separators=(",", ":"))


def rules_of(plan: Plan) -> Rules:
    return Rules(plan.min_age_days, plan.max_age_years, plan.waiting_days, plan.cap_fen,
                 plan.senior_age, plan.senior_cap_fen, plan.fee_bp, plan.member_case_cap_fen,
                 plan.min_prepay_fen, tuple(json.loads(plan.conditions)), plan.time_zone,
                 tuple(json.loads(plan.notice_days)), tuple(json.loads(plan.deduction_days)),
                 plan.year_cap_fen,
                 tuple(AgeBand(*band) for band in json.loads(plan.age_bands)))


class PlanCreate(Body):
    """Create a mutual-aid plan, or a new version of its rules."""

    KIND = "plan.create"
    SIGNERS = ("operator",)

    plan: Slug
    version: Annotated[int, _between(1, 10_000)]
    name: PublicName
    operator: Address
    rules: Rules
    # The licensed insurer or closed group it operates under; kept from the version before when
    # a later version leaves it out (projected by closing.py).
    operates_under: PublicName | None = None


async def get_plan(conn: BaseDBAsyncClient, plan_id: str) -> Plan:
    plan = await Plan.get_or_none(id=plan_id).using_db(conn) \
        if can_match(Plan, id=plan_id) else None
    if plan is None:
        raise UnknownPlan(f"no plan {plan_id!r}")
    return plan


@rules(PlanCreate)
async def _check_plan_create(ctx: ApplyContext, b: PlanCreate) -> None:
    await require_role(ctx, b.operator, "operator")
    plan = await Plan.get_or_none(id=b.plan).using_db(ctx.conn)
    current = plan.version if plan else 0
    if b.version != current + 1:
        raise Conflict(f"plan {b.plan}: next version is {current + 1}, not {b.version}")


@projects(PlanCreate)
async def _project_plan_create(ctx: ApplyContext, b: PlanCreate) -> None:
    r = b.rules
    values = {"name": b.name, "version": b.version, "operator": b.operator,
              "version_idx": ctx.index, "min_age_days": r.min_age_days,
              "max_age_years": r.max_age_years, "waiting_days": r.waiting_days,
              "cap_fen": r.cap_fen, "senior_age": r.senior_age,
              "senior_cap_fen": r.senior_cap_fen, "fee_bp": r.fee_bp,
              "member_case_cap_fen": r.member_case_cap_fen, "min_prepay_fen": r.min_prepay_fen,
              "conditions": json.dumps(list(r.conditions)), "time_zone": r.time_zone,
              "notice_days": json.dumps(list(r.notice_days)),
              "deduction_days": json.dumps(list(r.deduction_days)),
              "year_cap_fen": r.year_cap_fen,
              "age_bands": json.dumps([[b.to_years, b.cap_fen] for b in r.age_bands])}
    if b.version == 1:
        await Plan.create(using_db=ctx.conn, id=b.plan, created_idx=ctx.index, **values)
    else:
        await Plan.filter(id=b.plan).using_db(ctx.conn).update(**values)
    await PlanVersion.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, version=b.version,
                             rules=r.to_json())
