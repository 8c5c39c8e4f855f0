from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from heartchain.errors import VerificationError
from heartchain.ledger.notes import (
    MAX_NOTE_SIZE,
    MAX_SIGNATURES,
    Checkpoint,
    CosignatureSigner,
    CosignatureVerifier,
    KeyID,
    Note,
    NoteFormatError,
    NoteSignature,
    NoteSigner,
    NoteVerifier,
    cosignature_message,
    cosignature_timestamp,
    open_note,
    sign_note,
)

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "c2sp.json"
VECTORS: dict[str, Any] = json.loads(VECTORS_PATH.read_text(encoding="utf-8"))
SIGNED = VECTORS["signed_note"]
GO = VECTORS["go_sumdb_note"]
COSIGNED = VECTORS["cosigned_checkpoint"]

# Fixed seeds keep failures reproducible; Ed25519 is deterministic.
LOG = NoteSigner.from_seed("heartchain.example/log", bytes(range(32)))
OTHER = NoteSigner.from_seed("heartchain.example/other", bytes(range(1, 33)))
WITNESS = CosignatureSigner.from_seed("witness.example/w1", bytes(range(2, 34)))
BODY = Checkpoint("heartchain.example/log", 3, bytes(range(32))).to_text()


def _flip_last_signature_byte(note: str) -> str:
    head, _, last = note[:-1].rpartition(" ")
    raw = bytearray(base64.b64decode(last))
    raw[-1] ^= 0x01
    return f"{head} {base64.b64encode(bytes(raw)).decode()}\n"


# --- C2SP signed-note vector ---


def test_signed_note_vector_verifies() -> None:
    verifier = NoteVerifier.from_verifier_key(SIGNED["verifier_key"])
    note = open_note(SIGNED["note"], [verifier])
    assert note.text == SIGNED["text"]
    assert [(s.name, s.key_id.hex()) for s in note.signatures] == [("example.com/foo", "530d903a")]
    assert note.to_text() == SIGNED["note"]
    assert verifier.verifier_key == SIGNED["verifier_key"]


def test_signed_note_vector_accepts_bytes() -> None:
    verifier = NoteVerifier.from_verifier_key(SIGNED["verifier_key"])
    assert open_note(SIGNED["note"].encode(), [verifier]).text == SIGNED["text"]


def test_signed_note_vector_tampered_text_fails() -> None:
    verifier = NoteVerifier.from_verifier_key(SIGNED["verifier_key"])
    tampered = SIGNED["note"].replace("example message", "example massage")
    with pytest.raises(VerificationError, match=r"example.com/foo\+530d903a does not verify"):
        open_note(tampered, [verifier])


def test_signed_note_vector_tampered_signature_fails() -> None:
    verifier = NoteVerifier.from_verifier_key(SIGNED["verifier_key"])
    with pytest.raises(VerificationError, match="does not verify"):
        open_note(_flip_last_signature_byte(SIGNED["note"]), [verifier])


def test_signed_note_vector_unknown_key_only_is_rejected() -> None:
    with pytest.raises(VerificationError, match="no signature by a known key"):
        open_note(SIGNED["note"], [LOG.verifier])


def test_signed_note_vector_same_name_other_key_is_ignored() -> None:
    # Same name, different key (so different key ID): ignored, not a failure.
    impostor = NoteSigner.from_seed("example.com/foo", bytes(32)).verifier
    verifier = NoteVerifier.from_verifier_key(SIGNED["verifier_key"])
    with pytest.raises(VerificationError, match="no signature by a known key"):
        open_note(SIGNED["note"], [impostor])
    assert open_note(SIGNED["note"], [impostor, verifier]).text == SIGNED["text"]


# --- Go sumdb/note vector ---


def test_go_signer_key_parses() -> None:
    signer = NoteSigner.from_signer_key(GO["signer_key"])
    assert signer.name == GO["key_name"]
    assert signer.key_id.hex() == GO["key_id_hex"]
    assert signer.signer_key == GO["signer_key"]
    assert GO["signer_key"] not in repr(signer)


def test_go_signature_is_reproduced_exactly() -> None:
    signer = NoteSigner.from_signer_key(GO["signer_key"])
    expected = f"{GO['text']}\n— {GO['key_name']} {GO['signature_base64']}\n"
    assert sign_note(GO["text"], signer) == expected
    raw = base64.b64decode(GO["signature_base64"])
    assert signer.sign(GO["text"].encode()) == raw[4:]


def test_go_verifier_round_trips() -> None:
    signer = NoteSigner.from_signer_key(GO["signer_key"])
    # The verifier key printed in the Go package documentation for this signer.
    assert (
        signer.verifier_key == "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
    )
    verifier = NoteVerifier.from_verifier_key(signer.verifier_key)
    assert verifier == signer.verifier
    assert verifier.key_id == signer.key_id
    assert bytes(signer.verify_key) == verifier.public_key
    note = open_note(sign_note(GO["text"], signer), [verifier])
    assert note.text == GO["text"]


def test_go_signer_key_with_wrong_key_id_is_rejected() -> None:
    bad = GO["signer_key"].replace(GO["key_id_hex"], "00000000")
    with pytest.raises(NoteFormatError, match="key ID 00000000 does not match"):
        NoteSigner.from_signer_key(bad)


def test_signer_key_without_private_prefix_is_rejected() -> None:
    with pytest.raises(NoteFormatError, match=r"must start with PRIVATE\+KEY\+"):
        NoteSigner.from_signer_key(GO["signer_key"].removeprefix("PRIVATE+KEY+"))


# --- C2SP tlog-cosignature vector ---


def test_cosigned_checkpoint_vector_parses() -> None:
    note = Note.from_text(COSIGNED["checkpoint"])
    checkpoint = Checkpoint.from_text(note.text)
    assert checkpoint.origin == COSIGNED["origin"]
    assert checkpoint.size == COSIGNED["size"]
    assert checkpoint.root_hash == base64.b64decode(COSIGNED["root_base64"])
    assert checkpoint.extensions == ()
    assert checkpoint.to_text() == note.text
    assert note.to_text() == COSIGNED["checkpoint"]


def test_cosigned_checkpoint_vector_signature_sizes() -> None:
    log_sig, cosig = Note.from_text(COSIGNED["checkpoint"]).signatures
    assert log_sig.name == COSIGNED["origin"]
    assert len(log_sig.key_id) + len(log_sig.signature) == COSIGNED["log_signature_bytes"]
    assert cosig.name == "witness.example.com/w1"
    assert len(cosig.key_id) + len(cosig.signature) == COSIGNED["cosignature_bytes"]


def test_cosigned_checkpoint_vector_timestamp_and_message() -> None:
    note = Note.from_text(COSIGNED["checkpoint"])
    timestamp = cosignature_timestamp(note.signatures[1])
    assert timestamp == COSIGNED["cosignature_timestamp"]
    message = cosignature_message(note.text, timestamp)
    assert message == COSIGNED["cosigned_message"].encode()


def test_cosignature_timestamp_rejects_plain_signature() -> None:
    log_sig = Note.from_text(COSIGNED["checkpoint"]).signatures[0]
    with pytest.raises(NoteFormatError, match="64 bytes after the key ID, not 72"):
        cosignature_timestamp(log_sig)


# --- own round trips ---


def test_generate_sign_open() -> None:
    signer = NoteSigner.generate("heartchain.example/fresh")
    note = open_note(sign_note(BODY, signer), [signer.verifier])
    assert note.text == BODY
    assert note.signatures[0].key_id == signer.key_id
    restored = NoteSigner.from_signer_key(signer.signer_key)
    assert restored.verifier_key == signer.verifier_key


def test_open_returns_only_verified_signatures() -> None:
    note = sign_note(BODY, LOG, OTHER)
    opened = open_note(note, [OTHER.verifier])
    assert [s.name for s in opened.signatures] == [OTHER.name]
    both = open_note(note, [LOG.verifier, OTHER.verifier])
    assert [s.name for s in both.signatures] == [LOG.name, OTHER.name]


def test_open_skips_repeated_signature_by_one_key() -> None:
    note = sign_note(BODY, LOG, LOG)
    assert len(open_note(note, [LOG.verifier]).signatures) == 1


def test_open_rejects_bad_signature_from_known_key_even_if_another_verifies() -> None:
    note = Note.from_text(sign_note(BODY, LOG, OTHER))
    forged = NoteSignature(LOG.name, LOG.key_id, bytes(64))
    tampered = Note(note.text, (forged, note.signatures[1])).to_text()
    with pytest.raises(VerificationError, match=r"heartchain.example/log\+[0-9a-f]{8} does not"):
        open_note(tampered, [LOG.verifier, OTHER.verifier])


def test_open_rejects_ambiguous_verifiers() -> None:
    # Two keys sharing name and key ID: a 32-bit ID collision, cheap for an attacker to make.
    @dataclass(frozen=True)
    class Colliding(NoteVerifier):
        @property
        def key_id(self) -> KeyID:
            return LOG.key_id

    clash = Colliding(LOG.name, bytes(32))
    with pytest.raises(ValueError, match="ambiguous verifiers"):
        open_note(sign_note(BODY, LOG), [LOG.verifier, clash])
    # The same key listed twice is not ambiguous.
    assert open_note(sign_note(BODY, LOG), [LOG.verifier, LOG.verifier]).text == BODY


def test_sign_note_needs_a_signer() -> None:
    with pytest.raises(ValueError, match="at least one signer"):
        sign_note(BODY)


def test_checkpoint_round_trip_with_extensions() -> None:
    checkpoint = Checkpoint("heartchain.example/log", 0, bytes(32), ("ext one", "ext-two"))
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


@given(
    origin=st.text(
        alphabet=st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=40
    ),
    size=st.integers(min_value=0, max_value=2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
)
def test_checkpoint_round_trip_property(origin: str, size: int, root: bytes) -> None:
    checkpoint = Checkpoint(origin, size, root)
    text = checkpoint.to_text()
    assert Checkpoint.from_text(text) == checkpoint
    note = open_note(sign_note(text, LOG), [LOG.verifier])
    assert Checkpoint.from_text(note.text) == checkpoint


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("example.com/log\n12\n" + base64.b64encode(bytes(32)).decode(), "end in a newline"),
        ("example.com/log\n12\n", "needs origin, size and root"),
        ("\n12\n" + base64.b64encode(bytes(32)).decode() + "\n", "checkpoint origin"),
        ("o\n012\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a canonical decimal"),
        ("o\n-1\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a canonical decimal"),
        ("o\n+1\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a canonical decimal"),
        ("o\n١٢\n" + base64.b64encode(bytes(32)).decode() + "\n", "not a canonical decimal"),
        ("o\n18446744073709551616\n" + base64.b64encode(bytes(32)).decode() + "\n", "range"),
        ("o\n1\n" + base64.b64encode(bytes(31)).decode() + "\n", "31 bytes, not 32"),
        ("o\n1\nnot base64!\n", "invalid base64"),
        ("o\n1\n" + base64.b64encode(bytes(32)).decode() + "\n\n", "extension line"),
    ],
)
def test_checkpoint_rejects_malformed(text: str, match: str) -> None:
    with pytest.raises(NoteFormatError, match=match):
        Checkpoint.from_text(text)


def test_cosign_and_verify() -> None:
    verifier = CosignatureVerifier.from_verifier_key(WITNESS.verifier_key)
    assert verifier == WITNESS.verifier
    sig = WITNESS.cosign(BODY, 1_700_000_000)
    assert len(sig.key_id) + len(sig.signature) == 76
    assert cosignature_timestamp(sig) == 1_700_000_000
    assert verifier.verify(BODY, sig) == 1_700_000_000
    # A cosignature line survives the note format and is ignored by note verifiers.
    note = Note.from_text(sign_note(BODY, LOG) + sig.to_line())
    assert note.signatures[-1] == sig
    assert open_note(note.to_text(), [LOG.verifier]).signatures == note.signatures[:1]


def test_cosignature_vkey_uses_type_0x04() -> None:
    raw = base64.b64decode(WITNESS.verifier_key.split("+", 2)[2])
    assert raw[0] == 0x04
    assert WITNESS.key_id != NoteSigner.from_seed(WITNESS.name, WITNESS.seed).key_id
    with pytest.raises(NoteFormatError, match="signature type 0x04, expected 0x01"):
        NoteVerifier.from_verifier_key(WITNESS.verifier_key)
    with pytest.raises(NoteFormatError, match="signature type 0x01, expected 0x04"):
        CosignatureVerifier.from_verifier_key(LOG.verifier_key)


def test_cosignature_over_other_checkpoint_fails() -> None:
    sig = WITNESS.cosign(BODY, 1_700_000_000)
    other = Checkpoint("heartchain.example/log", 4, bytes(range(32))).to_text()
    with pytest.raises(VerificationError, match="at time 1700000000 does not verify"):
        WITNESS.verifier.verify(other, sig)


def test_cosignature_with_altered_timestamp_fails() -> None:
    sig = WITNESS.cosign(BODY, 1_700_000_000)
    moved = NoteSignature(
        sig.name, sig.key_id, (1_700_000_001).to_bytes(8, "big") + sig.signature[8:]
    )
    with pytest.raises(VerificationError, match="at time 1700000001 does not verify"):
        WITNESS.verifier.verify(BODY, moved)


def test_cosignature_from_other_key_is_refused() -> None:
    other = CosignatureSigner.from_seed("witness.example/w2", bytes(range(3, 35)))
    sig = other.cosign(BODY, 1)
    with pytest.raises(VerificationError, match=r"made by witness\.example/w2"):
        WITNESS.verifier.verify(BODY, sig)


def test_cosignature_timestamp_over_int63_is_rejected() -> None:
    sig = NoteSignature(WITNESS.name, WITNESS.key_id, b"\x80" + bytes(71))
    with pytest.raises(NoteFormatError, match="exceeds 2\\*\\*63-1"):
        cosignature_timestamp(sig)
    with pytest.raises(ValueError, match="out of range"):
        WITNESS.cosign(BODY, 2**63)


def test_cosign_refuses_non_checkpoint() -> None:
    with pytest.raises(NoteFormatError, match="needs origin, size and root"):
        WITNESS.cosign("hello\n", 1)


# --- malformed notes ---

_GOOD = sign_note(BODY, LOG)
_SIG_LINE = _GOOD[len(BODY) + 1 :]


@pytest.mark.parametrize(
    ("note", "match"),
    [
        (BODY + _SIG_LINE, "no blank line before the signatures"),
        (BODY + "\n", "no signature lines"),
        (_GOOD[:-1], "signature lines must end in a newline"),
        (BODY + "\n" + _SIG_LINE.replace("—", "-"), "must start with an em dash"),
        (BODY + "\n— " + LOG.name + "\n", "missing signature after the key name"),
        (BODY + "\n— " + LOG.name + " !!!!\n", "invalid base64"),
        (BODY + "\n— " + LOG.name + " AAAAAA==\n", "shorter than 5 bytes"),
        (BODY + "\n— " + LOG.name + " AAAAAB==\n", "non-canonical base64"),
        (BODY + "\n— a+b AAAAAAA=\n", "invalid key name"),
        (BODY + "\n— a\u00a0b AAAAAAA=\n", "invalid key name"),
        ("bad\ttab\n\n" + _SIG_LINE, "control character"),
        ("bad\r\n\n" + _SIG_LINE, "control character"),
        (BODY + "\n" + _SIG_LINE * (MAX_SIGNATURES + 1), "more than 100 signatures"),
        ("x" * MAX_NOTE_SIZE + "\n\n" + _SIG_LINE, "over 1048576 bytes"),
        ("\ud800\n\n" + _SIG_LINE, "not valid UTF-8"),
    ],
)
def test_malformed_notes_are_rejected(note: str, match: str) -> None:
    with pytest.raises(NoteFormatError, match=match):
        Note.from_text(note)
    with pytest.raises(NoteFormatError, match=match):
        open_note(note, [LOG.verifier])


def test_non_utf8_bytes_are_rejected() -> None:
    with pytest.raises(NoteFormatError, match="not valid UTF-8"):
        Note.from_text(b"\xff\n\n" + _SIG_LINE.encode())


def test_note_text_must_end_in_newline() -> None:
    with pytest.raises(NoteFormatError, match="must end in a newline"):
        sign_note("no newline", LOG)
    with pytest.raises(NoteFormatError, match="must end in a newline"):
        Note("no newline", (NoteSignature(LOG.name, LOG.key_id, bytes(64)),))


def test_note_text_may_hold_blank_lines() -> None:
    text = "first\n\nthird\n"
    assert open_note(sign_note(text, LOG), [LOG.verifier]).text == text


def test_hundred_signatures_are_accepted() -> None:
    note = BODY + "\n" + _SIG_LINE * MAX_SIGNATURES
    assert len(Note.from_text(note).signatures) == MAX_SIGNATURES


@pytest.mark.parametrize(
    ("key", "match"),
    [
        ("example.com/foo+530d903a", "expected name\\+keyid\\+key"),
        ("+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "invalid key name"),
        ("example.com/foo+530d903+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "8 hex"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2", "base64"),
        ("example.com/foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U0=", "32"),
        ("example.com/foo+530d903b+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key ID"),
        ("example.com/bar+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key ID"),
        ("example.com foo+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k", "key name"),
    ],
)
def test_malformed_verifier_keys_are_rejected(key: str, match: str) -> None:
    with pytest.raises(NoteFormatError, match=match):
        NoteVerifier.from_verifier_key(key)


def test_signer_names_are_checked() -> None:
    with pytest.raises(NoteFormatError, match="invalid key name"):
        NoteSigner.generate("has space")
    with pytest.raises(NoteFormatError, match="invalid key name"):
        CosignatureSigner.generate("")
    with pytest.raises(ValueError, match="32 bytes"):
        NoteSigner.from_seed("ok", bytes(31))


def test_note_signature_rejects_short_key_id() -> None:
    with pytest.raises(NoteFormatError, match="key ID must be 4 bytes"):
        NoteSignature("ok", KeyID(b"abc"), bytes(64))
