"""Who may sit on a member jury (赔审团), and a plan's jury settings.

- ``plan.jury`` (operator): the plan's jury size, quorum, majority and time limits. A plan
  without it has no jury, and objected cases are settled by a review as before.
- ``juror.volunteer`` (the member; `active=false` withdraws): a covered member offers to serve.
- ``juror.qualify`` (operator): the volunteer passed (or failed) the qualification; the record
  (a test, a conflict-of-interest statement) is sealed off the log, its commitment on it.
- ``member.link`` (either member): a declared relation. Linked members never judge each other's
  cases, nor cases the other objected to. Links are only ever added.

The draw itself (`jury.draw`) and the votes are in `jury.py`.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict, ValidationError
from heartchain.ledger.body import Address, Body, Hex32, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.ledger.store import in_chunks
from heartchain.mutualaid.errors import NotAMember
from heartchain.mutualaid.jury_models import Juror, JuryRules, MemberLink
from heartchain.mutualaid.membership import (
    get_membership,
    log_time,
    membership_id,
    require_covered,
)
from heartchain.mutualaid.plans import get_plan

MAX_JURY = 101
MAX_JURY_DAYS = 30
MAJORITY_SCALE = 10_000
Relation = Literal["family", "household", "work", "other"]


class PlanJury(Body):
    """A plan's jury settings (replacing earlier ones for juries drawn from here on)."""

    KIND = "plan.jury"
    SIGNERS = ("operator",)

    plan: Slug
    operator: Address
    size: Annotated[int, msgspec.Meta(ge=1, le=MAX_JURY)]
    quorum: Annotated[int, msgspec.Meta(ge=1, le=MAX_JURY)]
    # A reject verdict needs more than majority_bp / 10 000 of the votes revealed; anything
    # less approves (the objection must carry the jury, not the claimant).
    majority_bp: Annotated[int, msgspec.Meta(ge=5_000, le=MAJORITY_SCALE - 1)] = 5_000
    commit_days: Annotated[int, msgspec.Meta(ge=1, le=MAX_JURY_DAYS)] = 3
    reveal_days: Annotated[int, msgspec.Meta(ge=1, le=MAX_JURY_DAYS)] = 2

    def __post_init__(self) -> None:
        if self.quorum > self.size:
            raise ValidationError("plan.jury: quorum exceeds the jury size", field="quorum")


@rules(PlanJury)
async def _check_plan_jury(ctx: ApplyContext, b: PlanJury) -> None:
    await require_role(ctx, b.operator, "operator")
    await get_plan(ctx.conn, b.plan)


@projects(PlanJury)
async def _project_plan_jury(ctx: ApplyContext, b: PlanJury) -> None:
    values = {"size": b.size, "quorum": b.quorum, "majority_bp": b.majority_bp,
              "commit_days": b.commit_days, "reveal_days": b.reveal_days, "idx": ctx.index}
    # Not update_or_create: its SELECT ... FOR UPDATE breaks verify's SQLite replay of a
    # PostgreSQL log (and the write lock is held already).
    if await JuryRules.filter(plan=b.plan).using_db(ctx.conn).update(**values) == 0:
        await JuryRules.create(using_db=ctx.conn, plan=b.plan, **values)


class JurorVolunteer(Body):
    """A covered member volunteers for the plan's jury (or withdraws: `active=false`)."""

    KIND = "juror.volunteer"
    SIGNERS = ("member",)

    plan: Slug
    member: Address
    active: bool = True


@rules(JurorVolunteer)
async def _check_volunteer(ctx: ApplyContext, b: JurorVolunteer) -> None:
    row = await Juror.get_or_none(id=membership_id(b.plan, b.member)).using_db(ctx.conn)
    if not b.active:
        if row is None or not row.active:
            raise Conflict(f"{b.member} is not a volunteer juror of plan {b.plan}")
        return
    if row is not None and row.active:
        raise Conflict(f"{b.member} already volunteered for plan {b.plan}")
    require_covered(await get_membership(ctx.conn, b.plan, b.member), log_time(ctx))


@projects(JurorVolunteer)
async def _project_volunteer(ctx: ApplyContext, b: JurorVolunteer) -> None:
    key = membership_id(b.plan, b.member)
    row = await Juror.get_or_none(id=key).using_db(ctx.conn)
    if row is None:
        await Juror.create(using_db=ctx.conn, id=key, plan=b.plan, member=b.member,
                           active=True, volunteered_idx=ctx.index)
    elif b.active:  # back after withdrawing: qualify again
        await Juror.filter(id=key).using_db(ctx.conn).update(
            active=True, qualified=False, volunteered_idx=ctx.index, qualify_idx=None,
            qualification_hash=None)
    else:
        await Juror.filter(id=key).using_db(ctx.conn).update(active=False)


class JurorQualify(Body):
    """The operator records a volunteer's qualification result."""

    KIND = "juror.qualify"
    SIGNERS = ("operator",)

    plan: Slug
    member: Address
    operator: Address
    passed: bool
    record_hash: Hex32  # commitment to the sealed qualification record


@rules(JurorQualify)
async def _check_qualify(ctx: ApplyContext, b: JurorQualify) -> None:
    await require_role(ctx, b.operator, "operator")
    row = await Juror.get_or_none(id=membership_id(b.plan, b.member)).using_db(ctx.conn)
    if row is None or not row.active:
        raise NotAMember(f"{b.member} has not volunteered for the jury of plan {b.plan}")


@projects(JurorQualify)
async def _project_qualify(ctx: ApplyContext, b: JurorQualify) -> None:
    await Juror.filter(id=membership_id(b.plan, b.member)).using_db(ctx.conn).update(
        qualified=b.passed, qualify_idx=ctx.index, qualification_hash=b.record_hash)


def link_id(a: str, b: str) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}"


class MemberLinkDeclare(Body):
    """A member declares a relation to another member (family, household, work)."""

    KIND = "member.link"
    SIGNERS = ("member",)

    member: Address
    other: Address
    relation: Relation

    def __post_init__(self) -> None:
        if self.member == self.other:
            raise ValidationError("member.link: a member cannot link to themself",
                                  field="other")


@rules(MemberLinkDeclare)
async def _check_link(ctx: ApplyContext, b: MemberLinkDeclare) -> None:
    await require_role(ctx, b.member, "member")
    if await MemberLink.filter(id=link_id(b.member, b.other)).using_db(ctx.conn).exists():
        raise Conflict(f"{b.member} and {b.other} are already linked")


@projects(MemberLinkDeclare)
async def _project_link(ctx: ApplyContext, b: MemberLinkDeclare) -> None:
    low, high = sorted((b.member, b.other))
    await MemberLink.create(using_db=ctx.conn, id=link_id(low, high), low=low, high=high,
                            declared_by=b.member, idx=ctx.index)


async def linked_to(conn: BaseDBAsyncClient, members: set[str]) -> set[str]:
    """Every address linked to one of `members` (by a link either of them declared)."""
    if not members:
        return set()
    found: set[str] = set()
    wanted = sorted(members)
    for chunk in in_chunks(wanted):
        for row in await MemberLink.filter(low__in=chunk).using_db(conn):
            found.add(row.high)
        for row in await MemberLink.filter(high__in=chunk).using_db(conn):
            found.add(row.low)
    return found

