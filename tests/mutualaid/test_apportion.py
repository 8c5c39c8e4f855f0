"""Apportionment math: exact sums, caps, no negative balances; the share tree and its proofs."""

from __future__ import annotations

import hashlib

import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from heartchain.keys import address_of, new_signing_key
from heartchain.ledger import merkle
from heartchain.mutualaid import apportion

balances = st.lists(st.integers(min_value=1, max_value=50_000), max_size=60)


@given(payouts=st.integers(min_value=1, max_value=10**9), fee_bp=st.integers(0, 10_000),
       carry_in=st.integers(0, 10**6), cap=st.integers(1, 10_000), cases=st.integers(1, 20),
       balances=balances)
def test_split_sums_exactly_and_respects_caps(payouts: int, fee_bp: int, carry_in: int,
                                              cap: int, cases: int, balances: list[int]) -> None:
    s = apportion.split(payouts=payouts, fee_bp=fee_bp, carry_in=carry_in, member_cap=cap,
                        cases=cases, balances=balances)
    assert s.fee == payouts * fee_bp // 10_000
    assert s.payouts + s.fee + s.carry_in == s.collected + s.carry
    assert s.collected == sum(s.shares) and s.carry >= 0
    for paid, balance in zip(s.shares, balances, strict=True):
        assert 0 <= paid <= min(balance, cap * cases)
        assert balance - paid >= 0
    if balances and s.share * len(balances) <= s.target and s.share < cap * cases:
        assert s.target - s.share * len(balances) < len(balances)  # remainder < n fen


def reference_root(leaves: list[bytes]) -> bytes:
    """RFC 9162 §2.1.1 MTH, recursively, straight from the text."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return leaves[0]
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return merkle.node_hash(reference_root(leaves[:k]), reference_root(leaves[k:]))


def test_leaf_data_is_canonical_json() -> None:
    member = address_of(new_signing_key())
    assert apportion.leaf_data(member, 12, 463) == rfc8785.dumps(
        {"share": 463, "period": 12, "member": member})
    others = [address_of(new_signing_key()) for _ in range(3)]
    # In a batch: the share, or the whole balance when it is below the share.
    assert apportion.leaves_of([m.encode() for m in others], 12, 463, [None, 100, 463]) == [
        apportion.leaf_data(others[0], 12, 463), apportion.leaf_data(others[1], 12, 100),
        apportion.leaf_data(others[2], 12, 463)]


@given(payouts=st.integers(min_value=1, max_value=10**9), fee_bp=st.integers(0, 10_000),
       carry_in=st.integers(0, 10**6), cap=st.integers(1, 10_000), cases=st.integers(1, 20),
       balances=balances)
def test_totals_from_aggregates_equal_split(payouts: int, fee_bp: int, carry_in: int, cap: int,
                                            cases: int, balances: list[int]) -> None:
    rule = {"payouts": payouts, "fee_bp": fee_bp, "carry_in": carry_in, "member_cap": cap,
            "cases": cases}
    s = apportion.split(balances=balances, **rule)
    share = apportion.share_for(members=len(balances), **rule)
    t = apportion.totals(members=len(balances), short=sum(1 for b in balances if b < share),
                         short_sum=sum(b for b in balances if b < share),
                         lapsed=sum(1 for b in balances if b <= share), **rule)
    assert share == s.share == t.share
    assert (t.payouts, t.fee, t.carry_in, t.target, t.members, t.collected, t.carry) == (
        s.payouts, s.fee, s.carry_in, s.target, s.members, s.collected, s.carry)


@settings(max_examples=40)
@given(st.integers(min_value=0, max_value=700), st.lists(st.integers(1, 300), max_size=6))
def test_share_tree_root_tiles_pages_and_proofs(size: int, batches: list[int]) -> None:
    members = [f"hc1p{i:058d}" for i in range(size)]
    shares = [i % 7 for i in range(size)]
    data = [apportion.leaf_data(m, 3, s) for m, s in zip(members, shares, strict=True)]
    leaves = apportion.leaf_hashes(members, 3, shares)
    assert leaves == [merkle.leaf_hash(d) for d in data]
    tree = apportion.ShareTree(leaves)
    builder = apportion.TreeBuilder()
    start = 0
    for n in [*batches, size]:  # fed in uneven batches
        builder.add(data[start:start + n])
        start += n
    summary = builder.finish()
    assert summary == apportion.summarize(data)
    assert tree.root() == summary.root == reference_root(leaves)
    assert summary.tiles == [t for t in tree.tiles()
                             if t[0] >= 1 or (size % 256 and t[1] == size // 256)]
    # The hot path: members who pay the share (6 here), and those whose balance is below it.
    low = [s if s < 6 else None for s in shares]
    addresses = [m.encode() for m in members]
    assert apportion.leaf_hashes_of(addresses, 3, 6, low) == leaves
    pages = apportion.pages_of(addresses, 3, 6, low)
    assert b"\n".join(pages) == b"\n".join(data)
    assert [len(p.split(b"\n")) for p in pages] == [min(256, size - i)
                                                    for i in range(0, size, 256)]
    stored = {(level, index): hashes for level, index, hashes in summary.tiles}
    for n, page in enumerate(pages):
        assert apportion.page_member(page) == members[n * 256]
        assert stored.setdefault((0, n), apportion.page_hashes(page)) == apportion.page_hashes(
            page)
    for i in {0, size // 2, size - 1} if size else set():
        nodes = merkle.inclusion_nodes(i, size)
        proof = nodes.rehash(apportion.nodes_from_tiles(nodes.ids, stored))
        assert proof == tree.proof(i)
        merkle.verify_inclusion(leaves[i], i, size, proof, summary.root)


def test_examples_of_the_remainder_rule() -> None:
    # 10,000 fen over 3 members: 3,333 each, 1 fen carried to the next period.
    s = apportion.split(payouts=10_000, fee_bp=0, carry_in=0, member_cap=10_000, cases=1,
                        balances=[50_000] * 3)
    assert (s.share, s.collected, s.carry) == (3_333, 9_999, 1)
    # The carried fen is added to the next target: 1 + 2 = 3 over 3 members, nothing left.
    t = apportion.split(payouts=2, fee_bp=0, carry_in=s.carry, member_cap=10_000, cases=1,
                        balances=[1_000] * 3)
    assert (t.share, t.carry) == (1, 0)
    # 8% of 1,234 fen is 98.72: the fee is 98.
    assert apportion.fee_of(1_234, 800) == 98
