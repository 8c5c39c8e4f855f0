"""GraphQL types of mutual-aid periods: the public notice of a period, each member's share with
its proof in the period's share tree, and apportioning the next period."""

from __future__ import annotations

import json
from typing import Annotated

import strawberry

from heartchain.errors import NotFound
from heartchain.gql import ErrorResult, Info, Int64, b64, mutation
from heartchain.ledger.types import FromEntry, LogEntry, load_entry
from heartchain.mutualaid import services
from heartchain.mutualaid.case_types import CaseType
from heartchain.mutualaid.models import Case as CaseRow
from heartchain.mutualaid.models import Period as PeriodRow
from heartchain.mutualaid.models import PeriodNotice as NoticeRow


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
    notice_index: Int64 | None = strawberry.field(
        description="the period.notice whose member set (counted at 00:00 plan time on the "
                    "notice day) shared this period; null for a period without a notice")
    cap_cut_fen: Int64 = strawberry.field(
        default=Int64(0), description="what the per-case cap on the share cut off (carried)")
    year_capped: int = strawberry.field(
        default=0, description="members the per-year cap let pay less than the share")
    year_cut_fen: Int64 = strawberry.field(
        default=Int64(0), description="what the per-year cap cut off them (carried)")

    @classmethod
    def of(cls, p: PeriodRow) -> PeriodType:
        return cls(plan=p.plan, number=p.number, at=p.at, index=Int64(p.idx),
                   case_ids=json.loads(p.cases), payouts_fen=Int64(p.payouts_fen),
                   fee_fen=Int64(p.fee_fen), carry_in_fen=Int64(p.carry_in_fen),
                   total_fen=Int64(p.payouts_fen + p.fee_fen), members=p.members,
                   share_fen=Int64(p.share_fen), collected_fen=Int64(p.collected_fen),
                   carry_fen=Int64(p.carry_fen), lapsed=p.lapsed, share_root=p.share_root,
                   notice_index=None if p.notice_idx is None else Int64(p.notice_idx),
                   cap_cut_fen=Int64(p.cap_cut_fen or 0), year_capped=p.year_capped or 0,
                   year_cut_fen=Int64(p.year_cut_fen or 0))

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


@strawberry.type(name="MutualAidPeriodNotice", description="A period's notice: the member set "
                 "counted at 00:00 plan time on the notice day, committed by its count and the "
                 "root of the Merkle tree over {member, period} leaves in join order.")
class NoticeType(FromEntry):
    plan: str
    number: int
    day: str
    snapshot_at: str = strawberry.field(description="00:00 plan time that day, as log time")
    members: int
    member_root: str
    index: Int64
    apportioned_index: Int64 | None

    @classmethod
    def of(cls, n: NoticeRow) -> NoticeType:
        return cls(plan=n.plan, number=n.number, day=n.day, snapshot_at=n.snapshot_at,
                   members=n.members, member_root=n.member_root, index=Int64(n.idx),
                   apportioned_index=None if n.apportioned_idx is None
                   else Int64(n.apportioned_idx))


@strawberry.type(name="MutualAidPeriodNoticeOpened")
class NoticeOpened:
    notice: NoticeType
    entry: LogEntry


NoticeResult = Annotated[NoticeOpened | ErrorResult, strawberry.union("MutualAidNoticeResult")]


@strawberry.type(name="MutualAidPeriodApportioned")
class PeriodApportioned:
    period: PeriodType
    entry: LogEntry


PeriodResult = Annotated[PeriodApportioned | ErrorResult,
                         strawberry.union("MutualAidPeriodResult")]


@strawberry.type
class PeriodMutation:
    @mutation(roles=["operator"],
              description="Operator: open the notice of the plan's next period today (plan "
                          "time), committing the member set counted at 00:00.")
    async def open_period_notice(self, info: Info, plan: str) -> NoticeResult:
        appended = await services.open_period_notice(info.context.platform, plan=plan,
                                                     operator=info.context.caller.address)
        row = await NoticeRow.get(idx=appended.index)
        return NoticeOpened(notice=NoticeType.of(row),
                            entry=await load_entry(info, appended.index))

    @mutation(roles=["operator"],
              description="Operator: apportion the plan's next period over its approved cases "
                          "(all of them unless `cases` is given).")
    async def apportion_period(self, info: Info, plan: str, cases: list[str] | None = None
                               ) -> PeriodResult:
        appended = await services.apportion_period(info.context.platform, plan=plan,
                                                   operator=info.context.caller.address,
                                                   cases=cases)
        row = await PeriodRow.get(idx=appended.index)
        return PeriodApportioned(period=PeriodType.of(row),
                                 entry=await load_entry(info, appended.index))
