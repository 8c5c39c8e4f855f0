"""Signed notes, checkpoints and witness cosignatures.

Specs:
- C2SP signed-note (https://c2sp.org/signed-note), "Format", "Signatures" and "Ed25519
  signatures": Ed25519 note keys are signature type 0x01, key ID =
  SHA-256(name || 0x0A || 0x01 || public key)[:4].
- Verifier and signer key strings as in Go's golang.org/x/mod/sumdb/note (`NewVerifier`,
  `NewSigner`): `name+hex(key ID)+base64(type || key)`, signer keys prefixed `PRIVATE+KEY+`.
- C2SP tlog-checkpoint (https://c2sp.org/tlog-checkpoint), "Note text".
- C2SP tlog-cosignature (https://c2sp.org/tlog-cosignature), "Format" and "Ed25519 signed
  message": cosignature/v1, signature type 0x04, payload = timestamp (uint64 BE) || signature.

Worked example, a log signs an empty checkpoint and a witness cosigns it:

    >>> log = NoteSigner.generate("heartchain.example/log")
    >>> body = Checkpoint("heartchain.example/log", 0, bytes(32)).to_text()
    >>> note = open_note(sign_note(body, log), [log.verifier])
    >>> Checkpoint.from_text(note.text).size
    0
    >>> witness = CosignatureSigner.generate("witness.example/w1")
    >>> witness.verifier.verify(note.text, witness.cosign(note.text, 1700000000))
    1700000000
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, NewType

import nacl.exceptions
from nacl.signing import SigningKey, VerifyKey

from heartchain.errors import VerificationError

__all__ = [
    "COSIGNATURE_V1_TYPE",
    "ED25519_TYPE",
    "MAX_NOTE_SIZE",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CosignatureSigner",
    "CosignatureVerifier",
    "KeyID",
    "Note",
    "NoteFormatError",
    "NoteSignature",
    "NoteSigner",
    "NoteVerifier",
    "cosignature_message",
    "cosignature_timestamp",
    "open_note",
    "sign_note",
]

KeyID = NewType("KeyID", bytes)

ED25519_TYPE: Final = 0x01
COSIGNATURE_V1_TYPE: Final = 0x04
# signed-note asks verifiers to cap signatures (at least 16 must pass); these caps bound the work
# an untrusted note can cause before any signature is checked.
MAX_NOTE_SIZE: Final = 1 << 20
MAX_SIGNATURES: Final = 100
# tlog-cosignature: the timestamp "MUST NOT exceed 2^63 - 1".
MAX_TIMESTAMP: Final = (1 << 63) - 1
# Tree sizes are uint64 across the ecosystem.
MAX_TREE_SIZE: Final = (1 << 64) - 1

_KEY_ID_SIZE: Final = 4
_ED25519_KEY_SIZE: Final = 32
_ED25519_SIG_SIZE: Final = 64
_TIMESTAMP_SIZE: Final = 8
_SIG_PREFIX: Final = "\u2014 "
_PRIVATE_PREFIX: Final = "PRIVATE+KEY+"
_COSIGNATURE_HEADER: Final = "cosignature/v1\n"

_HEX_KEY_ID_RE: Final = re.compile(r"[0-9a-fA-F]{8}")
_DECIMAL_RE: Final = re.compile(r"0|[1-9][0-9]{0,19}")
# Every ASCII control character except newline (signed-note "Format").
_CONTROL_RE: Final = re.compile(r"[\x00-\x09\x0b-\x1f]")


class NoteFormatError(VerificationError):
    """A note, checkpoint, signature line or key string is malformed."""


def _check_utf8(text: str, what: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:  # lone surrogates survive in str but are not UTF-8
        raise NoteFormatError(f"{what}: not valid UTF-8") from exc


def _check_name(name: str, what: str) -> None:
    _check_utf8(name, what)
    if not name or "+" in name or any(ch.isspace() or ch < " " for ch in name):
        raise NoteFormatError(f"{what}: invalid key name {name!r}")


def _check_line(line: str, what: str) -> None:
    _check_utf8(line, what)
    if not line or "\n" in line or _CONTROL_RE.search(line):
        raise NoteFormatError(f"{what}: must be one non-empty line without control characters")


def _check_text(text: str) -> None:
    raw = _check_utf8(text, "note text")
    if len(raw) > MAX_NOTE_SIZE:
        raise NoteFormatError(f"note text: over {MAX_NOTE_SIZE} bytes")
    if not text.endswith("\n"):
        raise NoteFormatError("note text: must end in a newline")
    if _CONTROL_RE.search(text):
        raise NoteFormatError("note text: contains a control character")


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    try:
        data = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteFormatError(f"{what}: invalid base64") from exc
    # b64decode tolerates non-zero padding bits; insisting on the canonical form keeps parse and
    # format exact inverses, so a re-serialised note is byte for byte the one that was signed.
    if _b64encode(data) != text:
        raise NoteFormatError(f"{what}: non-canonical base64")
    return data


def _key_id(name: str, sig_type: int, public_key: bytes) -> KeyID:
    material = name.encode("utf-8") + b"\n" + bytes([sig_type]) + public_key
    return KeyID(hashlib.sha256(material).digest()[:_KEY_ID_SIZE])


def _key_string(name: str, key_id: KeyID, sig_type: int, key: bytes) -> str:
    return f"{name}+{key_id.hex()}+{_b64encode(bytes([sig_type]) + key)}"


def _parse_key_string(text: str, sig_type: int, what: str) -> tuple[str, KeyID, bytes]:
    """Split `name+hex8+base64(type || key)`; the caller checks the key ID against the key."""
    parts = text.split("+", 2)
    if len(parts) != 3:
        raise NoteFormatError(f"{what}: expected name+keyid+key")
    name, hex_id, encoded = parts
    _check_name(name, what)
    if not _HEX_KEY_ID_RE.fullmatch(hex_id):
        raise NoteFormatError(f"{what}: key ID must be 8 hex digits")
    key = _b64decode(encoded, what)
    if not key or key[0] != sig_type:
        found = f"0x{key[0]:02x}" if key else "none"
        raise NoteFormatError(f"{what}: signature type {found}, expected 0x{sig_type:02x}")
    if len(key) != 1 + _ED25519_KEY_SIZE:
        raise NoteFormatError(f"{what}: key is {len(key) - 1} bytes, not {_ED25519_KEY_SIZE}")
    return name, KeyID(bytes.fromhex(hex_id)), key[1:]


def _check_key_id(name: str, claimed: KeyID, actual: KeyID, what: str) -> None:
    if claimed != actual:
        raise NoteFormatError(
            f"{what}: key ID {claimed.hex()} does not match key of {name} ({actual.hex()})"
        )


def _ed25519_verify(public_key: bytes, message: bytes, signature: bytes) -> bool:
    if len(signature) != _ED25519_SIG_SIZE:
        return False
    try:
        VerifyKey(public_key).verify(message, signature)
    except nacl.exceptions.BadSignatureError:
        return False
    return True


def _signing_key(seed: bytes) -> SigningKey:
    if len(seed) != _ED25519_KEY_SIZE:
        raise ValueError(f"Ed25519 seed must be {_ED25519_KEY_SIZE} bytes, got {len(seed)}")
    return SigningKey(seed)


@dataclass(frozen=True)
class NoteSignature:
    """One signature line: key name, 4-byte key ID and the bytes that follow the key ID."""

    name: str
    key_id: KeyID
    signature: bytes

    def __post_init__(self) -> None:
        _check_name(self.name, "note signature")
        if len(self.key_id) != _KEY_ID_SIZE:
            raise NoteFormatError(f"note signature: key ID must be {_KEY_ID_SIZE} bytes")
        if not self.signature:
            raise NoteFormatError("note signature: shorter than 5 bytes")

    def to_line(self) -> str:
        return f"{_SIG_PREFIX}{self.name} {_b64encode(self.key_id + self.signature)}\n"

    @classmethod
    def from_line(cls, line: str) -> NoteSignature:
        if not line.endswith("\n") or "\n" in line[:-1]:
            raise NoteFormatError("note signature: expected one newline-terminated line")
        if not line.startswith(_SIG_PREFIX):
            raise NoteFormatError("note signature: line must start with an em dash and a space")
        name, space, encoded = line[len(_SIG_PREFIX) : -1].partition(" ")
        if not space or not encoded:
            raise NoteFormatError("note signature: missing signature after the key name")
        _check_name(name, "note signature")
        raw = _b64decode(encoded, "note signature")
        if len(raw) <= _KEY_ID_SIZE:
            raise NoteFormatError("note signature: shorter than 5 bytes")
        return cls(name, KeyID(raw[:_KEY_ID_SIZE]), raw[_KEY_ID_SIZE:])


@dataclass(frozen=True)
class Note:
    """A note text (ending in a newline) and 1..MAX_SIGNATURES signatures, none yet trusted."""

    text: str
    signatures: tuple[NoteSignature, ...]

    def __post_init__(self) -> None:
        _check_text(self.text)
        if not 1 <= len(self.signatures) <= MAX_SIGNATURES:
            raise NoteFormatError(f"note: needs 1..{MAX_SIGNATURES} signatures")

    def to_text(self) -> str:
        return self.text + "\n" + "".join(sig.to_line() for sig in self.signatures)

    @classmethod
    def from_text(cls, note: str | bytes) -> Note:
        """Parse without verifying; use `open_note` to trust the text."""
        if len(note) > MAX_NOTE_SIZE:  # cheap bound before decoding (bytes or code points)
            raise NoteFormatError(f"note: over {MAX_NOTE_SIZE} bytes")
        if isinstance(note, bytes):
            try:
                text = note.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise NoteFormatError("note: not valid UTF-8") from exc
        else:
            text = note
            if len(_check_utf8(text, "note")) > MAX_NOTE_SIZE:
                raise NoteFormatError(f"note: over {MAX_NOTE_SIZE} bytes")
        if _CONTROL_RE.search(text):
            raise NoteFormatError("note: contains a control character")
        # The text may hold blank lines itself; the last blank line starts the signatures.
        split = text.rfind("\n\n")
        if split < 0:
            raise NoteFormatError("note: no blank line before the signatures")
        body, block = text[: split + 1], text[split + 2 :]
        if not block:
            raise NoteFormatError("note: no signature lines")
        if not block.endswith("\n"):
            raise NoteFormatError("note: signature lines must end in a newline")
        lines = block[:-1].split("\n")
        if len(lines) > MAX_SIGNATURES:
            raise NoteFormatError(f"note: more than {MAX_SIGNATURES} signatures")
        return cls(body, tuple(NoteSignature.from_line(line + "\n") for line in lines))


@dataclass(frozen=True)
class NoteVerifier:
    """An Ed25519 (type 0x01) note verifier key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name, "note verifier")
        if len(self.public_key) != _ED25519_KEY_SIZE:
            raise NoteFormatError(f"note verifier: public key must be {_ED25519_KEY_SIZE} bytes")

    @property
    def key_id(self) -> KeyID:
        return _key_id(self.name, ED25519_TYPE, self.public_key)

    @property
    def verifier_key(self) -> str:
        return _key_string(self.name, self.key_id, ED25519_TYPE, self.public_key)

    @classmethod
    def from_verifier_key(cls, text: str) -> NoteVerifier:
        name, key_id, public_key = _parse_key_string(text, ED25519_TYPE, "note verifier key")
        verifier = cls(name, public_key)
        _check_key_id(name, key_id, verifier.key_id, "note verifier key")
        return verifier

    def verify(self, message: bytes, sig: bytes) -> bool:
        return _ed25519_verify(self.public_key, message, sig)


class NoteSigner:
    """An Ed25519 (type 0x01) note signing key. The repr leaves the private key out."""

    __slots__ = ("_key", "_key_id", "_name")

    def __init__(self, name: str, signing_key: SigningKey) -> None:
        _check_name(name, "note signer")
        self._name = name
        self._key = signing_key
        self._key_id = _key_id(name, ED25519_TYPE, bytes(signing_key.verify_key))

    @classmethod
    def generate(cls, name: str) -> NoteSigner:
        return cls(name, SigningKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> NoteSigner:
        return cls(name, _signing_key(seed))

    @classmethod
    def from_signer_key(cls, text: str) -> NoteSigner:
        if not text.startswith(_PRIVATE_PREFIX):
            raise NoteFormatError("note signer key: must start with PRIVATE+KEY+")
        name, key_id, seed = _parse_key_string(
            text.removeprefix(_PRIVATE_PREFIX), ED25519_TYPE, "note signer key"
        )
        signer = cls(name, SigningKey(seed))
        # The key ID hashes the public key, so it can only be checked after deriving it.
        _check_key_id(name, key_id, signer.key_id, "note signer key")
        return signer

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> KeyID:
        return self._key_id

    @property
    def verify_key(self) -> VerifyKey:
        return self._key.verify_key

    @property
    def verifier(self) -> NoteVerifier:
        return NoteVerifier(self._name, bytes(self._key.verify_key))

    @property
    def verifier_key(self) -> str:
        return self.verifier.verifier_key

    @property
    def signer_key(self) -> str:
        """The secret `PRIVATE+KEY+...` string; store it as a secret."""
        seed = bytes(self._key)
        return _PRIVATE_PREFIX + _key_string(self._name, self._key_id, ED25519_TYPE, seed)

    def sign(self, message: bytes) -> bytes:
        return self._key.sign(message).signature

    def __repr__(self) -> str:
        return f"NoteSigner(name={self._name!r}, key_id={self._key_id.hex()})"


def sign_note(text: str, *signers: NoteSigner) -> str:
    """Sign `text` (which must end in a newline) with every signer, in order."""
    if not signers:
        raise ValueError("sign_note needs at least one signer")
    _check_text(text)
    message = text.encode("utf-8")
    sigs = tuple(NoteSignature(s.name, s.key_id, s.sign(message)) for s in signers)
    return Note(text, sigs).to_text()


def open_note(note: str | bytes, verifiers: Sequence[NoteVerifier]) -> Note:
    """Parse `note` and verify it; return it with only the signatures that verified.

    Signatures from unknown keys are ignored (signed-note "Signatures"); a known key's
    signature that fails rejects the whole note, as does a note no known key signed.
    """
    parsed = Note.from_text(note)
    known: dict[tuple[str, bytes], NoteVerifier] = {}
    for candidate in verifiers:
        first = known.setdefault((candidate.name, candidate.key_id), candidate)
        if first.public_key != candidate.public_key:
            raise ValueError(f"ambiguous verifiers for {candidate.name}+{candidate.key_id.hex()}")

    message = parsed.text.encode("utf-8")
    verified: list[NoteSignature] = []
    seen: set[tuple[str, bytes]] = set()
    for sig in parsed.signatures:
        key = (sig.name, sig.key_id)
        verifier = known.get(key)
        # Like Go's note.Open, a key's repeated signature adds nothing and is skipped.
        if verifier is None or key in seen:
            continue
        seen.add(key)
        if not verifier.verify(message, sig.signature):
            raise VerificationError(
                f"note: signature by {sig.name}+{sig.key_id.hex()} does not verify"
            )
        verified.append(sig)
    if not verified:
        raise VerificationError("note: no signature by a known key")
    return Note(parsed.text, tuple(verified))


@dataclass(frozen=True)
class Checkpoint:
    """A checkpoint body: origin, tree size, root hash and optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line(self.origin, "checkpoint origin")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise NoteFormatError(f"checkpoint size: {self.size} out of range 0..2**64-1")
        if len(self.root_hash) != 32:
            raise NoteFormatError(f"checkpoint root hash: {len(self.root_hash)} bytes, not 32")
        for line in self.extensions:
            _check_line(line, "checkpoint extension line")

    def to_text(self) -> str:
        lines = (self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions)
        return "".join(f"{line}\n" for line in lines)

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text (not the signed note: see `open_note`)."""
        if not text.endswith("\n"):
            raise NoteFormatError("checkpoint: text must end in a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise NoteFormatError("checkpoint: needs origin, size and root hash lines")
        origin, size_text, root_text, *extensions = lines
        if not _DECIMAL_RE.fullmatch(size_text):
            raise NoteFormatError(f"checkpoint size: {size_text!r} is not a canonical decimal")
        root_hash = _b64decode(root_text, "checkpoint root hash")
        return cls(origin, int(size_text), root_hash, tuple(extensions))


def _check_timestamp(timestamp: int) -> None:
    if not 0 <= timestamp <= MAX_TIMESTAMP:
        raise ValueError(f"cosignature timestamp {timestamp} out of range 0..2**63-1")


def cosignature_message(checkpoint_text: str, timestamp: int) -> bytes:
    """The bytes a cosignature/v1 signs over the checkpoint note text (without signatures)."""
    _check_timestamp(timestamp)
    # Only well-formed checkpoints are cosigned or checked; this raises NoteFormatError if not.
    Checkpoint.from_text(checkpoint_text)
    return f"{_COSIGNATURE_HEADER}time {timestamp}\n{checkpoint_text}".encode()


def cosignature_timestamp(sig: NoteSignature) -> int:
    """The timestamp of a cosignature/v1 signature (the 8 bytes after the key ID)."""
    if len(sig.signature) != _TIMESTAMP_SIZE + _ED25519_SIG_SIZE:
        raise NoteFormatError(
            f"cosignature: {len(sig.signature)} bytes after the key ID, "
            f"not {_TIMESTAMP_SIZE + _ED25519_SIG_SIZE}"
        )
    timestamp = int.from_bytes(sig.signature[:_TIMESTAMP_SIZE], "big")
    if timestamp > MAX_TIMESTAMP:
        raise NoteFormatError(f"cosignature: timestamp {timestamp} exceeds 2**63-1")
    return timestamp


@dataclass(frozen=True)
class CosignatureVerifier:
    """A cosignature/v1 (type 0x04) Ed25519 verifier key."""

    name: str
    public_key: bytes

    def __post_init__(self) -> None:
        _check_name(self.name, "cosignature verifier")
        if len(self.public_key) != _ED25519_KEY_SIZE:
            raise NoteFormatError(
                f"cosignature verifier: public key must be {_ED25519_KEY_SIZE} bytes"
            )

    @property
    def key_id(self) -> KeyID:
        return _key_id(self.name, COSIGNATURE_V1_TYPE, self.public_key)

    @property
    def verifier_key(self) -> str:
        return _key_string(self.name, self.key_id, COSIGNATURE_V1_TYPE, self.public_key)

    @classmethod
    def from_verifier_key(cls, text: str) -> CosignatureVerifier:
        what = "cosignature verifier key"
        name, key_id, public_key = _parse_key_string(text, COSIGNATURE_V1_TYPE, what)
        verifier = cls(name, public_key)
        _check_key_id(name, key_id, verifier.key_id, what)
        return verifier

    def verify(self, checkpoint_text: str, sig: NoteSignature) -> int:
        """Check `sig` over the checkpoint note text; return its timestamp or raise."""
        if sig.name != self.name or sig.key_id != self.key_id:
            raise VerificationError(
                f"cosignature: made by {sig.name}+{sig.key_id.hex()}, "
                f"not {self.name}+{self.key_id.hex()}"
            )
        timestamp = cosignature_timestamp(sig)
        message = cosignature_message(checkpoint_text, timestamp)
        if not _ed25519_verify(self.public_key, message, sig.signature[_TIMESTAMP_SIZE:]):
            raise VerificationError(
                f"cosignature: signature by {self.name} at time {timestamp} does not verify"
            )
        return timestamp


class CosignatureSigner:
    """A cosignature/v1 (type 0x04) Ed25519 signing key. The repr leaves the private key out."""

    __slots__ = ("_key", "_key_id", "_name")

    def __init__(self, name: str, signing_key: SigningKey) -> None:
        _check_name(name, "cosignature signer")
        self._name = name
        self._key = signing_key
        self._key_id = _key_id(name, COSIGNATURE_V1_TYPE, bytes(signing_key.verify_key))

    @classmethod
    def generate(cls, name: str) -> CosignatureSigner:
        return cls(name, SigningKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> CosignatureSigner:
        return cls(name, _signing_key(seed))

    @property
    def name(self) -> str:
        return self._name

    @property
    def key_id(self) -> KeyID:
        return self._key_id

    @property
    def seed(self) -> bytes:
        """The 32-byte private seed; store it as a secret."""
        return bytes(self._key)

    @property
    def verifier(self) -> CosignatureVerifier:
        return CosignatureVerifier(self._name, bytes(self._key.verify_key))

    @property
    def verifier_key(self) -> str:
        return self.verifier.verifier_key

    def cosign(self, checkpoint_text: str, timestamp: int) -> NoteSignature:
        """Cosign the checkpoint note text (without signatures) as of `timestamp` (POSIX s)."""
        message = cosignature_message(checkpoint_text, timestamp)
        signature = self._key.sign(message).signature
        return NoteSignature(
            self._name, self._key_id, timestamp.to_bytes(_TIMESTAMP_SIZE, "big") + signature
        )

    def __repr__(self) -> str:
        return f"CosignatureSigner(name={self._name!r}, key_id={self._key_id.hex()})"
