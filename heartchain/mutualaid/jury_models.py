"""Projections of the member jury (赔审团): jurors, declared links, each plan's jury settings,
each objected case's draw and its seats with their committed and revealed votes.

Imported by `models.py` so Tortoise finds them with the other mutual-aid tables; rebuilt from
the log by `verify` like them.
"""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

from heartchain.ledger.kinds import register_projection


class Juror(Model):
    """A volunteer juror of a plan (`juror.volunteer`) and their qualification.

    `qualified` is the operator's `juror.qualify` result."""

    id = fields.CharField(max_length=150, primary_key=True)  # "<plan>:<member>"
    plan = fields.CharField(max_length=64)
    member = fields.CharField(max_length=80, db_index=True)
    active = fields.BooleanField()  # False once the member withdrew
    qualified = fields.BooleanField(default=False)
    volunteered_idx = fields.BigIntField()
    qualify_idx = fields.BigIntField(null=True)
    qualification_hash = fields.CharField(max_length=64, null=True)  # of the sealed record

    class Meta:
        table = "ma_juror"
        indexes = (("plan", "qualified", "active"),)


class MemberLink(Model):
    """A relation two members declared (`member.link`), once per unordered pair.

    Neither may sit on a jury for the other's case, or for one the other objected to."""

    id = fields.CharField(max_length=170, primary_key=True)  # "<lower>:<higher>"
    low = fields.CharField(max_length=80, db_index=True)
    high = fields.CharField(max_length=80, db_index=True)
    declared_by = fields.CharField(max_length=80)
    idx = fields.BigIntField()

    class Meta:
        table = "ma_member_link"


class JuryRules(Model):
    """A plan's jury settings in force (`plan.jury`).

    A plan without a row has no jury: its objected cases are settled by a review."""

    plan = fields.CharField(max_length=64, primary_key=True)
    size = fields.IntField()  # jurors drawn
    quorum = fields.IntField()  # revealed votes needed for a verdict
    majority_bp = fields.IntField()  # reject needs more than this share of revealed votes
    commit_days = fields.IntField()
    reveal_days = fields.IntField()
    idx = fields.BigIntField()

    class Meta:
        table = "ma_jury_rules"


class Jury(Model):
    """The jury drawn for an objected case (`jury.draw`) and its running tally."""

    case = fields.CharField(max_length=64, primary_key=True)
    plan = fields.CharField(max_length=64)
    draw_idx = fields.BigIntField()
    drawn_at = fields.CharField(max_length=24)
    checkpoint_size = fields.BigIntField()
    checkpoint_root = fields.CharField(max_length=64)
    eligible = fields.IntField()
    eligible_digest = fields.CharField(max_length=64)
    pool = fields.TextField()  # the eligible addresses, sorted, one a line: what was ranked
    size = fields.IntField()
    quorum = fields.IntField()
    majority_bp = fields.IntField()
    commit_until = fields.CharField(max_length=24)
    reveal_until = fields.CharField(max_length=24)
    commits = fields.IntField(default=0)
    approve_votes = fields.IntField(default=0)
    reject_votes = fields.IntField(default=0)

    class Meta:
        table = "ma_jury"


class JurySeat(Model):
    """One drawn juror: their rank in the draw, commitment, and revealed vote."""

    id = fields.CharField(max_length=150, primary_key=True)  # "<case>:<juror>"
    case = fields.CharField(max_length=64, db_index=True)
    juror = fields.CharField(max_length=80, db_index=True)
    rank = fields.IntField()
    commitment = fields.CharField(max_length=64, null=True)
    commit_idx = fields.BigIntField(null=True)
    vote = fields.CharField(max_length=8, null=True)  # approve | reject, once revealed
    reveal_idx = fields.BigIntField(null=True)

    class Meta:
        table = "ma_jury_seat"


register_projection(Juror, MemberLink, JuryRules, Jury, JurySeat)
