"""The entry envelope (DESIGN §2): canonical bytes, Ed25519 signatures, size and value limits.

An entry is a JSON object serialized with RFC 8785 (JCS)::

    {"v":1,"kind":"donation.record","at":"2026-11-21T08:00:00.000Z","nonce":"<base64 16 bytes>",
     "body":{...},"sigs":[{"by":"hc1...","sig":"<base64 Ed25519>"}]}

Each signer signs ``b"heartchain/entry/v1\\n" + JCS(entry without "sigs")``. The leaf data is
``JCS(entry with sigs)``, at most 65,535 bytes (tlog-tiles bundles use a uint16 length). There are
no floats anywhere, and integers stay inside JSON's safe range (|n| < 2**53), which is what JCS
can represent exactly.
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cached_property
from typing import Any

import msgspec
import nacl.exceptions
import rfc8785
from nacl.signing import SigningKey

from heartchain.errors import Conflict, PermissionDenied, ValidationError
from heartchain.keys import Address, address_of, verify_key_of
from heartchain.ledger import merkle

ENTRY_VERSION = 1
SIGNING_PREFIX = b"heartchain/entry/v1\n"
MAX_ENTRY_BYTES = 65_535
MAX_SIGNERS = 8
NONCE_BYTES = 16
MAX_SAFE_INT = 2**53 - 1
CLOCK_SKEW = timedelta(minutes=5)
_MAX_DEPTH = 16

_KIND_RE = re.compile(r"[a-z][a-z_]*(\.[a-z][a-z_]*)+")
_AT_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z")
_ENVELOPE_KEYS = frozenset({"v", "kind", "at", "nonce", "body", "sigs"})
_SORTED_JSON = msgspec.json.Encoder(order="sorted")


class EntryFormatError(ValidationError):
    """The bytes are not a well-formed, canonical entry."""


def _check_value(value: Any, path: str, depth: int = 0) -> None:
    """Reject what JCS cannot carry exactly (floats, huge ints) and what JSON cannot carry."""
    if depth > _MAX_DEPTH:
        raise EntryFormatError(f"{path}: nested too deeply", field=path)
    if value is None or isinstance(value, (bool, str)):
        return
    if isinstance(value, int):
        if not -MAX_SAFE_INT <= value <= MAX_SAFE_INT:
            raise EntryFormatError(f"{path}: integer {value} outside ±(2**53 - 1)", field=path)
        return
    if isinstance(value, float):
        raise EntryFormatError(f"{path}: floats are not allowed; use integer units", field=path)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                raise EntryFormatError(f"{path}: object keys must be strings", field=path)
            _check_value(item, f"{path}.{key}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for position, item in enumerate(value):
            _check_value(item, f"{path}[{position}]", depth + 1)
        return
    raise EntryFormatError(f"{path}: {type(value).__name__} is not a JSON value", field=path)


def canonical_json(value: Any) -> bytes:
    """RFC 8785 bytes of a value already checked by `_check_value`.

    With no floats and safe integers, JCS is sorted-key compact JSON without ASCII escaping,
    except that JCS sorts keys by UTF-16 code units and msgspec (like Python) by code points:
    the two orders differ only for characters beyond U+FFFF, whose UTF-8 starts with a byte
    of 0xF0 or more. Without any, msgspec's sorted form is exact (a tenth of json.dumps' time,
    which was 3% of a request's CPU: every entry is canonicalized to be signed and hashed); the
    general form handles the rest. tests/ledger/test_entries.py checks both against rfc8785.
    """
    try:
        data = _SORTED_JSON.encode(value)
    except UnicodeEncodeError as exc:  # a lone surrogate from a "\ud800" escape
        raise EntryFormatError("entry: text is not valid Unicode") from exc
    if data.isascii() or max(data) < 0xF0:
        return data
    return bytes(rfc8785.dumps(value))


def jcs(value: Any) -> bytes:
    """RFC 8785 bytes of any JSON value: `canonical_json`'s fast form when `value` holds no float
    and no integer beyond ±(2**53 - 1) (documents this service builds), else the rfc8785
    package's (which also refuses what JCS cannot carry)."""
    try:
        _check_value(value, "value")
    except EntryFormatError:
        return bytes(rfc8785.dumps(value))
    return canonical_json(value)


@dataclass(frozen=True)
class Signature:
    by: Address
    sig: bytes

    def to_json(self) -> dict[str, str]:
        return {"by": self.by, "sig": base64.b64encode(self.sig).decode()}


@dataclass(frozen=True)
class Entry:
    kind: str
    at: str
    nonce: str
    body: Mapping[str, Any]
    sigs: tuple[Signature, ...] = ()
    v: int = ENTRY_VERSION
    _leaf: bytes | None = field(default=None, compare=False, repr=False)

    def unsigned_json(self) -> dict[str, Any]:
        return {"v": self.v, "kind": self.kind, "at": self.at, "nonce": self.nonce,
                "body": self.body}

    def to_json(self) -> dict[str, Any]:
        return {**self.unsigned_json(), "sigs": [s.to_json() for s in self.sigs]}

    @cached_property
    def signing_bytes(self) -> bytes:
        return SIGNING_PREFIX + canonical_json(self.unsigned_json())

    @cached_property
    def leaf_data(self) -> bytes:
        return self._leaf if self._leaf is not None else canonical_json(self.to_json())

    @cached_property
    def leaf_hash(self) -> bytes:
        """The RFC 9162 leaf hash of `leaf_data`: once, by whoever has a spare core (the
        import's and verify's worker processes compute it before sending the entry back)."""
        return merkle.leaf_hash(self.leaf_data)

    @cached_property  # asked several times per entry by the integrator
    def signers(self) -> tuple[Address, ...]:
        return tuple(s.by for s in self.sigs)

    @cached_property
    def at_datetime(self) -> datetime:
        return parse_time(self.at)

    def signed_by(self, *keys: SigningKey) -> Entry:
        """This entry with signatures by `keys` appended, in the order given."""
        return self._with_sigs(tuple(
            Signature(address_of(k), bytes(k.sign(self.signing_bytes).signature)) for k in keys))

    def require_room_for(self, *signers: Address) -> None:
        """Raise what `signed_by` would if `signers` signed this entry next, without signing:
        a signature's encoding has one length whatever its bytes."""
        self._with_sigs(tuple(Signature(by, bytes(64)) for by in signers))

    def _with_sigs(self, added: tuple[Signature, ...]) -> Entry:
        sigs = self.sigs + added
        signed = Entry(self.kind, self.at, self.nonce, self.body, sigs, self.v,
                       _with_signatures(self.signing_bytes[len(SIGNING_PREFIX):], sigs))
        if len(signed.leaf_data) > MAX_ENTRY_BYTES:
            raise EntryFormatError(
                f"entry: {len(signed.leaf_data)} bytes exceeds the {MAX_ENTRY_BYTES}-byte limit")
        return signed


_LAST_KEY = b',"v":1}'


def _with_signatures(unsigned: bytes, sigs: tuple[Signature, ...]) -> bytes | None:
    """The leaf data from the canonical unsigned bytes, without encoding the body again: JCS
    sorts "sigs" between "nonce" and "v", the last key, and a signature's two members are ASCII
    (bech32 and base64), so they need no escaping. None when the bytes end otherwise."""
    if not unsigned.endswith(_LAST_KEY):
        return None
    listed = b",".join(b'{"by":"%s","sig":"%s"}' % (s.by.encode(), base64.b64encode(s.sig))
                       for s in sigs)
    return unsigned[:-len(_LAST_KEY)] + b',"sigs":[' + listed + b"]" + _LAST_KEY


@functools.lru_cache(maxsize=256)  # rules format their batch's one `now` once per entry
def format_time(moment: datetime) -> str:
    """`at` format: UTC, millisecond precision, trailing Z."""
    m = moment.astimezone(UTC)  # fields formatted directly: strftime cost more than the rest
    return (f"{m.year:04d}-{m.month:02d}-{m.day:02d}T{m.hour:02d}:{m.minute:02d}:{m.second:02d}."
            f"{m.microsecond // 1000:03d}Z")


def parse_time(text: str) -> datetime:
    if not isinstance(text, str):
        raise _not_a_time(text)
    return _parse_at(text)


def _not_a_time(text: object) -> EntryFormatError:
    return EntryFormatError(f"at: expected YYYY-MM-DDTHH:MM:SS.mmmZ, got {text!r}", field="at")


@functools.lru_cache(maxsize=256)  # a batch's entries mostly share a few `at` values
def _parse_at(text: str) -> datetime:
    if not _AT_RE.fullmatch(text):
        raise _not_a_time(text)
    try:
        return datetime.fromisoformat(text)  # the regex above pins the one accepted form
    except ValueError as exc:
        raise EntryFormatError(f"at: not a real time: {text!r}", field="at") from exc


def new_entry(kind: str, body: Mapping[str, Any], *, at: datetime,
              nonce: bytes | None = None) -> Entry:
    """An unsigned entry; sign it with `Entry.signed_by`."""
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise EntryFormatError(f"kind: malformed kind {kind!r}", field="kind")
    if not isinstance(body, Mapping):
        raise EntryFormatError("body: must be an object", field="body")
    _check_value(body, "body")
    raw_nonce = os.urandom(NONCE_BYTES) if nonce is None else nonce
    if len(raw_nonce) != NONCE_BYTES:
        raise EntryFormatError(f"nonce: must be {NONCE_BYTES} bytes", field="nonce")
    return Entry(kind, format_time(at), base64.b64encode(raw_nonce).decode(), dict(body))


def _reject_constant(name: str) -> Any:
    raise EntryFormatError(f"entry: {name} is not allowed")


def _reject_float(text: str) -> Any:
    raise EntryFormatError(f"entry: floats are not allowed ({text}); use integer units")


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise EntryFormatError(f"entry: duplicate key {key!r}")
        result[key] = value
    return result


def _b64(text: Any, what: str, size: int) -> bytes:
    if not isinstance(text, str):
        raise EntryFormatError(f"{what}: must be a base64 string", field=what)
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise EntryFormatError(f"{what}: invalid base64", field=what) from exc
    if len(raw) != size or base64.b64encode(raw).decode() != text:
        raise EntryFormatError(f"{what}: must be canonical base64 of {size} bytes", field=what)
    return raw


def parse_entry(data: bytes | str) -> Entry:
    """Parse leaf data strictly: canonical JCS, the exact envelope, no floats, within limits."""
    raw = data.encode() if isinstance(data, str) else bytes(data)
    if len(raw) > MAX_ENTRY_BYTES:
        raise EntryFormatError(f"entry: {len(raw)} bytes exceeds the {MAX_ENTRY_BYTES}-byte limit")
    try:
        obj = json.loads(raw.decode("utf-8"), parse_float=_reject_float,
                         parse_constant=_reject_constant, object_pairs_hook=_no_duplicate_keys)
    except EntryFormatError:
        raise
    except (ValueError, RecursionError) as exc:
        # ValueError covers JSONDecodeError, UnicodeDecodeError and an integer beyond Python's
        # 4,300-digit parsing limit (which is not a JSONDecodeError).
        raise EntryFormatError(f"entry: malformed JSON: {str(exc)[:200]}") from exc
    if not isinstance(obj, dict):
        raise EntryFormatError("entry: must be a JSON object")
    if set(obj) != _ENVELOPE_KEYS:
        missing = sorted(_ENVELOPE_KEYS - set(obj))
        extra = sorted(set(obj) - _ENVELOPE_KEYS)
        raise EntryFormatError(f"entry: envelope keys wrong (missing {missing}, extra {extra})")
    if obj["v"] is not ENTRY_VERSION and not (type(obj["v"]) is int and obj["v"] == ENTRY_VERSION):
        raise EntryFormatError(f"v: unsupported version {obj['v']!r}", field="v")
    kind = obj["kind"]
    if not isinstance(kind, str) or not _KIND_RE.fullmatch(kind):
        raise EntryFormatError(f"kind: malformed kind {kind!r}", field="kind")
    parse_time(obj["at"])
    _b64(obj["nonce"], "nonce", NONCE_BYTES)
    if not isinstance(obj["body"], dict):
        raise EntryFormatError("body: must be an object", field="body")
    _check_value(obj["body"], "body")
    sigs_json = obj["sigs"]
    if not isinstance(sigs_json, list) or not 1 <= len(sigs_json) <= MAX_SIGNERS:
        raise EntryFormatError(f"sigs: must list 1 to {MAX_SIGNERS} signatures", field="sigs")
    sigs: list[Signature] = []
    for position, item in enumerate(sigs_json):
        if not isinstance(item, dict) or set(item) != {"by", "sig"}:
            raise EntryFormatError(f"sigs[{position}]: must be {{by, sig}}", field="sigs")
        verify_key_of(item["by"])
        sigs.append(Signature(Address(item["by"]), _b64(item["sig"], f"sigs[{position}].sig", 64)))
    if len({s.by for s in sigs}) != len(sigs):
        raise EntryFormatError("sigs: a signer appears twice", field="sigs")
    entry = Entry(kind, obj["at"], obj["nonce"], obj["body"], tuple(sigs), ENTRY_VERSION, raw)
    if canonical_json(entry.to_json()) != raw:
        raise EntryFormatError("entry: not in canonical RFC 8785 form")
    return entry


def verify_signatures(entry: Entry, required: Sequence[str]) -> None:
    """Exactly the required signers, in order, each signature valid; raise otherwise."""
    signers = list(entry.signers)
    if signers != list(required):
        missing = [a for a in required if a not in signers]
        extra = [a for a in signers if a not in required]
        if missing:
            raise PermissionDenied(f"sigs: missing signature by {', '.join(missing)}")
        if extra:
            raise PermissionDenied(f"sigs: unexpected signature by {', '.join(extra)}")
        raise ValidationError(f"sigs: must be in the order {list(required)}", field="sigs")
    message = entry.signing_bytes
    for signature in entry.sigs:
        try:
            verify_key_of(signature.by).verify(message, signature.sig)
        except nacl.exceptions.BadSignatureError as exc:
            raise PermissionDenied(f"sigs: signature by {signature.by} does not verify") from exc


def check_clock(entry: Entry, now: datetime, skew: timedelta = CLOCK_SKEW) -> None:
    """The signer's clock must be within `skew` of the log's clock at integration."""
    offset = entry.at_datetime - now
    if abs(offset) > skew:
        raise ValidationError(
            f"at: {entry.at} is {abs(offset).total_seconds():.0f} s from the log clock "
            f"{format_time(now)} (limit {skew.total_seconds():.0f} s)", field="at")


class ReplayError(Conflict):
    """The (signer, nonce) pair was already used."""
