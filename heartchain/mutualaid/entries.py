"""Mutual-aid entry kinds: plans, membership, cases from opening to decision, apportionment.

`heartchain.db.load_entry_kinds()` imports this module; importing the modules below is what
registers their kinds. Rules are checked there, by code, against the projections and the log's
clock:

- `plans.py`: ``plan.create`` (operator), a plan and its versioned rules.
- `membership.py`: ``plan.join``, ``plan.topup``, ``plan.leave`` (the member); coverage.
- `hospitals.py`: ``hospital.register`` (operator), the vetted hospitals cases name by code.
- `proxies.py`: ``plan.proxy`` (the member), family authorised to open cases for them.
- `cases.py`: ``case.open`` -> ``case.attest`` -> ``case.notice`` -> ``case.object`` ->
  ``case.review`` -> ``case.decide``.
- `notices.py`: ``period.notice`` (operator), the member set counted on the notice day.
- `jurors.py`: ``plan.jury``, ``juror.volunteer``, ``juror.qualify``, ``member.link``; `jury.py`:
  ``jury.draw`` -> ``jury.commit`` -> ``jury.reveal`` (the member jury of objected cases).
- `periods.py`: ``period.apportion`` (operator), with the covered set streamed by `readers.py`
  and the arithmetic in `apportion.py`.
- `closing.py`: ``plan.close``, ``plan.refund`` (operator), the wind-down; it refuses joins (and
  late top-ups, cases, notices, periods) in a plan being closed.

The names below are re-exported for the services, GraphQL types, tests and benches that import
them from here.
"""

from __future__ import annotations

from heartchain.mutualaid import (
    cases,
    closing,
    hospitals,
    jurors,
    jury,
    membership,
    notices,
    periods,
    plans,
    proxies,
)
from heartchain.mutualaid.cases import (
    MASKED_NAME,
    CaseAttest,
    CaseDecide,
    CaseNotice,
    CaseObject,
    CaseOpen,
    CaseReview,
    get_case,
)
from heartchain.mutualaid.hospitals import HospitalRegister
from heartchain.mutualaid.membership import (
    PlanJoin,
    PlanLeave,
    PlanTopup,
    age_band,
    age_now,
    get_membership,
    log_time,
    membership_id,
    require_covered,
)
from heartchain.mutualaid.notices import PeriodNoticeOpen, notice_body
from heartchain.mutualaid.periods import Computed, PeriodApportion, compute_period, period_cases
from heartchain.mutualaid.plans import AgeBand, PlanCreate, Rules, get_plan, rules_of
from heartchain.mutualaid.proxies import PlanProxy
from heartchain.mutualaid.readers import covered_count

KIND_MODULES = (plans, membership, hospitals, proxies, cases, notices, periods, closing,
                jurors, jury)

__all__ = [
    "KIND_MODULES", "MASKED_NAME", "AgeBand", "CaseAttest", "CaseDecide", "CaseNotice",
    "CaseObject", "CaseOpen", "CaseReview", "Computed", "HospitalRegister", "PeriodApportion",
    "PeriodNoticeOpen", "PlanCreate", "PlanJoin", "PlanLeave", "PlanProxy", "PlanTopup", "Rules",
    "age_band", "age_now", "compute_period", "covered_count", "get_case", "get_membership",
    "get_plan", "log_time", "membership_id", "notice_body", "period_cases", "require_covered",
    "rules_of",
]
