"""heartchain.ledger.merkle against transparency-dev vectors and a naive RFC 9162 reference."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Sequence
from functools import cache
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartchain.errors import RootMismatchError, VerificationError
from heartchain.ledger.merkle import (
    EMPTY_ROOT,
    CompactRange,
    Hash,
    NodeID,
    ProofNodes,
    consistency_nodes,
    fold_range,
    inclusion_nodes,
    leaf_hash,
    node_hash,
    range_nodes,
    root_from_inclusion,
    verify_consistency,
    verify_inclusion,
)

VECTORS = Path(__file__).resolve().parents[1] / "vectors" / "merkle"
VECTOR_COUNT = 196


# --- Reference: RFC 9162 §2.1.1, §2.1.3.1 and §2.1.4.1, transcribed naively --------------------
#
# D[lo:hi] of the RFC is the half-open range of the fixed list LEAVES, so results can be cached
# across the many sizes the tests sweep.

MAX_LEAVES = 5000
LEAVES = [b"leaf%d" % i for i in range(MAX_LEAVES)]


def _largest_power_of_two_below(n: int) -> int:
    k = 1
    while k << 1 < n:
        k <<= 1
    return k


@cache
def ref_mth(lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi])."""
    n = hi - lo
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + LEAVES[lo]).digest()
    k = _largest_power_of_two_below(n)
    return hashlib.sha256(b"\x01" + ref_mth(lo, lo + k) + ref_mth(lo + k, hi)).digest()


def ref_path(m: int, lo: int, hi: int) -> list[bytes]:
    """PATH(m, D[lo:hi])."""
    n = hi - lo
    if n == 1:
        return []
    k = _largest_power_of_two_below(n)
    if m < k:
        return [*ref_path(m, lo, lo + k), ref_mth(lo + k, hi)]
    return [*ref_path(m - k, lo + k, hi), ref_mth(lo, lo + k)]


def ref_proof(m: int, n: int) -> list[bytes]:
    """PROOF(m, D[0:n])."""
    return ref_subproof(m, 0, n, True)


def ref_subproof(m: int, lo: int, hi: int, b: bool) -> list[bytes]:
    """SUBPROOF(m, D[lo:hi], b)."""
    n = hi - lo
    if m == n:
        return [] if b else [ref_mth(lo, hi)]
    k = _largest_power_of_two_below(n)
    if m <= k:
        return [*ref_subproof(m, lo, lo + k, b), ref_mth(lo + k, hi)]
    return [*ref_subproof(m - k, lo + k, hi, False), ref_mth(lo, lo + k)]


def perfect(node: NodeID) -> bytes:
    """The hash of a perfect-subtree node, from the leaves under it."""
    level, index = node
    return ref_mth(index << level, (index + 1) << level)


def leaf(i: int) -> Hash:
    return leaf_hash(LEAVES[i])


def flip(h: bytes, bit: int) -> bytes:
    b = bytearray(h)
    b[bit // 8] ^= 1 << (bit % 8)
    return bytes(b)


# --- transparency-dev/merkle vectors -----------------------------------------------------------


def _vector_files() -> list[Path]:
    if not VECTORS.is_dir():
        return []
    return sorted(
        p for kind in ("inclusion", "consistency") for p in (VECTORS / kind).rglob("*.json")
    )


def _vector_params() -> list[Any]:
    files = _vector_files()
    if not files:
        reason = f"Merkle test vectors not found at {VECTORS}"
        return [pytest.param(None, id="no-vectors", marks=pytest.mark.skip(reason=reason))]
    return [pytest.param(p, id=str(p.relative_to(VECTORS))) for p in files]


def _b64(value: str | None) -> bytes:
    return base64.b64decode(value or "")


def test_vector_count() -> None:
    assert VECTORS.is_dir(), f"Merkle test vectors not found at {VECTORS}"
    assert len(_vector_files()) == VECTOR_COUNT


@pytest.mark.parametrize("path", _vector_params())
def test_vector(path: Path) -> None:
    probe = json.loads(path.read_text())
    proof = [_b64(h) for h in probe["proof"] or []]
    try:
        if path.relative_to(VECTORS).parts[0] == "inclusion":
            verify_inclusion(
                _b64(probe["leafHash"]),
                probe["leafIdx"],
                probe["treeSize"],
                proof,
                _b64(probe["root"]),
            )
        else:
            verify_consistency(
                probe["size1"], probe["size2"], proof, _b64(probe["root1"]), _b64(probe["root2"])
            )
    except VerificationError:
        verified = False
    else:
        verified = True
    assert verified is not probe["wantErr"], probe["desc"]


# --- Hashing and the compact range -------------------------------------------------------------


def test_hashes_follow_rfc_prefixes() -> None:
    assert hashlib.sha256(b"").digest() == EMPTY_ROOT
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    assert node_hash(b"l", b"r") == hashlib.sha256(b"\x01lr").digest()


def test_compact_range_matches_reference_and_returns_completed_nodes() -> None:
    r = CompactRange()
    seen: set[NodeID] = set()
    for n in range(601):
        assert r.size == n
        assert r.root() == ref_mth(0, n)
        assert r.hashes == [perfect(node) for node in range_nodes(n)]
        assert fold_range(r.hashes) == r.root()
        assert CompactRange(n, r.hashes).root() == r.root()
        if n == 600:
            break
        completed = r.append(leaf(n))
        # Exactly the nodes whose coverage ends with leaf n, from the leaf upwards.
        want = [(lvl, n >> lvl) for lvl in range((~n & (n + 1)).bit_length())]
        assert [node for node, _ in completed] == want
        assert [h for _, h in completed] == [perfect(node) for node in want]
        assert seen.isdisjoint(want)
        seen.update(want)
    # Every perfect node of the 600-leaf tree was handed out once.
    assert seen == {(lvl, i) for lvl in range(10) for i in range(600 >> lvl)}


def test_range_nodes_decompose_left_to_right() -> None:
    assert range_nodes(0) == []
    assert range_nodes(1) == [(0, 0)]
    assert range_nodes(6) == [(2, 0), (1, 2)]
    assert range_nodes(13) == [(3, 0), (2, 2), (0, 12)]
    assert fold_range([]) == EMPTY_ROOT


def test_compact_range_copy_and_hashes_are_independent() -> None:
    r = CompactRange()
    r.append(leaf(0))
    c = r.copy()
    c.append(leaf(1))
    r.hashes.append(leaf(5))
    assert (r.size, r.root()) == (1, ref_mth(0, 1))
    assert (c.size, c.root()) == (2, ref_mth(0, 2))


def test_compact_range_rejects_bad_state() -> None:
    with pytest.raises(ValueError, match="tree size 3 needs 2 border hashes, got 1"):
        CompactRange(3, [leaf(0)])
    with pytest.raises(ValueError, match="negative tree size"):
        CompactRange(-1)
    with pytest.raises(ValueError, match="border hash has 3 bytes"):
        CompactRange(1, [b"abc"])
    with pytest.raises(ValueError, match="leaf hash has 4 bytes"):
        CompactRange().append(b"leaf")


# --- Proof nodes against the reference ---------------------------------------------------------


def _rehash(nodes: ProofNodes) -> list[Hash]:
    return nodes.rehash([perfect(node) for node in nodes.ids])


def _check_ephemeral(nodes: ProofNodes) -> None:
    # The ephemeral block is listed left to right: each node starts where the previous one ends.
    block = nodes.ids[nodes.begin : nodes.end]
    for (l1, i1), (l2, i2) in pairwise(block):
        assert (i1 + 1) << l1 == i2 << l2
        assert l1 > l2


def test_inclusion_nodes_match_reference_path() -> None:
    for size in range(1, 131):
        root = ref_mth(0, size)
        for index in range(size):
            nodes = inclusion_nodes(index, size)
            _check_ephemeral(nodes)
            proof = _rehash(nodes)
            assert proof == ref_path(index, 0, size), (index, size)
            verify_inclusion(leaf(index), index, size, proof, root)


def test_consistency_nodes_match_reference_proof() -> None:
    for size2 in range(1, 71):
        root2 = ref_mth(0, size2)
        for size1 in range(1, size2 + 1):
            nodes = consistency_nodes(size1, size2)
            _check_ephemeral(nodes)
            proof = _rehash(nodes)
            assert proof == ref_proof(size1, size2), (size1, size2)
            verify_consistency(size1, size2, proof, ref_mth(0, size1), root2)


def test_proof_nodes_examples() -> None:
    # Leaf 0 of 7: sibling leaf 1, node (1, 1), then the ephemeral [4, 7) = (1, 2) + (0, 6).
    assert inclusion_nodes(0, 7) == ProofNodes(ids=((0, 1), (1, 1), (1, 2), (0, 6)), begin=2, end=4)
    assert inclusion_nodes(6, 7) == ProofNodes(ids=((1, 2), (2, 0)), begin=0, end=0)
    assert consistency_nodes(4, 4) == ProofNodes(ids=(), begin=0, end=0)
    assert consistency_nodes(4, 8) == ProofNodes(ids=((2, 1),), begin=0, end=0)
    assert consistency_nodes(3, 7).ids == ((0, 2), (0, 3), (1, 0), (1, 2), (0, 6))


def test_proof_nodes_reject_bad_arguments() -> None:
    with pytest.raises(ValueError, match="index 5 out of bounds for tree size 3"):
        inclusion_nodes(5, 3)
    with pytest.raises(ValueError, match="index -1 out of bounds for tree size 3"):
        inclusion_nodes(-1, 3)
    with pytest.raises(ValueError, match="0 < size1 <= size2, got 5 and 3"):
        consistency_nodes(5, 3)
    with pytest.raises(ValueError, match="0 < size1 <= size2, got 0 and 3"):
        consistency_nodes(0, 3)
    with pytest.raises(ValueError, match="got 1 hashes but expected 2"):
        inclusion_nodes(0, 3).rehash([leaf(1)])
    with pytest.raises(ValueError, match="does not fit"):
        ProofNodes(ids=((0, 1),), begin=0, end=2)


# --- Verification failures ---------------------------------------------------------------------


def test_verify_inclusion_rejects_bad_sizes_and_lengths() -> None:
    proof = ref_path(2, 0, 5)
    root = ref_mth(0, 5)
    verify_inclusion(leaf(2), 2, 5, proof, root)
    with pytest.raises(VerificationError, match="index 5 out of bounds for tree size 5"):
        verify_inclusion(leaf(2), 5, 5, proof, root)
    with pytest.raises(VerificationError, match="wrong proof size 2, want 3"):
        verify_inclusion(leaf(2), 2, 5, proof[:-1], root)
    with pytest.raises(VerificationError, match="wrong proof size 4, want 3"):
        verify_inclusion(leaf(2), 2, 5, [*proof, root], root)
    with pytest.raises(VerificationError, match="leaf hash has 5 bytes"):
        verify_inclusion(b"leaf2", 2, 5, proof, root)
    with pytest.raises(VerificationError, match=r"proof\[1\] has 0 bytes"):
        verify_inclusion(leaf(2), 2, 5, [proof[0], b"", proof[2]], root)
    with pytest.raises(RootMismatchError, match="for leaf 2 at size 5") as info:
        verify_inclusion(leaf(3), 2, 5, proof, root)
    assert info.value.expected == root
    assert info.value.calculated == root_from_inclusion(leaf(3), 2, 5, proof)


def test_verify_consistency_rejects_bad_sizes_and_lengths() -> None:
    proof = ref_proof(3, 7)
    root1, root2 = ref_mth(0, 3), ref_mth(0, 7)
    verify_consistency(3, 7, proof, root1, root2)
    with pytest.raises(VerificationError, match="size2 \\(3\\) < size1 \\(7\\)"):
        verify_consistency(7, 3, proof, root2, root1)
    with pytest.raises(VerificationError, match="proves nothing"):
        verify_consistency(0, 7, [], EMPTY_ROOT, root2)
    with pytest.raises(VerificationError, match="size1 == size2, but proof has 1 hashes"):
        verify_consistency(7, 7, [root2], root2, root2)
    with pytest.raises(RootMismatchError, match="at size 7"):
        verify_consistency(7, 7, [], root1, root2)
    with pytest.raises(VerificationError, match="empty proof"):
        verify_consistency(3, 7, [], root1, root2)
    with pytest.raises(VerificationError, match="wrong proof size 3, want 4"):
        verify_consistency(3, 7, proof[:-1], root1, root2)
    with pytest.raises(RootMismatchError, match="at size 3"):
        verify_consistency(3, 7, proof, root2, root2)
    with pytest.raises(RootMismatchError, match="at size 7"):
        verify_consistency(3, 7, proof, root1, root1)


# --- Properties at larger sizes ----------------------------------------------------------------


@st.composite
def index_and_size(draw: st.DrawFn) -> tuple[int, int]:
    size = draw(st.integers(min_value=1, max_value=MAX_LEAVES))
    return draw(st.integers(min_value=0, max_value=size - 1)), size


@st.composite
def two_sizes(draw: st.DrawFn) -> tuple[int, int]:
    size2 = draw(st.integers(min_value=2, max_value=MAX_LEAVES))
    return draw(st.integers(min_value=1, max_value=size2 - 1)), size2


def _assert_every_bit_flip_fails(
    proof: Sequence[bytes], check: Callable[[Sequence[bytes]], None], data: st.DataObject
) -> None:
    for i in range(len(proof)):
        bit = data.draw(st.integers(min_value=0, max_value=255), label=f"bit of proof[{i}]")
        tampered = list(proof)
        tampered[i] = flip(proof[i], bit)
        with pytest.raises(VerificationError):
            check(tampered)


@settings(max_examples=100, deadline=None)
@given(index_and_size(), st.data())
def test_inclusion_round_trip(case: tuple[int, int], data: st.DataObject) -> None:
    index, size = case
    root = ref_mth(0, size)
    proof = _rehash(inclusion_nodes(index, size))
    assert proof == ref_path(index, 0, size)
    verify_inclusion(leaf(index), index, size, proof, root)

    def check(p: Sequence[bytes]) -> None:
        verify_inclusion(leaf(index), index, size, p, root)

    _assert_every_bit_flip_fails(proof, check, data)
    with pytest.raises(VerificationError):
        check([*proof, root])
    if proof:
        with pytest.raises(VerificationError):
            check(proof[:-1])


@settings(max_examples=100, deadline=None)
@given(two_sizes(), st.data())
def test_consistency_round_trip(case: tuple[int, int], data: st.DataObject) -> None:
    size1, size2 = case
    root1, root2 = ref_mth(0, size1), ref_mth(0, size2)
    proof = _rehash(consistency_nodes(size1, size2))
    assert proof == ref_proof(size1, size2)
    verify_consistency(size1, size2, proof, root1, root2)

    def check(p: Sequence[bytes]) -> None:
        verify_consistency(size1, size2, p, root1, root2)

    _assert_every_bit_flip_fails(proof, check, data)
    with pytest.raises(VerificationError):
        check([*proof, root1])
    with pytest.raises(VerificationError):
        check(proof[:-1])
