"""Mutual-aid services: build and sign the entries (the reads are in `queries`).

Personal data stays off the log (DESIGN §6): a member's birth date, and a case's free text (the
patient's real name and description, findings, objection notes) are sealed with
`heartchain.privacy` under a per-subject key (``mutualaid:<address>``, ``mutualaid:case:<id>``);
the log carries only salted commitments, completed years of age, a masked name (张*), an age band
and codes. `erase_subject` shreds them; the log still verifies.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import rfc8785

from heartchain.errors import Conflict, HeartchainError, ValidationError
from heartchain.idempotency import current_idempotency_key
from heartchain.keys import Address, Signer, signer_address, signing_keys
from heartchain.ledger.body import decode
from heartchain.ledger.entries import format_time
from heartchain.ledger.log import Appended
from heartchain.lookups import can_match
from heartchain.mutualaid.entries import (
    MASKED_NAME,
    CaseAttest,
    CaseDecide,
    CaseNotice,
    CaseObject,
    CaseOpen,
    CaseReview,
    HospitalRegister,
    PeriodApportion,
    PeriodNoticeOpen,
    PlanCreate,
    PlanJoin,
    PlanLeave,
    PlanProxy,
    PlanTopup,
    Rules,
    age_band,
    age_now,
    compute_period,
    get_membership,
    get_plan,
    notice_body,
    period_cases,
)
from heartchain.mutualaid.errors import PeriodMismatch, UnknownCase
from heartchain.mutualaid.models import (
    Case,
    CaseProxy,
    Hospital,
    Plan,
)
from heartchain.mutualaid.plans import local_date
from heartchain.mutualaid.queries import (  # the reads, re-exported for callers
    ShareProof,
    cases_of_period,
    coverage,
    covered_count,
    find_case,
    find_period,
    find_plan,
    log_now,
    memberships_of,
    objections_of,
    periods_of,
    reviews_of,
    share_proof,
    shares_in,
    shares_of,
)
from heartchain.platform import Platform
from heartchain.privacy import (
    commitment,
    erase_subject,
    read_personal,
    seal_personal,
    subject_salt,
)

__all__ = [
    "MAX_DESCRIPTION", "MAX_NAME", "Joined", "ShareProof", "age_on", "apportion_body",
    "apportion_period", "approved_cases", "attest_case", "case_details", "case_subject",
    "cases_of_period", "coverage", "covered_count", "create_plan", "decide_case",
    "decision_reason_text",
    "details_document", "find_case", "find_period", "find_plan", "hospitals", "join_plan",
    "leave_plan", "log_now", "mask_name", "memberships_of", "new_case_id", "notice_case",
    "object_case", "objections_of", "open_case", "open_period_notice", "patient_name",
    "periods_of", "proxies_of", "register_hospital", "review_case", "reviews_of", "rules_body",
    "set_proxy", "share_proof", "shares_in", "shares_of", "top_up",
]

MAX_NAME = 64
MAX_DESCRIPTION = 2_000  # sealed text: a description, an objection's note




def mask_name(name: str) -> str:
    """张三 -> 张*, 欧阳娜娜 -> 欧***: the first character, then stars (at most three)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME or not MASKED_NAME.fullmatch(name[0] + "*"):
        raise ValidationError(f"patient_name: a name of 1..{MAX_NAME} characters starting "
                              "with a letter", field="patient_name")
    return name[0] + "*" * min(max(len(name) - 1, 1), 3)


def age_on(birth: date, today: date) -> tuple[int, int]:
    """(completed years, age in days) on `today`."""
    years = today.year - birth.year - ((today.month, today.day) < (birth.month, birth.day))
    return years, (today - birth).days


# -- plans and membership -------------------------------------------------------------------

def rules_body(rules: Rules) -> dict[str, Any]:
    """The rules as a plan.create entry read back from the log carries them (lists, not
    tuples: `to_builtins` keeps tuples, which never equal the log's lists)."""
    return json.loads(rules.to_json())  # type: ignore[no-any-return]


async def create_plan(platform: Platform, *, operator: Signer, plan: str, name: str,
                      rules: Rules, version: int | None = None,
                      operates_under: str | None = None) -> Appended:
    """Create `plan`, or publish its next rules version (applies from that log position on).
    A retry (same Idempotency-Key) answers the version the first attempt published."""
    earlier = await platform.written_before(PlanCreate, operator)
    if earlier is not None:
        body = earlier.entry.body
        if (body.get("plan"), body.get("name"), body.get("rules")) != (plan, name,
                                                                       rules_body(rules)):
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    if version is None:
        row = await Plan.get_or_none(id=plan) if can_match(Plan, id=plan) else None
        version = row.version + 1 if row else 1
    return await platform.write(PlanCreate(plan=plan, version=version, name=name,
                                           operator=signer_address(operator), rules=rules,
                                           operates_under=operates_under),
                                *signing_keys(operator))


@dataclass(frozen=True)
class Joined:
    appended: Appended
    birth_commitment: str


async def join_plan(platform: Platform, *, plan: str, member: Signer, birth_date: date,
                    prepay_fen: int, personal: Mapping[str, str] | None = None) -> Joined:
    """Join with a prepayment. The birth date and any `personal` values are sealed off the log;
    the entry carries completed years (days only for infants) and the birth-date commitment."""
    address = signer_address(member)
    subject = f"mutualaid:{address}"
    salt = await subject_salt(platform, subject)
    years, days = age_on(birth_date, platform.clock.now().date())
    if days < 0:
        raise ValidationError("birth_date: in the future", field="birth_date")
    body = PlanJoin(plan=plan, member=address, age_years=years,
                    birth_commitment=commitment(salt, birth_date.isoformat()),
                    prepay_fen=prepay_fen, infant_age_days=days if years == 0 else None)
    appended = await platform.write(body, *signing_keys(member))
    await seal_personal(platform, subject, "birth_date", birth_date.isoformat())
    for field, value in (personal or {}).items():
        await seal_personal(platform, subject, field, value)
    return Joined(appended, body.birth_commitment)


async def top_up(platform: Platform, *, plan: str, member: Signer, amount_fen: int) -> Appended:
    return await platform.write(PlanTopup(plan=plan, member=signer_address(member),
                                          amount_fen=amount_fen), *signing_keys(member))


async def leave_plan(platform: Platform, *, plan: str, member: Signer) -> Appended:
    return await platform.write(PlanLeave(plan=plan, member=signer_address(member)),
                                *signing_keys(member))


# -- hospitals and proxies ------------------------------------------------------------------

async def register_hospital(platform: Platform, *, operator: Signer, code: str, name_zh: str,
                            name_en: str, listed: bool = True) -> Appended:
    """Register (or rename, or unlist) a hospital that cases may name by `code`."""
    return await platform.write(HospitalRegister(
        hospital=code, name_zh=name_zh, name_en=name_en, listed=listed,
        operator=signer_address(operator)), *signing_keys(operator))


async def set_proxy(platform: Platform, *, plan: str, member: Signer, proxy: str,
                    grant: bool = True) -> Appended:
    """The member authorises (or revokes) `proxy`, a registered account, to open their cases."""
    return await platform.write(PlanProxy(
        plan=plan, member=signer_address(member), proxy=Address(proxy),
        action="grant" if grant else "revoke"), *signing_keys(member))


async def hospitals() -> list[Hospital]:
    return await Hospital.all().order_by("code")


async def proxies_of(plan: str, member: str) -> list[CaseProxy]:
    return await CaseProxy.filter(plan=plan, member=member).order_by("granted_idx")


# -- cases ----------------------------------------------------------------------------------

def new_case_id(opener: str) -> str:
    """A random id; within a request sent with an Idempotency-Key, one derived from the key
    (and the opener), so a retried `openCase` names the same case and writes nothing twice."""
    key = current_idempotency_key()
    if key is None:
        return f"case-{secrets.token_hex(5)}"
    digest = hashlib.sha256(f"heartchain/case-id/v1\n{opener}\n{key}".encode()).hexdigest()
    return f"case-{digest[:10]}"


def case_subject(case: str) -> str:
    """Whose sealed data a case's free text is: the patient's, under the case."""
    return f"mutualaid:case:{case}"


async def _committed(platform: Platform, case: str, value: str) -> str:
    """The salted commitment that stands on the log for `value`, sealed under the case."""
    if await find_case(case) is None:
        raise UnknownCase(f"no case {case!r}")
    return commitment(await subject_salt(platform, case_subject(case)), value)


def details_document(patient_name: str, description: str | None) -> str:
    """The sealed case details as committed to: canonical JSON (RFC 8785)."""
    details = {"patient_name": patient_name}
    if description:
        details["description"] = description
    return bytes(rfc8785.dumps(details)).decode()


async def open_case(platform: Platform, *, plan: str, member: str, opener: Signer,
                    condition: str, asked_fen: int, hospital: str, patient_name: str,
                    diagnosed_on: date, description: str | None = None,
                    case: str | None = None) -> tuple[str, Appended]:
    """Open a case for covered `member`, as the member, a proxy they authorised or the operator.

    Public: the condition code, the registered hospital's code, 张*, the age band, the dates and
    amounts. The real name and any description are sealed; the entry carries their commitment."""
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ValidationError(f"description: at most {MAX_DESCRIPTION} characters",
                              field="description")
    opener_address = signer_address(opener)
    case_id = case or new_case_id(opener_address)
    masked = mask_name(patient_name)
    now = format_time(platform.clock.now())
    m = await get_membership(platform.log.reader.connection(), plan, member)
    subject = case_subject(case_id)
    existed = await find_case(case_id) is not None
    details = details_document(patient_name, description)
    salt = await subject_salt(platform, subject)
    try:
        body = CaseOpen(case=case_id, plan=plan, member=Address(member), opener=opener_address,
                        condition=condition, asked_fen=asked_fen, hospital=hospital,
                        masked_name=masked, age_band=age_band(age_now(m, now)),
                        diagnosed_on=diagnosed_on.isoformat(),
                        details_commitment=commitment(salt, details))
        appended = await platform.write(body, *signing_keys(opener))
    except HeartchainError:
        if not existed and await find_case(case_id) is None:
            await erase_subject(platform, subject)  # refused: keep no salt for a non-case
        raise
    await seal_personal(platform, subject, "details", details)
    return case_id, appended


async def attest_case(platform: Platform, *, case: str, investigator: Signer,
                      findings: str, recommendation: str,
                      amount_fen: int | None = None) -> Appended:
    """The findings are sealed under the case; the log has their salted commitment."""
    body = CaseAttest(case=case, investigator=signer_address(investigator),
                      findings_hash=await _committed(platform, case, findings),
                      recommendation=recommendation,  # type: ignore[arg-type]
                      amount_fen=amount_fen)
    appended = await platform.write(body, *signing_keys(investigator))
    await seal_personal(platform, case_subject(case), f"findings:{appended.index}", findings)
    return appended


async def notice_case(platform: Platform, *, case: str, operator: Signer, days: int) -> Appended:
    return await platform.write(CaseNotice(case=case, operator=signer_address(operator), days=days),
                                *signing_keys(operator))


async def object_case(platform: Platform, *, case: str, member: Signer, reason: str,
                      note: str | None = None) -> Appended:
    """`reason` is a code of codes.OBJECTION_REASONS; a typed `note` is sealed under the case."""
    address = signer_address(member)
    note_commitment = None
    if note:
        if len(note) > MAX_DESCRIPTION:
            raise ValidationError(f"note: at most {MAX_DESCRIPTION} characters", field="note")
        note_commitment = await _committed(platform, case, note)
    appended = await platform.write(CaseObject(case=case, member=address, reason=reason,
                                               note_commitment=note_commitment),
                                    *signing_keys(member))
    if note:
        await seal_personal(platform, case_subject(case), f"objection:{appended.index}", note)
    return appended


async def review_case(platform: Platform, *, case: str, reviewer: Signer, findings: str,
                      outcome: str) -> Appended:
    appended = await platform.write(CaseReview(
        case=case, reviewer=signer_address(reviewer),
        findings_hash=await _committed(platform, case, findings),
        outcome=outcome),  # type: ignore[arg-type]
        *signing_keys(reviewer))
    await seal_personal(platform, case_subject(case), f"findings:{appended.index}", findings)
    return appended


async def decide_case(platform: Platform, *, case: str, operator: Signer, decision: str,
                      amount_fen: int | None = None, reason: str | None = None,
                      reason_text: str | None = None) -> Appended:
    """Approve with `amount_fen`, or reject with a `reason` code (codes.DECISION_REASONS) and
    optionally `reason_text`, sealed under the case (the claimant reads it with
    `decision_reason_text`); the entry carries only its salted commitment."""
    sealed = None
    if reason_text:
        if len(reason_text) > MAX_DESCRIPTION:
            raise ValidationError(f"reason_text: at most {MAX_DESCRIPTION} characters",
                                  field="reason_text")
        sealed = await _committed(platform, case, reason_text)
    body = CaseDecide(case=case, operator=signer_address(operator),
                      decision=decision,  # type: ignore[arg-type]
                      amount_fen=amount_fen, reason=reason, reason_commitment=sealed)
    appended = await platform.write(body, *signing_keys(operator))
    if reason_text:
        await seal_personal(platform, case_subject(case), f"decision:{appended.index}",
                            reason_text)
    return appended


async def decision_reason_text(platform: Platform, case: str) -> str | None:
    """The sealed explanation of a rejection (for the claimant and the operator); None if there
    is none, or once erased."""
    row = await find_case(case)
    if row is None or row.decide_idx is None:
        return None
    return await read_personal(platform, case_subject(case), f"decision:{row.decide_idx}")


async def case_details(platform: Platform, case: str) -> dict[str, str] | None:
    """The sealed details (operator eyes only): patient_name, description; None once erased."""
    sealed = await read_personal(platform, case_subject(case), "details")
    return None if sealed is None else dict(json.loads(sealed))


async def patient_name(platform: Platform, case: str) -> str | None:
    """The sealed real name (operator eyes only); None once erased."""
    details = await case_details(platform, case)
    return None if details is None else details["patient_name"]


# -- apportionment --------------------------------------------------------------------------

async def approved_cases(plan: str) -> list[str]:
    if not can_match(Case, plan=plan):
        return []
    rows = await Case.filter(plan=plan, status="approved", period_idx=None).order_by("id")
    return [row.id for row in rows]


async def apportion_body(platform: Platform, *, plan: str, operator: str,
                         cases: Sequence[str] | None = None) -> PeriodApportion:
    """The next period.apportion body, computed from the projections as of the log clock now."""
    conn = platform.log.reader.connection()
    row = await get_plan(conn, plan)
    case_ids = sorted(set(cases)) if cases is not None else await approved_cases(plan)
    if not case_ids:
        raise ValidationError(f"plan {plan} has no approved case to apportion", field="cases")
    period = row.periods + 1
    computed = await compute_period(conn, row, period, await period_cases(conn, plan, case_ids),
                                    format_time(platform.clock.now()))
    return decode(PeriodApportion, {"plan": plan, "operator": operator, "period": period,
                                    "cases": case_ids, **computed.figures()})


async def open_period_notice(platform: Platform, *, plan: str, operator: Signer,
                             day: date | None = None) -> Appended:
    """Open the notice of the plan's next period on `day` (default: today in plan time),
    committing the member set counted at 00:00 that day. A retry (same Idempotency-Key)
    answers the notice the first attempt opened."""
    earlier = await platform.written_before(PeriodNoticeOpen, operator)
    if earlier is not None:
        if earlier.entry.body.get("plan") != plan:
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    conn = platform.log.reader.connection()
    row = await get_plan(conn, plan)
    if day is None:
        day = local_date(format_time(platform.clock.now()), row.time_zone or "UTC")
    body = await notice_body(conn, plan, signer_address(operator), day)
    return await platform.write(body, *signing_keys(operator))


async def apportion_period(platform: Platform, *, plan: str, operator: Signer,
                           cases: Sequence[str] | None = None, attempts: int = 3) -> Appended:
    """Apportion the plan's next period. The body is recomputed and retried if coverage changed
    between computing and integrating (a waiting period ending in that instant). A retry (same
    Idempotency-Key) answers the period the first attempt apportioned."""
    earlier = await platform.written_before(PeriodApportion, operator)
    if earlier is not None:
        if earlier.entry.body.get("plan") != plan or (
                cases is not None and earlier.entry.body.get("cases") != sorted(set(cases))):
            raise Conflict("Idempotency-Key was already used for a different request")
        return await platform.log.appended(earlier.index)
    for attempt in range(attempts):
        body = await apportion_body(platform, plan=plan, operator=signer_address(operator),
                                    cases=cases)
        try:
            return await platform.write(body, *signing_keys(operator))
        except PeriodMismatch:
            if attempt == attempts - 1:
                raise
    raise RuntimeError("unreachable")
