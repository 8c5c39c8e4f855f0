"""recordDonation answers from what its batch's integration handed back: no read of the donation
row, the entry or its tiles after the write (issue 17), and the same answer as a read would give."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from heartchain.ledger import merkle
from heartchain.ledger.reader import BatchProofs, LogReader
from tests.conftest import Ledger, gql
from tests.tokens.factories import charity, member, token
from tokens import services

EVERY_COLUMN = """
fragment EveryColumn on Donation { index charity donor kind unit quantity campaign receipt hearts
  rateVersion recordedAt reversedIndex reversalReason refundIndex refundHearts }"""
RECORD = """mutation($donor: String!) {
  recordDonation(donor: $donor, kind: "cash", quantity: 250, campaign: "winter-2026") {
    __typename ... on DonationRecorded {
      donation { ...EveryColumn entry { index leafHash } }
      entry { index leafHash integratedAt data
              inclusionProof { treeSize hashes checkpoint { rootHash size } } } } } }""" \
    + EVERY_COLUMN
READ = """query($index: Int64!) { donation(index: $index) { ...EveryColumn } }""" + EVERY_COLUMN


def _unread(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("read back after the write")


async def test_record_donation_reads_nothing_back(ledger: Ledger, client: httpx.AsyncClient,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    giver = await charity(ledger)
    donor = await member(ledger)
    bearer = await token(ledger, giver)
    monkeypatch.setattr(services, "get_donation", _unread)
    monkeypatch.setattr(LogReader, "get_entries", _unread)
    monkeypatch.setattr(LogReader, "read_nodes", _unread)
    monkeypatch.setattr(LogReader, "latest_checkpoint", _unread)
    answer = (await gql(client, RECORD, {"donor": donor}, bearer))["data"]["recordDonation"]
    monkeypatch.undo()

    assert answer["__typename"] == "DonationRecorded"
    donation, entry = answer["donation"], answer["entry"]
    row = await services.get_donation(entry["index"])
    assert (donation["index"], donation["donor"], donation["hearts"], donation["rateVersion"],
            donation["recordedAt"], donation["reversedIndex"]) == \
        (row.idx, row.donor, row.hearts, row.rate_version, row.recorded_at, None)
    assert donation["entry"] == {"index": entry["index"], "leafHash": entry["leafHash"]}
    read = (await gql(client, READ, {"index": entry["index"]}))["data"]["donation"]
    assert {k: v for k, v in donation.items() if k != "entry"} == read  # every column
    stored = await ledger.platform.log.get_entry(entry["index"])
    assert entry["data"] == stored.data.decode()
    assert entry["integratedAt"] == stored.integrated_at
    proof = entry["inclusionProof"]
    signed = await ledger.platform.log.checkpoint_at(proof["treeSize"])
    assert base64.b64decode(proof["checkpoint"]["rootHash"]) == signed.root_hash
    merkle.verify_inclusion(stored.leaf_hash, entry["index"], proof["treeSize"],
                            [base64.b64decode(h) for h in proof["hashes"]], signed.root_hash)
    assert [base64.b64decode(h) for h in proof["hashes"]] == \
        await ledger.platform.log.inclusion_proof(entry["index"], proof["treeSize"])


@settings(max_examples=60, deadline=None)
@given(before=st.integers(0, 600), added=st.integers(1, 300))
def test_batch_proofs_need_only_the_border_and_the_batch(before: int, added: int) -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(4, "big")) for i in range(before + added)]
    frontier = merkle.CompactRange()
    for leaf in leaves[:before]:
        frontier.append(leaf)
    nodes = dict(zip(merkle.range_nodes(before), frontier.hashes, strict=True))
    for leaf in leaves[before:]:
        nodes.update(frontier.append(leaf))
    root = frontier.root()

    class Signed:
        size = before + added

    proofs = BatchProofs(Signed(), nodes)  # type: ignore[arg-type]
    for index in range(before, before + added):
        proof = proofs.inclusion_proof(index)
        assert proof is not None, index
        merkle.verify_inclusion(leaves[index], index, before + added, proof, root)
