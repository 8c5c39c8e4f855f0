"""Apportionment math: the fee, each member's share in integer fen, and the share tree.

Pure (hashlib and heartchain.ledger.merkle only); the projector and the services feed it rows.

The rule, in full (DESIGN §4):

- ``payouts`` = the approved amounts of the period's cases; ``fee = floor(payouts * fee_bp /
  10_000)`` (basis points; the fen below one are never charged).
- ``target = payouts + fee + carry_in``: ``carry_in`` is what earlier periods could not collect.
- ``share = min(floor(target / n), member_case_cap * cases)`` for the ``n`` covered members: one
  uniform share, never more than the plan's per-member cap for each case shared.
- Each member pays ``min(share, balance, room)``: nobody goes negative; a member who pays their
  whole balance lapses; ``room`` is what the plan's per-year cap still allows them this plan year
  (no limit without one).
- ``carry = target - collected``: the remainder ``target mod n`` (< n fen), plus whatever the
  caps (``cap_cut``: per case, ``year_cut``: per year) or short balances left uncollected, is
  carried to the plan's next period and recorded in the entry. So ``payouts + fee + carry_in ==
  collected + carry`` exactly, every period.
- With a notice (``period.notice``) the ``n`` members are the set counted at 00:00 plan time on
  the notice day and committed then; one who left since pays nothing (their part is carried).

    >>> fee_of(100_000, 800)
    8000
    >>> s = split(payouts=100_000, fee_bp=800, carry_in=5, member_cap=1_000, cases=1,
    ...           balances=[5_000] * 7)
    >>> s.share, s.collected, s.carry
    (1000, 7000, 101005)

(The cap binds there: 7 members can give at most 1,000 fen each for one case.)

The share table is a Merkle tree (RFC 9162, via heartchain.ledger.merkle) over the covered
members in join order (by the log index of the plan.join in force, unique within a plan);
leaf ``i`` is the canonical JSON (RFC 8785) of ``{"member": <address>, "period": <number>,
"share": <fen paid>}``. Its root goes in the ``period.apportion`` entry, so a member's inclusion
proof ties their share to the signed log. The projection stores the leaves themselves, 256 to a
page (a page is one level-0 tile's leaves), the tiles of levels 8, 16, ... and the partial
level-0 tile at the right edge; a proof reads one page and O(log n) tiles.
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
    cap_cut: int = 0
    year_capped: int = 0
    year_cut: int = 0


def cap_cut_of(target: int, members: int, share: int) -> int:
    """What the per-case cap cut off the uniform share, over all members (0 if it did not bind)."""
    return members * (target // members - share) if members else 0


def split(*, payouts: int, fee_bp: int, carry_in: int, member_cap: int, cases: int,
          balances: Sequence[int], rooms: Sequence[int | None] | None = None) -> Split:
    """Apply the rule above to the covered members' balances (in share-tree order), each with
    what the per-year cap still allows them (`rooms`, None: no limit)."""
    fee = fee_of(payouts, fee_bp)
    target = payouts + fee + carry_in
    share = uniform_share(target, len(balances), member_cap * cases)
    limits = [share if r is None else min(share, max(r, 0)) for r in
              (rooms if rooms is not None else [None] * len(balances))]
    shares = tuple(paid(limit, b) for limit, b in zip(limits, balances, strict=True))
    collected = sum(shares)
    capped = [share - limit for limit in limits if limit < share]
    return Split(payouts, fee, carry_in, target, len(balances), share, collected,
                 target - collected, shares, cap_cut_of(target, len(balances), share),
                 len(capped), sum(capped))


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


# Share trees are stored in the log's tile layout, so their proof nodes fold the same way.
nodes_from_tiles = tiles.fold_nodes
tiles_needed = tiles.tiles_holding


@dataclass(frozen=True)
class Totals:
    """A period's figures from aggregates over the covered set, without a row per member."""

    payouts: int
    fee: int
    carry_in: int
    target: int
    members: int
    share: int
    collected: int
    carry: int
    lapsed: int
    cap_cut: int = 0
    year_capped: int = 0
    year_cut: int = 0


def share_for(*, payouts: int, fee_bp: int, carry_in: int, member_cap: int, cases: int,
              members: int) -> int:
    """The uniform share `split` would charge `members` covered members."""
    return uniform_share(payouts + fee_of(payouts, fee_bp) + carry_in, members,
                         member_cap * cases)


def totals(*, payouts: int, fee_bp: int, carry_in: int, member_cap: int, cases: int,
           members: int, short: int, short_sum: int, lapsed: int) -> Totals:
    """`split`'s figures from aggregates: `short` members hold less than the share (together
    `short_sum` fen) and pay it all; `lapsed` members hold at most the share. Equal to `split`
    over the same balances (tests/mutualaid/test_apportion.py checks it)."""
    return totals_of(payouts=payouts, fee_bp=fee_bp, carry_in=carry_in, member_cap=member_cap,
                     cases=cases, members=members, specials=short, special_paid=short_sum,
                     lapsed=lapsed)


def totals_of(*, payouts: int, fee_bp: int, carry_in: int, member_cap: int, cases: int,
              members: int, specials: int, special_paid: int, lapsed: int,
              year_capped: int = 0, year_cut: int = 0) -> Totals:
    """A period's figures: `specials` members pay less than the share (together
    `special_paid` fen: short balances, per-year caps, members who left since the notice),
    the rest pay it."""
    fee = fee_of(payouts, fee_bp)
    target = payouts + fee + carry_in
    share = uniform_share(target, members, member_cap * cases)
    collected = share * (members - specials) + special_paid
    return Totals(payouts, fee, carry_in, target, members, share, collected, target - collected,
                  lapsed, cap_cut_of(target, members, share), year_capped, year_cut)


def _pairs(row: list[bytes]) -> list[bytes]:
    """The next level up: the node hash of each pair (a trailing odd node is left out)."""
    sha = hashlib.sha256
    pairs = iter(row)
    return [sha(_NODE + a + b).digest() for a, b in zip(pairs, pairs, strict=False)]


def _leaf_parts(period: int, share: int) -> tuple[bytes, bytes]:
    """What comes before and after the address in the leaf of a member who pays `share`."""
    return b'{"member":"', b'","period":%d,"share":%d}' % (period, share)


def _short(share: int, low: Sequence[int | None]) -> list[int]:
    """Positions of members whose balance (given in `low`, else None) is below the share."""
    if low.count(None) == len(low):  # the common case: nobody about to lapse here
        return []
    return [i for i, balance in enumerate(low) if balance is not None and balance < share]


def leaves_of(members: Sequence[bytes], period: int, share: int,
              low: Sequence[int | None]) -> list[bytes]:
    """`leaf_data` for a batch of members (addresses as bytes): everyone pays `share` except
    where `low` gives a balance below it (None otherwise), which is paid whole."""
    head, tail = _leaf_parts(period, share)
    leaves = [head + m + tail for m in members]
    for i in _short(share, low):
        leaves[i] = leaf_data(members[i].decode(), period, int(low[i] or 0))
    return leaves


def leaf_hashes_of(members: Sequence[bytes], period: int, share: int,
                   low: Sequence[int | None]) -> list[bytes]:
    """The leaf hashes of `leaves_of(...)`, without building the leaves: the hot loop."""
    head, tail = _leaf_parts(period, share)
    sha, first = hashlib.sha256, _LEAF + head
    hashes = [sha(first + m + tail).digest() for m in members]
    for i in _short(share, low):
        hashes[i] = sha(_LEAF + leaf_data(members[i].decode(), period, int(low[i] or 0))).digest()
    return hashes


def pages_of(members: Sequence[bytes], period: int, share: int,
             low: Sequence[int | None]) -> list[bytes]:
    """The leaves of a batch that starts on a page boundary, newline-joined 256 to a page."""
    head, tail = _leaf_parts(period, share)
    joint = tail + b"\n" + head
    width = tiles.TILE_WIDTH
    uneven = {i // width for i in _short(share, low)}  # pages with someone paying less
    pages = []
    for start in range(0, len(members), width):
        group = members[start:start + width]
        if start // width in uneven:
            pages.append(b"\n".join(leaves_of(group, period, share, low[start:start + width])))
        else:
            pages.append(head + joint.join(group) + tail)
    return pages


def page_member(line: bytes) -> str:
    """The member address in one leaf (`leaf_data` bytes)."""
    return line[11:line.index(b'"', 11)].decode()


def page_hashes(page: bytes) -> bytes:
    """A stored page's level-0 tile: the leaf hashes of its leaves, concatenated."""
    sha = hashlib.sha256
    return b"".join([sha(_LEAF + line).digest() for line in page.split(b"\n")])


@dataclass(frozen=True)
class TreeSummary:
    """A share tree's root and the tiles stored for proofs: levels 8, 16, ... (tile levels >= 1)
    and, when the size is not a multiple of 256, the partial level-0 tile at the right edge.

    The other level-0 tiles are not stored: their hashes are recomputed from the page of 256
    leaves the member's proof reads anyway (`page_hashes`)."""

    size: int
    root: bytes
    tiles: list[tuple[int, int, bytes]]


class TreeBuilder:
    """Builds the share tree from leaf hashes fed in order, in batches, keeping only the
    level-8 nodes of complete 256-leaf tiles and the hashes of the last, partial one: memory
    stays O(n / 256) hashes at 10^6 members.

    >>> b = TreeBuilder(); b.add([leaf_data(f"m{i}", 1, 5) for i in range(3)])
    >>> b.finish().size
    3
    """

    def __init__(self) -> None:
        self.size = 0
        self._tops: list[bytes] = []  # level-8 nodes of complete tiles
        self._tail: list[bytes] = []  # leaf hashes after the last complete tile

    def add(self, leaves: Sequence[bytes]) -> None:
        """Append leaves (each `leaf_data` bytes, in share-tree order)."""
        sha = hashlib.sha256
        self.add_hashes([sha(_LEAF + line).digest() for line in leaves])

    def add_hashes(self, hashes: list[bytes]) -> None:
        """Append leaf hashes (in share-tree order)."""
        self.size += len(hashes)
        if self._tail:
            hashes = self._tail + hashes
        full = len(hashes) - len(hashes) % tiles.TILE_WIDTH
        row = hashes[:full]
        for _ in range(tiles.TILE_HEIGHT):
            row = _pairs(row)
        self._tops.extend(row)
        self._tail = hashes[full:]

    def finish(self) -> TreeSummary:
        """The root, and the tiles: the partial level-0 tile at the right edge (every proof's
        border nodes below level 8 come from it) and the tiles at levels 8, 16, ... ."""
        full_leaves = len(self._tops) << tiles.TILE_HEIGHT
        known: dict[merkle.NodeID, bytes] = {}
        border = merkle.range_nodes(self.size)
        out: list[tuple[int, int, bytes]] = []
        if self._tail:
            out.append((0, len(self._tops), b"".join(self._tail)))
        # Border nodes below level 8 lie in the partial tail.
        row, level = self._tail, 0
        while row:
            offset = full_leaves >> level
            for lv, index in border:
                if lv == level and offset <= index < offset + len(row):
                    known[(lv, index)] = row[index - offset]
            if len(row) < 2:
                break
            row, level = _pairs(row), level + 1
        row, level = self._tops, tiles.TILE_HEIGHT
        while row:
            for lv, index in border:
                if lv == level and index < len(row):
                    known[(lv, index)] = row[index]
            if level % tiles.TILE_HEIGHT == 0:
                for start in range(0, len(row), tiles.TILE_WIDTH):
                    out.append((level // tiles.TILE_HEIGHT, start // tiles.TILE_WIDTH,
                                b"".join(row[start:start + tiles.TILE_WIDTH])))
            if len(row) < 2:
                break
            row, level = _pairs(row), level + 1
        root = merkle.fold_range([known[node] for node in border])
        return TreeSummary(self.size, root, out)


def summarize(leaves: Sequence[bytes]) -> TreeSummary:
    """Root and stored tiles of the tree over `leaves` (leaf data), in one go."""
    builder = TreeBuilder()
    builder.add(leaves)
    return builder.finish()
