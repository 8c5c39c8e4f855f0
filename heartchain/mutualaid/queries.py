"""Mutual-aid reads: plans, memberships, cases, periods and members' share proofs (no writes)."""

from __future__ import annotations

import json
from dataclasses import dataclass

from tortoise.backends.base.client import BaseDBAsyncClient

from heartchain.errors import NotFound
from heartchain.ledger import merkle
from heartchain.ledger.entries import format_time
from heartchain.ledger.store import fetch
from heartchain.ledger.tiles import TILE_WIDTH
from heartchain.lookups import can_match
from heartchain.mutualaid import apportion
from heartchain.mutualaid import entries as kinds
from heartchain.mutualaid.entries import membership_id
from heartchain.mutualaid.models import (
    Case,
    Membership,
    Objection,
    Period,
    Plan,
    Review,
    SharePage,
    ShareTile,
)
from heartchain.platform import Platform


def coverage(m: Membership, now: str) -> str:
    """covered | waiting | lapsed | left, on the log clock."""
    if m.status == "left":
        return "left"
    if m.status == "lapsed" or m.balance_fen <= 0:
        return "lapsed"
    return "waiting" if m.covered_from > now else "covered"


async def find_plan(plan: str) -> Plan | None:
    return await Plan.get_or_none(id=plan) if can_match(Plan, id=plan) else None


async def memberships_of(member: str) -> list[Membership]:
    if not can_match(Membership, member=member):
        return []
    return await Membership.filter(member=member).order_by("plan")


async def find_case(case: str) -> Case | None:
    return await Case.get_or_none(id=case) if can_match(Case, id=case) else None


async def objections_of(case: str) -> list[Objection]:
    return await Objection.filter(case=case).order_by("idx")


async def reviews_of(case: str) -> list[Review]:
    return await Review.filter(case=case).order_by("idx")


async def find_period(plan: str, number: int) -> Period | None:
    if not can_match(Period, plan=plan, number=number):
        return None
    return await Period.get_or_none(plan=plan, number=number)


async def periods_of(plan: str) -> list[Period]:
    return await Period.filter(plan=plan).order_by("number")


async def cases_of_period(period: Period) -> list[Case]:
    return await Case.filter(period_idx=period.idx).order_by("id")


async def shares_of(plan: str, member: str) -> list[tuple[Period, ShareProof]]:
    """Every share `member` paid in `plan`, oldest first, each with its proof."""
    out = []
    for period in await periods_of(plan):
        proof = await _proof(period, member)
        if proof is not None:
            out.append((period, proof))
    return out


async def shares_in(period_idx: int) -> dict[str, int]:
    """Every member's share in one period (member -> fen), read from its pages of leaves."""
    out: dict[str, int] = {}
    for row in await SharePage.filter(period_idx=period_idx).order_by("page"):
        for line in bytes(row.leaves).split(b"\n"):
            leaf = json.loads(line)
            out[leaf["member"]] = leaf["share"]
    return out


@dataclass(frozen=True)
class ShareProof:
    """A member's leaf in a period's share tree and its RFC 9162 inclusion proof."""

    period_idx: int
    number: int
    member: str
    share_fen: int
    position: int
    tree_size: int
    leaf_data: bytes
    leaf_hash: bytes
    hashes: list[bytes]
    root: bytes

    def verify(self) -> None:
        """None, or raise VerificationError: the proof leads to the root in the entry."""
        merkle.verify_inclusion(merkle.leaf_hash(self.leaf_data), self.position, self.tree_size,
                                self.hashes, self.root)


async def share_proof(period_idx: int, member: str) -> ShareProof:
    period = await Period.get_or_none(idx=period_idx)
    proof = await _proof(period, member) if period is not None else None
    if proof is None:
        raise NotFound(f"{member} has no share in the period of entry {period_idx}")
    return proof


async def _proof(period: Period, member: str) -> ShareProof | None:
    """Read the one page of leaves that would hold `member`, find their leaf, and fold the
    proof from that page's hashes and the stored tiles. Leaves are in join order: the page is
    the last one starting at or before the member's plan.join in force at the period (their
    current one, or for a member who left and joined again since, the latest join before)."""
    conn: BaseDBAsyncClient = SharePage._meta.db
    found = await fetch(conn, """
        SELECT page, leaves FROM ma_share_page WHERE period_idx = ? AND first_joined <= (
            SELECT CASE WHEN joined_idx < ? THEN joined_idx ELSE (
                SELECT max(idx) FROM ma_payment
                WHERE member = ? AND plan = ? AND kind = 'join' AND idx < ?) END
            FROM ma_membership WHERE id = ?)
        ORDER BY first_joined DESC LIMIT 1""", [
        period.idx, period.idx, member, period.plan, period.idx,
        membership_id(period.plan, member)])
    if not found:
        return None
    page, leaves = int(found[0]["page"]), bytes(found[0]["leaves"])
    lines = leaves.split(b"\n")
    head = b'{"member":"' + member.encode() + b'"'
    offset = next((i for i, line in enumerate(lines) if line.startswith(head)), None)
    if offset is None:
        return None
    position = page * TILE_WIDTH + offset
    nodes = merkle.inclusion_nodes(position, period.members)
    tile_data = {(0, page): apportion.page_hashes(leaves)}
    stored = [f"{period.idx}/{level}/{n}" for level, n in apportion.tiles_needed(nodes.ids)
              if (level, n) != (0, page)]
    for row in await ShareTile.filter(id__in=stored):
        _, level, index = row.id.split("/")
        tile_data[(int(level), int(index))] = bytes(row.data)
    hashes = [bytes(h) for h in nodes.rehash(apportion.nodes_from_tiles(nodes.ids, tile_data))]
    data = lines[offset]
    share = json.loads(data)["share"]
    return ShareProof(period.idx, period.number, member, share, position, period.members, data,
                      merkle.leaf_hash(data), hashes, bytes.fromhex(period.share_root))


async def covered_count(platform: Platform, plan: str) -> int:
    return await kinds.covered_count(platform.log.reader.connection(), plan, log_now(platform))


def log_now(platform: Platform) -> str:
    return format_time(platform.clock.now())
