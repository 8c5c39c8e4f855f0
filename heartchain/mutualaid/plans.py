"""`plan.create` (operator): a plan and its versioned rules.

Version 1 creates a plan; version n + 1 replaces its rules from this log position on. Joins and
cases record the version they were judged under (`PlanVersion` keeps each version's rules).
"""

from __future__ import annotations

import json
from typing import Annotated

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger.body import Address, Body, Fen, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.lookups import can_match
from heartchain.mutualaid import apportion
from heartchain.mutualaid.codes import CONDITIONS, PublicName
from heartchain.mutualaid.errors import UnknownPlan
from heartchain.mutualaid.models import Plan, PlanVersion

MAX_CONDITIONS = 50
YEAR_DAYS = 365


def _between(low: int, high: int) -> msgspec.Meta:
    return msgspec.Meta(ge=low, le=high)


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

    def cap_for(self, age: int) -> int:
        return self.senior_cap_fen if age >= self.senior_age else self.cap_fen

    def to_json(self) -> str:
        """As `PlanVersion.rules` stores it: sorted keys, no spaces."""
        return json.dumps(msgspec.to_builtins(self), sort_keys=True, separators=(",", ":"))


def rules_of(plan: Plan) -> Rules:
    return Rules(plan.min_age_days, plan.max_age_years, plan.waiting_days, plan.cap_fen,
                 plan.senior_age, plan.senior_cap_fen, plan.fee_bp, plan.member_case_cap_fen,
                 plan.min_prepay_fen, tuple(json.loads(plan.conditions)))


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
              "conditions": json.dumps(list(r.conditions))}
    if b.version == 1:
        await Plan.create(using_db=ctx.conn, id=b.plan, created_idx=ctx.index, **values)
    else:
        await Plan.filter(id=b.plan).using_db(ctx.conn).update(**values)
    await PlanVersion.create(using_db=ctx.conn, idx=ctx.index, plan=b.plan, version=b.version,
                             rules=r.to_json())
