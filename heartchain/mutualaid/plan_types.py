"""GraphQL types of mutual-aid plans: their rules and versions, memberships with their shares,
the hospitals cases name and the proxies members authorise, and the mutations on them."""

from __future__ import annotations

import json
from typing import Annotated

import msgspec
import strawberry

from heartchain.gql import ErrorResult, Info, Int64, mutation
from heartchain.ledger.types import FromEntry, LogEntry, load_entry
from heartchain.mutualaid import services
from heartchain.mutualaid.case_types import iso_date
from heartchain.mutualaid.closing_types import ClosingType, closing_of
from heartchain.mutualaid.entries import AgeBand, Rules
from heartchain.mutualaid.models import CaseProxy as ProxyRow
from heartchain.mutualaid.models import Hospital as HospitalRow
from heartchain.mutualaid.models import Membership as MembershipRow
from heartchain.mutualaid.models import PeriodNotice as NoticeRow
from heartchain.mutualaid.models import Plan as PlanRow
from heartchain.mutualaid.models import PlanVersion
from heartchain.mutualaid.period_types import NoticeType, PeriodType, ShareType


@strawberry.type(name="MutualAidHospital", description="A hospital the operator registered; "
                 "cases name it by code.")
class HospitalType:
    code: str
    name_zh: str
    name_en: str
    listed: bool
    registered_index: Int64
    updated_index: Int64

    @classmethod
    def of(cls, row: HospitalRow) -> HospitalType:
        return cls(code=row.code, name_zh=row.name_zh, name_en=row.name_en, listed=row.listed,
                   registered_index=Int64(row.registered_idx),
                   updated_index=Int64(row.updated_idx))

    @strawberry.field(description="The hospital.register entry in force.")
    async def entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.updated_index)


@strawberry.type(name="MutualAidProxy", description="Family a member authorised (plan.proxy) "
                 "to open cases for them in a plan.")
class ProxyType:
    plan: str
    member: str
    proxy: str
    active: bool
    granted_index: Int64
    revoked_index: Int64 | None

    @classmethod
    def of(cls, row: ProxyRow) -> ProxyType:
        return cls(plan=row.plan, member=row.member, proxy=row.proxy, active=row.active,
                   granted_index=Int64(row.granted_idx),
                   revoked_index=None if row.revoked_idx is None else Int64(row.revoked_idx))


@strawberry.type(name="MutualAidAgeBand", description="Ages from the band before's toYears + 1 "
                 "(the first: the plan's minimum age) through toYears, with their payout cap.")
class AgeBandType:
    to_years: int
    cap_fen: Int64


@strawberry.input(name="MutualAidAgeBandInput")
class AgeBandInput:
    to_years: int
    cap_fen: Int64


@strawberry.type(name="MutualAidRules", description="A plan's rules (one version).")
class RulesType:
    min_age_days: int
    max_age_years: int
    waiting_days: int
    cap_fen: Int64
    senior_age: int
    senior_cap_fen: Int64 = strawberry.field(description="the payout cap from senior_age on")
    fee_bp: int = strawberry.field(description="management fee in basis points (800 = 8%)")
    member_case_cap_fen: Int64 = strawberry.field(
        description="the most one member pays for one case")
    min_prepay_fen: Int64
    conditions: list[str]
    time_zone: str = strawberry.field(default="UTC", description="plan time (IANA zone)")
    notice_days: list[int] = strawberry.field(
        default_factory=list, description="days of the month a period's notice opens")
    deduction_days: list[int] = strawberry.field(
        default_factory=list, description="days of the month shares are deducted")
    year_cap_fen: Int64 = strawberry.field(
        default=Int64(0), description="the most one member pays in a plan year (0: no cap)")
    age_bands: list[AgeBandType] = strawberry.field(
        default_factory=list, description="payout caps by age (replace the senior cap)")

    @classmethod
    def of(cls, r: Rules) -> RulesType:
        return cls(min_age_days=r.min_age_days, max_age_years=r.max_age_years,
                   waiting_days=r.waiting_days, cap_fen=Int64(r.cap_fen),
                   senior_age=r.senior_age, senior_cap_fen=Int64(r.senior_cap_fen),
                   fee_bp=r.fee_bp, member_case_cap_fen=Int64(r.member_case_cap_fen),
                   min_prepay_fen=Int64(r.min_prepay_fen), conditions=list(r.conditions),
                   time_zone=r.time_zone, notice_days=list(r.notice_days),
                   deduction_days=list(r.deduction_days), year_cap_fen=Int64(r.year_cap_fen),
                   age_bands=[AgeBandType(to_years=b.to_years, cap_fen=Int64(b.cap_fen))
                              for b in r.age_bands])


@strawberry.input(name="MutualAidRulesInput")
class RulesInput:
    min_age_days: int
    max_age_years: int
    waiting_days: int
    cap_fen: Int64
    senior_age: int
    senior_cap_fen: Int64
    fee_bp: int
    member_case_cap_fen: Int64
    min_prepay_fen: Int64
    conditions: list[str]
    time_zone: str = "UTC"
    notice_days: list[int] = strawberry.field(default_factory=list)
    deduction_days: list[int] = strawberry.field(default_factory=list)
    year_cap_fen: Int64 = Int64(0)
    age_bands: list[AgeBandInput] = strawberry.field(default_factory=list)

    def to_rules(self) -> Rules:
        return Rules(min_age_days=self.min_age_days, max_age_years=self.max_age_years,
                     waiting_days=self.waiting_days, cap_fen=self.cap_fen,
                     senior_age=self.senior_age, senior_cap_fen=self.senior_cap_fen,
                     fee_bp=self.fee_bp, member_case_cap_fen=self.member_case_cap_fen,
                     min_prepay_fen=self.min_prepay_fen, conditions=tuple(self.conditions),
                     time_zone=self.time_zone, notice_days=tuple(self.notice_days),
                     deduction_days=tuple(self.deduction_days), year_cap_fen=self.year_cap_fen,
                     age_bands=tuple(AgeBand(b.to_years, b.cap_fen) for b in self.age_bands))


def _rules_from_json(text: str) -> Rules:
    return msgspec.convert(json.loads(text), Rules)


@strawberry.type(name="MutualAidRulesVersion")
class RulesVersion(FromEntry):
    version: int
    rules: RulesType
    index: Int64


@strawberry.type(name="MutualAidPlan")
class PlanType:
    id: str
    name: str
    version: int
    rules: RulesType
    carry_fen: Int64 = strawberry.field(description="owed by past periods; added to the next")
    period_count: int
    created_index: Int64
    @classmethod
    def of(cls, row: PlanRow) -> PlanType:
        from heartchain.mutualaid.entries import rules_of

        return cls(id=row.id, name=row.name, version=row.version,
                   rules=RulesType.of(rules_of(row)), carry_fen=Int64(row.carry_fen),
                   period_count=row.periods, created_index=Int64(row.created_idx))

    @strawberry.field(description="The licensed insurer or closed group it operates under.")
    async def operates_under(self) -> str | None:
        from heartchain.mutualaid.closing import operates_under

        return await operates_under(self.id)

    @strawberry.field(description="Its wind-down, once announced (plan.close).")
    async def closing(self, info: Info) -> ClosingType | None:
        return await closing_of(info, self.id)

    @strawberry.field
    async def entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.created_index)

    @strawberry.field(description="Every rules version, oldest first.")
    async def versions(self) -> list[RulesVersion]:
        rows = await PlanVersion.filter(plan=self.id).order_by("idx")
        return [RulesVersion(version=r.version, rules=RulesType.of(_rules_from_json(r.rules)),
                             index=Int64(r.idx)) for r in rows]

    @strawberry.field(description="Members covered now (log clock).")
    async def covered_members(self, info: Info) -> int:
        return await services.covered_count(info.context.platform, self.id)

    @strawberry.field(description="Every period notice, oldest first: each member set counted "
                                  "at 00:00 plan time on its notice day.")
    async def notices(self) -> list[NoticeType]:
        rows = await NoticeRow.filter(plan=self.id).order_by("number")
        return [NoticeType.of(n) for n in rows]

    @strawberry.field
    async def periods(self) -> list[PeriodType]:
        return [PeriodType.of(p) for p in await services.periods_of(self.id)]


@strawberry.type(name="MutualAidMembership")
class MembershipType:
    plan: str
    member: str
    coverage: str = strawberry.field(description="covered | waiting | lapsed | left")
    balance_fen: Int64
    prepaid_fen: Int64
    shared_fen: Int64
    joined_at: str
    covered_from: str
    age_years: int
    birth_commitment: str
    joined_index: Int64

    @classmethod
    def of(cls, row: MembershipRow, now: str) -> MembershipType:
        return cls(plan=row.plan, member=row.member, coverage=services.coverage(row, now),
                   balance_fen=Int64(row.balance_fen), prepaid_fen=Int64(row.prepaid_fen),
                   shared_fen=Int64(row.shared_fen), joined_at=row.joined_at,
                   covered_from=row.covered_from, age_years=row.age_years,
                   birth_commitment=row.birth_commitment, joined_index=Int64(row.joined_idx))

    @strawberry.field(description="The plan.join entry: its position and first witnessed "
                                  "checkpoint prove when coverage started.")
    async def join_entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.joined_index)

    @strawberry.field(description="Family authorised to open cases for this member.")
    async def proxies(self) -> list[ProxyType]:
        return [ProxyType.of(r) for r in await services.proxies_of(self.plan, self.member)]

    @strawberry.field(description="Every share paid, with its inclusion proof.")
    async def shares(self) -> list[ShareType]:
        return [ShareType.of(proof)
                for _, proof in await services.shares_of(self.plan, self.member)]


@strawberry.type(name="MutualAidPlanSaved")
class PlanSaved:
    plan: PlanType
    entry: LogEntry


@strawberry.type(name="MutualAidMembershipSaved")
class MembershipSaved:
    membership: MembershipType
    entry: LogEntry


@strawberry.type(name="MutualAidHospitalSaved")
class HospitalSaved:
    hospital: HospitalType
    entry: LogEntry


@strawberry.type(name="MutualAidProxySaved")
class ProxySaved:
    proxy: ProxyType
    entry: LogEntry


PlanResult = Annotated[PlanSaved | ErrorResult, strawberry.union("MutualAidPlanResult")]
HospitalResult = Annotated[HospitalSaved | ErrorResult,
                           strawberry.union("MutualAidHospitalResult")]
ProxyResult = Annotated[ProxySaved | ErrorResult, strawberry.union("MutualAidProxyResult")]
MembershipResult = Annotated[MembershipSaved | ErrorResult,
                             strawberry.union("MutualAidMembershipResult")]


async def _membership_saved(info: Info, plan: str, member: str, index: int) -> MembershipSaved:
    row = await MembershipRow.get(id=f"{plan}:{member}")
    return MembershipSaved(membership=MembershipType.of(row, services.log_now(
        info.context.platform)), entry=await load_entry(info, index))


async def _set_proxy(info: Info, plan: str, proxy: str, *, grant: bool) -> ProxySaved:
    member = info.context.caller.address
    appended = await services.set_proxy(info.context.platform, plan=plan, member=member,
                                        proxy=proxy, grant=grant)
    row = await ProxyRow.get(plan=plan, member=member, proxy=proxy)
    return ProxySaved(proxy=ProxyType.of(row), entry=await load_entry(info, appended.index))


@strawberry.type
class PlanMutation:
    @mutation(roles=["operator"],
              description="Operator: create a plan, or publish its next rules version (applies "
                          "from its log position on).")
    async def create_plan(self, info: Info, id: str, name: str, rules: RulesInput,
                          operates_under: str | None = None) -> PlanResult:
        appended = await services.create_plan(info.context.platform,
                                              operator=info.context.caller.address, plan=id,
                                              name=name, rules=rules.to_rules(),
                                              operates_under=operates_under)
        return PlanSaved(plan=PlanType.of(await PlanRow.get(id=id)),
                         entry=await load_entry(info, appended.index))

    @mutation(roles=["member"],
              description="Member: join a plan with a prepayment. The birth date is sealed off "
                          "the log; only its commitment and the age in completed years go on "
                          "it.")
    async def join_plan(self, info: Info, plan: str, birth_date: str, prepay_fen: Int64
                        ) -> MembershipResult:
        member = info.context.caller.address
        joined = await services.join_plan(info.context.platform, plan=plan, member=member,
                                          birth_date=iso_date("birthDate", birth_date),
                                          prepay_fen=prepay_fen)
        return await _membership_saved(info, plan, member, joined.appended.index)

    @mutation(roles=["member"], description="Member: add to the prepaid balance.")
    async def top_up(self, info: Info, plan: str, amount_fen: Int64) -> MembershipResult:
        member = info.context.caller.address
        appended = await services.top_up(info.context.platform, plan=plan, member=member,
                                         amount_fen=amount_fen)
        return await _membership_saved(info, plan, member, appended.index)

    @mutation(roles=["member"], description="Member: leave a plan (the balance is refunded).")
    async def leave_plan(self, info: Info, plan: str) -> MembershipResult:
        member = info.context.caller.address
        appended = await services.leave_plan(info.context.platform, plan=plan, member=member)
        return await _membership_saved(info, plan, member, appended.index)

    @mutation(roles=["operator"],
              description="Operator: register a hospital cases may name by `code` (again to "
                          "rename it, or to unlist it).")
    async def register_hospital(self, info: Info, code: str, name_zh: str, name_en: str,
                                listed: bool = True) -> HospitalResult:
        appended = await services.register_hospital(
            info.context.platform, operator=info.context.caller.address, code=code,
            name_zh=name_zh, name_en=name_en, listed=listed)
        return HospitalSaved(hospital=HospitalType.of(await HospitalRow.get(code=code)),
                             entry=await load_entry(info, appended.index))

    @mutation(roles=["member"],
              description="Member: authorise a family member (a registered account) to open "
                          "cases for you in a plan.")
    async def grant_case_proxy(self, info: Info, plan: str, proxy: str) -> ProxyResult:
        return await _set_proxy(info, plan, proxy, grant=True)

    @mutation(roles=["member"], description="Member: withdraw a proxy's authorisation.")
    async def revoke_case_proxy(self, info: Info, plan: str, proxy: str) -> ProxyResult:
        return await _set_proxy(info, plan, proxy, grant=False)
