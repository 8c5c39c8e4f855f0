"""Tile arithmetic and paths for a tiled transparency log (tile height 8, so 256 hashes a tile).

Spec: C2SP tlog-tiles (https://c2sp.org/tlog-tiles), sections "Merkle Tree" (paths, levels,
tile contents), "Partial Tiles" (which tiles exist for a tree size) and "Log entries" (entry
bundles). Hashing is RFC 9162 §2.1.1, the same as RFC 6962 §2.1.

Level-L tiles hold the hashes of perfect subtrees of 256**L leaves; the n-th tile at level L holds
hashes n*256 .. n*256+255 of that tree level. A tree of 70,000 leaves has 273 full level-0 tiles,
a level-0 tile of width 112, one full level-1 tile, a level-1 tile of width 17 and a level-2 tile
of width 1:

    >>> tiles = tiles_for_size(70_000)
    >>> [t.path for t in tiles[-4:]]
    ['tile/0/273.p/112', 'tile/1/000', 'tile/1/001.p/17', 'tile/2/000.p/1']
    >>> parse_tile_path("tile/0/x001/234.p/17")
    TileRef(level=0, index=1234, width=17)
    >>> node_location(3, 33)  # the root of leaves 264..271: hash it from tile 0/001
    (TileRef(level=0, index=1, width=16), 8, 8)

Storage asks `tiles_holding` which tiles a proof's nodes lie in, reads those, and `fold_nodes`
hashes each node from its slice; nothing here touches storage.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

__all__ = [
    "ENTRIES_LEVEL",
    "HASH_SIZE",
    "MAX_TILE_LEVEL",
    "TILE_HEIGHT",
    "TILE_WIDTH",
    "NodeNotStored",
    "TilePathError",
    "TileRef",
    "decode_entry_bundle",
    "encode_entry_bundle",
    "entry_bundles_for_size",
    "fold_nodes",
    "index_path",
    "node_location",
    "parse_tile_path",
    "subtree_hash",
    "tiles_for_size",
    "tiles_holding",
]

TILE_HEIGHT: Final = 8
TILE_WIDTH: Final = 1 << TILE_HEIGHT
HASH_SIZE: Final = 32
MAX_TILE_LEVEL: Final = 63
# Entry bundles share the tile path scheme; -1 keeps them apart from every hash level.
ENTRIES_LEVEL: Final = -1
MAX_ENTRY_SIZE: Final = 0xFFFF

# Tree sizes are uint64 everywhere else in the ecosystem (Go's tlog, checkpoints); bounding the
# index also bounds how much work a hostile path can cause.
_INDEX_LIMIT: Final = 1 << 64
_MAX_INDEX_GROUPS: Final = (len(str(_INDEX_LIMIT - 1)) + 2) // 3
# Same domain separation byte as RFC 9162 §2.1.1; kept local so this module stays stdlib-only.
_NODE_PREFIX: Final = b"\x01"

_LEVEL_RE: Final = re.compile(r"0|[1-9][0-9]?")
_WIDTH_RE: Final = re.compile(r"[1-9][0-9]{0,2}")
_GROUP_RE: Final = re.compile(r"x[0-9]{3}")
_LAST_GROUP_RE: Final = re.compile(r"[0-9]{3}")


class TilePathError(ValueError):
    """A tile path is malformed or not in its one canonical form."""


class NodeNotStored(LookupError):
    """A node's tile is missing, or too short to hold it."""


@dataclass(frozen=True)
class TileRef:
    """One tile (level >= 0) or entry bundle (level == ENTRIES_LEVEL); width < 256 is partial."""

    level: int
    index: int
    width: int = TILE_WIDTH

    def __post_init__(self) -> None:
        if not ENTRIES_LEVEL <= self.level <= MAX_TILE_LEVEL:
            raise ValueError(f"tile level {self.level} out of range -1..{MAX_TILE_LEVEL}")
        if not 0 <= self.index < _INDEX_LIMIT:
            raise ValueError(f"tile index {self.index} out of range 0..2**64-1")
        if not 1 <= self.width <= TILE_WIDTH:
            raise ValueError(f"tile width {self.width} out of range 1..{TILE_WIDTH}")

    @property
    def is_entries(self) -> bool:
        return self.level == ENTRIES_LEVEL

    @property
    def is_full(self) -> bool:
        return self.width == TILE_WIDTH

    @property
    def path(self) -> str:
        level = "entries" if self.is_entries else str(self.level)
        suffix = "" if self.is_full else f".p/{self.width}"
        return f"tile/{level}/{index_path(self.index)}{suffix}"


def index_path(n: int) -> str:
    """Encode a tile index as 3-digit path elements, all but the last prefixed with "x"."""
    if not 0 <= n < _INDEX_LIMIT:
        raise ValueError(f"tile index {n} out of range 0..2**64-1")
    groups: list[str] = []
    while True:
        n, rest = divmod(n, 1000)
        groups.append(f"{rest:03d}")
        if n == 0:
            break
    groups.reverse()
    return "/".join([*(f"x{g}" for g in groups[:-1]), groups[-1]])


def parse_tile_path(path: str) -> TileRef:
    """Parse `[tile/]<L|entries>/<N>[.p/<W>]`, accepting only the canonical spelling.

    Strict so that every tile has exactly one path: two spellings of one tile would let a cache
    or a store hold two different bodies for it.
    """
    parts = path.removeprefix("tile/").split("/")
    if len(parts) < 2:
        raise TilePathError(f"tile path {path!r}: expected <level>/<index>")
    level_text, *groups = parts

    if level_text == "entries":
        level = ENTRIES_LEVEL
    elif _LEVEL_RE.fullmatch(level_text) and int(level_text) <= MAX_TILE_LEVEL:
        level = int(level_text)
    else:
        raise TilePathError(f"tile path {path!r}: level must be 0..63 or 'entries'")

    width = TILE_WIDTH
    if len(groups) >= 2 and groups[-2].endswith(".p"):
        width_text = groups[-1]
        if not _WIDTH_RE.fullmatch(width_text) or int(width_text) >= TILE_WIDTH:
            raise TilePathError(f"tile path {path!r}: partial width must be 1..255")
        width = int(width_text)
        groups = [*groups[:-2], groups[-2].removesuffix(".p")]

    if len(groups) > _MAX_INDEX_GROUPS:
        raise TilePathError(f"tile path {path!r}: index too long")
    index = 0
    for position, group in enumerate(groups):
        pattern = _LAST_GROUP_RE if position == len(groups) - 1 else _GROUP_RE
        if not pattern.fullmatch(group):
            raise TilePathError(f"tile path {path!r}: bad index element {group!r}")
        index = index * 1000 + int(group.removeprefix("x"))
    if index >= _INDEX_LIMIT:
        raise TilePathError(f"tile path {path!r}: index out of range")
    # Rejects leading all-zero elements such as x000/005, which parse but are not canonical.
    if index_path(index) != "/".join(groups):
        raise TilePathError(f"tile path {path!r}: index not in canonical form")
    return TileRef(level, index, width)


def _check_size(size: int) -> None:
    if not 0 <= size < _INDEX_LIMIT:
        raise ValueError(f"tree size {size} out of range 0..2**64-1")


def tiles_for_size(size: int) -> list[TileRef]:
    """Every hash tile that exists for a tree of `size` leaves, level by level, left to right."""
    _check_size(size)
    tiles: list[TileRef] = []
    level = 0
    # Level L stores one hash per full run of 256**L leaves; a tile spans 256 of those.
    while (stored := size >> (TILE_HEIGHT * level)) > 0:
        full, partial = divmod(stored, TILE_WIDTH)
        tiles.extend(TileRef(level, index) for index in range(full))
        if partial:
            tiles.append(TileRef(level, full, partial))
        level += 1
    return tiles


def entry_bundles_for_size(size: int) -> list[TileRef]:
    """Every entry bundle that exists for a tree of `size` leaves, left to right."""
    _check_size(size)
    full, partial = divmod(size, TILE_WIDTH)
    bundles = [TileRef(ENTRIES_LEVEL, index) for index in range(full)]
    if partial:
        bundles.append(TileRef(ENTRIES_LEVEL, full, partial))
    return bundles


def node_location(level: int, index: int) -> tuple[TileRef, int, int]:
    """Where to compute Merkle node (level, index), the root of leaves [index*2**level, ...).

    Returns the narrowest tile holding its 2**(level % 8) descendants at tree level
    8 * (level // 8), the offset of the first of them, and their count. Any wider tile with the
    same level and index holds them too.
    """
    # A tree holds at most 2**64 - 1 leaves, so every node must end at or before that.
    if not 0 <= level < 64 or index < 0 or (index + 1) << level >= _INDEX_LIMIT:
        raise ValueError(f"node ({level}, {index}) lies beyond 2**64 - 1 leaves")
    tile_level, height = divmod(level, TILE_HEIGHT)
    count = 1 << height
    # count divides 256, so an aligned run of descendants never straddles two tiles.
    tile_index, start = divmod(index << height, TILE_WIDTH)
    return TileRef(tile_level, tile_index, start + count), start, count


def subtree_hash(hashes: Sequence[bytes]) -> bytes:
    """Root of the perfect subtree whose level-0 nodes are `hashes` (a power-of-two count)."""
    count = len(hashes)
    if count == 0 or count & (count - 1):
        raise ValueError(f"subtree_hash needs a power-of-two number of hashes, got {count}")
    for position, value in enumerate(hashes):
        if len(value) != HASH_SIZE:
            raise ValueError(f"hash {position} is {len(value)} bytes, not {HASH_SIZE}")
    level = list(hashes)
    while len(level) > 1:
        level = [
            hashlib.sha256(_NODE_PREFIX + level[i] + level[i + 1]).digest()
            for i in range(0, len(level), 2)
        ]
    return bytes(level[0])


def tiles_holding(ids: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The (level, index) of every tile that `fold_nodes` needs for nodes `ids`, once each."""
    return sorted({(ref.level, ref.index) for ref, _, _ in
                   (node_location(level, index) for level, index in ids)})


def fold_nodes(ids: Sequence[tuple[int, int]], tile_data: Mapping[tuple[int, int], bytes]
               ) -> list[bytes]:
    """Hashes of Merkle nodes `ids`, each read or folded from the tile slice that holds it.

    `tile_data` maps (level, index) to a stored tile's bytes; any tile at least as wide as
    `node_location` asks for will do. Raises NodeNotStored naming the first node it lacks.
    """
    hashes: list[bytes] = []
    for level, index in ids:
        ref, start, count = node_location(level, index)
        chunk = tile_data.get((ref.level, ref.index), b"")[start * HASH_SIZE:
                                                           (start + count) * HASH_SIZE]
        if len(chunk) != count * HASH_SIZE:
            raise NodeNotStored(f"tree node {(level, index)} is not stored")
        hashes.append(chunk if count == 1 else subtree_hash(
            [chunk[i:i + HASH_SIZE] for i in range(0, len(chunk), HASH_SIZE)]))
    return hashes


def encode_entry_bundle(entries: Sequence[bytes]) -> bytes:
    """Concatenate 1..256 entries, each as a big-endian uint16 length and its bytes."""
    if not 1 <= len(entries) <= TILE_WIDTH:
        raise ValueError(f"entry bundle holds 1..{TILE_WIDTH} entries, got {len(entries)}")
    out = bytearray()
    for position, entry in enumerate(entries):
        if len(entry) > MAX_ENTRY_SIZE:
            raise ValueError(f"entry {position} is {len(entry)} bytes, over {MAX_ENTRY_SIZE}")
        out += len(entry).to_bytes(2, "big")
        out += entry
    return bytes(out)


def decode_entry_bundle(data: bytes, *, width: int | None = None) -> list[bytes]:
    """Split an entry bundle; with `width`, also require exactly that many entries.

    Empty bundles are rejected because tlog-tiles forbids serving empty tiles.
    """
    entries: list[bytes] = []
    offset = 0
    while offset < len(data):
        if len(entries) == TILE_WIDTH:
            raise ValueError(f"entry bundle: more than {TILE_WIDTH} entries")
        if offset + 2 > len(data):
            raise ValueError(f"entry bundle: truncated length prefix at byte {offset}")
        size = int.from_bytes(data[offset : offset + 2], "big")
        offset += 2
        if offset + size > len(data):
            raise ValueError(
                f"entry bundle: entry {len(entries)} needs {size} bytes, "
                f"{len(data) - offset} remain"
            )
        entries.append(bytes(data[offset : offset + size]))
        offset += size
    if not entries:
        raise ValueError("entry bundle: empty")
    if width is not None and len(entries) != width:
        raise ValueError(f"entry bundle: expected {width} entries, found {len(entries)}")
    return entries
