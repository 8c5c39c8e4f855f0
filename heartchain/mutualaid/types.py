"""GraphQL types of mutual aid: plans, memberships with share proofs, cases, period notices."""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

import strawberry

from heartchain.errors import HeartchainError, NotFound, ValidationError
from heartchain.gql import ErrorResult, Info, Int64, b64, error_result
from heartchain.ledger.types import FromEntry, LogEntry, load_entry
from heartchain.mutualaid import services
from heartchain.mutualaid.codes import CONDITIONS, DECISION_REASONS, OBJECTION_REASONS, Label
from heartchain.mutualaid.entries import Rules
from heartchain.mutualaid.models import Case as CaseRow
from heartchain.mutualaid.models import CaseProxy as ProxyRow
from heartchain.mutualaid.models import Hospital as HospitalRow
from heartchain.mutualaid.models import Membership as MembershipRow
from heartchain.mutualaid.models import Period as PeriodRow
from heartchain.mutualaid.models import Plan as PlanRow
from heartchain.mutualaid.models import PlanVersion


def _date(name: str, value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise ValidationError(f"{name}: expected YYYY-MM-DD", field=name) from None


@strawberry.type(name="MutualAidLabel", description="A vetted code and its Chinese and English "
                 "labels: what public case fields show instead of free text.")
class LabelType:
    code: str
    zh: str
    en: str

    @classmethod
    def of(cls, label: Label) -> LabelType:
        return cls(code=label.code, zh=label.zh, en=label.en)


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

    @classmethod
    def of(cls, r: Rules) -> RulesType:
        return cls(min_age_days=r.min_age_days, max_age_years=r.max_age_years,
                   waiting_days=r.waiting_days, cap_fen=Int64(r.cap_fen),
                   senior_age=r.senior_age, senior_cap_fen=Int64(r.senior_cap_fen),
                   fee_bp=r.fee_bp, member_case_cap_fen=Int64(r.member_case_cap_fen),
                   min_prepay_fen=Int64(r.min_prepay_fen), conditions=list(r.conditions))


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

    def to_rules(self) -> Rules:
        return Rules(self.min_age_days, self.max_age_years, self.waiting_days, self.cap_fen,
                     self.senior_age, self.senior_cap_fen, self.fee_bp,
                     self.member_case_cap_fen, self.min_prepay_fen, tuple(self.conditions))


def _rules_from_json(text: str) -> Rules:
    data = json.loads(text)
    data["conditions"] = tuple(data["conditions"])
    return Rules(**data)


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

    @strawberry.field
    async def periods(self) -> list[PeriodType]:
        return [PeriodType.of(p) for p in await services.periods_of(self.id)]


@strawberry.type(name="MutualAidShare", description="One member's share of one period, with its "
                 "RFC 9162 inclusion proof in that period's share tree.")
class ShareType:
    period: int
    period_index: Int64
    member: str
    share_fen: Int64
    position: Int64
    tree_size: Int64
    leaf_data: str = strawberry.field(description="canonical JSON {member, period, share}")
    leaf_hash: str
    hashes: list[str]
    share_root: str = strawberry.field(description="hex; equals the entry's body.share_root")

    @classmethod
    def of(cls, proof: services.ShareProof) -> ShareType:
        return cls(period=proof.number, period_index=Int64(proof.period_idx),
                   member=proof.member, share_fen=Int64(proof.share_fen),
                   position=Int64(proof.position), tree_size=Int64(proof.tree_size),
                   leaf_data=proof.leaf_data.decode(), leaf_hash=b64(proof.leaf_hash),
                   hashes=[b64(h) for h in proof.hashes], share_root=proof.root.hex())

    @strawberry.field(description="A receipt to keep: C2SP tlog-proof@v1 text of the "
                                  "period.apportion entry, whose extra line also holds this "
                                  "share's leaf and its proof in the share tree.")
    async def receipt(self, info: Info) -> str:
        from heartchain.receipt_service import share_receipt

        return await share_receipt(info.context.platform, self.period_index, self.member)

    @strawberry.field(description="The period.apportion entry whose body holds the root.")
    async def entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.period_index)


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


@strawberry.type(name="MutualAidInvestigation")
class Investigation(FromEntry):
    investigator: str
    findings_hash: str
    recommendation: str
    amount_fen: Int64 | None
    index: Int64



@strawberry.type(name="MutualAidNotice")
class Notice(FromEntry):
    days: int
    open_from: str
    open_until: str
    index: Int64



@strawberry.type(name="MutualAidObjection")
class ObjectionType(FromEntry):
    member: str
    reason: str = strawberry.field(description="a code of objectionReasons")
    note_commitment: str | None = strawberry.field(
        description="salted commitment to the objector's note, sealed off the log")
    index: Int64

    @strawberry.field
    def reason_label(self) -> LabelType:
        return LabelType.of(OBJECTION_REASONS[self.reason])



@strawberry.type(name="MutualAidReview")
class ReviewType(FromEntry):
    reviewer: str
    findings_hash: str
    outcome: str
    index: Int64



@strawberry.type(name="MutualAidDecision")
class Decision(FromEntry):
    decision: str
    amount_fen: Int64 | None
    reason: str | None = strawberry.field(description="why it was rejected: a code")
    index: Int64

    @strawberry.field
    def reason_label(self) -> LabelType | None:
        return None if self.reason is None else LabelType.of(DECISION_REASONS[self.reason])



@strawberry.type(name="MutualAidCase", description="A case as publicly noticed: codes, masked "
                 "name and age band only; the real name and description are sealed off the log.")
class CaseType:
    id: str
    plan: str
    member: str
    masked_name: str
    age_band: str
    condition: str = strawberry.field(description="a code of caseConditions")
    asked_fen: Int64
    cap_fen: Int64
    hospital: str = strawberry.field(description="a registered hospital's code")
    diagnosed_on: str
    details_commitment: str = strawberry.field(
        description="salted commitment to the sealed name and description")
    status: str = strawberry.field(description="opened | attested | noticed | approved | "
                                               "rejected | paid")
    rules_version: int
    opened_at: str
    opened_index: Int64
    investigation: Investigation | None
    notice: Notice | None
    decision: Decision | None
    period_index: Int64 | None

    @classmethod
    def of(cls, c: CaseRow) -> CaseType:
        return cls(
            id=c.id, plan=c.plan, member=c.member, masked_name=c.masked_name,
            age_band=c.age_band, condition=c.condition, asked_fen=Int64(c.asked_fen),
            cap_fen=Int64(c.cap_fen), hospital=c.hospital, diagnosed_on=c.diagnosed_on,
            details_commitment=c.details_commitment,
            status=c.status, rules_version=c.rules_version, opened_at=c.opened_at,
            opened_index=Int64(c.opened_idx),
            investigation=None if c.attest_idx is None else Investigation(
                investigator=c.investigator or "", findings_hash=c.findings_hash or "",
                recommendation=c.recommendation or "",
                amount_fen=None if c.recommended_fen is None else Int64(c.recommended_fen),
                index=Int64(c.attest_idx)),
            notice=None if c.notice_idx is None else Notice(
                days=c.notice_days or 0, open_from=c.notice_from or "",
                open_until=c.notice_until or "", index=Int64(c.notice_idx)),
            decision=None if c.decide_idx is None else Decision(
                decision=c.decision or "",
                amount_fen=None if c.approved_fen is None else Int64(c.approved_fen),
                reason=c.decision_reason, index=Int64(c.decide_idx)),
            period_index=None if c.period_idx is None else Int64(c.period_idx))

    @strawberry.field
    async def entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.opened_index)

    @strawberry.field
    def condition_label(self) -> LabelType:
        return LabelType.of(CONDITIONS[self.condition])

    @strawberry.field(description="The registered hospital's names.")
    async def hospital_label(self) -> LabelType:
        row = await HospitalRow.get(code=self.hospital)
        return LabelType(code=row.code, zh=row.name_zh, en=row.name_en)

    @strawberry.field
    async def objections(self) -> list[ObjectionType]:
        return [ObjectionType(member=o.member, reason=o.reason,
                              note_commitment=o.note_commitment, index=Int64(o.idx))
                for o in await services.objections_of(self.id)]

    @strawberry.field
    async def reviews(self) -> list[ReviewType]:
        return [ReviewType(reviewer=r.reviewer, findings_hash=r.findings_hash,
                           outcome=r.outcome, index=Int64(r.idx))
                for r in await services.reviews_of(self.id)]


@strawberry.type(name="MutualAidPeriod", description="The public notice of a period: its cases "
                 "(masked) with investigation, objections and decision; the total, fee, number "
                 "sharing and the per-member share; the entry and its share-tree root.")
class PeriodType(FromEntry):
    plan: str
    number: int
    at: str
    index: Int64
    case_ids: list[str]
    payouts_fen: Int64
    fee_fen: Int64
    carry_in_fen: Int64
    total_fen: Int64 = strawberry.field(description="payouts + fee")
    members: int = strawberry.field(description="covered members sharing")
    share_fen: Int64 = strawberry.field(description="the uniform per-member share")
    collected_fen: Int64
    carry_fen: Int64 = strawberry.field(description="carried to the next period")
    lapsed: int
    share_root: str

    @classmethod
    def of(cls, p: PeriodRow) -> PeriodType:
        return cls(plan=p.plan, number=p.number, at=p.at, index=Int64(p.idx),
                   case_ids=json.loads(p.cases), payouts_fen=Int64(p.payouts_fen),
                   fee_fen=Int64(p.fee_fen), carry_in_fen=Int64(p.carry_in_fen),
                   total_fen=Int64(p.payouts_fen + p.fee_fen), members=p.members,
                   share_fen=Int64(p.share_fen), collected_fen=Int64(p.collected_fen),
                   carry_fen=Int64(p.carry_fen), lapsed=p.lapsed, share_root=p.share_root)


    @strawberry.field
    async def cases(self) -> list[CaseType]:
        rows = await CaseRow.filter(period_idx=self.index).order_by("id")
        return [CaseType.of(c) for c in rows]

    @strawberry.field(description="One member's share in this period, with its proof.")
    async def share(self, member: str) -> ShareType | None:
        try:
            return ShareType.of(await services.share_proof(self.index, member))
        except NotFound:
            return None


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


@strawberry.type(name="MutualAidPlanSaved")
class PlanSaved:
    plan: PlanType
    entry: LogEntry


@strawberry.type(name="MutualAidMembershipSaved")
class MembershipSaved:
    membership: MembershipType
    entry: LogEntry


@strawberry.type(name="MutualAidCaseSaved")
class CaseSaved:
    case: CaseType
    entry: LogEntry


@strawberry.type(name="MutualAidPeriodApportioned")
class PeriodApportioned:
    period: PeriodType
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
CaseResult = Annotated[CaseSaved | ErrorResult, strawberry.union("MutualAidCaseResult")]
PeriodResult = Annotated[PeriodApportioned | ErrorResult,
                         strawberry.union("MutualAidPeriodResult")]


async def _membership_saved(info: Info, plan: str, member: str, index: int) -> MembershipSaved:
    row = await MembershipRow.get(id=f"{plan}:{member}")
    return MembershipSaved(membership=MembershipType.of(row, services.log_now(
        info.context.platform)), entry=await load_entry(info, index))


async def _case_saved(info: Info, case: str, index: int) -> CaseSaved:
    return CaseSaved(case=CaseType.of(await CaseRow.get(id=case)),
                     entry=await load_entry(info, index))


async def _set_proxy(info: Info, plan: str, proxy: str, *, grant: bool) -> ProxyResult:
    try:
        member = info.context.require_account("member")
        appended = await services.set_proxy(info.context.platform, plan=plan,
                                            member=member.address, proxy=proxy, grant=grant)
    except HeartchainError as exc:
        return error_result(exc)
    row = await ProxyRow.get(plan=plan, member=member.address, proxy=proxy)
    return ProxySaved(proxy=ProxyType.of(row), entry=await load_entry(info, appended.index))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Operator: create a plan, or publish its next rules "
                                     "version (applies from its log position on).")
    async def create_plan(self, info: Info, id: str, name: str, rules: RulesInput
                          ) -> PlanResult:
        try:
            operator = info.context.require_account("operator")
            appended = await services.create_plan(info.context.platform, operator=operator.address,
                                                  plan=id, name=name, rules=rules.to_rules())
        except HeartchainError as exc:
            return error_result(exc)
        return PlanSaved(plan=PlanType.of(await PlanRow.get(id=id)),
                         entry=await load_entry(info, appended.index))

    @strawberry.mutation(description="Member: join a plan with a prepayment. The birth date is "
                                     "sealed off the log; only its commitment and the age in "
                                     "completed years go on it.")
    async def join_plan(self, info: Info, plan: str, birth_date: str, prepay_fen: Int64
                        ) -> MembershipResult:
        try:
            member = info.context.require_account("member")
            joined = await services.join_plan(info.context.platform, plan=plan,
                                              member=member.address,
                                              birth_date=_date("birthDate", birth_date),
                                              prepay_fen=prepay_fen)
        except HeartchainError as exc:
            return error_result(exc)
        return await _membership_saved(info, plan, member.address, joined.appended.index)

    @strawberry.mutation(description="Member: add to the prepaid balance.")
    async def top_up(self, info: Info, plan: str, amount_fen: Int64) -> MembershipResult:
        try:
            member = info.context.require_account("member")
            appended = await services.top_up(info.context.platform, plan=plan,
                                             member=member.address, amount_fen=amount_fen)
        except HeartchainError as exc:
            return error_result(exc)
        return await _membership_saved(info, plan, member.address, appended.index)

    @strawberry.mutation(description="Member: leave a plan (the balance is refunded).")
    async def leave_plan(self, info: Info, plan: str) -> MembershipResult:
        try:
            member = info.context.require_account("member")
            appended = await services.leave_plan(info.context.platform, plan=plan,
                                                 member=member.address)
        except HeartchainError as exc:
            return error_result(exc)
        return await _membership_saved(info, plan, member.address, appended.index)

    @strawberry.mutation(description="Operator: register a hospital cases may name by `code` "
                                     "(again to rename it, or to unlist it).")
    async def register_hospital(self, info: Info, code: str, name_zh: str, name_en: str,
                                listed: bool = True) -> HospitalResult:
        try:
            operator = info.context.require_account("operator")
            appended = await services.register_hospital(
                info.context.platform, operator=operator.address, code=code, name_zh=name_zh,
                name_en=name_en, listed=listed)
        except HeartchainError as exc:
            return error_result(exc)
        return HospitalSaved(hospital=HospitalType.of(await HospitalRow.get(code=code)),
                             entry=await load_entry(info, appended.index))

    @strawberry.mutation(description="Member: authorise a family member (a registered account) "
                                     "to open cases for you in a plan.")
    async def grant_case_proxy(self, info: Info, plan: str, proxy: str) -> ProxyResult:
        return await _set_proxy(info, plan, proxy, grant=True)

    @strawberry.mutation(description="Member: withdraw a proxy's authorisation.")
    async def revoke_case_proxy(self, info: Info, plan: str, proxy: str) -> ProxyResult:
        return await _set_proxy(info, plan, proxy, grant=False)

    @strawberry.mutation(description="The member, a proxy they authorised, or the operator: "
                                     "open a case. `condition` is a code the plan covers, "
                                     "`hospital` a registered hospital's code; the real name "
                                     "and description are sealed, the log shows 张* and their "
                                     "commitment only.")
    async def open_case(self, info: Info, plan: str, condition: str, asked_fen: Int64,
                        hospital: str, patient_name: str, diagnosed_on: str,
                        member: str | None = None, description: str | None = None
                        ) -> CaseResult:
        try:
            opener = info.context.require_account("member", "operator")
            case_id, appended = await services.open_case(
                info.context.platform, plan=plan, member=member or opener.address,
                opener=opener.address, condition=condition, asked_fen=asked_fen,
                hospital=hospital, patient_name=patient_name,
                diagnosed_on=_date("diagnosedOn", diagnosed_on), description=description)
        except HeartchainError as exc:
            return error_result(exc)
        return await _case_saved(info, case_id, appended.index)

    @strawberry.mutation(description="Investigator: record findings (sealed off the log; a "
                                     "salted commitment on it) and a recommendation.")
    async def attest_case(self, info: Info, case: str, findings: str, recommendation: str,
                          amount_fen: Int64 | None = None) -> CaseResult:
        try:
            who = info.context.require_account("investigator")
            appended = await services.attest_case(
                info.context.platform, case=case, investigator=who.address, findings=findings,
                recommendation=recommendation, amount_fen=amount_fen)
        except HeartchainError as exc:
            return error_result(exc)
        return await _case_saved(info, case, appended.index)

    @strawberry.mutation(description="Operator: open the public notice window.")
    async def notice_case(self, info: Info, case: str, days: int) -> CaseResult:
        try:
            who = info.context.require_account("operator")
            appended = await services.notice_case(info.context.platform, case=case,
                                                  operator=who.address, days=days)
        except HeartchainError as exc:
            return error_result(exc)
        return await _case_saved(info, case, appended.index)

    @strawberry.mutation(description="Covered member: object while the notice window is open; "
                                     "`reason` is a code of objectionReasons, a `note` is "
                                     "sealed off the log.")
    async def object_case(self, info: Info, case: str, reason: str, note: str | None = None
                          ) -> CaseResult:
        try:
            who = info.context.require_account("member")
            appended = await services.object_case(info.context.platform, case=case,
                                                  member=who.address, reason=reason, note=note)
        except HeartchainError as exc:
            return error_result(exc)
        return await _case_saved(info, case, appended.index)

    @strawberry.mutation(description="Operator or investigator: review the objections.")
    async def review_case(self, info: Info, case: str, findings: str, outcome: str
                          ) -> CaseResult:
        try:
            who = info.context.require_account("operator", "investigator")
            appended = await services.review_case(info.context.platform, case=case,
                                                  reviewer=who.address, findings=findings,
                                                  outcome=outcome)
        except HeartchainError as exc:
            return error_result(exc)
        return await _case_saved(info, case, appended.index)

    @strawberry.mutation(description="Operator: approve (amount within the cap) or reject (with "
                                     "a `reason` code), once the notice window has elapsed.")
    async def decide_case(self, info: Info, case: str, decision: str,
                          amount_fen: Int64 | None = None, reason: str | None = None
                          ) -> CaseResult:
        try:
            who = info.context.require_account("operator")
            appended = await services.decide_case(info.context.platform, case=case,
                                                  operator=who.address, decision=decision,
                                                  amount_fen=amount_fen, reason=reason)
        except HeartchainError as exc:
            return error_result(exc)
        return await _case_saved(info, case, appended.index)

    @strawberry.mutation(description="Operator: apportion the plan's next period over its "
                                     "approved cases (all of them unless `cases` is given).")
    async def apportion_period(self, info: Info, plan: str, cases: list[str] | None = None
                               ) -> PeriodResult:
        try:
            who = info.context.require_account("operator")
            appended = await services.apportion_period(info.context.platform, plan=plan,
                                                       operator=who.address, cases=cases)
        except HeartchainError as exc:
            return error_result(exc)
        row = await PeriodRow.get(idx=appended.index)
        return PeriodApportioned(period=PeriodType.of(row),
                                 entry=await load_entry(info, appended.index))
