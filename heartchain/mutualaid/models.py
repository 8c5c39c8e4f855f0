"""Mutual-aid projections: plans and their rule versions, memberships, cases, periods, shares.

Every table here is rebuilt from the log by `verify`. Times are the log's clock as entry `at`
strings (`YYYY-MM-DDTHH:MM:SS.mmmZ`), which sort as text, so coverage can be selected in SQL.
Keys are natural: plan and case ids from the bodies, entry indexes, or `plan:member`.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from heartchain.ledger.kinds import register_projection

MEMBERSHIP_JOIN_ORDER = "ma_membership_plan_joined"


class Plan(Model):
    """A plan with its rules in force (the latest version)."""

    id = fields.CharField(max_length=64, primary_key=True)
    name = fields.CharField(max_length=100)
    version = fields.IntField()
    operator = fields.CharField(max_length=80)
    created_idx = fields.BigIntField()
    version_idx = fields.BigIntField()
    min_age_days = fields.IntField()
    max_age_years = fields.IntField()
    waiting_days = fields.IntField()
    cap_fen = fields.BigIntField()
    senior_age = fields.IntField()
    senior_cap_fen = fields.BigIntField()
    fee_bp = fields.IntField()
    member_case_cap_fen = fields.BigIntField()
    min_prepay_fen = fields.BigIntField()
    conditions = fields.TextField()  # JSON list of condition slugs
    carry_fen = fields.BigIntField(default=0)  # owed by earlier periods, added to the next
    periods = fields.IntField(default=0)
    # Rule options (plans.Rules); the defaults are a plan without them. Columns added by a
    # migration are nullable (an ALTER TABLE needs no default then); the projectors and the
    # migration always fill them.
    time_zone = fields.CharField(max_length=64, default="UTC", null=True)
    notice_days = fields.CharField(max_length=32, default="[]", null=True)  # JSON days of month
    deduction_days = fields.CharField(max_length=32, default="[]", null=True)
    year_cap_fen = fields.BigIntField(default=0, null=True)  # 0: no per-year cap
    age_bands = fields.TextField(default="[]", null=True)  # JSON [[to_years, cap_fen], ...]
    # The licensed insurer or closed group the plan operates under (plan.create, closing.py).
    operates_under = fields.CharField(max_length=100, null=True)

    class Meta:
        table = "ma_plan"


class PlanVersion(Model):
    """Every version of a plan's rules, from the log position of its entry on."""

    idx = fields.BigIntField(primary_key=True)
    plan = fields.CharField(max_length=64, db_index=True)
    version = fields.IntField()
    rules = fields.TextField()  # canonical JSON of the rules, as signed

    class Meta:
        table = "ma_plan_version"


class Membership(Model):
    id = fields.CharField(max_length=150, primary_key=True)  # "<plan>:<member>"
    plan = fields.CharField(max_length=64)
    member = fields.CharField(max_length=80, db_index=True)
    status = fields.CharField(max_length=8)  # active | lapsed | left
    joined_idx = fields.BigIntField()
    joined_at = fields.CharField(max_length=24)
    covered_from = fields.CharField(max_length=24)  # joined_at + waiting period (log clock)
    join_version = fields.IntField()
    age_years = fields.IntField()  # completed years at joining
    birth_commitment = fields.CharField(max_length=64)
    balance_fen = fields.BigIntField()
    prepaid_fen = fields.BigIntField()
    shared_fen = fields.BigIntField(default=0)
    lapsed_idx = fields.BigIntField(null=True)
    left_idx = fields.BigIntField(null=True)
    refund_fen = fields.BigIntField(default=0)
    share_year = fields.IntField(default=0, null=True)  # plan year (plan time) of year_shared_fen
    year_shared_fen = fields.BigIntField(default=0, null=True)  # shares paid in that year

    class Meta:
        table = "ma_membership"
        # The second gives the share-tree order (join order) without a sort; the apportionment
        # names it (SQLite: INDEXED BY), hence the fixed name.
        indexes = (Index(fields=("plan", "status", "covered_from")),
                   Index(fields=("plan", "joined_idx"), name=MEMBERSHIP_JOIN_ORDER))


class Payment(Model):
    """A prepayment: the joining deposit or a top-up."""

    idx = fields.BigIntField(primary_key=True)
    plan = fields.CharField(max_length=64)
    member = fields.CharField(max_length=80, db_index=True)
    amount_fen = fields.BigIntField()
    kind = fields.CharField(max_length=8)  # join | topup

    class Meta:
        table = "ma_payment"


class Case(Model):
    id = fields.CharField(max_length=64, primary_key=True)
    plan = fields.CharField(max_length=64, db_index=True)
    member = fields.CharField(max_length=80, db_index=True)
    opener = fields.CharField(max_length=80)
    condition = fields.CharField(max_length=64)
    asked_fen = fields.BigIntField()
    hospital = fields.CharField(max_length=64)  # a registered hospital's code
    masked_name = fields.CharField(max_length=16)
    age_band = fields.CharField(max_length=8)
    diagnosed_on = fields.CharField(max_length=10)
    details_commitment = fields.CharField(max_length=64)  # of the sealed name and description
    rules_version = fields.IntField()
    cap_fen = fields.BigIntField()  # the cap for this patient's age under that version
    status = fields.CharField(max_length=10, db_index=True)
    opened_idx = fields.BigIntField()
    opened_at = fields.CharField(max_length=24)
    attest_idx = fields.BigIntField(null=True)
    investigator = fields.CharField(max_length=80, null=True)
    findings_hash = fields.CharField(max_length=64, null=True)
    recommendation = fields.CharField(max_length=8, null=True)
    recommended_fen = fields.BigIntField(null=True)
    notice_idx = fields.BigIntField(null=True)
    notice_days = fields.IntField(null=True)
    notice_from = fields.CharField(max_length=24, null=True)
    notice_until = fields.CharField(max_length=24, null=True)
    objections = fields.IntField(default=0)
    last_objection_idx = fields.BigIntField(null=True)
    review_idx = fields.BigIntField(null=True)
    review_outcome = fields.CharField(max_length=10, null=True)
    decide_idx = fields.BigIntField(null=True)
    decision = fields.CharField(max_length=8, null=True)
    approved_fen = fields.BigIntField(null=True)
    decision_reason = fields.CharField(max_length=32, null=True)  # codes.DECISION_REASONS
    period_idx = fields.BigIntField(null=True)

    class Meta:
        table = "ma_case"


class Objection(Model):
    idx = fields.BigIntField(primary_key=True)
    case = fields.CharField(max_length=64, db_index=True)
    member = fields.CharField(max_length=80)
    reason = fields.CharField(max_length=32)  # a code of codes.OBJECTION_REASONS
    note_commitment = fields.CharField(max_length=64, null=True)  # of the sealed note

    class Meta:
        table = "ma_objection"


class Review(Model):
    idx = fields.BigIntField(primary_key=True)
    case = fields.CharField(max_length=64, db_index=True)
    reviewer = fields.CharField(max_length=80)
    findings_hash = fields.CharField(max_length=64)
    outcome = fields.CharField(max_length=10)  # dismissed | upheld

    class Meta:
        table = "ma_review"


class Period(Model):
    idx = fields.BigIntField(primary_key=True)  # the period.apportion entry
    plan = fields.CharField(max_length=64)
    number = fields.IntField()
    at = fields.CharField(max_length=24)
    cases = fields.TextField()  # JSON list of case ids
    payouts_fen = fields.BigIntField()
    fee_fen = fields.BigIntField()
    carry_in_fen = fields.BigIntField()
    members = fields.IntField()
    share_fen = fields.BigIntField()
    collected_fen = fields.BigIntField()
    carry_fen = fields.BigIntField()
    lapsed = fields.IntField()
    share_root = fields.CharField(max_length=64)
    notice_idx = fields.BigIntField(null=True)  # the period.notice whose member set shared
    # What the caps cut off (carried, within carry_fen): the per-case cap on the share, and the
    # per-year cap on some members' payments (year_capped members).
    cap_cut_fen = fields.BigIntField(default=0, null=True)
    year_capped = fields.IntField(default=0, null=True)
    year_cut_fen = fields.BigIntField(default=0, null=True)

    class Meta:
        table = "ma_period"
        unique_together = (("plan", "number"),)


class PeriodNotice(Model):
    """A period's notice (`period.notice`): the member set counted at 00:00 plan time on the
    notice day, committed by its count and Merkle root; the period's share divides by it."""

    idx = fields.BigIntField(primary_key=True)
    plan = fields.CharField(max_length=64)
    number = fields.IntField()
    day = fields.CharField(max_length=10)  # the notice day, plan time
    snapshot_at = fields.CharField(max_length=24)  # 00:00 plan time that day (log clock, UTC)
    members = fields.IntField()
    member_root = fields.CharField(max_length=64)
    apportioned_idx = fields.BigIntField(null=True)

    class Meta:
        table = "ma_period_notice"
        unique_together = (("plan", "number"),)


class SharePage(Model):
    """256 consecutive leaves of a period's share tree (the last page may hold fewer): each leaf's
    canonical JSON `{"member", "period", "share"}`, joined by newlines. Leaves are in join
    order, so a member's page is the last one whose first leaf joined no later than they did."""

    id = fields.CharField(max_length=40, primary_key=True)  # "<period_idx>/<page>"
    period_idx = fields.BigIntField()
    page = fields.IntField()
    first_joined = fields.BigIntField()  # the joined_idx of the page's first member
    leaves = fields.BinaryField()

    class Meta:
        table = "ma_share_page"
        indexes = (("period_idx", "first_joined"),)


class ShareTile(Model):
    """Share-tree tiles at levels 8, 16, ... (C2SP tlog-tiles layout), for members' proofs; the
    level-0 tiles are rehashed from the pages."""

    id = fields.CharField(max_length=40, primary_key=True)  # "<period_idx>/<level>/<index>"
    period_idx = fields.BigIntField(db_index=True)
    data = fields.BinaryField()

    class Meta:
        table = "ma_share_tile"


class Hospital(Model):
    """A hospital the operator vetted (`hospital.register`): cases name it by code."""

    code = fields.CharField(max_length=64, primary_key=True)
    name_zh = fields.CharField(max_length=100)
    name_en = fields.CharField(max_length=100)
    listed = fields.BooleanField()  # unlisted: kept for old cases, refused for new ones
    registered_idx = fields.BigIntField()
    updated_idx = fields.BigIntField()

    class Meta:
        table = "ma_hospital"


class CaseProxy(Model):
    """A family member a member authorised (`plan.proxy`) to open cases for them in a plan."""

    id = fields.CharField(max_length=230, primary_key=True)  # "<plan>:<member>:<proxy>"
    plan = fields.CharField(max_length=64)
    member = fields.CharField(max_length=80, db_index=True)
    proxy = fields.CharField(max_length=80)
    active = fields.BooleanField()
    granted_idx = fields.BigIntField()
    revoked_idx = fields.BigIntField(null=True)

    class Meta:
        table = "ma_case_proxy"


register_projection(Plan, PlanVersion, Membership, Payment, Case, Objection, Review, Period,
                    PeriodNotice, SharePage, ShareTile, Hospital, CaseProxy)


# -- wind-down (closing.py) -----------------------------------------------------------------

class PlanClosing(Model):
    """A plan being wound down (`plan.close`) and, once refunded (`plan.refund`), closed."""

    plan = fields.CharField(max_length=64, primary_key=True)
    close_idx = fields.BigIntField()
    announced_at = fields.CharField(max_length=24)
    last_notice = fields.CharField(max_length=24)  # the last moment a case may go on notice
    claims_days = fields.IntField()
    claims_until = fields.CharField(max_length=24)  # announced_at + claims_days
    refund_from = fields.CharField(max_length=24)  # the later of the two
    batches = fields.IntField(default=0)
    refunded_fen = fields.BigIntField(default=0)
    refunded_members = fields.IntField(default=0)
    closed_idx = fields.BigIntField(null=True)  # the final plan.refund batch

    class Meta:
        table = "ma_plan_closing"


class PlanRefund(Model):
    """One member's refund at the end of a wind-down (a line of a `plan.refund` batch)."""

    id = fields.CharField(max_length=150, primary_key=True)  # "<plan>:<member>"
    plan = fields.CharField(max_length=64, db_index=True)
    member = fields.CharField(max_length=80)
    idx = fields.BigIntField()
    amount_fen = fields.BigIntField()

    class Meta:
        table = "ma_plan_refund"


register_projection(PlanClosing, PlanRefund)

# The member jury's tables, in their own module (jury_models.py); imported here so Tortoise,
# which reads this module, finds them.
from heartchain.mutualaid.jury_models import (  # noqa: E402, F401
    Juror,
    Jury,
    JuryRules,
    JurySeat,
    MemberLink,
)
