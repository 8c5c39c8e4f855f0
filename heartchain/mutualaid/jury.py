"""The member jury of an objected case: the draw, secret votes, the verdict.

- ``jury.draw`` (operator), once the objection window has closed: names a checkpoint of this
  log (size and root hash, as in `log_checkpoint`) signed at or after the window closed, and
  the jurors `draw.py` gives for that root over the eligible pool; the rules recompute the pool
  and the draw and refuse anything else. The service names the newest witnessed checkpoint
  (cosigned under the witness policy); cosignatures are off-log records, which a replay cannot
  see, so the rules check the checkpoint against the log and the case page shows its
  cosignatures for anyone to check.
- ``jury.commit`` (the juror) until ``commit_until``: SHA-256 of the vote and a salt
  (`vote_commitment`), so no vote is known while others are still voting.
- ``jury.reveal`` (the juror) from ``commit_until`` until ``reveal_until``: the vote and salt,
  refused unless they match the commitment.
- The verdict, once ``reveal_until`` has passed: with at least ``quorum`` votes revealed,
  reject if more than ``majority_bp`` / 10 000 of them reject, else approve. ``case.decide``
  must follow it (`cases.py`); without a quorum the case falls back to a review.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Annotated, Literal

import msgspec
from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.accounts.entries import require_role
from heartchain.errors import Conflict
from heartchain.ledger.body import Address, Body, Hex32, Index, Slug
from heartchain.ledger.kinds import ApplyContext, projects, rules
from heartchain.ledger.store import fetch, in_chunks
from heartchain.mutualaid import draw
from heartchain.mutualaid.errors import RuleBroken, UnknownCase, WrongStage
from heartchain.mutualaid.jurors import MAJORITY_SCALE, MAX_JURY, linked_to
from heartchain.mutualaid.jury_models import Juror, Jury, JuryRules, JurySeat
from heartchain.mutualaid.membership import later, log_time
from heartchain.mutualaid.models import Case, Membership, Objection

Vote = Literal["approve", "reject"]
VOTE_DOMAIN = b"heartchain/jury-vote/v1\n"


def vote_commitment(case: str, juror: str, vote: str, salt: str) -> str:
    """What `jury.commit` carries: SHA-256 (hex) over the domain line, then case, juror, vote
    and the salt (64 hex digits), each ending in a newline."""
    text = f"{case}\n{juror}\n{vote}\n{salt}\n".encode()
    return hashlib.sha256(VOTE_DOMAIN + text).hexdigest()


async def _case(conn: BaseDBAsyncClient, case_id: str) -> Case:
    case = await Case.get_or_none(id=case_id).using_db(conn)
    if case is None:
        raise UnknownCase(f"no case {case_id!r}")
    return case


async def excluded(conn: BaseDBAsyncClient, case: Case) -> set[str]:
    """Who may not judge `case`: its claimant, its opener, its objectors, and everyone linked to
    one of them by a declared `member.link`."""
    parties = {case.member, case.opener}
    parties |= {o.member for o in await Objection.filter(case=case.id).using_db(conn)}
    return parties | await linked_to(conn, parties)


async def eligible_pool(conn: BaseDBAsyncClient, case: Case, now: str) -> list[str]:
    """The sorted addresses the draw ranks: the plan's qualified, active volunteer jurors who
    are covered now, less `excluded`."""
    volunteers = [j.member for j in await Juror.filter(
        plan=case.plan, active=True, qualified=True).using_db(conn)]
    covered: set[str] = set()
    for chunk in in_chunks(volunteers):
        ids = [f"{case.plan}:{m}" for m in chunk]
        covered |= {m.member for m in await Membership.filter(
            id__in=ids, status="active", covered_from__lte=now, balance_fen__gt=0
        ).using_db(conn)}
    return sorted(covered - await excluded(conn, case))


@dataclass(frozen=True)
class Tally:
    commits: int
    approve: int
    reject: int
    closed: bool  # the reveal deadline has passed
    quorum: int
    majority_bp: int

    @property
    def revealed(self) -> int:
        return self.approve + self.reject

    @property
    def verdict(self) -> str | None:
        """approve | reject once closed with a quorum; None before, or without a quorum."""
        if not self.closed or self.revealed < self.quorum:
            return None
        return "reject" if self.reject * MAJORITY_SCALE > self.majority_bp * self.revealed \
            else "approve"


def tally(jury: Jury, now: str) -> Tally:
    return Tally(commits=jury.commits, approve=jury.approve_votes, reject=jury.reject_votes,
                 closed=now >= jury.reveal_until, quorum=jury.quorum,
                 majority_bp=jury.majority_bp)


async def settles(conn: BaseDBAsyncClient, case: Case, decision: str, now: str) -> bool:
    """For `case.decide`: True if a jury verdict settles the case (and `decision` follows it);
    False if no jury applies (the plan has none, the case has no objection, too few eligible
    jurors to reach a quorum, or the jury ended without one), and the review rules apply.
    Raises if a jury is still to be drawn or still voting, or `decision` contradicts it."""
    if case.objections == 0:
        return False
    jury = await Jury.get_or_none(case=case.id).using_db(conn)
    if jury is None:
        settings = await JuryRules.get_or_none(plan=case.plan).using_db(conn)
        if settings is None or len(await eligible_pool(conn, case, now)) < settings.quorum:
            return False
        raise WrongStage(f"case {case.id} was objected to: draw its member jury first "
                         "(jury.draw)")
    counted = tally(jury, now)
    if not counted.closed:
        raise WrongStage(f"case {case.id}: the jury votes until {jury.reveal_until}")
    if counted.verdict is None:
        return False
    if decision != counted.verdict:
        raise RuleBroken(f"case.decide: the member jury's verdict is {counted.verdict} "
                         f"({counted.approve} approve, {counted.reject} reject); the decision "
                         "must follow it", field="decision")
    return True


class JuryDraw(Body):
    """Draw the jury of an objected case from a checkpoint's root hash."""

    KIND = "jury.draw"
    SIGNERS = ("operator",)

    case: Slug
    operator: Address
    checkpoint_size: Index
    checkpoint_root: Hex32
    eligible: Annotated[int, msgspec.Meta(ge=0)]
    eligible_digest: Hex32  # draw.pool_digest of the pool ranked
    jurors: Annotated[tuple[Address, ...], msgspec.Meta(min_length=1, max_length=MAX_JURY)]


@rules(JuryDraw)
async def _check_draw(ctx: ApplyContext, b: JuryDraw) -> None:
    await require_role(ctx, b.operator, "operator")
    case = await _case(ctx.conn, b.case)
    if case.status != "noticed" or case.objections == 0:
        raise WrongStage(f"case {b.case}: a jury is drawn for an objected case on notice")
    now = log_time(ctx)
    if case.notice_until is None or now < case.notice_until:
        raise WrongStage(f"case {b.case}: objections are open until {case.notice_until}")
    settings = await JuryRules.get_or_none(plan=case.plan).using_db(ctx.conn)
    if settings is None:
        raise RuleBroken(f"plan {case.plan} has no jury (plan.jury)", field="case")
    if await Jury.filter(case=b.case).using_db(ctx.conn).exists():
        raise Conflict(f"case {b.case} has its jury already")
    rows = await fetch(ctx.conn, "SELECT root_hash, signed_at FROM log_checkpoint "
                       "WHERE size = ?", [b.checkpoint_size])
    if not rows or bytes(rows[0]["root_hash"]).hex() != b.checkpoint_root:
        raise RuleBroken(f"jury.draw: this log has no checkpoint of size {b.checkpoint_size} "
                         f"with root {b.checkpoint_root}", field="checkpoint_root")
    if str(rows[0]["signed_at"]) < case.notice_until:
        raise RuleBroken("jury.draw: the checkpoint was signed before the objection window "
                         f"closed ({case.notice_until}): its root was known",
                         field="checkpoint_size")
    pool = await eligible_pool(ctx.conn, case, now)
    if len(pool) < settings.quorum:
        raise RuleBroken(f"case {b.case}: {len(pool)} eligible jurors, fewer than the quorum "
                         f"of {settings.quorum}", field="jurors")
    if b.eligible != len(pool) or b.eligible_digest != draw.pool_digest(pool):
        raise RuleBroken(f"jury.draw: the eligible pool is {len(pool)} members with digest "
                         f"{draw.pool_digest(pool)}", field="eligible_digest")
    drawn = draw.draw(bytes.fromhex(b.checkpoint_root), b.case, pool, settings.size)
    if list(b.jurors) != drawn:
        raise RuleBroken("jury.draw: the jurors are not the draw from that checkpoint "
                         "(heartchain.mutualaid.draw)", field="jurors")


@projects(JuryDraw)
async def _project_draw(ctx: ApplyContext, b: JuryDraw) -> None:
    case = await _case(ctx.conn, b.case)
    settings = await JuryRules.get(plan=case.plan).using_db(ctx.conn)
    now = log_time(ctx)
    commit_until = later(now, settings.commit_days)
    pool = await eligible_pool(ctx.conn, case, now)
    await Jury.create(using_db=ctx.conn, case=b.case, plan=case.plan, draw_idx=ctx.index,
                      drawn_at=now, checkpoint_size=b.checkpoint_size,
                      checkpoint_root=b.checkpoint_root, eligible=b.eligible,
                      eligible_digest=b.eligible_digest, pool=draw.pool_text(pool),
                      size=settings.size, quorum=settings.quorum,
                      majority_bp=settings.majority_bp, commit_until=commit_until,
                      reveal_until=later(commit_until, settings.reveal_days))
    await JurySeat.bulk_create([JurySeat(id=f"{b.case}:{juror}", case=b.case, juror=juror,
                                         rank=rank) for rank, juror in enumerate(b.jurors)],
                               using_db=ctx.conn)


async def _seat(conn: BaseDBAsyncClient, case: str, juror: str) -> tuple[Jury, JurySeat]:
    jury = await Jury.get_or_none(case=case).using_db(conn)
    if jury is None:
        raise WrongStage(f"case {case} has no jury")
    seat = await JurySeat.get_or_none(id=f"{case}:{juror}").using_db(conn)
    if seat is None:
        raise RuleBroken(f"{juror} was not drawn for the jury of case {case}", field="juror")
    return jury, seat


class JuryCommit(Body):
    """A juror commits to a vote, secretly: `vote_commitment(case, juror, vote, salt)`."""

    KIND = "jury.commit"
    SIGNERS = ("juror",)

    case: Slug
    juror: Address
    commitment: Hex32


@rules(JuryCommit)
async def _check_commit(ctx: ApplyContext, b: JuryCommit) -> None:
    jury, seat = await _seat(ctx.conn, b.case, b.juror)
    if log_time(ctx) >= jury.commit_until:
        raise WrongStage(f"case {b.case}: votes were committed until {jury.commit_until}")
    if seat.commitment is not None:
        raise Conflict(f"{b.juror} committed a vote on case {b.case} already")


@projects(JuryCommit)
async def _project_commit(ctx: ApplyContext, b: JuryCommit) -> None:
    await JurySeat.filter(id=f"{b.case}:{b.juror}").using_db(ctx.conn).update(
        commitment=b.commitment, commit_idx=ctx.index)
    jury = await Jury.get(case=b.case).using_db(ctx.conn)
    jury.commits += 1
    await jury.save(using_db=ctx.conn)


class JuryReveal(Body):
    """A juror reveals the vote and salt they committed to."""

    KIND = "jury.reveal"
    SIGNERS = ("juror",)

    case: Slug
    juror: Address
    vote: Vote
    salt: Hex32


@rules(JuryReveal)
async def _check_reveal(ctx: ApplyContext, b: JuryReveal) -> None:
    jury, seat = await _seat(ctx.conn, b.case, b.juror)
    now = log_time(ctx)
    if now < jury.commit_until:
        raise WrongStage(f"case {b.case}: votes stay secret until {jury.commit_until}")
    if now >= jury.reveal_until:
        raise WrongStage(f"case {b.case}: votes were revealed until {jury.reveal_until}")
    if seat.commitment is None:
        raise RuleBroken(f"{b.juror} committed no vote on case {b.case}", field="juror")
    if seat.vote is not None:
        raise Conflict(f"{b.juror} revealed their vote on case {b.case} already")
    if vote_commitment(b.case, b.juror, b.vote, b.salt) != seat.commitment:
        raise RuleBroken("jury.reveal: the vote and salt do not match the commitment",
                         field="salt")


@projects(JuryReveal)
async def _project_reveal(ctx: ApplyContext, b: JuryReveal) -> None:
    await JurySeat.filter(id=f"{b.case}:{b.juror}").using_db(ctx.conn).update(
        vote=b.vote, reveal_idx=ctx.index)
    jury = await Jury.get(case=b.case).using_db(ctx.conn)
    if b.vote == "approve":
        jury.approve_votes += 1
    else:
        jury.reject_votes += 1
    await jury.save(using_db=ctx.conn)
