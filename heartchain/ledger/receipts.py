"""Receipts a donor can carry away: C2SP tlog-proof@v1 files, built, parsed and verified offline.

Spec: C2SP tlog-proof (https://c2sp.org/tlog-proof), "Format": the line
`c2sp.org/tlog-proof@v1`, an optional `extra <base64>` line, `index <n>` (decimal, no leading
zeros), the RFC 6962 inclusion proof one base64 hash per line (leaf's sibling first), an empty
line, then the checkpoint note verbatim (tlog-checkpoint, with its cosignature lines).

A heartchain receipt is one such file (`.tlog-proof`). Its `extra` carries what is needed to
rebuild the record hash, as the spec suggests: base64 of the canonical JSON object

    {"entry": "<the entry's canonical JSON, as a string>"}

and, for a mutual-aid share (which is a leaf of the share tree inside a period.apportion entry),
also `"share": {"hashes": [<base64>...], "leaf": "<leaf JSON>", "position": p, "size": n}`.
Nothing in `extra` is trusted: the entry's leaf hash SHA-256(0x00 || entry) must be proved at
`index` under the signed root, and the share leaf must be proved under the entry's share_root.

    >>> proof = TlogProof(index=0, hashes=(), checkpoint="o\\n1\\n" + "A" * 43 + "=\\n\\n— o x\\n")
    >>> TlogProof.from_text(proof.to_text()) == proof
    True
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from heartchain.errors import HeartchainError, VerificationError
from heartchain.ledger import merkle
from heartchain.ledger.entries import parse_entry, verify_signatures
from heartchain.ledger.notes import (
    MAX_NOTE_SIZE,
    Checkpoint,
    CosignatureVerifier,
    Note,
    NoteVerifier,
    open_note,
)

__all__ = [
    "HEADER",
    "MAX_RECEIPT_SIZE",
    "Receipt",
    "ReceiptFormatError",
    "SharePath",
    "TlogProof",
    "TrustPolicy",
    "Verified",
    "verify_receipt",
    "verify_update",
]

HEADER: Final = "c2sp.org/tlog-proof@v1"
# A proof line per tree level (at most 64) and an entry of at most 65,535 bytes as base64, plus
# the checkpoint note: a bound before any parsing of untrusted input.
MAX_RECEIPT_SIZE: Final = 256 * 1024 + MAX_NOTE_SIZE
_MAX_PROOF_HASHES: Final = 64
_DECIMAL_RE: Final = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX_ROOT_RE: Final = re.compile(r"[0-9a-f]{64}")
APPORTION_KIND: Final = "period.apportion"


class ReceiptFormatError(VerificationError):
    """A receipt (or its extra data) is malformed."""


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _unb64(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ReceiptFormatError(f"{what}: invalid base64") from exc
    if _b64(data) != text:  # canonical only, so parse and format are exact inverses
        raise ReceiptFormatError(f"{what}: non-canonical base64")
    return data


@dataclass(frozen=True)
class TlogProof:
    """The tlog-proof@v1 envelope: nothing in it is verified yet."""

    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str  # the signed note, verbatim, with any cosignature lines
    extra: bytes | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.index < 1 << 64:
            raise ReceiptFormatError(f"index {self.index} out of range")
        if len(self.hashes) > _MAX_PROOF_HASHES or any(len(h) != 32 for h in self.hashes):
            raise ReceiptFormatError("inclusion proof: at most 64 hashes of 32 bytes")
        if not self.checkpoint.endswith("\n") or "\n\n" not in self.checkpoint:
            raise ReceiptFormatError("checkpoint: must be a signed note ending in a newline")

    def to_text(self) -> str:
        lines = [HEADER]
        if self.extra is not None:
            lines.append(f"extra {_b64(self.extra)}")
        lines.append(f"index {self.index}")
        lines.extend(_b64(h) for h in self.hashes)
        return "\n".join(lines) + "\n\n" + self.checkpoint

    @classmethod
    def from_text(cls, text: str | bytes) -> TlogProof:
        if len(text) > MAX_RECEIPT_SIZE:
            raise ReceiptFormatError(f"receipt: over {MAX_RECEIPT_SIZE} bytes")
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise ReceiptFormatError("receipt: not valid UTF-8") from exc
        head, blank, checkpoint = text.partition("\n\n")
        if not blank:
            raise ReceiptFormatError("receipt: no empty line before the checkpoint")
        lines = head.split("\n")
        if lines[0] != HEADER:
            raise ReceiptFormatError(f"receipt: first line must be {HEADER}")
        position = 1
        extra = None
        if len(lines) > 1 and lines[1].startswith("extra "):
            extra = _unb64(lines[1][len("extra "):], "extra")
            position = 2
        if len(lines) <= position or not lines[position].startswith("index "):
            raise ReceiptFormatError("receipt: expected an `index N` line")
        index_text = lines[position][len("index "):]
        if not _DECIMAL_RE.fullmatch(index_text):
            raise ReceiptFormatError(f"index: {index_text!r} is not a canonical decimal")
        hash_lines = lines[position + 1:]
        if len(hash_lines) > _MAX_PROOF_HASHES:
            raise ReceiptFormatError("inclusion proof: more than 64 hashes")
        hashes = []
        for number, line in enumerate(hash_lines):
            raw = _unb64(line, f"inclusion proof line {number + 1}")
            if len(raw) != 32:
                raise ReceiptFormatError(f"inclusion proof line {number + 1}: not 32 bytes")
            hashes.append(raw)
        return cls(int(index_text), tuple(hashes), checkpoint, extra)


@dataclass(frozen=True)
class SharePath:
    """A mutual-aid share leaf and its RFC 9162 inclusion proof in the period's share tree."""

    leaf: bytes
    position: int
    size: int
    hashes: tuple[bytes, ...]

    def to_json(self) -> dict[str, Any]:
        return {"hashes": [_b64(h) for h in self.hashes], "leaf": self.leaf.decode("utf-8"),
                "position": self.position, "size": self.size}

    @classmethod
    def from_json(cls, value: Any) -> SharePath:
        if not isinstance(value, dict) or set(value) != {"hashes", "leaf", "position", "size"}:
            raise ReceiptFormatError("extra.share: expected {hashes, leaf, position, size}")
        hashes, leaf = value["hashes"], value["leaf"]
        position, size = value["position"], value["size"]
        if (not isinstance(hashes, list) or len(hashes) > _MAX_PROOF_HASHES
                or not all(isinstance(h, str) for h in hashes)):
            raise ReceiptFormatError("extra.share.hashes: expected a list of base64 hashes")
        if not isinstance(leaf, str):
            raise ReceiptFormatError("extra.share.leaf: expected a string")
        if type(position) is not int or type(size) is not int or not 0 <= position < size:
            raise ReceiptFormatError("extra.share: position must be in 0..size-1")
        decoded = tuple(_unb64(h, "extra.share.hashes") for h in hashes)
        if any(len(h) != 32 for h in decoded):
            raise ReceiptFormatError("extra.share.hashes: not 32 bytes")
        return cls(leaf.encode("utf-8"), position, size, decoded)


def _canonical(value: Any) -> bytes:
    # Only strings, small integers, lists and objects: sorted keys and no whitespace is RFC 8785.
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


@dataclass(frozen=True)
class Receipt:
    """An entry's canonical bytes, where it is in the log, and the checkpoint that proves it."""

    entry: bytes
    index: int
    hashes: tuple[bytes, ...]
    checkpoint: str
    share: SharePath | None = None

    def to_proof(self) -> TlogProof:
        extra: dict[str, Any] = {"entry": self.entry.decode("utf-8")}
        if self.share is not None:
            extra["share"] = self.share.to_json()
        return TlogProof(self.index, self.hashes, self.checkpoint, _canonical(extra))

    def to_text(self) -> str:
        return self.to_proof().to_text()

    @classmethod
    def from_text(cls, text: str | bytes) -> Receipt:
        proof = TlogProof.from_text(text)
        if proof.extra is None:
            raise ReceiptFormatError("receipt: no extra line carrying the entry")
        try:
            extra = json.loads(proof.extra.decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
            raise ReceiptFormatError(f"extra: not JSON: {exc}") from exc
        if not isinstance(extra, dict) or not {"entry"} <= set(extra) <= {"entry", "share"}:
            raise ReceiptFormatError("extra: expected {entry} or {entry, share}")
        if not isinstance(extra["entry"], str):
            raise ReceiptFormatError("extra.entry: expected the entry's canonical JSON")
        share = SharePath.from_json(extra["share"]) if "share" in extra else None
        try:
            entry = extra["entry"].encode("utf-8")
        except UnicodeEncodeError as exc:
            raise ReceiptFormatError("extra.entry: not valid UTF-8") from exc
        return cls(entry, proof.index, proof.hashes, proof.checkpoint, share)


@dataclass(frozen=True)
class TrustPolicy:
    """The keys a verifier trusts: the log's, the witnesses', and how many must cosign."""

    log: NoteVerifier
    witnesses: tuple[CosignatureVerifier, ...] = ()
    required: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.required <= len(self.witnesses):
            raise ValueError(f"policy: {self.required} of {len(self.witnesses)} witnesses")


@dataclass(frozen=True)
class Verified:
    """What a receipt proved."""

    receipt: Receipt
    checkpoint: Checkpoint
    cosigned_by: tuple[tuple[str, int], ...]  # (witness key name, cosignature time)
    document: dict[str, Any]  # the entry as JSON
    share: dict[str, Any] | None  # the share leaf as JSON

    @property
    def index(self) -> int:
        return self.receipt.index


def _cosigners(note: Note, policy: TrustPolicy) -> tuple[tuple[str, int], ...]:
    by_key = {(w.name, w.key_id): w for w in policy.witnesses}
    found: dict[str, int] = {}
    for sig in note.signatures:
        witness = by_key.get((sig.name, sig.key_id))
        if witness is None or witness.name in found:
            continue  # not a trusted witness key (signed-note: ignore unknown signatures)
        # A trusted key's cosignature that fails rejects the receipt, as a bad log signature does.
        found[witness.name] = witness.verify(note.text, sig)
    return tuple(found.items())


def verify_receipt(text: str | bytes, policy: TrustPolicy) -> Verified:
    """Check the log signature, the cosignatures under `policy`, the entry's inclusion at its
    index, the entry's own signatures and (for a share) the share's inclusion; raise
    VerificationError naming the first failure."""
    receipt = Receipt.from_text(text)
    note = open_note(receipt.checkpoint, [policy.log])
    checkpoint = Checkpoint.from_text(note.text)
    if checkpoint.origin != policy.log.name:
        raise VerificationError(f"checkpoint origin {checkpoint.origin!r} is not the log "
                                f"{policy.log.name!r}")
    parsed = Note.from_text(receipt.checkpoint)
    cosigned_by = _cosigners(parsed, policy)
    if len(cosigned_by) < policy.required:
        names = ", ".join(name for name, _ in cosigned_by) or "none"
        raise VerificationError(f"witness policy not met: {len(cosigned_by)} of "
                                f"{policy.required} required cosignatures ({names})")
    merkle.verify_inclusion(merkle.leaf_hash(receipt.entry), receipt.index, checkpoint.size,
                            receipt.hashes, checkpoint.root_hash)
    try:
        entry = parse_entry(receipt.entry)
        verify_signatures(entry, entry.signers)
    except VerificationError:
        raise
    except HeartchainError as exc:  # proved in the log yet malformed: say so, typed
        raise VerificationError(f"entry: {exc}") from exc
    document = json.loads(receipt.entry)
    share = _verify_share(receipt.share, document) if receipt.share is not None else None
    return Verified(receipt, checkpoint, cosigned_by, document, share)


def _verify_share(share: SharePath, document: dict[str, Any]) -> dict[str, Any]:
    if document.get("kind") != APPORTION_KIND:
        raise VerificationError(f"share: the entry is {document.get('kind')!r}, "
                                f"not {APPORTION_KIND}")
    body = document["body"]
    root = body.get("share_root")
    if not isinstance(root, str) or not _HEX_ROOT_RE.fullmatch(root):
        raise VerificationError("share: the entry records no share_root")
    if body.get("members") != share.size:
        raise VerificationError(f"share: tree of {share.size} leaves, the entry says "
                                f"{body.get('members')} members")
    merkle.verify_inclusion(merkle.leaf_hash(share.leaf), share.position, share.size,
                            share.hashes, bytes.fromhex(root))
    try:
        leaf = json.loads(share.leaf)
    except json.JSONDecodeError as exc:
        raise VerificationError("share: the leaf is not JSON") from exc
    if not isinstance(leaf, dict) or leaf.get("period") != body.get("period"):
        raise VerificationError("share: the leaf is for another period")
    return leaf


def verify_update(old: Verified, new: Verified, consistency: Sequence[bytes]) -> None:
    """`new` keeps `old` current: the same entry at the same index, and a consistency proof
    from old's checkpoint to new's (RFC 9162 §2.1.4), so the log never forked between them."""
    if old.index != new.index or old.receipt.entry != new.receipt.entry:
        raise VerificationError("update: the receipts are for different entries")
    if new.checkpoint.origin != old.checkpoint.origin:
        raise VerificationError("update: the receipts are from different logs")
    if new.checkpoint.size < old.checkpoint.size:
        raise VerificationError(f"update: checkpoint {new.checkpoint.size} is older than "
                                f"{old.checkpoint.size}")
    merkle.verify_consistency(old.checkpoint.size, new.checkpoint.size, consistency,
                              old.checkpoint.root_hash, new.checkpoint.root_hash)
