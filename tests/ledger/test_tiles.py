from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heartchain.ledger.tiles import (
    ENTRIES_LEVEL,
    TILE_WIDTH,
    TilePathError,
    TileRef,
    decode_entry_bundle,
    encode_entry_bundle,
    entry_bundles_for_size,
    index_path,
    node_location,
    parse_tile_path,
    subtree_hash,
    tiles_for_size,
)

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "c2sp.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
TILE_VECTORS = VECTORS["tile_paths"]

tile_refs = st.builds(
    TileRef,
    level=st.integers(min_value=ENTRIES_LEVEL, max_value=63),
    index=st.integers(min_value=0, max_value=2**64 - 1),
    width=st.integers(min_value=1, max_value=TILE_WIDTH),
)


def _expand(items: list[str]) -> list[str]:
    """Expand the vector's "a .. b full" ranges into one path per tile."""
    paths: list[str] = []
    for item in items:
        item = item.removesuffix(" full")
        if " .. " in item:
            first, last = (parse_tile_path(p) for p in item.split(" .. "))
            paths.extend(TileRef(first.level, i).path for i in range(first.index, last.index + 1))
        else:
            paths.append(item)
    return paths


# RFC 9162 §2.1.1 straight from the text, to check the tile arithmetic against.
def _leaf(data: bytes) -> bytes:
    return hashlib.sha256(b"\x00" + data).digest()


def _mth(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + _mth(leaves[:k]) + _mth(leaves[k:])).digest()


# --- paths ---


@pytest.mark.parametrize(("n", "path"), sorted(TILE_VECTORS["index_path"].items()))
def test_index_path_vectors(n: str, path: str) -> None:
    assert index_path(int(n)) == path


def test_tiles_for_size_70000_vector() -> None:
    expected = _expand(TILE_VECTORS["tiles_for_size_70000"])
    assert [t.path for t in tiles_for_size(70_000)] == expected
    assert len(expected) == 273 + 4


def test_all_vector_paths_parse_and_round_trip() -> None:
    for path in _expand(TILE_VECTORS["tiles_for_size_70000"]):
        assert parse_tile_path(path).path == path
    for path in TILE_VECTORS["index_path"].values():
        for full in (f"tile/0/{path}", f"tile/entries/{path}.p/5", f"tile/63/{path}"):
            assert parse_tile_path(full).path == full


def test_path_examples() -> None:
    assert TileRef(0, 1234, 17).path == "tile/0/x001/234.p/17"
    assert TileRef(ENTRIES_LEVEL, 0).path == "tile/entries/000"
    assert parse_tile_path("tile/0/x001/234.p/17") == TileRef(0, 1234, 17)
    assert parse_tile_path("0/x001/234.p/17") == TileRef(0, 1234, 17)
    assert parse_tile_path("entries/000") == TileRef(ENTRIES_LEVEL, 0)
    ref = parse_tile_path("tile/entries/x001/000.p/255")
    assert (ref.is_entries, ref.is_full, ref.index, ref.width) == (True, False, 1000, 255)


@given(tile_refs)
def test_parse_format_round_trip(ref: TileRef) -> None:
    assert parse_tile_path(ref.path) == ref
    assert parse_tile_path(ref.path.removeprefix("tile/")) == ref


@given(st.text(alphabet="tile/entries0123456789x.p", max_size=40))
def test_parse_accepts_only_canonical_paths(path: str) -> None:
    try:
        ref = parse_tile_path(path)
    except TilePathError:
        return
    assert ref.path in (path, f"tile/{path}")


@pytest.mark.parametrize(
    "path",
    [
        "",
        "tile/",
        "tile/0",
        "tile/entries",
        "/tile/0/000",
        "tile/tile/0/000",
        "tile/00/000",
        "tile/01/000",
        "tile/64/000",
        "tile/-1/000",
        "tile/+1/000",
        "tile/data/000",
        "tile/ 0/000",
        "tile/0/",
        "tile/0/1",
        "tile/0/01",
        "tile/0/0001",
        "tile/0/x001",
        "tile/0/001/002",
        "tile/0/X001/002",
        "tile/0/x000/001",
        "tile/0/x000/000",
        "tile/0/００１",
        "tile/0/001\n",
        "tile/0/001.p/0",
        "tile/0/001.p/256",
        "tile/0/001.p/017",
        "tile/0/001.p/+17",
        "tile/0/001.p/",
        "tile/0/001.p",
        "tile/0/001.p/17/3",
        "tile/0/001.p/17.p/3",
        "tile/0/x001/x002/x003/x004/x005/x006/x007/000",
        "tile/0/x018/x446/x744/x073/x709/x551/616",
    ],
)
def test_malformed_paths_are_rejected(path: str) -> None:
    with pytest.raises(TilePathError, match="tile path"):
        parse_tile_path(path)


@pytest.mark.parametrize(
    ("level", "index", "width"),
    [(0, 0, 0), (0, 0, 257), (64, 0, 256), (-2, 0, 256), (0, -1, 256), (0, 2**64, 256)],
)
def test_tile_ref_rejects_out_of_range(level: int, index: int, width: int) -> None:
    with pytest.raises(ValueError, match="out of range"):
        TileRef(level, index, width)


def test_index_path_rejects_negative() -> None:
    with pytest.raises(ValueError, match="out of range"):
        index_path(-1)


# --- which tiles exist ---


def test_tiles_for_small_sizes() -> None:
    assert tiles_for_size(0) == []
    assert [t.path for t in tiles_for_size(1)] == ["tile/0/000.p/1"]
    assert [t.path for t in tiles_for_size(255)] == ["tile/0/000.p/255"]
    assert [t.path for t in tiles_for_size(256)] == ["tile/0/000", "tile/1/000.p/1"]
    assert [t.path for t in tiles_for_size(257)] == [
        "tile/0/000",
        "tile/0/001.p/1",
        "tile/1/000.p/1",
    ]


# Bounded: the list holds every full tile, so huge sizes would only cost memory.
@given(st.integers(min_value=0, max_value=2**22))
def test_partial_tiles_match_spec_formula(size: int) -> None:
    # tlog-tiles: the partial tile at level l has floor(s / 256**l) mod 256 entries.
    partial = {t.level: t.width for t in tiles_for_size(size) if not t.is_full}
    level = 0
    while size // 256**level:
        width = (size // 256**level) % 256
        assert partial.get(level) == (width or None)
        level += 1
    assert all(lvl < level for lvl in partial)


def test_entry_bundles_for_size() -> None:
    bundles = entry_bundles_for_size(70_000)
    assert len(bundles) == 274
    assert all(b.is_entries for b in bundles)
    assert bundles[0].path == "tile/entries/000"
    assert bundles[-1].path == "tile/entries/273.p/112"
    assert entry_bundles_for_size(0) == []
    assert [b.path for b in entry_bundles_for_size(512)] == ["tile/entries/000", "tile/entries/001"]


def test_sizes_out_of_range_are_rejected() -> None:
    with pytest.raises(ValueError, match="out of range"):
        tiles_for_size(-1)
    with pytest.raises(ValueError, match="out of range"):
        entry_bundles_for_size(2**64)


# --- node locations ---


@pytest.mark.parametrize(
    ("node", "expected"),
    [
        ((0, 0), (TileRef(0, 0, 1), 0, 1)),
        ((0, 255), (TileRef(0, 0, 256), 255, 1)),
        ((0, 256), (TileRef(0, 1, 1), 0, 1)),
        ((3, 33), (TileRef(0, 1, 16), 8, 8)),
        ((7, 1), (TileRef(0, 0, 256), 128, 128)),
        ((8, 0), (TileRef(1, 0, 1), 0, 1)),
        ((8, 3), (TileRef(1, 0, 4), 3, 1)),
        ((9, 1), (TileRef(1, 0, 4), 2, 2)),
        ((16, 0), (TileRef(2, 0, 1), 0, 1)),
        ((63, 0), (TileRef(7, 0, 128), 0, 128)),
    ],
)
def test_node_location_examples(node: tuple[int, int], expected: tuple[TileRef, int, int]) -> None:
    assert node_location(*node) == expected


@given(st.integers(min_value=0, max_value=63), st.data())
def test_node_location_covers_the_descendants(level: int, data: st.DataObject) -> None:
    index = data.draw(st.integers(min_value=0, max_value=(2**64 - 1 >> level) - 1))
    tile, start, count = node_location(level, index)
    assert tile.level == level // 8
    assert count == 2 ** (level % 8)
    assert tile.width == start + count
    assert tile.index * TILE_WIDTH + start == index << (level % 8)


@pytest.mark.parametrize(("level", "index"), [(-1, 0), (0, -1), (64, 0), (63, 1), (0, 2**64 - 1)])
def test_node_location_rejects_nodes_outside_a_uint64_tree(level: int, index: int) -> None:
    with pytest.raises(ValueError, match="beyond"):
        node_location(level, index)


def test_node_hashes_from_tiles_match_reference() -> None:
    size = 3 * TILE_WIDTH * TILE_WIDTH + 5
    leaves = [_leaf(i.to_bytes(4, "big")) for i in range(size)]
    # Level-0 tiles hold leaf hashes; level-1 tiles hold the roots of full level-0 tiles.
    tile_hashes: dict[tuple[int, int], list[bytes]] = {}
    for tile in tiles_for_size(size):
        if tile.level == 0:
            first = tile.index * TILE_WIDTH
            tile_hashes[(0, tile.index)] = leaves[first : first + tile.width]
        else:
            below = tile.index * TILE_WIDTH
            tile_hashes[(tile.level, tile.index)] = [
                subtree_hash(tile_hashes[(tile.level - 1, below + i)]) for i in range(tile.width)
            ]
    for level, index in [(0, 7), (1, 300), (3, 33), (8, 2), (9, 1), (10, 0), (7, 767)]:
        tile, start, count = node_location(level, index)
        stored = tile_hashes[(tile.level, tile.index)]
        assert len(stored) >= tile.width
        got = subtree_hash(stored[start : start + count])
        assert got == _mth(leaves[index << level : (index + 1) << level])


def test_subtree_hash() -> None:
    a, b = _leaf(b"a"), _leaf(b"b")
    assert subtree_hash([a]) == a
    assert subtree_hash([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()
    four = [_leaf(bytes([i])) for i in range(4)]
    assert subtree_hash(four) == _mth(four)
    with pytest.raises(ValueError, match="power-of-two"):
        subtree_hash([])
    with pytest.raises(ValueError, match="power-of-two"):
        subtree_hash([a, b, a])
    with pytest.raises(ValueError, match="31 bytes, not 32"):
        subtree_hash([a, b[:31]])


# --- entry bundles ---


@given(st.lists(st.binary(max_size=300), min_size=1, max_size=TILE_WIDTH))
def test_entry_bundle_round_trip(entries: list[bytes]) -> None:
    data = encode_entry_bundle(entries)
    assert len(data) == sum(2 + len(e) for e in entries)
    assert decode_entry_bundle(data) == entries
    assert decode_entry_bundle(data, width=len(entries)) == entries


def test_entry_bundle_layout() -> None:
    assert encode_entry_bundle([b"ab", b""]) == b"\x00\x02ab\x00\x00"
    big = bytes(65_535)
    assert decode_entry_bundle(encode_entry_bundle([big])) == [big]


@pytest.mark.parametrize(
    ("data", "match"),
    [
        (b"", "empty"),
        (b"\x00", "truncated length prefix"),
        (b"\x00\x02ab\x00", "truncated length prefix"),
        (b"\x00\x05abc", "needs 5 bytes, 3 remain"),
        (b"\x00\x01a\xff\xff", "needs 65535 bytes, 0 remain"),
        (b"\x00\x00" * (TILE_WIDTH + 1), "more than 256 entries"),
    ],
)
def test_entry_bundle_rejects_malformed(data: bytes, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        decode_entry_bundle(data)


def test_entry_bundle_rejects_wrong_width() -> None:
    with pytest.raises(ValueError, match="expected 3 entries, found 2"):
        decode_entry_bundle(encode_entry_bundle([b"a", b"b"]), width=3)


def test_encode_entry_bundle_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="over 65535"):
        encode_entry_bundle([bytes(65_536)])
    with pytest.raises(ValueError, match=r"1\.\.256 entries, got 0"):
        encode_entry_bundle([])
    with pytest.raises(ValueError, match=r"1\.\.256 entries, got 257"):
        encode_entry_bundle([b""] * 257)
