"""Apportionment math: the fee, each member's share in integer fen, and the share tree.

Pure (hashlib and heartchain.ledger.merkle only); the projector and the services feed it rows.

The rule, in full (DESIGN §4):

- ``payouts`` = the approved amounts of the period's cases; ``fee = floor(payouts * fee_bp /
  10_000)`` (basis points; the fen below one are never charged).
- ``target = payouts + fee + carry_in``: ``carry_in`` is what earlier periods could not collect.
- ``share = min(floor(target / n), member_case_cap * cases)`` for the ``n`` covered members: one
  uniform share, never more than the plan's per-member cap for each case shared.
- Each member pays ``min(share, balance)``: nobody goes negative; a member who pays their whole
  balance lapses.
- ``carry = target - collected``: the remainder ``target mod n`` (< n fen), plus whatever the cap
  or short balances left uncollected, is carried to the plan's next period and recorded in the
  entry. So ``payouts + fee + carry_in == collected + carry`` exactly, every period.

    >>> fee_of(100_000, 800)
    8000
    >>> s = split(payouts=100_000, fee_bp=800, carry_in=5, member_cap=1_000, cases=1,
    ...           balances=[5_000] * 7)
    >>> s.share, s.collected, s.carry
    (1000, 7000, 101005)

(The cap binds there: 7 members can give at most 1,000 fen each for one case.)

The share table is a Merkle tree (RFC 9162, via heartchain.ledger.merkle) over the covered
members in address order; leaf ``i`` is the canonical JSON (RFC 8785) of
``{"member": <address>, "period": <number>, "share": <fen paid>}``. Its root goes in the
``period.apportion`` entry, so a member's inclusion proof ties their share to the signed log.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

from heartchain.ledger import merkle, tiles

FEE_SCALE = 10_000  # fee rates are basis points: 800 = 8%

_LEAF = b"\x00"
_NODE = b"\x01"


def fee_of(payouts: int, fee_bp: int) -> int:
    """The management fee in fen, rounded down."""
    if payouts < 0 or not 0 <= fee_bp <= FEE_SCALE:
        raise ValueError(f"fee_of: bad payouts {payouts} or rate {fee_bp}")
    return payouts * fee_bp // FEE_SCALE


def uniform_share(target: int, members: int, cap: int) -> int:
    """floor(target / members), capped; 0 when nobody is covered."""
    if target < 0 or members < 0 or cap < 0:
        raise ValueError("uniform_share: negative input")
    if members == 0:
        return 0
    return min(target // members, cap)


def paid(share: int, balance: int) -> int:
    """What one member pays: the share, or their whole balance if that is less."""
    return share if balance >= share else balance


@dataclass(frozen=True)
class Split:
    payouts: int
    fee: int
    carry_in: int
    target: int
    members: int
    share: int
    collected: int
    carry: int
    shares: tuple[int, ...]


def split(*, payouts: int, fee_bp: int, carry_in: int, member_cap: int, cases: int,
          balances: Sequence[int]) -> Split:
    """Apply the rule above to the covered members' balances (in share-tree order)."""
    fee = fee_of(payouts, fee_bp)
    target = payouts + fee + carry_in
    share = uniform_share(target, len(balances), member_cap * cases)
    shares = tuple(paid(share, b) for b in balances)
    collected = sum(shares)
    return Split(payouts, fee, carry_in, target, len(balances), share, collected,
                 target - collected, shares)


def leaf_data(member: str, period: int, share: int) -> bytes:
    """RFC 8785 canonical JSON of the leaf. Written out by hand because it is on the hot path:
    keys are already in JCS order, addresses are bech32 (plain ASCII), numbers are integers.
    tests/mutualaid/test_apportion.py checks it against the rfc8785 package."""
    return f'{{"member":"{member}","period":{period},"share":{share}}}'.encode()


def leaf_hashes(members: Sequence[str], period: int, shares: Sequence[int]) -> list[bytes]:
    sha = hashlib.sha256
    return [sha(_LEAF + f'{{"member":"{m}","period":{period},"share":{s}}}'.encode()).digest()
            for m, s in zip(members, shares, strict=True)]


class ShareTree:
    """Every perfect-subtree level of a static tree of leaf hashes, for its root and proofs.

    Level ``l`` holds the ``n >> l`` complete nodes of that height. The tiles that storage keeps
    are levels 0, 8, 16, ... (C2SP tlog-tiles layout, 256 hashes a tile), from which any proof
    node can be folded again (`heartchain.ledger.tiles.node_location`).
    """

    def __init__(self, leaves: Sequence[bytes]) -> None:
        self.size = len(leaves)
        levels: list[list[bytes]] = [list(leaves)]
        sha = hashlib.sha256
        while len(levels[-1]) >= 2:
            below = levels[-1]
            levels.append([sha(_NODE + below[i] + below[i + 1]).digest()
                           for i in range(0, len(below) - 1, 2)])
        self.levels = levels

    def node(self, level: int, index: int) -> bytes:
        return self.levels[level][index]

    def root(self) -> bytes:
        return merkle.fold_range([self.node(lv, i) for lv, i in merkle.range_nodes(self.size)])

    def proof(self, index: int) -> list[bytes]:
        nodes = merkle.inclusion_nodes(index, self.size)
        return [bytes(h) for h in nodes.rehash([self.node(lv, i) for lv, i in nodes.ids])]

    def tiles(self) -> list[tuple[int, int, bytes]]:
        """(tile level, tile index, concatenated hashes) for levels 0, 8, 16, ..."""
        out: list[tuple[int, int, bytes]] = []
        for tile_level, level in enumerate(range(0, len(self.levels), tiles.TILE_HEIGHT)):
            row = self.levels[level]
            for start in range(0, len(row), tiles.TILE_WIDTH):
                out.append((tile_level, start // tiles.TILE_WIDTH,
                            b"".join(row[start:start + tiles.TILE_WIDTH])))
        return out


def nodes_from_tiles(ids: Sequence[merkle.NodeID], tile_data: dict[tuple[int, int], bytes]
                     ) -> list[bytes]:
    """Hashes of proof nodes, folded from stored tiles (as the log does for its own tree)."""
    hashes: list[bytes] = []
    for level, index in ids:
        ref, start, count = tiles.node_location(level, index)
        data = tile_data.get((ref.level, ref.index), b"")
        chunk = data[start * tiles.HASH_SIZE:(start + count) * tiles.HASH_SIZE]
        if len(chunk) != count * tiles.HASH_SIZE:
            raise LookupError(f"share tree node {(level, index)} is not stored")
        hashes.append(chunk if count == 1 else tiles.subtree_hash(
            [chunk[i:i + tiles.HASH_SIZE] for i in range(0, len(chunk), tiles.HASH_SIZE)]))
    return hashes


def tiles_needed(ids: Sequence[merkle.NodeID]) -> list[tuple[int, int]]:
    return sorted({(ref.level, ref.index) for ref, _, _ in
                   (tiles.node_location(lv, i) for lv, i in ids)})


@dataclass(frozen=True)
class TreeSummary:
    """A share tree's root and its stored tiles, without keeping every level in memory."""

    size: int
    root: bytes
    tiles: list[tuple[int, int, bytes]]


def summarize(leaves: Sequence[bytes]) -> TreeSummary:
    """Root and tiles (levels 0, 8, 16, ...) of the tree over `leaves`, one level at a time:
    peak memory is about two levels, which matters at 10^6 members."""
    size = len(leaves)
    wanted: dict[merkle.NodeID, bytes] = {}
    border = merkle.range_nodes(size)
    by_level: dict[int, list[int]] = {}
    for level, index in border:
        by_level.setdefault(level, []).append(index)
    out: list[tuple[int, int, bytes]] = []
    sha = hashlib.sha256
    row: Sequence[bytes] = leaves
    level = 0
    while row:
        for index in by_level.get(level, ()):
            wanted[(level, index)] = row[index]
        if level % tiles.TILE_HEIGHT == 0:
            tile_level = level // tiles.TILE_HEIGHT
            for start in range(0, len(row), tiles.TILE_WIDTH):
                out.append((tile_level, start // tiles.TILE_WIDTH,
                            b"".join(row[start:start + tiles.TILE_WIDTH])))
        if len(row) < 2:
            break
        row = [sha(_NODE + row[i] + row[i + 1]).digest() for i in range(0, len(row) - 1, 2)]
        level += 1
    root = merkle.fold_range([wanted[node] for node in border])
    return TreeSummary(size, root, out)
