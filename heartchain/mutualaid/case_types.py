"""GraphQL types of mutual-aid cases: the public notice of a case, its investigation,
objections, reviews and decision, and the mutations that move a case along."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from heartchain.errors import ValidationError
from heartchain.gql import ErrorResult, Info, Int64, mutation
from heartchain.ledger.types import FromEntry, LogEntry, load_entry
from heartchain.mutualaid import services
from heartchain.mutualaid.codes import CONDITIONS, DECISION_REASONS, OBJECTION_REASONS, Label
from heartchain.mutualaid.jury_types import JuryType, jury_of
from heartchain.mutualaid.models import Case as CaseRow
from heartchain.mutualaid.models import Hospital as HospitalRow


def iso_date(name: str, value: str) -> date:
    """The argument `name` as a date, or a ValidationError naming it."""
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

    @strawberry.field(description="Salted commitment to the sealed explanation of a rejection "
                                  "(null if none was given).")
    async def reason_commitment(self, info: Info) -> str | None:
        body = (await load_entry(info, self.index)).body
        found = body.get("reason_commitment") if isinstance(body, dict) else None
        return found if isinstance(found, str) else None


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

    @strawberry.field(description="The member jury, if one was drawn for this case.")
    async def jury(self, info: Info) -> JuryType | None:
        return await jury_of(info, self.id)

    @strawberry.field(description="The sealed explanation of a rejection: for the claimant "
                                  "and the operator only (null for anyone else, or none).")
    async def sealed_reason(self, info: Info) -> str | None:
        account = info.context.account
        if account is None or (account.address != self.member and account.role != "operator"):
            return None
        return await services.decision_reason_text(info.context.platform, self.id)

    @strawberry.field
    async def reviews(self) -> list[ReviewType]:
        return [ReviewType(reviewer=r.reviewer, findings_hash=r.findings_hash,
                           outcome=r.outcome, index=Int64(r.idx))
                for r in await services.reviews_of(self.id)]


@strawberry.type(name="MutualAidCaseSaved")
class CaseSaved:
    case: CaseType
    entry: LogEntry


CaseResult = Annotated[CaseSaved | ErrorResult, strawberry.union("MutualAidCaseResult")]


async def _case_saved(info: Info, case: str, index: int) -> CaseSaved:
    return CaseSaved(case=CaseType.of(await CaseRow.get(id=case)),
                     entry=await load_entry(info, index))


@strawberry.type
class CaseMutation:
    @mutation(roles=["member", "operator"],
              description="The member, a proxy they authorised, or the operator: open a case. "
                          "`condition` is a code the plan covers, `hospital` a registered "
                          "hospital's code; the real name and description are sealed, the log "
                          "shows 张* and their commitment only.")
    async def open_case(self, info: Info, plan: str, condition: str, asked_fen: Int64,
                        hospital: str, patient_name: str, diagnosed_on: str,
                        member: str | None = None, description: str | None = None
                        ) -> CaseResult:
        opener = info.context.caller.address
        case_id, appended = await services.open_case(
            info.context.platform, plan=plan, member=member or opener, opener=opener,
            condition=condition, asked_fen=asked_fen, hospital=hospital,
            patient_name=patient_name, diagnosed_on=iso_date("diagnosedOn", diagnosed_on),
            description=description)
        return await _case_saved(info, case_id, appended.index)

    @mutation(roles=["investigator"],
              description="Investigator: record findings (sealed off the log; a salted "
                          "commitment on it) and a recommendation.")
    async def attest_case(self, info: Info, case: str, findings: str, recommendation: str,
                          amount_fen: Int64 | None = None) -> CaseResult:
        appended = await services.attest_case(
            info.context.platform, case=case, investigator=info.context.caller.address,
            findings=findings, recommendation=recommendation, amount_fen=amount_fen)
        return await _case_saved(info, case, appended.index)

    @mutation(roles=["operator"], description="Operator: open the public notice window.")
    async def notice_case(self, info: Info, case: str, days: int) -> CaseResult:
        appended = await services.notice_case(info.context.platform, case=case,
                                              operator=info.context.caller.address, days=days)
        return await _case_saved(info, case, appended.index)

    @mutation(roles=["member"],
              description="Covered member: object while the notice window is open; `reason` "
                          "is a code of objectionReasons, a `note` is sealed off the log.")
    async def object_case(self, info: Info, case: str, reason: str, note: str | None = None
                          ) -> CaseResult:
        appended = await services.object_case(info.context.platform, case=case,
                                              member=info.context.caller.address,
                                              reason=reason, note=note)
        return await _case_saved(info, case, appended.index)

    @mutation(roles=["operator", "investigator"],
              description="Operator or investigator: review the objections.")
    async def review_case(self, info: Info, case: str, findings: str, outcome: str
                          ) -> CaseResult:
        appended = await services.review_case(info.context.platform, case=case,
                                              reviewer=info.context.caller.address,
                                              findings=findings, outcome=outcome)
        return await _case_saved(info, case, appended.index)

    @mutation(roles=["operator"],
              description="Operator: approve (amount within the cap) or reject (with a "
                          "`reason` code, and optionally `reasonText`, sealed off the log for "
                          "the claimant), once the notice window has elapsed; an objected "
                          "case of a plan with a jury follows the jury's verdict.")
    async def decide_case(self, info: Info, case: str, decision: str,
                          amount_fen: Int64 | None = None, reason: str | None = None,
                          reason_text: str | None = None) -> CaseResult:
        appended = await services.decide_case(info.context.platform, case=case,
                                              operator=info.context.caller.address,
                                              decision=decision, amount_fen=amount_fen,
                                              reason=reason, reason_text=reason_text)
        return await _case_saved(info, case, appended.index)
