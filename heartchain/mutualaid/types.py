"""GraphQL types of mutual aid: plans, memberships with share proofs, cases, period notices.

The types and mutations live by concern in plan_types, case_types and period_types; this module
is the domain's root: its `Query`, and its `Mutation` merged from theirs.
"""

from __future__ import annotations

import strawberry
from strawberry.tools import merge_types

from heartchain.gql import Info
from heartchain.mutualaid import services
from heartchain.mutualaid.case_types import CaseMutation, CaseType, LabelType
from heartchain.mutualaid.closing_types import ClosingMutation
from heartchain.mutualaid.codes import CONDITIONS, DECISION_REASONS, OBJECTION_REASONS
from heartchain.mutualaid.jury_types import JuryMutation
from heartchain.mutualaid.period_types import PeriodMutation, PeriodType
from heartchain.mutualaid.plan_types import HospitalType, MembershipType, PlanMutation, PlanType


@strawberry.type
class Query:
    @strawberry.field(description="A mutual-aid plan and its rules.")
    async def plan(self, id: str) -> PlanType | None:
        row = await services.find_plan(id)
        return PlanType.of(row) if row else None

    @strawberry.field(description="A member's coverage, balance and shares (with proofs); the "
                                  "first plan they joined unless `plan` is given.")
    async def membership(self, info: Info, address: str, plan: str | None = None
                         ) -> MembershipType | None:
        rows = await services.memberships_of(address)
        row = next((r for r in rows if plan is None or r.plan == plan), None)
        return MembershipType.of(row, services.log_now(info.context.platform)) if row else None

    @strawberry.field(description="A mutual-aid case as publicly noticed.")
    async def case(self, id: str) -> CaseType | None:
        row = await services.find_case(id)
        return CaseType.of(row) if row else None

    @strawberry.field(description="The hospitals cases may name (and unlisted ones old cases "
                                  "name).")
    async def hospitals(self) -> list[HospitalType]:
        return [HospitalType.of(r) for r in await services.hospitals()]

    @strawberry.field(description="Every condition code a plan may cover, with its labels.")
    def case_conditions(self) -> list[LabelType]:
        return [LabelType.of(label) for label in CONDITIONS.values()]

    @strawberry.field(description="The reasons a member may object to a case for.")
    def objection_reasons(self) -> list[LabelType]:
        return [LabelType.of(label) for label in OBJECTION_REASONS.values()]

    @strawberry.field(description="The reasons the operator may reject a case for.")
    def decision_reasons(self) -> list[LabelType]:
        return [LabelType.of(label) for label in DECISION_REASONS.values()]

    @strawberry.field(description="The public notice of a period of a plan.")
    async def period(self, plan: str, number: int) -> PeriodType | None:
        row = await services.find_period(plan, number)
        return PeriodType.of(row) if row else None


# In this order, so the schema lists the mutations as it always has: plans, cases, periods;
# then the wind-down, then the member jury.
Mutation = merge_types("Mutation", (PlanMutation, CaseMutation, PeriodMutation,
                                    ClosingMutation, JuryMutation))
