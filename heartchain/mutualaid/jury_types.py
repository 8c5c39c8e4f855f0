"""GraphQL types of the member jury: a case's draw (checkpoint, seed, pool), seats and votes,
the tally and verdict, and the mutations jurors and the operator use."""

from __future__ import annotations

from typing import Annotated

import strawberry

from heartchain.gql import ErrorResult, Info, Int64, mutation
from heartchain.ledger.types import LogEntry, load_entry
from heartchain.mutualaid import jury_services
from heartchain.mutualaid.jury_services import JuryView


@strawberry.type(name="MutualAidJurySeat", description="A drawn juror; the vote shows once "
                 "revealed (after the commit deadline).")
class JurySeatType:
    juror: str
    rank: int
    commitment: str | None
    commit_index: Int64 | None
    vote: str | None
    reveal_index: Int64 | None


@strawberry.type(name="MutualAidJury", description="The member jury of an objected case. "
                 "Recompute the draw: rank each address of `pool` by HMAC-SHA256(key=the "
                 "checkpoint root, 'heartchain/jury-draw/v1\\n' + case + '\\n' + address) and "
                 "take the `size` smallest (python -m heartchain.mutualaid.draw).")
class JuryType:
    case: str
    draw_index: Int64
    drawn_at: str
    checkpoint_size: Int64
    checkpoint_root: str = strawberry.field(description="the seed of the draw")
    cosignatures: int = strawberry.field(description="witness cosignatures of the checkpoint")
    eligible: int
    eligible_digest: str
    pool: list[str] = strawberry.field(description="the eligible addresses ranked, sorted")
    size: int
    quorum: int
    majority_bp: int = strawberry.field(description="reject needs more than this share "
                                                    "(of 10 000) of the revealed votes")
    commit_until: str
    reveal_until: str
    commits: int
    approve_votes: int
    reject_votes: int
    closed: bool
    verdict: str | None = strawberry.field(description="approve | reject once closed with a "
                                                       "quorum; null before or without one")
    seats: list[JurySeatType]

    @classmethod
    def of(cls, view: JuryView) -> JuryType:
        j, t = view.jury, view.tally
        return cls(
            case=j.case, draw_index=Int64(j.draw_idx), drawn_at=j.drawn_at,
            checkpoint_size=Int64(j.checkpoint_size), checkpoint_root=j.checkpoint_root,
            cosignatures=len(view.cosignatures), eligible=j.eligible,
            eligible_digest=j.eligible_digest, pool=j.pool.splitlines(), size=j.size,
            quorum=j.quorum, majority_bp=j.majority_bp, commit_until=j.commit_until,
            reveal_until=j.reveal_until, commits=t.commits, approve_votes=t.approve,
            reject_votes=t.reject, closed=t.closed, verdict=t.verdict,
            seats=[JurySeatType(
                juror=s.juror, rank=s.rank, commitment=s.commitment,
                commit_index=None if s.commit_idx is None else Int64(s.commit_idx),
                vote=s.vote, reveal_index=None if s.reveal_idx is None else Int64(s.reveal_idx))
                for s in view.seats])

    @strawberry.field(description="The jury.draw entry.")
    async def entry(self, info: Info) -> LogEntry:
        return await load_entry(info, self.draw_index)


async def jury_of(info: Info, case: str) -> JuryType | None:
    view = await jury_services.jury_of(info.context.platform, case)
    return JuryType.of(view) if view else None


@strawberry.type(name="MutualAidJuryEntry")
class JuryEntry:
    entry: LogEntry


@strawberry.type(name="MutualAidJuryCommitted", description="Keep `salt`: revealing the vote "
                 "needs it.")
class JuryCommitted:
    salt: str
    entry: LogEntry


JuryResult = Annotated[JuryEntry | ErrorResult, strawberry.union("MutualAidJuryResult")]
CommitResult = Annotated[JuryCommitted | ErrorResult,
                         strawberry.union("MutualAidJuryCommitResult")]


async def _entry(info: Info, index: int) -> JuryEntry:
    return JuryEntry(entry=await load_entry(info, index))


@strawberry.type
class JuryMutation:
    @mutation(roles=["operator"], description="Operator: a plan's jury size, quorum, majority "
                                              "and time limits (days).")
    async def set_plan_jury(self, info: Info, plan: str, size: int, quorum: int,
                            majority_bp: int = 5_000, commit_days: int = 3,
                            reveal_days: int = 2) -> JuryResult:
        appended = await jury_services.set_jury_rules(
            info.context.platform, operator=info.context.caller.address, plan=plan,
            size=size, quorum=quorum, majority_bp=majority_bp, commit_days=commit_days,
            reveal_days=reveal_days)
        return await _entry(info, appended.index)

    @mutation(roles=["member"], description="Covered member: volunteer for the plan's jury "
                                            "(`active: false` withdraws).")
    async def volunteer_as_juror(self, info: Info, plan: str, active: bool = True
                                 ) -> JuryResult:
        appended = await jury_services.volunteer(info.context.platform, plan=plan,
                                                 member=info.context.caller.address,
                                                 active=active)
        return await _entry(info, appended.index)

    @mutation(roles=["operator"], description="Operator: record a volunteer's qualification; "
                                              "`record` is sealed off the log.")
    async def qualify_juror(self, info: Info, plan: str, member: str, passed: bool,
                            record: str) -> JuryResult:
        appended = await jury_services.qualify(
            info.context.platform, operator=info.context.caller.address, plan=plan,
            member=member, passed=passed, record=record)
        return await _entry(info, appended.index)

    @mutation(roles=["member"], description="Member: declare a relation (family, household, "
                                            "work, other) to another member.")
    async def declare_member_link(self, info: Info, other: str, relation: str) -> JuryResult:
        appended = await jury_services.declare_link(
            info.context.platform, member=info.context.caller.address, other=other,
            relation=relation)
        return await _entry(info, appended.index)

    @mutation(roles=["operator"], description="Operator: draw the jury of an objected case "
                                              "from the newest witnessed checkpoint.")
    async def draw_jury(self, info: Info, case: str) -> JuryResult:
        appended = await jury_services.draw_jury(
            info.context.platform, operator=info.context.caller.address, case=case)
        return await _entry(info, appended.index)

    @mutation(roles=["member"], description="Drawn juror: commit to a vote (approve | reject) "
                                            "before the commit deadline; keep the salt.")
    async def commit_jury_vote(self, info: Info, case: str, vote: str,
                               salt: str | None = None) -> CommitResult:
        chosen, appended = await jury_services.commit_vote(
            info.context.platform, case=case, juror=info.context.caller.address, vote=vote,
            salt=salt)
        return JuryCommitted(salt=chosen, entry=await load_entry(info, appended.index))

    @mutation(roles=["member"], description="Drawn juror: reveal the vote and salt after the "
                                            "commit deadline, before the reveal deadline.")
    async def reveal_jury_vote(self, info: Info, case: str, vote: str, salt: str
                               ) -> JuryResult:
        appended = await jury_services.reveal_vote(
            info.context.platform, case=case, juror=info.context.caller.address, vote=vote,
            salt=salt)
        return await _entry(info, appended.index)
