"""The C2SP tlog-witness wire format, shared by the witness and the log (pure).

Spec: C2SP tlog-witness (https://c2sp.org/tlog-witness), "add-checkpoint". A request body is an
`old <size>` line, up to 63 base64 consistency-proof lines, an empty line and the signed
checkpoint note; a 409 for a stale `old` carries the witness's size as `text/x.tlog.size`.

    >>> body = format_request(3, [bytes(32)], "o\\n4\\nAAAA\\n\\n— o AAAAAAA=\\n")
    >>> body.splitlines()[:3]
    ['old 3', 'AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=', '']
    >>> parse_request(body.encode()).old_size
    3
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from heartchain.errors import ValidationError

__all__ = [
    "MAX_BODY_SIZE",
    "MAX_PROOF_LINES",
    "SIZE_CONTENT_TYPE",
    "AddCheckpoint",
    "MalformedRequest",
    "format_request",
    "format_size",
    "parse_request",
    "parse_size",
]

SIZE_CONTENT_TYPE: Final = "text/x.tlog.size"
# "The client MUST NOT send more than 63 consistency proof lines."
MAX_PROOF_LINES: Final = 63
# A checkpoint note is a few hundred bytes; the cap bounds what an anonymous POST can cost.
MAX_BODY_SIZE: Final = 128 * 1024

_HASH_SIZE: Final = 32
_DECIMAL_RE: Final = re.compile(r"0|[1-9][0-9]{0,19}")


class MalformedRequest(ValidationError):
    """The body is not an add-checkpoint request (HTTP 400)."""


@dataclass(frozen=True)
class AddCheckpoint:
    old_size: int
    proof: tuple[bytes, ...]
    note: str  # the signed checkpoint note, signature lines included


def format_request(old_size: int, proof: Sequence[bytes], note: str) -> str:
    if old_size < 0:
        raise ValueError(f"negative old size {old_size}")
    if len(proof) > MAX_PROOF_LINES:
        raise ValueError(f"{len(proof)} proof hashes; tlog-witness allows {MAX_PROOF_LINES}")
    lines = "".join(base64.b64encode(h).decode("ascii") + "\n" for h in proof)
    return f"old {old_size}\n{lines}\n{note}"


def parse_request(body: bytes) -> AddCheckpoint:
    if len(body) > MAX_BODY_SIZE:
        raise MalformedRequest(f"body: over {MAX_BODY_SIZE} bytes")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise MalformedRequest("body: not valid UTF-8") from exc
    # Proof lines are never empty, so the first blank line ends them; the note has its own.
    end = text.find("\n\n")
    if end < 0:
        raise MalformedRequest("body: no empty line after the old size and proof lines")
    head, note = text[:end].split("\n"), text[end + 2:]
    old_line, proof_lines = head[0], head[1:]
    if not old_line.startswith("old ") or not _DECIMAL_RE.fullmatch(old_line[4:]):
        raise MalformedRequest("body: the first line must be `old <size>` in canonical decimal")
    old_size = int(old_line[4:])
    if old_size >= 1 << 64:
        raise MalformedRequest("body: old size exceeds 2**64-1")
    if len(proof_lines) > MAX_PROOF_LINES:
        raise MalformedRequest(f"body: more than {MAX_PROOF_LINES} consistency proof lines")
    proof = tuple(_decode_hash(line, i) for i, line in enumerate(proof_lines))
    if not note:
        raise MalformedRequest("body: no checkpoint after the empty line")
    return AddCheckpoint(old_size, proof, note)


def _decode_hash(line: str, position: int) -> bytes:
    try:
        digest = base64.b64decode(line, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise MalformedRequest(f"proof line {position}: invalid base64") from exc
    if len(digest) != _HASH_SIZE or base64.b64encode(digest).decode("ascii") != line:
        raise MalformedRequest(f"proof line {position}: not a canonical base64 SHA-256 hash")
    return digest


def format_size(size: int) -> str:
    """The body of a 409 answer: the witness's latest cosigned size."""
    return f"{size}\n"


def parse_size(body: str) -> int:
    """Read a `text/x.tlog.size` body; raise ValidationError if it is not one."""
    line = body[:-1] if body.endswith("\n") else body
    if not _DECIMAL_RE.fullmatch(line):
        raise ValidationError(f"text/x.tlog.size: {body[:40]!r} is not a decimal size")
    return int(line)
