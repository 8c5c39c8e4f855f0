"""C2SP tlog-proof@v1 receipts (heartchain/ledger/receipts.py): the spec's example, and
verification against a tree, log key and witness keys built here."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from heartchain.errors import VerificationError
from heartchain.keys import new_signing_key
from heartchain.ledger import merkle
from heartchain.ledger.entries import new_entry
from heartchain.ledger.notes import Checkpoint, CosignatureSigner, NoteSigner, sign_note
from heartchain.ledger.receipts import (
    HEADER,
    Receipt,
    ReceiptFormatError,
    SharePath,
    TlogProof,
    TrustPolicy,
    verify_receipt,
    verify_update,
)

# The example in C2SP tlog-proof.md, "Transparency Log Proofs" (its signatures are elided there
# with "[...]", so it is a vector for the envelope, not for signature verification).
SPEC_EXAMPLE = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u2014 example.com/fancylog hI2DJw[...]1roloI=
\u2014 witness1.example mJirIklj[...]qY9v2B/5bg==
\u2014 witness2.example TnKKVHLX[...]xwYwrSjgow==
\u2014 witness3.example S4X82uH5[...]3oEcROGLFQ==
"""

ORIGIN = "receipts.test/log"


def test_spec_example_parses_and_round_trips() -> None:
    proof = TlogProof.from_text(SPEC_EXAMPLE)
    assert proof.index == 73894
    assert proof.extra is not None and proof.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    first = base64.b64encode(proof.hashes[0]).decode()
    assert first == "gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ="
    assert len(proof.hashes) == 5
    assert proof.checkpoint.startswith("example.com/fancylog\n109482\n")
    assert proof.checkpoint.endswith("3oEcROGLFQ==\n")
    assert proof.to_text() == SPEC_EXAMPLE


@pytest.mark.parametrize("broken", [
    SPEC_EXAMPLE.replace("c2sp.org/tlog-proof@v1", "c2sp.org/tlog-proof@v2"),
    SPEC_EXAMPLE.replace("index 73894", "index 073894"),
    SPEC_EXAMPLE.replace("index 73894", "index -1"),
    SPEC_EXAMPLE.replace("index 73894\n", ""),
    SPEC_EXAMPLE.replace("gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=", "gSKy"),
    SPEC_EXAMPLE.replace("gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=", "not base64!"),
    SPEC_EXAMPLE.replace("\n\nexample.com", "\nexample.com"),
])
def test_malformed_envelopes_are_refused(broken: str) -> None:
    with pytest.raises(ReceiptFormatError):
        TlogProof.from_text(broken)


def _path(index: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.3.1 PATH(m, D[n]), written out recursively (independent of merkle.py)."""
    if len(leaves) == 1:
        return []
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    if index < k:
        return [*_path(index, leaves[:k]), _root(leaves[k:])]
    return [*_path(index - k, leaves[k:]), _root(leaves[:k])]


def _root(leaves: list[bytes]) -> bytes:
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1 << ((len(leaves) - 1).bit_length() - 1)
    return hashlib.sha256(b"\x01" + _root(leaves[:k]) + _root(leaves[k:])).digest()


class Fixture:
    def __init__(self, count: int = 11) -> None:
        self.log = NoteSigner.generate(ORIGIN)
        self.witnesses = [CosignatureSigner.generate(f"w{i}.receipts.test") for i in (1, 2)]
        key = new_signing_key()
        now = datetime.now(UTC).replace(microsecond=0)
        self.entries = [new_entry("donation.record", {"n": i, "note": "善款"}, at=now)
                        .signed_by(key).leaf_data for i in range(count)]

    def policy(self, required: int = 2) -> TrustPolicy:
        return TrustPolicy(self.log.verifier, tuple(w.verifier for w in self.witnesses), required)

    def note(self, size: int, *, cosigners: list[CosignatureSigner] | None = None) -> str:
        body = Checkpoint(ORIGIN, size, _root(self.entries[:size])).to_text()
        note = sign_note(body, self.log)
        for witness in self.witnesses if cosigners is None else cosigners:
            note += witness.cosign(body, 1_700_000_000).to_line()
        return note

    def receipt(self, index: int, size: int | None = None, **options: object) -> str:
        size = len(self.entries) if size is None else size
        leaves = self.entries[:size]
        return Receipt(self.entries[index], index, tuple(_path(index, leaves)),
                       self.note(size, **options)).to_text()  # type: ignore[arg-type]


def test_a_receipt_verifies_and_says_who_cosigned() -> None:
    fixture = Fixture()
    text = fixture.receipt(6)
    assert text.startswith(HEADER + "\nextra ")
    verified = verify_receipt(text, fixture.policy())
    assert verified.index == 6 and verified.checkpoint.size == 11
    assert [name for name, _ in verified.cosigned_by] == ["w1.receipts.test", "w2.receipts.test"]
    assert verified.document["body"] == {"n": 6, "note": "善款"}


def _edit_entry(text: str) -> str:
    receipt = Receipt.from_text(text)
    return replace(receipt, entry=receipt.entry.replace(b'"n":6', b'"n":7')).to_text()


def _change_proof_line(text: str) -> str:
    lines = text.split("\n")
    raw = bytearray(base64.b64decode(lines[3]))
    raw[0] ^= 1
    lines[3] = base64.b64encode(bytes(raw)).decode()
    return "\n".join(lines)


def _forge_cosignature(text: str) -> str:
    lines = text.split("\n")
    position = next(i for i, line in enumerate(lines) if line.startswith("\u2014 w2."))
    name, encoded = lines[position].rsplit(" ", 1)
    raw = bytearray(base64.b64decode(encoded))
    raw[-1] ^= 1
    lines[position] = f"{name} {base64.b64encode(bytes(raw)).decode()}"
    return "\n".join(lines)


def test_edits_are_caught() -> None:
    fixture = Fixture()
    text = fixture.receipt(6)
    policy = fixture.policy()
    for edited in (_edit_entry(text), _change_proof_line(text), _forge_cosignature(text)):
        with pytest.raises(VerificationError):
            verify_receipt(edited, policy)
    dropped = fixture.receipt(6, cosigners=fixture.witnesses[:1])
    with pytest.raises(VerificationError, match="1 of 2 required"):
        verify_receipt(dropped, policy)
    assert verify_receipt(dropped, fixture.policy(required=1)).cosigned_by[0][0] == (
        "w1.receipts.test")
    other_log = TrustPolicy(NoteSigner.generate(ORIGIN).verifier, policy.witnesses, 2)
    with pytest.raises(VerificationError, match="no signature by a known key"):
        verify_receipt(text, other_log)


def test_an_unknown_witness_line_is_ignored_and_extension_lines_are_kept() -> None:
    fixture = Fixture()
    stranger = CosignatureSigner.generate("stranger.test")
    body = Checkpoint(ORIGIN, 11, _root(fixture.entries), ("audit 42",)).to_text()
    note = sign_note(body, fixture.log) + "".join(
        w.cosign(body, 1_700_000_001).to_line() for w in [*fixture.witnesses, stranger])
    text = Receipt(fixture.entries[3], 3, tuple(_path(3, fixture.entries)), note).to_text()
    verified = verify_receipt(text, fixture.policy())
    assert verified.checkpoint.extensions == ("audit 42",)
    assert len(verified.cosigned_by) == 2


def test_update_needs_a_consistency_proof_between_the_checkpoints() -> None:
    fixture = Fixture()
    policy = fixture.policy()
    old = verify_receipt(fixture.receipt(2, size=5), policy)
    new = verify_receipt(fixture.receipt(2), policy)
    old_root, new_root = old.checkpoint.root_hash, new.checkpoint.root_hash
    hashes = _consistency(5, fixture.entries)
    merkle.verify_consistency(5, 11, hashes, old_root, new_root)
    verify_update(old, new, hashes)
    with pytest.raises(VerificationError):
        verify_update(old, new, [hashes[0][::-1], *hashes[1:]])
    with pytest.raises(VerificationError, match="different entries"):
        verify_update(old, verify_receipt(fixture.receipt(3), policy), hashes)


def _consistency(size1: int, leaves: list[bytes]) -> list[bytes]:
    """RFC 9162 §2.1.4.1 SUBPROOF(m, D[n], true), written out recursively."""
    def subproof(m: int, d: list[bytes], complete: bool) -> list[bytes]:
        if m == len(d):
            return [] if complete else [_root(d)]
        k = 1 << ((len(d) - 1).bit_length() - 1)
        if m <= k:
            return [*subproof(m, d[:k], complete), _root(d[k:])]
        return [*subproof(m - k, d[k:], False), _root(d[:k])]

    return subproof(size1, leaves, True)


def test_a_share_receipt_proves_the_leaf_under_the_entry_share_root() -> None:
    fixture = Fixture(count=3)
    leaves = [json.dumps({"member": f"m{i}", "period": 4, "share": 100 + i},
                         separators=(",", ":")).encode() for i in range(5)]
    key = new_signing_key()
    apportion = new_entry("period.apportion", {"period": 4, "members": 5,
                                                "share_root": _root(leaves).hex()},
                          at=datetime.now(UTC)).signed_by(key).leaf_data
    fixture.entries.append(apportion)
    share = SharePath(leaves[3], 3, 5, tuple(_path(3, leaves)))
    base = Receipt(apportion, 3, tuple(_path(3, fixture.entries)), fixture.note(4), share)
    verified = verify_receipt(base.to_text(), fixture.policy())
    assert verified.share == {"member": "m3", "period": 4, "share": 103}
    forged = replace(base, share=replace(share, leaf=leaves[3].replace(b"103", b"1")))
    with pytest.raises(VerificationError):
        verify_receipt(forged.to_text(), fixture.policy())
    resized = replace(base, share=replace(share, size=6))
    with pytest.raises(VerificationError, match="members"):
        verify_receipt(resized.to_text(), fixture.policy())
