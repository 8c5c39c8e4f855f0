"""Merkle tree math for the log: hashes, proofs and the compact range (RFC 9162 §2.1).

Pure and storage-free, after transparency-dev/merkle: `inclusion_nodes` and `consistency_nodes`
say *which* stored perfect-subtree nodes a proof needs, storage fetches their hashes (from tiles),
and `ProofNodes.rehash` turns them into the RFC 9162 proof. Verifiers return `None` or raise
`VerificationError`.

- §2.1.1 hashing: `leaf_hash` = SHA-256(0x00 || data), `node_hash` = SHA-256(0x01 || l || r),
  and the empty tree's root is SHA-256("").
- §2.1.3 inclusion proofs (PATH), §2.1.4 consistency proofs (PROOF/SUBPROOF); the verification
  algorithms are §2.1.3.2 and §2.1.4.2, written as in Go's `proof.VerifyInclusion` and
  `proof.VerifyConsistency`.

Node IDs are `(level, index)`: level 0 holds the leaves, and node `(l, i)` is the root of the
perfect subtree over leaves `[i * 2**l, (i + 1) * 2**l)`.

Worked example, a tree of three leaves:

    >>> r = CompactRange()
    >>> for data in (b"a", b"b", b"c"):
    ...     _ = r.append(leaf_hash(data))
    >>> nodes = inclusion_nodes(2, 3)
    >>> nodes.ids
    ((1, 0),)
    >>> ab = node_hash(leaf_hash(b"a"), leaf_hash(b"b"))
    >>> verify_inclusion(leaf_hash(b"c"), 2, 3, nodes.rehash([ab]), r.root())
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NewType, TypeAlias

from heartchain.errors import RootMismatchError, VerificationError

__all__ = [
    "EMPTY_ROOT",
    "CompactRange",
    "Hash",
    "NodeID",
    "ProofNodes",
    "consistency_nodes",
    "fold_range",
    "inclusion_nodes",
    "leaf_hash",
    "node_hash",
    "range_nodes",
    "root_from_inclusion",
    "verify_consistency",
    "verify_inclusion",
]

Hash = NewType("Hash", bytes)
NodeID: TypeAlias = tuple[int, int]

HASH_SIZE = 32
# Domain separation prefixes (RFC 9162 §2.1.1): a leaf can never be passed off as an inner node.
LEAF_PREFIX = b"\x00"
NODE_PREFIX = b"\x01"

EMPTY_ROOT = Hash(hashlib.sha256(b"").digest())


def leaf_hash(data: bytes) -> Hash:
    """MTH({d}) = SHA-256(0x00 || d)."""
    return Hash(hashlib.sha256(LEAF_PREFIX + data).digest())


def node_hash(left: bytes, right: bytes) -> Hash:
    """SHA-256(0x01 || left || right)."""
    return Hash(hashlib.sha256(NODE_PREFIX + left + right).digest())


@dataclass(frozen=True)
class ProofNodes:
    """Which stored perfect-subtree nodes a proof needs (like transparency-dev/merkle proof.Nodes).

    `ids[begin:end]` are the perfect subtrees, left to right, that cover an incomplete subtree on
    the right border of the tree; the proof holds their folded hash rather than each of them.
    `begin == end` when there is no such node.

    >>> inclusion_nodes(0, 7)
    ProofNodes(ids=((0, 1), (1, 1), (1, 2), (0, 6)), begin=2, end=4)
    """

    ids: tuple[NodeID, ...]
    begin: int
    end: int

    def __post_init__(self) -> None:
        if not 0 <= self.begin <= self.end <= len(self.ids):
            raise ValueError(
                f"ephemeral range [{self.begin}, {self.end}) does not fit {len(self.ids)} ids"
            )

    def rehash(self, hashes: Sequence[bytes]) -> list[Hash]:
        """Given the hashes of `ids` (same order), return the RFC 9162 proof hash list."""
        if len(hashes) != len(self.ids):
            raise ValueError(f"got {len(hashes)} hashes but expected {len(self.ids)}")
        _check_hashes(hashes, "node hash")
        proof = [Hash(bytes(h)) for h in hashes[: self.begin]]
        if self.begin < self.end:
            proof.append(fold_range(hashes[self.begin : self.end]))
        proof.extend(Hash(bytes(h)) for h in hashes[self.end :])
        return proof


def inclusion_nodes(index: int, size: int) -> ProofNodes:
    """The nodes of the inclusion proof for leaf `index` in a tree of `size` leaves (§2.1.3.1)."""
    if not 0 <= index < size:
        raise ValueError(f"index {index} out of bounds for tree size {size}")
    return _skip_first(_nodes(index, 0, size))


def consistency_nodes(size1: int, size2: int) -> ProofNodes:
    """The nodes of the consistency proof from `size1` to `size2` leaves (§2.1.4.1).

    `size1` must be positive: every tree is an extension of the empty one, so a proof from size 0
    would prove nothing and verifiers reject it.
    """
    if not 0 < size1 <= size2:
        raise ValueError(f"consistency needs 0 < size1 <= size2, got {size1} and {size2}")
    if size1 == size2:
        return ProofNodes(ids=(), begin=0, end=0)
    # Start from the largest perfect subtree that ends at size1; the proof is its inclusion
    # path in the tree of size2.
    level = _trailing_zeros(size1)
    index = (size1 - 1) >> level
    nodes = _nodes(index, level, size2)
    # When size1 is a power of two that subtree is the old root, which the verifier already has.
    return _skip_first(nodes) if index == 0 else nodes


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check that `leaf` (a leaf hash) is at `index` in the tree of `size` leaves with `root`.

    Returns `None` or raises `VerificationError` (`RootMismatchError` if the path leads elsewhere);
    bad sizes are verification failures too, since they arrive with the proof.
    """
    calculated = root_from_inclusion(leaf, index, size, proof)
    if calculated != root:
        raise RootMismatchError(root, calculated, context=f"for leaf {index} at size {size}")


def root_from_inclusion(leaf: bytes, index: int, size: int, proof: Sequence[bytes]) -> Hash:
    """The root that an inclusion proof for `leaf` (a leaf hash) at `index` leads to (§2.1.3.2)."""
    if not 0 <= index < size:
        raise VerificationError(f"index {index} out of bounds for tree size {size}")
    if len(leaf) != HASH_SIZE:
        raise VerificationError(f"leaf hash has {len(leaf)} bytes, want {HASH_SIZE}")
    inner, border = _decompose_inclusion(index, size)
    if len(proof) != inner + border:
        raise VerificationError(f"wrong proof size {len(proof)}, want {inner + border}")
    _check_proof(proof)
    calculated = _chain_inner(leaf, proof[:inner], index)
    return _chain_border_right(calculated, proof[inner:])


def verify_consistency(
    size1: int, size2: int, proof: Sequence[bytes], root1: bytes, root2: bytes
) -> None:
    """Check that the tree of `size2` leaves with `root2` extends the one with `root1` (§2.1.4.2).

    Returns `None` or raises `VerificationError` (`RootMismatchError` if a root differs).
    """
    if size1 <= 0:
        raise VerificationError(f"consistency from tree size {size1} proves nothing")
    if size2 < size1:
        raise VerificationError(f"size2 ({size2}) < size1 ({size1})")
    if size1 == size2:
        if proof:
            raise VerificationError(f"size1 == size2, but proof has {len(proof)} hashes")
        if root1 != root2:
            raise RootMismatchError(root2, root1, context=f"at size {size2}")
        return
    if not proof:
        raise VerificationError("empty proof")

    # The proof is the inclusion path of the last perfect subtree of the old tree, cut below
    # that subtree's level (`shift`).
    inner, border = _decompose_inclusion(size1 - 1, size2)
    shift = _trailing_zeros(size1)
    inner -= shift
    # The proof leads with that subtree's hash, unless it is the whole old tree.
    start = 0 if size1 == 1 << shift else 1
    if len(proof) != start + inner + border:
        raise VerificationError(f"wrong proof size {len(proof)}, want {start + inner + border}")
    seed = root1 if start == 0 else proof[0]
    rest = proof[start:]
    _check_proof(proof)

    mask = (size1 - 1) >> shift
    hash1 = _chain_border_right(_chain_inner_right(seed, rest[:inner], mask), rest[inner:])
    if hash1 != root1:
        raise RootMismatchError(root1, hash1, context=f"at size {size1}")
    hash2 = _chain_border_right(_chain_inner(seed, rest[:inner], mask), rest[inner:])
    if hash2 != root2:
        raise RootMismatchError(root2, hash2, context=f"at size {size2}")


def range_nodes(size: int) -> list[NodeID]:
    """The perfect subtrees that decompose `[0, size)`, left to right (largest first).

    >>> range_nodes(7)
    [(2, 0), (1, 2), (0, 6)]
    """
    if size < 0:
        raise ValueError(f"negative tree size {size}")
    return _range_nodes(0, size)


def fold_range(hashes: Sequence[bytes]) -> Hash:
    """The root over the hashes of `range_nodes(size)`: fold right to left; EMPTY_ROOT for []."""
    if not hashes:
        return EMPTY_ROOT
    root = Hash(bytes(hashes[-1]))
    for h in reversed(hashes[:-1]):
        root = node_hash(h, root)
    return root


class CompactRange:
    """The right border of a tree of `size` leaves: hashes of range_nodes(size).

    Appending a leaf returns every perfect-subtree node that becomes complete, so storage can
    persist them (tiles).

    >>> r = CompactRange()
    >>> [node for node, _ in r.append(leaf_hash(b"a"))]
    [(0, 0)]
    >>> [node for node, _ in r.append(leaf_hash(b"b"))]
    [(0, 1), (1, 0)]
    """

    __slots__ = ("_hashes", "_size")

    def __init__(self, size: int = 0, hashes: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError(f"negative tree size {size}")
        if len(hashes) != size.bit_count():
            raise ValueError(
                f"tree size {size} needs {size.bit_count()} border hashes, got {len(hashes)}"
            )
        _check_hashes(hashes, "border hash")
        self._size = size
        self._hashes = [Hash(bytes(h)) for h in hashes]

    @property
    def size(self) -> int:
        return self._size

    @property
    def hashes(self) -> list[Hash]:
        return list(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[NodeID, Hash]]:
        """Add a leaf hash; return the nodes it completes, from the leaf itself upwards."""
        _check_hashes((leaf,), "leaf hash")
        index = self._size
        h = Hash(bytes(leaf))
        completed: list[tuple[NodeID, Hash]] = [((0, index), h)]
        # Each trailing one bit of the old size is a perfect subtree the new leaf now pairs with.
        level = 0
        while (index >> level) & 1:
            h = node_hash(self._hashes.pop(), h)
            level += 1
            completed.append(((level, index >> level), h))
        self._hashes.append(h)
        self._size += 1
        return completed

    def root(self) -> Hash:
        return fold_range(self._hashes)

    def copy(self) -> CompactRange:
        return CompactRange(self._size, self._hashes)

    def __repr__(self) -> str:
        return f"CompactRange(size={self._size}, root={self.root().hex()})"


def _nodes(index: int, level: int, size: int) -> ProofNodes:
    """The proof nodes for node (level, index), that node first (Go's `proof.nodes`).

    The path from (level, index) up to the root parts from the tree's right border at the `fork`
    node. Below the fork the proof takes one sibling per level; the fork's right sibling may be
    incomplete (ephemeral), so it is given as the perfect subtrees covering it; above the fork come
    the perfect subtrees to its left, lowest level first as the proof lists them.
    """
    inner = (index ^ (size >> level)).bit_length() - 1
    fork_level = level + inner
    fork_index = index >> inner
    begin = fork_index << fork_level
    end = (fork_index + 1) << fork_level

    ids: list[NodeID] = [(level, index)]
    ids.extend((lvl, (index >> (lvl - level)) ^ 1) for lvl in range(level, fork_level))
    ephemeral_begin = len(ids)
    ids.extend(_range_nodes(end, size))
    ephemeral_end = len(ids)
    ids.extend(reversed(_range_nodes(0, begin)))
    if ephemeral_begin == ephemeral_end:
        ephemeral_begin = ephemeral_end = 0
    return ProofNodes(ids=tuple(ids), begin=ephemeral_begin, end=ephemeral_end)


def _skip_first(nodes: ProofNodes) -> ProofNodes:
    """Drop the seed node, which the verifier already has."""
    begin, end = nodes.begin, nodes.end
    if begin < end:
        begin, end = begin - 1, end - 1
    return ProofNodes(ids=nodes.ids[1:], begin=begin, end=end)


def _range_nodes(begin: int, end: int) -> list[NodeID]:
    """The perfect subtrees that decompose [begin, end), left to right."""
    left: list[NodeID] = []
    right: list[NodeID] = []
    # Both ends stay multiples of 2**level, so a set bit at `level` is a whole subtree that fits.
    level = 0
    while begin < end:
        size = 1 << level
        if begin & size:
            left.append((level, begin >> level))
            begin += size
        if end & size:
            end -= size
            right.append((level, end >> level))
        level += 1
    return left + right[::-1]


def _decompose_inclusion(index: int, size: int) -> tuple[int, int]:
    """How many proof hashes are below the fork (`inner`) and left of it (`border`)."""
    inner = (index ^ (size - 1)).bit_length()
    border = (index >> inner).bit_count()
    return inner, border


def _chain_inner(seed: bytes, proof: Sequence[bytes], index: int) -> Hash:
    h = Hash(bytes(seed))
    for i, sibling in enumerate(proof):
        h = node_hash(h, sibling) if (index >> i) & 1 == 0 else node_hash(sibling, h)
    return h


def _chain_inner_right(seed: bytes, proof: Sequence[bytes], index: int) -> Hash:
    """Like `_chain_inner`, but only left siblings: the path as it was in the old tree."""
    h = Hash(bytes(seed))
    for i, sibling in enumerate(proof):
        if (index >> i) & 1:
            h = node_hash(sibling, h)
    return h


def _chain_border_right(seed: bytes, proof: Sequence[bytes]) -> Hash:
    h = Hash(bytes(seed))
    for sibling in proof:
        h = node_hash(sibling, h)
    return h


def _trailing_zeros(n: int) -> int:
    return (n & -n).bit_length() - 1


def _check_proof(proof: Sequence[bytes]) -> None:
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise VerificationError(f"proof[{i}] has {len(h)} bytes, want {HASH_SIZE}")


def _check_hashes(hashes: Sequence[bytes], what: str) -> None:
    for h in hashes:
        if len(h) != HASH_SIZE:
            raise ValueError(f"{what} has {len(h)} bytes, want {HASH_SIZE}")
